/**
 * The supervisor's layers (docs/SUPERVISOR.md, src/supervisor/layers.txt):
 * scripts/supervisor-layers.py compiles every C file, reads the symbols it
 * uses and defines, and fails on a circle, on a file using one of a higher
 * layer, or on a leaf including more than leaves.  Run on the tree as it is,
 * and on a copy where a leaf calls the dispatcher (it must fail there).
 */
import { execa } from 'execa';
import { appendFile, cp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const SCRIPT = path.join(repoRoot, 'scripts', 'supervisor-layers.py');
const dirs: string[] = [];

describe('supervisor layers', () => {
  afterAll(async () => removeUnlessKept(...dirs));

  it('arrows point down only: no circle, no call to a higher layer', async () => {
    const r = await execa('python3', [SCRIPT], { reject: false });
    expect(r.stdout, r.stderr).toMatch(/circles: 0 \(0 files in circles\)/);
    expect(r.stdout).toContain('arrows point down only');
    expect(r.exitCode).toBe(0);
  });

  it('the control: a leaf that calls the dispatcher is found, with the circle it makes', async () => {
    const copy = await freshDir('supervisor-layers');
    dirs.push(copy);
    const sup = path.join(copy, 'supervisor');
    await cp(path.join(repoRoot, 'src', 'supervisor'), sup, { recursive: true });
    await appendFile(path.join(sup, 'tracee.c'), '\nvoid dispatch_stop(pid_t tid, int st);\nvoid tracee_up(void) { dispatch_stop(0, 0); }\n');
    const r = await execa('python3', [SCRIPT, '--sup', sup], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('upward: tracee.c (layer 0) uses dispatch.c (layer 3): dispatch_stop');
    expect(r.stdout).toMatch(/circle: .*dispatch\.c.*tracee\.c/);
  });
});
