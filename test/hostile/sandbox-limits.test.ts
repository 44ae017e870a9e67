/**
 * Resource limits inside a build: processes, memory, the workspace on disk
 * (/build/src, /build/home, $DETBUILD_OUT), /tmp and /dev/shm, each reported as
 * status 'limit' naming the limit; everything else of the sandbox is read-only.
 * Each limit is checked with a build that stays under it (success) and one that
 * goes over it, in both modes where the mode matters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/engine/index.js';
import { parseConfig } from '../../src/daemon/config.js';
import { specFromRecipe } from '../../src/daemon/worker/spec.js';
import { HostileBench } from './sandbox-harness.js';

const MiB = 1024 * 1024;

let bench: HostileBench;
let hog: string;

beforeAll(async () => {
  bench = await HostileBench.create('limits');
  hog = await bench.compile('hog');
});
afterAll(async () => bench?.remove());

describe.each(['deterministic', 'plain'] as const)('processes and memory (%s)', (mode) => {
  it('a build under the process limit succeeds', async () => {
    const r = await bench.build({ programs: [hog], command: './hog forks 20 1', mode, limits: { maxProcesses: 64 } });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('success');
  });

  it('a build over the process limit is stopped and reported as such', async () => {
    const started = Date.now();
    const r = await bench.build({ programs: [hog], command: './hog forks 300 20', mode, limits: { maxProcesses: 64 } });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('limit');
    expect(r.result.limit).toBe('processes');
    expect(r.result.message).toMatch(/process/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a build under the memory limit succeeds', async () => {
    const r = await bench.build({ programs: [hog], command: './hog mem 64 0', mode, limits: { maxMemoryBytes: 256 * MiB } });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('success');
  });

  it('a build over the memory limit is killed and reported as such', async () => {
    const started = Date.now();
    const r = await bench.build({ programs: [hog], command: './hog mem 1024 20', mode, limits: { maxMemoryBytes: 256 * MiB } });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('limit');
    expect(r.result.limit).toBe('memory');
    expect(r.log).not.toMatch(/hog: holding/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('writable file systems', () => {
  it('writing past the disk limit in /build/home or /build/src is stopped', async () => {
    for (const dir of ['$HOME', '/build/src']) {
      const r = await bench.build({
        programs: [],
        command: `dd if=/dev/zero of=${dir}/big bs=1M count=200 2>&1; sleep 3`,
        limits: { maxDiskBytes: 64 * MiB },
      });
      expect(r.result.status, `${dir}: ${r.result.message}\n${r.log}`).toBe('limit');
      expect(r.result.limit).toBe('disk');
    }
  });

  it('a build that writes past the disk limit and exits at once is caught too', async () => {
    const r = await bench.build({ programs: [], command: 'dd if=/dev/zero of=$HOME/big bs=1M count=100 2>&1', limits: { maxDiskBytes: 32 * MiB } });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('limit');
    expect(r.result.limit).toBe('disk');
  });

  it.each([
    ['/tmp', 'tmp', { maxTmpBytes: 16 * MiB }],
    ['/dev/shm', 'shm', { maxShmBytes: 16 * MiB }],
  ] as const)('%s has a size; filling it fails the build with its limit named', async (dir, limit, limits) => {
    const ok = await bench.build({ programs: [], command: `dd if=/dev/zero of=${dir}/f bs=1M count=8 2>&1`, limits });
    expect(ok.result.status, `${ok.result.message}\n${ok.log}`).toBe('success');
    const r = await bench.build({ programs: [], command: `dd if=/dev/zero of=${dir}/f bs=1M count=64 2>&1`, limits });
    expect(r.log).toMatch(/No space left on device/);
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('limit');
    expect(r.result.limit).toBe(limit);
  });

  it.each(['deterministic', 'plain'] as const)('everything else is read-only (%s)', async (mode) => {
    const paths = ['/x', '/run/x', '/dev/x', '/build/x', '/etc/x', '/sys/devices/system/cpu/x'];
    const r = await bench.build({
      programs: [],
      mode,
      command: `for p in ${paths.join(' ')}; do if ( : > "$p" ) 2>/dev/null; then echo "writable $p"; fi; done; echo checked`,
    });
    expect(r.result.status, `${r.result.message}\n${r.log}`).toBe('success');
    expect(r.log).toMatch(/^checked$/m);
    expect(r.log).not.toMatch(/writable/);
  });
});

describe('defaults and configuration', () => {
  it('every sandbox limit has a default', () => {
    for (const key of ['maxProcesses', 'maxMemoryBytes', 'maxDiskBytes', 'maxTmpBytes', 'maxShmBytes'] as const) {
      expect(DEFAULT_LIMITS[key], key).toBeGreaterThan(0);
    }
  });

  it("detbuildd.json's sandboxLimits reach the build spec; a recipe cannot raise them", async () => {
    const config = parseConfig({ sandboxLimits: { maxProcesses: 77, maxMemoryBytes: 123 * MiB } });
    const { spec } = await specFromRecipe({ command: 'true' }, bench.work, config);
    expect(spec.limits.maxProcesses).toBe(77);
    expect(spec.limits.maxMemoryBytes).toBe(123 * MiB);
    expect(spec.limits.maxDiskBytes).toBe(DEFAULT_LIMITS.maxDiskBytes);
    expect(() => parseConfig({ sandboxLimits: { maxProcesses: 0 } })).toThrow(/maxProcesses/);
  });
});
