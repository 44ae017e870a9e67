/**
 * `detbuild remote` as a library: call qubes.DetBuild in a builder qube through
 * qrexec-client-vm, send the request, read the response, verify every artifact against
 * the manifest before it is kept, and return one result for success and every failure.
 */
import { spawn } from 'node:child_process';
import { describeError } from '../errors.js';
import type { Manifest } from '../engine/types.js';
import { ProtocolError } from '../protocol/errors.js';
import type { EventFrame, FinalStatus, Queued, Recipe, VerifyReport } from '../protocol/messages.js';
import { QrexecExit, type OverallStatus } from '../protocol/status.js';
import { exitCodeOf, statusOfError } from '../outcome.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { writeRequest } from './request.js';
import { withSourceDate } from './source-date.js';
import { readResponse } from './response.js';
import { assertOutDirUsable, discard, makeStaging, publish, type Staging } from './results.js';

export type RemoteMode = 'build' | 'verify' | 'info';

export interface RemoteProgress {
  phase: 'upload' | 'download';
  bytes: number;
  total: number | null;
  /** current artifact, for downloads */
  artifact?: { index: number; count: number; path: string };
}

export interface RemoteOptions {
  mode: RemoteMode;
  /** qube name, or @dispvm:TEMPLATE for a fresh disposable per call */
  target: string;
  sourceDir?: string;
  outDir?: string;
  recipe?: Recipe;
  /** the qrexec client program (default qrexec-client-vm, found on PATH) */
  qrexecClient?: string;
  onEvent?(e: EventFrame): void;
  onQueued?(q: Queued): void;
  onProgress?(p: RemoteProgress): void;
  /** a line qrexec-client-vm printed on stderr (qrexec relays the service's stderr there) */
  onRemoteStderr?(line: string): void;
  signal?: AbortSignal;
}

export interface RemoteResult {
  status: OverallStatus;
  ok: boolean;
  exitCode: number;
  message: string;
  target: string;
  mode: RemoteMode;
  /** the builder's final status frame, when one arrived */
  remote: FinalStatus | null;
  manifest: Manifest | null;
  record: EnvironmentRecord | null;
  verify: VerifyReport | null;
  outDir: string | null;
  logPath: string | null;
  qrexecExitCode: number | null;
}

export const SERVICE = 'qubes.DetBuild';

export async function runRemote(opts: RemoteOptions): Promise<RemoteResult> {
  const base = {
    target: opts.target,
    mode: opts.mode,
    remote: null,
    manifest: null,
    record: null,
    verify: null,
    outDir: null,
    logPath: null,
    qrexecExitCode: null,
  };
  const fail = (status: OverallStatus, message: string, extra: Partial<RemoteResult> = {}): RemoteResult => ({
    ...base,
    ...extra,
    status,
    ok: false,
    exitCode: exitCodeOf(status),
    message,
  });

  const building = opts.mode !== 'info';
  if (building && (!opts.sourceDir || !opts.outDir)) return fail('usage', 'a build needs SRC_DIR and --out OUT_DIR');
  let staging: Staging | null = null;
  let recipe = opts.recipe ?? {};
  if (building) {
    try {
      recipe = await withSourceDate(recipe, opts.sourceDir!);
      await assertOutDirUsable(opts.outDir!);
      staging = await makeStaging(opts.outDir!);
    } catch (err) {
      return fail('usage', describeError(err));
    }
  }

  const child = spawn(opts.qrexecClient ?? 'qrexec-client-vm', [opts.target, `${SERVICE}+${opts.mode}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const onAbort = () => {
    child.kill('SIGTERM');
    // what the end of qrexec-client-vm means to the builder: the connection is gone both
    // ways (the builder's next write fails and it cancels), whoever else holds the pipes
    child.stdin.destroy();
    child.stdout.destroy();
    child.stderr.destroy();
  };
  opts.signal?.addEventListener('abort', onAbort);

  let stderrTail = '';
  let partial = '';
  child.stderr.on('data', (c: Buffer) => {
    const text = partial + c.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      stderrTail = `${stderrTail}${l}\n`.slice(-4096);
      opts.onRemoteStderr?.(l);
    }
  });

  // the request goes out while the response comes in (the builder streams its log live)
  child.stdin.on('error', () => undefined);
  const sending = (async () => {
    if (!building) {
      child.stdin.end();
      return null;
    }
    try {
      await writeRequest(child.stdin, recipe, { sourceDir: opts.sourceDir! }, (bytes) => opts.onProgress?.({ phase: 'upload', bytes, total: null }));
      return null;
    } catch (err) {
      child.stdin.destroy();
      return err as Error;
    }
  })();

  let logBytes = 0;
  const reading = readResponse(child.stdout, staging?.artifacts ?? null, {
    onQueued: (q) => opts.onQueued?.(q),
    onEvent: (e) => {
      if (staging && e.kind === 'log' && logBytes < 1024 ** 3) {
        const line = `${e.run ? `[${e.run}] ` : ''}${e.line}\n`;
        logBytes += line.length;
        staging.log.write(line);
      }
      opts.onEvent?.(e);
    },
    onArtifact: (index, count, entry) => opts.onProgress?.({ phase: 'download', bytes: 0, total: null, artifact: { index, count, path: entry.path } }),
    onBytes: (bytes, total) => opts.onProgress?.({ phase: 'download', bytes, total }),
  }).then(
    (r) => ({ ok: true as const, r }),
    (err: unknown) => ({ ok: false as const, err }),
  );

  const raced = await Promise.race([reading, spawnError.then((e) => ({ spawnFailed: e }))]);
  if ('spawnFailed' in raced) {
    opts.signal?.removeEventListener('abort', onAbort);
    if (staging) await discard(staging, opts.outDir!, null);
    const e = raced.spawnFailed as NodeJS.ErrnoException;
    return fail('transport-error', e.code === 'ENOENT' ? `${opts.qrexecClient ?? 'qrexec-client-vm'} not found: run this in a Qubes qube` : `cannot start the qrexec client: ${e.message}`);
  }
  const response = raced;
  if (!response.ok) child.stdout.destroy();
  const sendError = await sending;
  const { code, signal } = await exited;
  opts.signal?.removeEventListener('abort', onAbort);
  const stderrHint = stderrTail.trim() ? ` (qrexec: ${stderrTail.trim().split('\n').slice(-3).join(' / ')})` : '';

  if (!response.ok) {
    const logPath = staging ? await discard(staging, opts.outDir!, null) : null;
    const err = response.err;
    if (opts.signal?.aborted) return fail('cancelled', 'cancelled', { logPath, qrexecExitCode: code });
    if (statusOfError(err) === 'integrity-error') return fail('integrity-error', describeError(err), { logPath, qrexecExitCode: code });
    if (code === QrexecExit.refused) return fail('policy-denied', `qrexec refused the call to ${SERVICE}+${opts.mode} in ${opts.target} (dom0 policy)${stderrHint}`, { logPath, qrexecExitCode: code });
    if (code === QrexecExit.serviceNotFound) return fail('policy-denied', `${opts.target} has no ${SERVICE} service (is qubes-detbuild installed there?)${stderrHint}`, { logPath, qrexecExitCode: code });
    const why = err instanceof ProtocolError ? err.message : describeError(err);
    const how = signal ? `killed by ${signal}` : `exit status ${code}`;
    return fail('transport-error', `no complete response from ${opts.target}: ${why} (qrexec-client-vm ${how})${sendError ? `; sending failed: ${sendError.message}` : ''}${stderrHint}`, { logPath, qrexecExitCode: code });
  }

  const r = response.r;
  const extra: Partial<RemoteResult> = { remote: r.status, manifest: r.manifest, record: r.record, verify: r.verify, qrexecExitCode: code };
  if (code !== r.status.exitCode) {
    // the stream is complete; a different exit code means something broke after it
    extra.message = `${r.status.message} (but qrexec-client-vm exited ${code})`;
  }
  if (!r.status.ok) {
    const logPath = staging ? await discard(staging, opts.outDir!, r.verify) : null;
    return fail(r.status.status, r.status.message, { ...extra, logPath });
  }
  if (staging) {
    await publish(staging, opts.outDir!, r.manifest!, r.record, r.verify);
  }
  return {
    ...base,
    ...extra,
    status: 'success',
    ok: true,
    exitCode: exitCodeOf('success'),
    message: extra.message ?? r.status.message,
    outDir: staging ? opts.outDir! : null,
    logPath: staging ? `${opts.outDir!}/build.log` : null,
  };
}
