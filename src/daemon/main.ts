/**
 * detbuildd: the build daemon of a builder qube. Two processes: this one, the front
 * (front/: the D-Bus interface, the queue, the handle on the worker), and the build
 * worker it forks (worker/: one job at a time: request, extraction, build, response).
 * Both use what sits beside this file: the D-Bus contract (bus.ts, which the qrexec
 * service imports too), their IPC messages (ipc.ts), configuration, errors, logging.
 *
 *   node dist/daemon/main.js [--config FILE] [--bus ADDRESS] [--workdir DIR] [--log-level LEVEL]
 *
 * Forks its build worker first (see ipc.ts for why), then owns org.qubes.DetBuild1 on the
 * system bus (or --bus / $DETBUILD_DBUS_ADDRESS) and serves builds one at a time.
 */
import { fork } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import { describeError } from '../errors.js';
import { finalStatus } from '../outcome.js';
import { BUS_NAME, INTERFACE, OBJECT_PATH, connectBus, whenConnected } from './bus.js';
import { loadConfig, type DaemonConfig } from './config.js';
import { BuilderInterface, closeStrayFds, trackSenders } from './front/dbus-interface.js';
import { DaemonError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { BuildQueue, type QueuedBuild } from './front/queue.js';
import { Worker } from './front/worker-process.js';

interface Args {
  config?: string;
  bus?: string;
  workdir?: string;
  logLevel?: string;
}

function parseArgs(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new DaemonError('DAEMON_USAGE', `${a} needs a value`);
      return v;
    };
    if (a === '--config') out.config = value();
    else if (a === '--bus') out.bus = value();
    else if (a === '--workdir') out.workdir = value();
    else if (a === '--log-level') out.logLevel = value();
    else throw new DaemonError('DAEMON_USAGE', `unknown option ${a} (--config FILE, --bus ADDRESS, --workdir DIR, --log-level LEVEL)`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let config: DaemonConfig = await loadConfig(args.config);
  if (args.workdir) config = { ...config, workDir: args.workdir };
  if (args.logLevel) config = { ...config, logLevel: args.logLevel as DaemonConfig['logLevel'] };
  const logger: Logger = createLogger(config.logLevel);

  // 1. the worker, before any D-Bus descriptor exists in this process
  const here = dirname(fileURLToPath(import.meta.url));
  const child = fork(join(here, 'worker', 'main.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue = new BuildQueue(config);
  const worker = new Worker(child, (msg) => {
    if (msg.t === 'finished') queue.finish(msg.id, msg.status);
  });
  worker.send({ t: 'config', config });
  await worker.ready;
  let stopping = false;
  child.on('exit', (code, signal) => {
    if (stopping) process.exit(0);
    // builds in flight are lost; systemd restarts the whole daemon (Restart=on-failure)
    logger.error(`the build worker died (${signal ?? code}); exiting`);
    process.exit(1);
  });

  // 2. the bus
  const bus = connectBus(args.bus);
  bus.on('error', (err: unknown) => {
    logger.error(`D-Bus connection failed: ${describeError(err)}`);
    process.exit(1);
  });
  await whenConnected(bus);

  const iface = new BuilderInterface(INTERFACE, {
    queue,
    logger,
    environmentRecord: () => worker.record(),
    startStreams: (build: QueuedBuild, requestFd: number, responseFd: number) => {
      const log = logger.child({ build: build.id, caller: build.caller });
      let input: Socket;
      let output: Socket;
      try {
        // wrap without reading (pauseOnCreate); send() closes them here once passed on
        input = new Socket({ fd: requestFd, readable: true, writable: false, pauseOnCreate: true } as never);
        output = new Socket({ fd: responseFd, readable: true, writable: true, pauseOnCreate: true } as never);
      } catch (err) {
        // not a pipe or a socket (a file, a terminal): qrexec never hands over such streams
        for (const fd of [requestFd, responseFd]) {
          try {
            closeSync(fd);
          } catch {
            // already closed (or wrapped and closed by its socket)
          }
        }
        log.warn(`unusable streams: ${describeError(err)}`);
        queue.finish(build.id, finalStatus('error', `the service's streams are not pipes or sockets: ${describeError(err)}`));
        throw new DaemonError('DAEMON_STREAMS', `the request and response must be pipes or sockets: ${describeError(err)}`);
      }
      worker.send({ t: 'job', id: build.id, caller: build.caller, mode: build.mode });
      worker.send({ t: 'stream', id: build.id, which: 'input' }, input);
      worker.send({ t: 'stream', id: build.id, which: 'output' }, output);
      log.info('started');
    },
  });
  trackSenders(bus, iface);
  closeStrayFds(bus);
  bus.export(OBJECT_PATH, iface);

  queue.on('turn', (b) => iface.Turn(b.id));
  queue.on('finished', (b, exitCode) => {
    logger.child({ build: b.id, caller: b.caller }).info(`done: ${b.status} ${b.message}`);
    iface.Finished(b.id, b.status, exitCode);
  });
  queue.on('cancelRunning', (b) => worker.send({ t: 'cancel', id: b.id }));
  queue.on('changed', () => {
    BuilderInterface.emitPropertiesChanged(iface, { Running: iface.Running, Queued: iface.Queued }, ['Builds']);
  });

  // a caller's service that disappears takes its queued builds with it
  const dbusObj = await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
  const dbusIface = dbusObj.getInterface('org.freedesktop.DBus');
  dbusIface.on('NameOwnerChanged', (name: string, _old: string, newOwner: string) => {
    if (name.startsWith(':') && newOwner === '') queue.ownerGone(name);
  });

  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    throw new DaemonError('DAEMON_NAME_TAKEN', `cannot own ${BUS_NAME} (reply ${reply}): is another detbuildd running, and does the D-Bus policy let this user own it?`);
  }
  logger.info(`serving ${BUS_NAME} (work directory ${config.workDir})`);

  const stop = (sig: string) => {
    logger.info(`${sig}: cancelling builds and stopping`);
    stopping = true;
    queue.cancelAll('the builder is shutting down');
    worker.send({ t: 'shutdown' });
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`detbuildd: ${describeError(err)}\n`);
  process.exit(1);
});
