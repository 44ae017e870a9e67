/**
 * The RPM probe package (test/fixtures/rpm-probe: a source tree with
 * rpm_spec/detbuild-rpm-probe.spec.in, whose build records the clock, random
 * bytes, the CPU count, the host name, the time zone and the umask), copied
 * for a test with variations of its spec, and made into a .src.rpm (and a
 * binary .rpm) on the host with rpmbuild, as a packager would.
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { renderSpecTemplate } from '../../src/recipes/rpm-spec.js';
import { repoRoot } from '../helpers/trees.js';

export const PROBE_FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'rpm-probe');
export const PROBE_SPEC = 'rpm_spec/detbuild-rpm-probe.spec.in';
export const PROBE_NAME = 'detbuild-rpm-probe';

export interface ProbeVariant {
  /** BuildRequires lines added after Source0 */
  buildRequires?: string[];
  /** shell lines appended to %prep */
  prep?: string[];
  /** replaces the whole spec template */
  specText?: string;
}

/** A copy of the probe tree at INTO/detbuild-rpm-probe with the variant applied. */
export async function probeTree(into: string, v: ProbeVariant = {}): Promise<string> {
  const dir = path.join(into, PROBE_NAME);
  await mkdir(into, { recursive: true });
  await cp(PROBE_FIXTURE, dir, { recursive: true });
  const specFile = path.join(dir, PROBE_SPEC);
  let text = v.specText ?? (await readFile(specFile, 'utf8'));
  if (v.buildRequires?.length) text = text.replace(/^(Source0:.*)$/m, `$1\n${v.buildRequires.map((b) => `BuildRequires:  ${b}`).join('\n')}`);
  if (v.prep?.length) text = text.replace(/^%setup -q$/m, `%setup -q\n${v.prep.join('\n')}`);
  await writeFile(specFile, text);
  return dir;
}

/** rpmbuild -ba of the probe on the host: { srpm, rpm } (the .src.rpm and the noarch .rpm). */
export async function makeProbeSrpm(into: string, v: ProbeVariant = {}): Promise<{ srpm: string; rpm: string }> {
  const tree = await probeTree(path.join(into, 'tree'), v);
  const top = path.join(into, 'top');
  await mkdir(path.join(top, 'SOURCES'), { recursive: true });
  const spec = path.join(into, `${PROBE_NAME}.spec`);
  const text = renderSpecTemplate(await readFile(path.join(tree, PROBE_SPEC), 'utf8'), { versions: ['1.0'], rels: ['1'], backendVmm: 'xen', changelog: '' }, PROBE_SPEC);
  await writeFile(spec, text);
  await execa('tar', ['-czf', path.join(top, 'SOURCES', `${PROBE_NAME}-1.0.tar.gz`), '--transform', `s,^${PROBE_NAME},${PROBE_NAME}-1.0,`, '-C', path.dirname(tree), PROBE_NAME]);
  await execa('rpmbuild', ['-ba', '--nodeps', '--define', `_topdir ${top}`, spec], { env: { LC_ALL: 'C' } });
  return { srpm: path.join(top, 'SRPMS', `${PROBE_NAME}-1.0-1.src.rpm`), rpm: path.join(top, 'RPMS', 'noarch', `${PROBE_NAME}-1.0-1.noarch.rpm`) };
}
