/** The outcome policy (src/outcome.ts): every area's errors, as statuses and exit codes. */
import { describe, expect, it } from 'vitest';
import { ClientError } from '../src/client/errors.js';
import { DaemonError, RequestError } from '../src/daemon/errors.js';
import { EngineError, SpecError } from '../src/engine/errors.js';
import { exitCodeOfError, exitCodeOfResult, finalStatusOfError, statusOfError, statusOfResult } from '../src/outcome.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { RebuildError } from '../src/rebuild/errors.js';
import { MissingBuildDepsError, RecipeError } from '../src/recipes/errors.js';
import { TemplateError } from '../src/recipes/template/errors.js';
import { VerifyError } from '../src/verify/errors.js';

describe('outcome policy', () => {
  it.each([
    ['SpecError', new SpecError('OUT_NOT_EMPTY', 'x'), 'rejected', 3],
    ['EngineError', new EngineError('ENGINE_NO_BWRAP', 'x'), 'error', 7],
    ['RecipeError', new RecipeError('DSC_MALFORMED', 'x'), 'rejected', 3],
    ['RecipeError (the builder lacks a tool)', new RecipeError('DPKG_TOOL_MISSING', 'x', { kind: 'failure' }), 'error', 7],
    ['MissingBuildDepsError', new MissingBuildDepsError('hello', ['debhelper'], []), 'error', 7],
    ['TemplateError (a bad lock)', new TemplateError('TEMPLATE_LOCK_INVALID', 'x'), 'rejected', 3],
    ['TemplateError (apt failed)', new TemplateError('TEMPLATE_APT_FAILED', 'x', { kind: 'failure' }), 'error', 7],
    ['RequestError', new RequestError('REQUEST_TAR', 'x'), 'rejected', 3],
    ['DaemonError', new DaemonError('DAEMON_WORKER', 'x'), 'error', 7],
    ['ProtocolError', new ProtocolError('PROTOCOL_MAGIC', 'x'), 'rejected', 3],
    ['ClientError', new ClientError('CLIENT_SOURCES', 'x'), 'rejected', 3],
    ['ClientError (integrity)', new ClientError('CLIENT_INTEGRITY', 'x', { kind: 'integrity' }), 'integrity-error', 12],
    ['RebuildError', new RebuildError('REBUILD_INPUT', 'x'), 'rejected', 3],
    ['VerifyError', new VerifyError('VERIFY_NO_CHILD', 'x'), 'error', 7],
  ])('%s', (_name, err, status, exit) => {
    expect(statusOfError(err)).toBe(status);
    expect(exitCodeOfError(err)).toBe(exit);
  });

  it('an untyped error is the builder failing on the wire and an internal error (1) for a command', () => {
    expect(statusOfError(new Error('bug'))).toBe('error');
    expect(exitCodeOfError(new Error('bug'))).toBe(1);
    expect(finalStatusOfError(new Error('bug'))).toMatchObject({ status: 'error', ok: false, exitCode: 7, message: 'the builder failed: bug' });
    expect(finalStatusOfError(new RequestError('REQUEST_MODE', 'no such mode'))).toMatchObject({ status: 'rejected', exitCode: 3, message: 'request refused: no such mode' });
  });

  it("a build's result: an engine error caused by the request is 'rejected', the rest keep their status", () => {
    expect(statusOfResult({ status: 'error', badInput: true })).toBe('rejected');
    expect(statusOfResult({ status: 'error', badInput: false })).toBe('error');
    expect(exitCodeOfResult({ status: 'failed' })).toBe(4);
    expect(exitCodeOfResult({ status: 'limit' })).toBe(13);
    expect(exitCodeOfResult({ status: 'success' })).toBe(0);
  });
});
