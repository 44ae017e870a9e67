/**
 * Where a build's time goes outside the build command: each stage of
 * runBuild() in milliseconds (checks, copying and hashing the sources, laying
 * out the sandbox, the sandbox itself, collecting and publishing the
 * artifacts, removing the workspace).  The sandbox's time is split with the
 * moments the supervisor reports (CLOCK_MONOTONIC, the clock of
 * process.hrtime): bubblewrap's set-up, the supervisor's own start (clock
 * table, entropy file system, the first exec), the command, and the teardown.
 * For benchmarks and DETBUILD_STATS_FILE; never part of the manifest.
 */

/** Milliseconds per stage, in the order the stages ran. */
export type StageTimings = Record<string, number>;

export class StageClock {
  readonly timings: StageTimings = {};
  private last = process.hrtime.bigint();

  /** the time since the previous mark (or the start) was spent on `stage` */
  mark(stage: string): bigint {
    const now = process.hrtime.bigint();
    this.timings[stage] = (this.timings[stage] ?? 0) + Number(now - this.last) / 1e6;
    this.last = now;
    return now;
  }

  /** splits the time of the sandbox (from spawnNs to exitNs) with the supervisor's marks */
  sandbox(spawnNs: bigint, exitNs: bigint, stats: Record<string, number> | null): void {
    const main = stats?.tMainNs;
    const exec = stats?.tExecNs;
    const end = stats?.tEndNs;
    const before = this.timings;
    // time from the previous mark to the spawn is the layout's
    const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
    if (main && exec && end && BigInt(main) >= spawnNs && BigInt(end) <= exitNs && main <= exec && exec <= end) {
      before['sandbox-setup'] = ms(spawnNs, BigInt(main));
      before['supervisor-start'] = ms(BigInt(main), BigInt(exec));
      before.command = ms(BigInt(exec), BigInt(end));
      before.teardown = ms(BigInt(end), exitNs);
    } else {
      before.sandbox = ms(spawnNs, exitNs);
    }
    this.last = exitNs;
  }
}
