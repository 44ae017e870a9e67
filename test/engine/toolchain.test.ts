/**
 * The builder's installed toolchains work in a generic build exactly as
 * outside (src/engine/toolchain-state.ts, src/supervisor/fs/systimes.c):
 *
 * - pdflatex and lualatex need TeX's formats under /var/lib/texmf, which every
 *   build now sees read-only (before: "mktexfmt: Did not find entry for
 *   byfmt=pdflatex", exit 4).  Two builds on different CPUs, with different
 *   caller environments, give the same PDF; two plain builds do not (they
 *   embed the real date).
 * - Python's cached bytecode under /usr stays valid under an epoch older than
 *   the installed Python: inside the build the same modules load from their
 *   .pyc as outside (before: 174 of the standard library's recompiled in
 *   memory at every start).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE, NORMAL, describeRun, runPair, runUnder, type PairRecord } from '../helpers/conditions.js';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { TOOLCHAIN_STATE_DIRS } from '../../src/engine/toolchain-state.js';
import { collectEnvironment } from '../../src/record/collect.js';

const hasTex = (await execa('sh', ['-c', 'command -v pdflatex && command -v lualatex'], { reject: false })).exitCode === 0;

const DOC = String.raw`\documentclass{article}
\begin{document}
Built on \today, by \TeX.
\end{document}
`;

describe.skipIf(!hasTex)('TeX in a generic build (needs texlive-latex-base and texlive-luatex)', () => {
  let root: string;
  let engine: PairRecord;
  let plain: PairRecord;

  beforeAll(async () => {
    root = await freshDir('toolchain-tex');
    const src = path.join(root, 'doc');
    await mkdir(src);
    await writeFile(path.join(src, 'doc.tex'), DOC);
    const command =
      'pdflatex -interaction=nonstopmode doc.tex >/dev/null && cp doc.pdf "$DETBUILD_OUT/pdflatex.pdf" && ' +
      'lualatex -interaction=nonstopmode doc.tex >/dev/null && cp doc.pdf "$DETBUILD_OUT/lualatex.pdf"';
    engine = await runPair({ runner: 'engine', sourceDir: src, command, epoch: 1_600_000_000 }, { a: NORMAL, b: HOSTILE, gapMs: 1_500 });
    plain = await runPair({ runner: 'plain', sourceDir: src, command }, { a: NORMAL, b: NORMAL, gapMs: 1_500 });
  });
  afterAll(async () => removeUnlessKept(...[root, engine?.root, plain?.root].filter((d): d is string => !!d)));

  it('pdflatex and lualatex run under the engine, and the PDFs are byte-identical', async () => {
    for (const r of [engine.a, engine.b]) expect(r.exitCode, describeRun(r)).toBe(0);
    for (const f of ['pdflatex.pdf', 'lualatex.pdf']) {
      const [a, b] = await Promise.all([engine.a, engine.b].map((r) => readFile(path.join(r.outDir, 'artifacts', f))));
      expect(a!.equals(b!), f).toBe(true);
    }
  });

  it('control: two plain builds succeed too (same sandbox layout) and differ', async () => {
    for (const r of [plain.a, plain.b]) expect(r.exitCode, describeRun(r)).toBe(0);
    const [a, b] = await Promise.all([plain.a, plain.b].map((r) => readFile(path.join(r.outDir, 'artifacts', 'pdflatex.pdf'))));
    expect(a!.equals(b!)).toBe(false);
  });
});

describe("Python's cached bytecode under an old epoch", () => {
  const IMPORTS = 'import asyncio, json, email, http.client, xml.etree.ElementTree, argparse, logging, unittest, decimal, typing, dataclasses, subprocess, tarfile, zipfile, sqlite3, urllib.request, csv, pathlib, difflib, inspect';
  const stale = (verbose: string) =>
    [...verbose.matchAll(/^# bytecode is stale for '([^']+)'/gm)].map((m) => m[1]!).sort();
  const fromCache = (verbose: string) => [...verbose.matchAll(/^# code object from '?\/usr\/lib\/python3[^ ]*\.pyc/gm)].length;
  let root: string;

  beforeAll(async () => {
    root = await freshDir('toolchain-pyc');
  });
  afterAll(async () => removeUnlessKept(root));

  it('the modules that load from their .pyc outside load from it inside, at epoch 2001', async () => {
    const outside = await execa('/usr/bin/python3', ['-v', '-c', IMPORTS], { reject: false, env: { PYTHONDONTWRITEBYTECODE: '1' }, extendEnv: false });
    const src = path.join(root, 'src');
    await mkdir(src);
    const r = await runUnder(
      { runner: 'engine', sourceDir: src, epoch: 1_000_000_000, command: `python3 -v -c '${IMPORTS}' 2>"$DETBUILD_OUT/verbose.txt"` },
      NORMAL,
      path.join(root, 'out'),
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    const inside = await readFile(path.join(r.outDir, 'artifacts', 'verbose.txt'), 'utf8');
    expect(fromCache(outside.stderr)).toBeGreaterThan(100);
    expect(stale(inside)).toEqual(stale(outside.stderr));
    expect(fromCache(inside)).toBe(fromCache(outside.stderr));
  });
});

describe('the environment record names the toolchain state every build sees', () => {
  it('lists the directories of TOOLCHAIN_STATE_DIRS present here', async () => {
    const env = await collectEnvironment();
    expect(env.toolchainState).toContain('var/lib/dpkg');
    for (const d of env.toolchainState ?? []) expect(TOOLCHAIN_STATE_DIRS).toContain(d);
  });
});
