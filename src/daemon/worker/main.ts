/**
 * detbuildd's build worker (forked by main.ts before it connects to D-Bus; see ipc.ts).
 * Runs one job at a time with the engine and reports each final status.
 */
import { promises as fs } from 'node:fs';
import type { Socket } from 'node:net';
import { runBuild } from '../../engine/index.js';
import { describeError } from '../../errors.js';
import { finalStatus } from '../../outcome.js';
import { collectEnvironment, makeRecord } from '../../record/collect.js';
import type { Environment } from '../../record/schema.js';
import type { DaemonConfig } from '../config.js';
import type { FromWorker, ToWorker } from '../ipc.js';
import { runJob } from './job.js';
import { buildLogger, createLogger, type Logger } from '../logger.js';

interface PendingJob {
  id: string;
  caller: string;
  mode: 'build' | 'verify';
  input?: Socket;
  output?: Socket;
  abort: AbortController;
}

function send(msg: FromWorker): void {
  process.send?.(msg);
}

let config: DaemonConfig | null = null;
let logger: Logger = createLogger('info');
let environment: Promise<Environment> | null = null;
const jobs = new Map<string, PendingJob>();

function env(): Promise<Environment> {
  // collected once: the packages of a builder do not change while it serves
  environment ??= collectEnvironment();
  return environment;
}

function maybeStart(job: PendingJob): void {
  if (!job.input || !job.output || !config) return;
  const log = buildLogger(logger, job.id, job.caller);
  send({ t: 'started', id: job.id });
  runJob(
    { config, runBuild, environment: env },
    { id: job.id, caller: job.caller, mode: job.mode, input: job.input, output: job.output, logger: log, signal: job.abort.signal },
  ).then(
    (status) => {
      log.info(`finished: ${status.status} (${status.message})`);
      jobs.delete(job.id);
      send({ t: 'finished', id: job.id, status });
    },
    (err: unknown) => {
      log.error(`job failed: ${describeError(err)}`);
      jobs.delete(job.id);
      send({
        t: 'finished',
        id: job.id,
        status: finalStatus('error', `the builder failed: ${describeError(err)}`),
      });
    },
  );
}

/** A received socket: never auto-ended by an EOF from the other side (see runJob). */
function adopt(sock: Socket): Socket {
  sock.allowHalfOpen = true;
  sock.on('end', () => undefined);
  sock.on('error', () => undefined);
  return sock;
}

process.on('message', (msg: ToWorker, handle?: unknown) => {
  switch (msg.t) {
    case 'config':
      config = msg.config;
      logger = createLogger(config.logLevel);
      void fs
        .mkdir(config.workDir, { recursive: true, mode: 0o700 })
        .then(() => env())
        .then(
          () => send({ t: 'ready' }),
          (err: unknown) => {
            logger.error(`worker cannot start: ${describeError(err)}`);
            process.exit(1);
          },
        );
      return;
    case 'job':
      jobs.set(msg.id, { id: msg.id, caller: msg.caller, mode: msg.mode, abort: new AbortController() });
      return;
    case 'stream': {
      const job = jobs.get(msg.id);
      const sock = handle as Socket | undefined;
      if (!job || !sock) {
        sock?.destroy();
        return;
      }
      job[msg.which] = adopt(sock);
      maybeStart(job);
      return;
    }
    case 'cancel':
      jobs.get(msg.id)?.abort.abort();
      return;
    case 'record':
      env().then(
        (e) => send({ t: 'record', seq: msg.seq, record: makeRecord(e, null), error: null }),
        (err: unknown) => send({ t: 'record', seq: msg.seq, record: null, error: describeError(err) }),
      );
      return;
    case 'shutdown':
      for (const j of jobs.values()) j.abort.abort();
      setTimeout(() => process.exit(0), jobs.size > 0 ? 10_000 : 0).unref();
      if (jobs.size === 0) process.exit(0);
      return;
  }
});

// the front went away: nothing can be reported any more; stop the builds (they die with us)
process.on('disconnect', () => {
  for (const j of jobs.values()) j.abort.abort();
  setTimeout(() => process.exit(0), 5_000).unref();
});
