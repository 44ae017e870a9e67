/**
 * The qrexec service qubes.DetBuild (run by /etc/qubes-rpc/qubes.DetBuild): a thin pipe.
 *
 * The request is on descriptor 0 until EOF, the response goes to descriptor 1, the mode is
 * the service argument ($1 / QREXEC_SERVICE_ARGUMENT), the caller QREXEC_REMOTE_DOMAIN.
 * The service writes the response header, queues the request with detbuildd over D-Bus,
 * and when its turn comes hands descriptors 0 and 1 themselves to the daemon, which reads
 * the request and writes the rest of the response directly. It then waits for Finished
 * and exits with the build's exit code (never 125-127, which qrexec reserves).
 */
import dbus from 'dbus-next';
import { describeError } from '../errors.js';
import { BUS_NAME, INTERFACE, OBJECT_PATH, REFUSED_ERROR_PREFIX, connectBus, whenConnected } from '../daemon/bus.js';
import { FrameType } from '../protocol/constants.js';
import { EnvironmentRecordSchema, MODES, type FinalStatus, type Mode } from '../protocol/messages.js';
import { EXIT_INTERNAL, type RemoteStatus } from '../protocol/status.js';
import { exitCodeOf, finalStatus } from '../outcome.js';
import { encodeJsonFrame, encodeStreamHeader } from '../protocol/writer.js';
import { writeAllSync } from './stdout.js';

const OUT = 1;

/** The daemon's interface as seen through dbus-next's proxy. */
interface BuilderProxy {
  Submit(mode: string, caller: string): Promise<[string, number]>;
  Attach(id: string, request: number, response: number): Promise<void>;
  EnvironmentRecord(): Promise<string>;
  on(signal: 'Turn', listener: (id: string) => void): void;
  on(signal: 'Finished', listener: (id: string, status: string, exitCode: number) => void): void;
}

function say(message: string): void {
  // qrexec copies stderr to the caller and to this qube's journal
  process.stderr.write(`qubes.DetBuild: ${message}\n`);
}

/** Ends a response the service still owns with its final status, and exits. */
function finish(final: FinalStatus): never {
  try {
    writeAllSync(OUT, encodeJsonFrame(FrameType.status, final));
  } catch (err) {
    say(`cannot write the response: ${describeError(err)}`);
  }
  if (!final.ok) say(final.message);
  process.exit(final.exitCode);
}

export function parseMode(arg: string | undefined): Mode | null {
  const a = arg ?? '';
  if (a === '') return 'build';
  return (MODES as readonly string[]).includes(a) ? (a as Mode) : null;
}

async function main(): Promise<void> {
  const arg = process.argv[2] ?? process.env.QREXEC_SERVICE_ARGUMENT;
  const caller = process.env.QREXEC_REMOTE_DOMAIN || 'local';
  writeAllSync(OUT, encodeStreamHeader('response'));

  const mode = parseMode(arg);
  if (!mode) {
    finish(finalStatus('rejected', `unknown mode ${JSON.stringify(arg)}: use qubes.DetBuild+build, +verify or +info`));
  }

  let bus: dbus.MessageBus;
  let builder: BuilderProxy;
  try {
    bus = connectBus();
    await whenConnected(bus);
    const obj = await bus.getProxyObject(BUS_NAME, OBJECT_PATH);
    builder = obj.getInterface(INTERFACE) as unknown as BuilderProxy;
  } catch (err) {
    finish(finalStatus('error', `the build daemon is not reachable (${BUS_NAME}; is detbuildd running?): ${describeError(err)}`));
  }

  if (mode === 'info') {
    try {
      const record = EnvironmentRecordSchema.parse(JSON.parse(await builder.EnvironmentRecord()));
      writeAllSync(OUT, encodeJsonFrame(FrameType.record, record));
      finish(finalStatus('success', 'environment record'));
    } catch (err) {
      finish(finalStatus('error', `cannot get the environment record: ${describeError(err)}`));
    }
  }

  // signals may arrive before Submit's answer is seen: remember them all
  const turns = new Set<string>();
  const finished = new Map<string, { status: string; exitCode: number }>();
  let wake: () => void = () => undefined;
  builder.on('Turn', (id: string) => {
    turns.add(id);
    wake();
  });
  builder.on('Finished', (id: string, s: string, exitCode: number) => {
    finished.set(id, { status: s, exitCode });
    wake();
  });
  let daemonGone = false;
  const dbusIface = (await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus')).getInterface('org.freedesktop.DBus');
  dbusIface.on('NameOwnerChanged', (name: string, _old: string, owner: string) => {
    if (name === BUS_NAME && owner === '') {
      daemonGone = true;
      wake();
    }
  });
  const until = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      if (cond()) return resolve();
      wake = () => {
        if (cond()) resolve();
      };
    });

  let id: string;
  try {
    const [bid, position] = await builder.Submit(mode, caller);
    id = bid;
    if (position > 0) writeAllSync(OUT, encodeJsonFrame(FrameType.queued, { id, position }));
  } catch (err) {
    const rejected = String((err as { type?: string }).type).startsWith(REFUSED_ERROR_PREFIX);
    finish(finalStatus(rejected ? 'rejected' : 'error', `the build daemon refused the request: ${describeError(err)}`));
  }

  await until(() => turns.has(id) || finished.has(id) || daemonGone);
  if (daemonGone) finish(finalStatus('error', 'the build daemon stopped while the request was queued'));
  const early = finished.get(id);
  if (early) finish(finalStatus(early.status as RemoteStatus, `the build was dropped before it started (${early.status})`));

  try {
    // from here on the daemon owns the request and the rest of the response
    await builder.Attach(id, 0, 1);
  } catch (err) {
    finish(finalStatus('error', `cannot hand the streams to the build daemon: ${describeError(err)}`));
  }
  await until(() => finished.has(id) || daemonGone);
  const end = finished.get(id);
  if (!end) {
    say('the build daemon stopped during the build; the response is incomplete');
    process.exit(exitCodeOf('error'));
  }
  if (end.status !== 'success') say(`build ${id}: ${end.status}`);
  process.exit(end.exitCode);
}

main().catch((err: unknown) => {
  say(`internal error: ${describeError(err)}`);
  process.exit(EXIT_INTERNAL);
});
