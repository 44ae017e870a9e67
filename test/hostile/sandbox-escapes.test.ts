/**
 * Ways out of the determinism engine a build can take, deliberately or through
 * a library, and ways into the supervisor: each is a subcommand of
 * test/hostile/fixtures/escapes.c that prints "refused ..." / "contained ..."
 * when the engine holds and "escaped ..." when it does not. The same programs
 * run on the host (no engine) show that every attempt works there, so each
 * assertion can fail.
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostileBench, type HostileRun } from './sandbox-harness.js';

const EPOCH = 1_000_000_000; // 2001: far from any real clock
const ESCAPES = ['tsc', 'cpuid', 'untraced', 'personality', 'usernotif', 'vdso', 'map-vdso', 'pid1-mem'];

let bench: HostileBench;
let escapes: string;
let run: HostileRun;

beforeAll(async () => {
  bench = await HostileBench.create('escapes');
  escapes = await bench.compile('escapes');
  run = await bench.build({ programs: [escapes], command: `./escapes ${ESCAPES.join(' ')}`, epoch: EPOCH });
});
afterAll(async () => bench?.remove());

describe('determinism escapes under the engine', () => {
  it('the build ran and reported every attempt', () => {
    expect(run.result.status, `${run.result.message}\n${run.log}`).toBe('success');
    for (const name of [...ESCAPES, 'personality-garbage', 'vvar']) expect(run.lines.has(name), `${name} in\n${run.log}`).toBe(true);
  });

  it('on the host, without the engine, the same attempts escape (the checks can fail)', async () => {
    const host = await execa(escapes, ['tsc', 'cpuid', 'untraced', 'personality', 'usernotif', 'vdso']);
    for (const name of ['tsc', 'cpuid', 'untraced', 'personality', 'personality-garbage', 'usernotif', 'vdso']) {
      expect(host.stdout).toMatch(new RegExp(`^${name}: escaped`, 'm'));
    }
  });

  it('prctl(PR_SET_TSC, PR_TSC_ENABLE) with garbage above the int is refused', () => {
    expect(run.lines.get('tsc')).toMatch(/^refused/);
  });

  it('arch_prctl(ARCH_SET_CPUID, 1) with garbage above the int is refused', () => {
    expect(run.lines.get('cpuid')).toMatch(/^refused/);
  });

  it('clone(CLONE_UNTRACED) makes no untraced child', () => {
    expect(run.lines.get('untraced')).toMatch(/^(refused|contained)/);
  });

  it('personality() cannot turn ASLR back on, garbage above the int or not', () => {
    expect(run.lines.get('personality')).toMatch(/^(refused|contained)/);
    expect(run.lines.get('personality-garbage')).toMatch(/^(refused|contained)/);
  });

  it("a build's own seccomp user notification cannot let clock_gettime through", () => {
    const line = run.lines.get('usernotif') ?? '';
    if (!line.startsWith('refused')) {
      const t = Number(/time (\d+)/.exec(line)?.[1]);
      expect(Math.abs(t - EPOCH), line).toBeLessThan(86_400);
    }
  });

  it("the kernel's vDSO and its time data are not mapped, and cannot be mapped again", () => {
    expect(run.lines.get('vdso')).toMatch(/^contained/);
    expect(run.lines.get('vvar')).toMatch(/^contained/);
    expect(run.lines.get('map-vdso')).toMatch(/^refused/);
  });

  it("pid 1 of the sandbox is not writable through /proc/1/mem", () => {
    expect(run.lines.get('pid1-mem')).toMatch(/^refused/);
  });
});

describe('the clock table shared with the build', () => {
  it('an out-of-range rt_index entry neither crashes nor steers the supervisor', async () => {
    const r = await bench.build({ programs: [escapes], command: './escapes table-index && echo after', epoch: EPOCH });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('success');
    const t = Number(/time (\d+)/.exec(r.lines.get('table-index') ?? '')?.[1]);
    expect(Math.abs(t - EPOCH)).toBeLessThan(86_400);
    expect(r.log).toMatch(/^after$/m);
  });

  it("the table's file cannot be cut short under the supervisor", async () => {
    const r = await bench.build({ programs: [escapes], command: './escapes table-truncate && echo after', epoch: EPOCH });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('success');
    expect(r.lines.get('table-truncate')).toMatch(/^(refused|contained)/);
  });
});

const hasRdrand = /\brdrand\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
if (!hasRdrand) console.info('RDRAND: this CPU has none; the known-limit check is skipped');

describe.skipIf(!hasRdrand)('RDRAND (a known limit: the kernel offers no way to trap it without a hypervisor)', () => {
  it('is hidden from cpuid, but executes and differs between two builds', async () => {
    const a = await bench.build({ programs: [escapes], command: './escapes rdrand', epoch: EPOCH });
    const b = await bench.build({ programs: [escapes], command: './escapes rdrand', epoch: EPOCH });
    const la = a.lines.get('rdrand') ?? '';
    const lb = b.lines.get('rdrand') ?? '';
    console.info(`RDRAND under the engine: ${la} / ${lb}`);
    expect(la).toMatch(/^cpuid bit 0, ok 1, value /);
    expect(lb).toMatch(/^cpuid bit 0, ok 1, value /);
    expect(la).not.toBe(lb);
  });
});
