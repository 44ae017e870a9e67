/**
 * /dev/urandom, /dev/random and the kernel's uuid file inside a build, through
 * both of the supervisor's mechanisms: entropyfs (FUSE, the default) and the
 * fallback that traps open() (a builder without /dev/fuse).  Each open must get
 * its own stream, two builds must see the same bytes, and a plain build must not.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSpecFor, runBuild } from '../../src/engine/index.js';

const SCRIPT = `set -e
mkdir -p "$DETBUILD_OUT"
for f in /dev/urandom /dev/random /dev/urandom; do head -c 16 "$f" | od -An -tx1 | tr -d ' \\n'; echo; done >"$DETBUILD_OUT/bytes"
cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid >>"$DETBUILD_OUT/bytes"
(head -c 8 /dev/urandom | od -An -tx1 & head -c 8 /dev/urandom | od -An -tx1 & wait) | sort >>"$DETBUILD_OUT/bytes"
`;

let src: string;
let work: string;

async function build(mode: 'deterministic' | 'plain', noFuse: boolean): Promise<string[]> {
  const before = process.env.DETBUILD_NO_FUSE;
  if (noFuse) process.env.DETBUILD_NO_FUSE = '1';
  else delete process.env.DETBUILD_NO_FUSE;
  try {
    const { spec } = await defaultSpecFor(src, { command: 'sh ./entropy.sh', mode });
    const outDir = await mkdtemp(path.join(work, 'out-'));
    await rm(outDir, { recursive: true });
    const r = await runBuild(spec, { outDir });
    expect(r.status, r.message).toBe('success');
    return (await readFile(path.join(outDir, 'artifacts', 'bytes'), 'utf8')).trim().split('\n');
  } finally {
    if (before === undefined) delete process.env.DETBUILD_NO_FUSE;
    else process.env.DETBUILD_NO_FUSE = before;
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'detbuild-entropy-'));
  src = path.join(work, 'src');
  await rm(src, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(src));
  await writeFile(path.join(src, 'entropy.sh'), SCRIPT);
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe.each([
  ['entropyfs (FUSE)', false],
  ['trapped open() (no /dev/fuse)', true],
] as const)('entropy files through %s', (_name, noFuse) => {
  let a: string[];
  let b: string[];
  beforeAll(async () => {
    a = await build('deterministic', noFuse);
    b = await build('deterministic', noFuse);
  });

  it('every open gets a stream of its own', () => {
    expect(a).toHaveLength(7);
    expect(new Set(a).size).toBe(a.length);
    expect(a[3]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('two builds read the same bytes, concurrent readers included', () => {
    expect(b).toEqual(a);
  });

  it('a plain build reads real randomness (the comparison can fail)', async () => {
    const p = await build('plain', noFuse);
    expect(p.filter((l, i) => l === a[i])).toEqual([]);
  });
});

it('both mechanisms give the same streams', async () => {
  expect(await build('deterministic', true)).toEqual(await build('deterministic', false));
});
