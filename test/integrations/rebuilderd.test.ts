/**
 * integrations/rebuilderd/detbuild-rebuilderd run exactly as rebuilderd-worker runs a
 * backend (worker/src/rebuild.rs and proc.rs of rebuilderd): it downloads the package's
 * input and its published artifacts over HTTP into TMP/inputs/ (named by the URL's last
 * component), makes an empty TMP/out/, runs `BACKEND TMP/inputs/INPUT` with its own
 * environment plus REBUILDERD_OUTDIR=TMP/out, stdin from /dev/null, stdout and stderr
 * captured, in a process group of its own, from the worker's working directory; then each
 * published artifact is GOOD when TMP/out/BASENAME exists with the same bytes, else BAD.
 * The published build is a real detbuild build served by a local HTTP server.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientEnv, daemonForFile } from '../helpers/daemon.js';
import { freshDir, repoRoot } from '../helpers/trees.js';
import { requireCli, runCli as detbuild } from '../helpers/cli.js';

const BACKEND = path.join(repoRoot, 'integrations', 'rebuilderd', 'detbuild-rebuilderd');

let root: string;
let web: string;
let server: http.Server;
let base: string;
let bin: string;
const qrexec = daemonForFile();

beforeAll(async () => {
  root = await freshDir('rebuilderd');
  web = path.join(root, 'www');
  // what the publisher built (a real build) and publishes: artifacts, provenance, sources tarball
  const src = path.join(root, 'hello-1.0');
  await mkdir(src);
  await writeFile(path.join(src, 'Makefile'), 'all:\n\tmkdir -p $(DETBUILD_OUT)/bin\n\tdate > $(DETBUILD_OUT)/BUILD-DATE\n\thead -c 16 /dev/urandom | od -An -tx1 > $(DETBUILD_OUT)/build-id\n\tgzip -c README > $(DETBUILD_OUT)/README.gz\n\tprintf "#!/bin/sh\\necho hello\\n" > $(DETBUILD_OUT)/bin/hello\n');
  await writeFile(path.join(src, 'README'), 'hello, rebuilt\n'.repeat(50));
  const pub = path.join(web, 'builds', 'hello');
  const b = await detbuild(['build', src, '--out', pub, '--quiet'], { cpu: 0 });
  expect(b.exitCode, b.stderr).toBe(0);
  await mkdir(path.join(web, 'sources'));
  await execa('tar', ['-czf', path.join(web, 'sources', 'hello-1.0.tar.gz'), '-C', root, 'hello-1.0']);

  server = http.createServer((req, res) => {
    const file = path.join(web, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(web) || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // the package's input: provenance and sources as URLs
  await mkdir(path.join(web, 'inputs'));
  await writeFile(path.join(web, 'inputs', 'hello_1.0.detbuild.json'), JSON.stringify({ format: 'detbuild-rebuild-input/1', provenance: `${base}/builds/hello/provenance.intoto.json`, sources: `${base}/sources/hello-1.0.tar.gz` }));
  // the same, claiming another builder environment
  const st = JSON.parse(await readFile(path.join(pub, 'provenance.intoto.json'), 'utf8')) as { predicate: { buildDefinition: { internalParameters: { environmentSha256: string } } } };
  st.predicate.buildDefinition.internalParameters.environmentSha256 = 'cd'.repeat(32);
  await mkdir(path.join(web, 'elsewhere'));
  await writeFile(path.join(web, 'elsewhere', 'provenance.intoto.json'), JSON.stringify(st));
  await writeFile(path.join(web, 'inputs', 'hello_1.0-elsewhere.detbuild.json'), JSON.stringify({ format: 'detbuild-rebuild-input/1', provenance: `${base}/elsewhere/provenance.intoto.json`, sources: `${base}/sources/hello-1.0.tar.gz` }));

  // the operator installs detbuild on the worker's PATH
  bin = path.join(root, 'bin');
  await mkdir(bin);
  await writeFile(path.join(bin, 'detbuild'), `#!/bin/sh\nexec "${process.execPath}" "${requireCli()}" "$@"\n`, { mode: 0o755 });
}, 120_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
});

async function download(url: string, dir: string): Promise<string> {
  const name = new URL(url).pathname.split('/').pop()!;
  const res = await fetch(url);
  expect(res.ok, url).toBe(true);
  await writeFile(path.join(dir, name), Buffer.from(await res.arrayBuffer()));
  return name;
}

interface WorkerRun {
  verdicts: Record<string, 'GOOD' | 'BAD'>;
  outFiles: string[];
  log: string;
}

/** rebuilderd-worker's rebuild of one package: download, run the backend, compare by basename. */
async function rebuilderdWorker(inputUrl: string, artifactUrls: string[], workerEnv: Record<string, string>): Promise<WorkerRun> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'rebuilderd'));
  const inputs = path.join(tmp, 'inputs');
  const out = path.join(tmp, 'out');
  await mkdir(inputs);
  await mkdir(out);
  const artifacts = [];
  for (const u of artifactUrls) artifacts.push(await download(u, inputs));
  const input = await download(inputUrl, inputs);
  // the worker's own directory (-n NAME: /var/lib/rebuilderd-worker/NAME)
  const workerDir = path.join(root, 'worker-home');
  await mkdir(workerDir, { recursive: true });
  const child = spawn(BACKEND, [path.join(inputs, input)], {
    cwd: workerDir,
    env: { ...workerEnv, REBUILDERD_OUTDIR: out },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  await new Promise<void>((resolve) => child.once('close', () => resolve()));
  const verdicts: WorkerRun['verdicts'] = {};
  for (const a of artifacts) {
    const rebuilt = path.join(out, a);
    verdicts[a] = existsSync(rebuilt) && (await readFile(rebuilt)).equals(await readFile(path.join(inputs, a))) ? 'GOOD' : 'BAD';
  }
  const outFiles = (await readdir(out)).sort();
  await rm(tmp, { recursive: true, force: true });
  return { verdicts, outFiles, log };
}

const PUBLISHED = ['BUILD-DATE', 'README.gz', 'bin/hello', 'build-id'];
const workerEnvironment = (): Record<string, string> => ({ PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, HOME: root, LANG: 'C.UTF-8' });

describe('the rebuilderd backend', () => {
  it('rebuilds a published detbuild build on the worker: every artifact GOOD, left under its basename', async () => {
    const r = await rebuilderdWorker(`${base}/inputs/hello_1.0.detbuild.json`, PUBLISHED.map((a) => `${base}/builds/hello/artifacts/${a}`), workerEnvironment());
    expect(r.verdicts, r.log).toEqual({ 'BUILD-DATE': 'GOOD', 'README.gz': 'GOOD', hello: 'GOOD', 'build-id': 'GOOD' });
    expect(r.outFiles).toEqual(['BUILD-DATE', 'README.gz', 'build-id', 'hello']);
    expect(r.log).toMatch(/^GOOD: all 4 artifacts are identical/m);
    expect(r.log).toMatch(/detbuild-rebuilderd: 4 artifacts left in /);
  });

  it('rebuilds in a builder qube (DETBUILD_REBUILDERD_TARGET) the same way', async () => {
    const env = {
      ...workerEnvironment(),
      ...clientEnv(qrexec.bus),
      PATH: `${bin}:${path.join(repoRoot, 'test', 'client', 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      DETBUILD_REBUILDERD_TARGET: 'builder',
    };
    const builds = qrexec.daemon.logs.filter((l) => /finished: success/.test(l)).length;
    const r = await rebuilderdWorker(`${base}/inputs/hello_1.0.detbuild.json`, PUBLISHED.map((a) => `${base}/builds/hello/artifacts/${a}`), env);
    expect(Object.values(r.verdicts), r.log).toEqual(['GOOD', 'GOOD', 'GOOD', 'GOOD']);
    expect(qrexec.daemon.logs.filter((l) => /finished: success/.test(l)).length).toBe(builds + 1);
  });

  it('another recorded environment: the backend leaves nothing, so rebuilderd reports BAD, and says why', async () => {
    const r = await rebuilderdWorker(`${base}/inputs/hello_1.0-elsewhere.detbuild.json`, PUBLISHED.map((a) => `${base}/builds/hello/artifacts/${a}`), workerEnvironment());
    expect(Object.values(r.verdicts)).toEqual(['BAD', 'BAD', 'BAD', 'BAD']);
    expect(r.outFiles).toEqual([]);
    expect(r.log).toMatch(/^UNVERIFIABLE: refused: this machine is not the recorded environment/m);
    expect(r.log).toMatch(/detbuild-rebuilderd: no artifacts left: detbuild rebuild exited with status 15/);
  });

  it('run by hand without rebuilderd: one line, status 2', async () => {
    const r = await execa(BACKEND, ['x'], { reject: false, env: { PATH: process.env.PATH ?? '' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('detbuild-rebuilderd: REBUILDERD_OUTDIR is not set to a directory (this runs under rebuilderd-worker)');
    expect((await stat(BACKEND)).mode & 0o111).not.toBe(0);
  });
});
