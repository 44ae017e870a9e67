/**
 * A build may not outlive its time limit or its end. The hostile build patches
 * the sandbox's pid 1 through /proc/1/mem (so that it clears its parent-death
 * signal and pauses forever), wakes it with an orphan's exit, and leaves a
 * process in a session of its own. The engine must refuse the patch (pid 1 is
 * not writable by the build), and kill the whole tree at the limit without
 * waiting for the build's pipes to close: the result comes back promptly and no
 * process of the build is left on the host.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostileBench, killNamespacesOf, processesWith, sleep, type HostileRun } from './sandbox-harness.js';

let bench: HostileBench;
let pid1: string;

beforeAll(async () => {
  bench = await HostileBench.create('timeout');
  pid1 = await bench.compile('pid1');
});
afterAll(async () => bench?.remove());

/** Runs the build with a deadline of its own; whatever it left behind is killed afterwards. */
async function guarded(command: (token: string) => string, mode: 'deterministic' | 'plain', timeoutMs: number) {
  const token = `detbuild-survivor-${randomUUID()}`;
  const started = Date.now();
  const run = bench.build({ programs: [pid1], command: command(token), mode, limits: { timeoutMs } });
  const r: HostileRun | null = await Promise.race([run, sleep(timeoutMs + 25_000).then(() => null)]);
  const elapsed = Date.now() - started;
  await sleep(300);
  const survivors = await processesWith(token);
  await killNamespacesOf(survivors);
  return { r, elapsed, survivors };
}

describe.each(['deterministic', 'plain'] as const)('a build that patches pid 1 (%s)', (mode) => {
  it('cannot write pid 1, and is killed whole at its time limit', async () => {
    const { r, elapsed, survivors } = await guarded((t) => `./pid1 ${t}`, mode, 3000);
    expect(r, `the engine had not returned ${elapsed} ms after a 3 s limit`).not.toBeNull();
    expect(r!.result.status, r!.result.message).toBe('timeout');
    expect(elapsed).toBeLessThan(15_000);
    expect(survivors, 'processes of the build still running after the engine returned').toEqual([]);
    expect(r!.lines.get('pid1')).toMatch(/^refused/);
  });

  it('leaves nothing running once its command has ended', async () => {
    const { r, elapsed, survivors } = await guarded((t) => `./pid1 ${t} & sleep 2; echo done`, mode, 60_000);
    expect(r, `the engine had not returned ${elapsed} ms after the command ended`).not.toBeNull();
    expect(r!.result.status, r!.result.message).toBe('success');
    expect(elapsed).toBeLessThan(20_000);
    expect(survivors, 'processes of the build still running after the engine returned').toEqual([]);
  });
});
