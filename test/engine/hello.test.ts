/**
 * A real upstream autotools project under the engine: GNU hello, from Debian's
 * source package (test/fixtures/fetch-hello.sh), configured, built and
 * installed into $DETBUILD_OUT twice under different real conditions. Every
 * installed file must be byte-identical. Prints how long each build took,
 * beside the same build run directly (no detbuild) for comparison.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runPair, runUnder, NORMAL, type PairRecord, type RunRecord } from '../helpers/conditions.js';
import { cleanCopy, compareTrees, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const COMMAND = './configure --prefix=/usr && make && make install DESTDIR="$DETBUILD_OUT"';
const EPOCH = 1_700_000_000;

/** Runs the fetch script (idempotent) and returns the unpacked upstream source directory. */
async function fetchHello(): Promise<string> {
  const res = await execa('sh', [path.join(repoRoot, 'test', 'fixtures', 'fetch-hello.sh')], { reject: false });
  if (res.exitCode !== 0) {
    throw new Error(`test/fixtures/fetch-hello.sh failed (exit ${res.exitCode}):\n${res.stderr.split('\n').slice(-15).join('\n')}`);
  }
  return res.stdout.trim().split('\n').at(-1)!;
}

describe('GNU hello (upstream autotools) built twice under the engine', () => {
  let src: string;
  let pair: PairRecord;
  let direct: RunRecord | undefined;
  let directRoot: string | undefined;

  beforeAll(async () => {
    // a copy keeps the cache pristine; file times are kept so make does not try to re-run autotools
    src = await cleanCopy(await fetchHello(), []);
    pair = await runPair({ runner: 'engine', sourceDir: src, command: COMMAND, epoch: EPOCH });
    console.info(
      `hello under the engine: A ${(pair.a.durationMs / 1000).toFixed(1)} s, B ${(pair.b.durationMs / 1000).toFixed(1)} s`,
    );
  });
  afterAll(async () =>
    removeUnlessKept(...[pair?.root, src && path.dirname(src), directRoot].filter((d): d is string => !!d)),
  );

  it('both builds succeed and the installed hello runs', async () => {
    for (const r of [pair.a, pair.b]) {
      expect(r.exitCode, describeRun(r)).toBe(0);
      const hello = await execa(path.join(r.outDir, 'artifacts', 'usr', 'bin', 'hello'), [], { env: { LANGUAGE: '', LC_ALL: 'C' } });
      expect(hello.stdout).toBe('Hello, world!');
    }
  });

  it('every installed file is byte-identical', async () => {
    const cmp = await compareTrees(path.join(pair.a.outDir, 'artifacts'), path.join(pair.b.outDir, 'artifacts'));
    expect(cmp.same).toEqual(expect.arrayContaining(['usr/bin/hello', 'usr/share/info/hello.info', 'usr/share/man/man1/hello.1']));
    expect({ differ: cmp.differ, onlyA: cmp.onlyA, onlyB: cmp.onlyB }).toEqual({ differ: [], onlyA: [], onlyB: [] });
  });

  it('the manifests are identical', async () => {
    const [ma, mb] = await Promise.all(
      [pair.a, pair.b].map(async (r) => readFile(path.join(r.outDir, 'manifest.json'), 'utf8')),
    );
    expect(JSON.parse(mb!)).toEqual(JSON.parse(ma!));
  });

  it('for comparison: the same build run directly, without detbuild', async () => {
    directRoot = await freshDir('hello-direct');
    direct = await runUnder({ runner: 'direct', sourceDir: src, command: COMMAND }, NORMAL, path.join(directRoot, 'out'));
    expect(direct.exitCode, describeRun(direct)).toBe(0);
    const engineMean = (pair.a.durationMs + pair.b.durationMs) / 2;
    console.info(
      `hello directly: ${(direct.durationMs / 1000).toFixed(1)} s; under the engine ${(engineMean / 1000).toFixed(1)} s on average ` +
        `(x${(engineMean / direct.durationMs).toFixed(1)})`,
    );
  });
});
