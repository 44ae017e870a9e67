/**
 * detbuild rebuild on this machine, end to end with the real CLI and engine: a build
 * published with its record files, rebuilt later under other real conditions (another
 * CPU, time zone, locale, umask, path), and every way a rebuild can disagree: a byte
 * flipped in a published artifact, another recorded environment, sources that do not
 * match. The control: a provenance of a --plain build does not rebuild GOOD.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { makeRecord } from '../../src/record/collect.js';
import { writeRecordFiles } from '../../src/record/files.js';
import { EnvironmentRecordSchema, type EnvironmentRecord } from '../../src/record/schema.js';
import { ManifestSchema } from '../../src/record/manifest.js';
import { makeProbePackage } from '../recipes/probe-package.js';
import { ELSEWHERE, runCli as detbuild } from '../helpers/cli.js';
import { freshDir } from '../helpers/trees.js';

const MAKEFILE = `all:
\tmkdir -p $(DETBUILD_OUT)
\tdate '+%c %N' > $(DETBUILD_OUT)/date.txt
\thead -c 16 /dev/urandom | od -An -tx1 > $(DETBUILD_OUT)/random.txt
\techo "$$(nproc) $$(hostname) $$(umask) $$TZ" > $(DETBUILD_OUT)/host.txt
\tgzip -c data.txt > $(DETBUILD_OUT)/data.txt.gz
\ttar --format=gnu -cf $(DETBUILD_OUT)/src.tar Makefile data.txt
`;

let root: string;
let src: string;
let pub: string;
beforeAll(async () => {
  root = await freshDir('rebuild');
  src = path.join(root, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'Makefile'), MAKEFILE);
  await writeFile(path.join(src, 'data.txt'), 'some data\n'.repeat(100));
  pub = path.join(root, 'pub');
  const r = await detbuild(['build', src, '--out', pub, '--quiet'], { cpu: 0, env: { TZ: 'UTC' } });
  expect(r.exitCode, r.stderr).toBe(0);
});
afterAll(async () => {
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
});

/** The sources as another rebuilder gets them: another path, times kept (as a tarball keeps them). */
async function sourcesElsewhere(): Promise<string> {
  const d = path.join(root, `elsewhere-${Math.random().toString(36).slice(2)}`, 'sources');
  await mkdir(path.dirname(d));
  await cp(src, d, { recursive: true, preserveTimestamps: true });
  return d;
}

async function publishedCopy(name: string): Promise<string> {
  const d = path.join(root, name);
  await cp(pub, d, { recursive: true, preserveTimestamps: true });
  return d;
}

async function json<T = unknown>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

describe('a local build publishes what a remote one does', () => {
  it('record.json, environment.buildinfo and provenance.intoto.json beside the artifacts, describing the build', async () => {
    expect((await readdir(pub)).sort()).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
    const record = EnvironmentRecordSchema.parse(await json(path.join(pub, 'record.json')));
    const manifest = ManifestSchema.parse(await json(path.join(pub, 'manifest.json')));
    expect(record.build).toMatchObject({ mode: 'deterministic', command: 'make', sourceHash: manifest.sourceHash, recipe: { kind: 'command' } });
    const st = await json<{ subject: Array<{ name: string }>; predicate: { buildDefinition: { externalParameters: Record<string, unknown> } } }>(path.join(pub, 'provenance.intoto.json'));
    expect(st.subject.map((s) => s.name)).toEqual(['data.txt.gz', 'date.txt', 'host.txt', 'random.txt', 'src.tar']);
    expect(st.predicate.buildDefinition.externalParameters).toMatchObject({ command: 'make', epoch: manifest.epoch, seed: manifest.seed, recipe: { kind: 'command' } });
    expect(await readFile(path.join(pub, 'environment.buildinfo'), 'utf8')).toContain(`X-Detbuild-Record-Sha256: ${record.sha256}`);
  });
});

describe('detbuild rebuild', () => {
  it('GOOD: rebuilt elsewhere, later, under other conditions, every artifact is identical', async () => {
    const out = path.join(root, 'good');
    const r = await detbuild(['rebuild', path.join(pub, 'provenance.intoto.json'), '--sources', await sourcesElsewhere(), '--out', out], { ...ELSEWHERE, cwd: root });
    expect(r.exitCode, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toBe("GOOD: all 5 artifacts are identical to the statement's");
    expect(r.stderr).toMatch(/\[environment\] comparing the environment of this machine/);
    const verdict = await json<{ verdict: string; differences: unknown[] }>(path.join(out, 'verdict.json'));
    expect(verdict).toMatchObject({ verdict: 'GOOD', differences: [] });
    // the rebuild's own result carries its record files: it can be rebuilt in turn
    expect((await readdir(path.join(out, 'rebuilt'))).sort()).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
  });

  it('the control: a --plain build does not rebuild GOOD (its time, randomness and host leak in)', async () => {
    const plainPub = path.join(root, 'plain-pub');
    const b = await detbuild(['build', src, '--out', plainPub, '--plain', '--quiet'], { cpu: 0, env: { TZ: 'UTC' } });
    expect(b.exitCode, b.stderr).toBe(0);
    const r = await detbuild(['rebuild', plainPub, '--sources', await sourcesElsewhere(), '--out', path.join(root, 'plain-rebuild'), '--quiet'], ELSEWHERE);
    expect(r.exitCode, r.stdout + r.stderr).toBe(EXIT.rebuildBad);
    expect(r.stdout).toMatch(/^BAD: \d of 5 artifacts differ: .*date\.txt/);
  });

  it('BAD: one byte flipped in a published artifact; diffoscope says where, its full report is kept', async () => {
    const flipped = await publishedCopy('flipped');
    const file = path.join(flipped, 'artifacts', 'date.txt');
    const bytes = await readFile(file);
    bytes[0] = bytes[0]! ^ 0x01;
    await writeFile(file, bytes);
    const out = path.join(root, 'bad');
    const r = await detbuild(['rebuild', flipped, '--sources', src, '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(EXIT.rebuildBad);
    expect(r.stdout).toMatch(/^BAD: 1 of 5 artifacts differ: date\.txt\n/);
    expect(r.stdout).toMatch(/date\.txt: statement ([0-9a-f]{64}), rebuilt \1, published file [0-9a-f]{64}/);
    const report = await readFile(path.join(out, 'diffoscope.txt'), 'utf8');
    expect(report).toContain(`--- ${file}`);
    expect(r.stdout).toContain(`(diffoscope's full report: ${path.join(out, 'diffoscope.txt')})`);
    expect(await json(path.join(out, 'verdict.json'))).toMatchObject({ verdict: 'BAD', differences: [{ path: 'date.txt' }] });
  });

  it('BAD: a publisher whose statement and manifest claim the altered artifact', async () => {
    const liar = await publishedCopy('liar');
    const file = path.join(liar, 'artifacts', 'src.tar');
    const bytes = await readFile(file);
    bytes[100] = bytes[100]! ^ 0x20;
    await writeFile(file, bytes);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(bytes).digest('hex');
    const manifest = ManifestSchema.parse(await json(path.join(liar, 'manifest.json')));
    manifest.artifacts.find((a) => a.path === 'src.tar')!.sha256 = sha;
    await writeFile(path.join(liar, 'manifest.json'), JSON.stringify(manifest));
    const record = EnvironmentRecordSchema.parse(await json(path.join(liar, 'record.json')));
    await writeRecordFiles(liar, record, manifest);
    const r = await detbuild(['rebuild', liar, '--sources', src, '--out', path.join(root, 'liar-rebuild'), '--quiet']);
    expect(r.exitCode, r.stderr).toBe(EXIT.rebuildBad);
    expect(r.stdout).toMatch(new RegExp(`src\\.tar: statement ${sha}, rebuilt [0-9a-f]{64}, published file ${sha}`));
    // diffoscope cannot read the damaged tar: the report still says where the bytes part
    expect(r.stdout).toMatch(/^--- .*liar\/artifacts\/src\.tar$/m);
    expect(r.stdout).toMatch(/^first difference at byte 100 \(sizes (\d+) and \1\)$/m);
  });

  it('UNVERIFIABLE: the statement records another environment hash', async () => {
    const alt = path.join(root, 'alt-env');
    await mkdir(alt);
    const st = await json<{ predicate: { buildDefinition: { internalParameters: { environmentSha256: string } } } }>(path.join(pub, 'provenance.intoto.json'));
    st.predicate.buildDefinition.internalParameters.environmentSha256 = 'ab'.repeat(32);
    await writeFile(path.join(alt, 'statement.json'), JSON.stringify(st));
    const out = path.join(root, 'unverifiable-hash');
    const r = await detbuild(['rebuild', path.join(alt, 'statement.json'), '--sources', src, '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(EXIT.rebuildUnverifiable);
    expect(r.stdout).toMatch(/^UNVERIFIABLE: refused: this machine is not the recorded environment \(environment sha256 abababababab… recorded, [0-9a-f]{12}… here: the installed packages are the same/);
    expect(existsSync(path.join(out, 'rebuilt'))).toBe(false);
  });

  it('UNVERIFIABLE: the record has one package at another version; the package is named', async () => {
    const other = await publishedCopy('other-package');
    const record = EnvironmentRecordSchema.parse(await json(path.join(other, 'record.json')));
    const pkg = record.environment.packages.find((p) => p.name === 'make') ?? record.environment.packages[0]!;
    const env = { ...record.environment, packages: record.environment.packages.map((p) => (p === pkg ? { ...p, version: `${p.version}+other1` } : p)) };
    const resealed: EnvironmentRecord = makeRecord(env, record.build);
    await writeRecordFiles(other, resealed, ManifestSchema.parse(await json(path.join(other, 'manifest.json'))));
    const r = await detbuild(['rebuild', other, '--sources', src, '--out', path.join(root, 'unverifiable-pkg'), '--quiet']);
    expect(r.exitCode, r.stderr).toBe(EXIT.rebuildUnverifiable);
    expect(r.stdout).toContain(`1 package differs: ${pkg.name}:${pkg.arch} ${pkg.version}+other1 recorded, ${pkg.version} here`);
  });

  it('a record altered without resealing is bad input, not a verdict', async () => {
    const altered = await publishedCopy('altered');
    const record = await json<EnvironmentRecord>(path.join(altered, 'record.json'));
    record.environment.packages[0]!.version += '+x';
    await writeFile(path.join(altered, 'record.json'), JSON.stringify(record));
    const r = await detbuild(['rebuild', altered, '--sources', src, '--out', path.join(root, 'altered-rebuild'), '--quiet']);
    expect(r.exitCode).toBe(EXIT.badInput);
    expect(r.stderr).toMatch(/^detbuild rebuild: .*record\.json was altered after it was sealed/);
  });

  it('sources that do not match the record: one line, its own exit status, nothing written', async () => {
    const changed = await sourcesElsewhere();
    await writeFile(path.join(changed, 'data.txt'), 'other data\n');
    const out = path.join(root, 'mismatch');
    const r = await detbuild(['rebuild', pub, '--sources', changed, '--out', out]);
    expect(r.exitCode).toBe(EXIT.sourcesMismatch);
    expect(r.stderr).toMatch(/^detbuild rebuild: the sources do not match the record: .* hash to [0-9a-f]{16}…, the build recorded [0-9a-f]{16}…$/);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });
});

describe('detbuild rebuild of a Debian source package (recipe kind dpkg)', () => {
  it('deb publishes a record naming the recipe; the rebuild stages the .dsc the same way: GOOD', async () => {
    const dir = path.join(root, 'deb');
    await mkdir(dir);
    const dsc = await makeProbePackage(dir);
    const debPub = path.join(root, 'deb-pub');
    const b = await detbuild(['deb', dsc, '--out', debPub, '--quiet'], { cpu: 0, env: { TZ: 'UTC' } });
    expect(b.exitCode, b.stderr).toBe(0);
    const st = await json<{ predicate: { buildDefinition: { externalParameters: Record<string, unknown> } } }>(path.join(debPub, 'provenance.intoto.json'));
    expect(st.predicate.buildDefinition.externalParameters.recipe).toEqual({ kind: 'dpkg', dsc: path.basename(dsc) });
    // the directory also holds the unpacked tree: only the .dsc and its files count
    const r = await detbuild(['rebuild', debPub, '--sources', dir, '--out', path.join(root, 'deb-rebuild'), '--quiet'], ELSEWHERE);
    expect(r.exitCode, r.stdout + r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^GOOD: all 3 artifacts are identical/);
  });
});

describe('help', () => {
  it.each(['rebuild', 'agree'])('detbuild %s --help', async (cmd) => {
    const r = await detbuild([cmd, '--help']);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.stdout).toMatch(new RegExp(`^usage: detbuild ${cmd} `));
    expect(r.stdout).toMatch(/^options:$/m);
  });
});
