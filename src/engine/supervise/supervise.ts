/**
 * Runs the sandbox and watches it to its end: bubblewrap (as the build user when the
 * engine runs as root) with the supervisor as its pid 1, which sets the build's own
 * limits. The build's output goes to the log, the supervisor's status comes on fd 3
 * (STATUS_FD), bubblewrap's info on fd 4 (INFO_FD, for the teardown); the engine's limits
 * are watched from outside until it ends, then the whole sandbox is ended for certain.
 */
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { INFO_FD, STATUS_FD } from '../sandbox.js';
import type { BuildLimits } from '../types.js';
import { KillSwitch } from './kill.js';
import { sandboxLimits } from './limits.js';
import type { BuildLog } from './log.js';
import { SandboxTeardown } from './teardown.js';
import { parseStatus, verdict, type EngineStats, type Ending } from './verdict.js';
import { watchBuild, type Watched } from './watch.js';

export interface Supervised {
  /** how it ended when it did not succeed */
  ending: Ending | null;
  stats: EngineStats | null;
  /** process.hrtime.bigint() when the sandbox was started and when bubblewrap exited */
  spawnNs: bigint;
  exitNs: bigint;
}

export async function supervise(command: string[], where: Watched, limits: BuildLimits, log: BuildLog, signal?: AbortSignal): Promise<Supervised> {
  const sandbox = sandboxLimits(limits);
  const spawnNs = process.hrtime.bigint();
  const child = execa(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], buffer: false, reject: false, env: {}, extendEnv: false, detached: true });
  const teardown = new SandboxTeardown(child, child.stdio[INFO_FD] as Readable);
  const kill = new KillSwitch(teardown);
  let statusText = '';
  child.stdout?.on('data', (c: Buffer) => log.build.push(c));
  child.stderr?.on('data', (c: Buffer) => log.engine.push(c));
  (child.stdio[STATUS_FD] as Readable | undefined)?.on('data', (c: Buffer) => {
    statusText += c.toString('utf8');
  });
  const watch = watchBuild(where, limits, sandbox, kill, signal);
  // bubblewrap's end, then the sandbox's for certain; the pipes are not waited for
  const exit = await teardown.exited;
  const exitNs = process.hrtime.bigint();
  await teardown.finish([child.stdout, child.stderr, child.stdio[STATUS_FD], child.stdio[INFO_FD]] as Array<Readable | null>);
  await child;
  watch.stop();
  await log.close();
  await watch.final();
  const status = parseStatus(statusText);
  return { ending: verdict(kill, exit, status, limits, sandbox), stats: status.stats, spawnNs, exitNs };
}
