/**
 * Real Qubes RPM specs from the ../shared/upstream snapshots, through
 * `detbuild rpm --spec` with Debian's rpmbuild: qubes-gui-common
 * (rpm_spec/gui-common.spec.in) and qubes-core-vchan-xen
 * (rpm_spec/libvchan.spec.in, BuildRequires gcc and xen-devel >= 4.2: this
 * test maps them to Debian's gcc and libxen-dev, from .ci/packages.txt).
 * Each is built twice under the engine in different real conditions
 * (identical sha256 and `rpm -qp --dump`); the controls rebuild the engine's
 * .src.rpm with plain `rpmbuild -ra` on the host twice (different), and twice
 * with only SOURCE_DATE_EPOCH exported (still different: what, is printed).
 * Skipped with one line when the snapshots are absent.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { CONDITIONS } from '../../bench/lib/corpus.mjs';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { differingRpms, explainRpms, rawRpmbuildOnce, rpmBuildOnce, rpmDifferences, rpmDump } from '../../bench/lib/rpm-corpus.mjs';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { unpackUpstream, upstreamMissing } from '../helpers/upstream.js';
import type { RpmRun as Run } from '../helpers/corpus-runs.js';

const COMPONENTS = [
  { repo: 'qubes-gui-common', spec: 'rpm_spec/gui-common.spec.in', map: null, binaries: ['qubes-gui-common-devel-4.3.1-1.noarch.rpm'] },
  {
    repo: 'qubes-core-vchan-xen',
    spec: 'rpm_spec/libvchan.spec.in',
    // Fedora names of the spec's BuildRequires -> the Debian packages that provide the same here
    map: 'gcc gcc\nxen-devel libxen-dev\n',
    binaries: ['qubes-libvchan-xen-4.2.8-1.x86_64.rpm', 'qubes-libvchan-xen-devel-4.2.8-1.x86_64.rpm'],
  },
] as const;

for (const c of COMPONENTS) {
  const missing = upstreamMissing(c.repo);
  if (missing) console.info(`rpm ${c.repo}: ${missing}`);

  describe.skipIf(missing !== null)(`rpm recipe: ${c.repo} ${c.spec}`, () => {
    let dir: string;
    const runs: Record<string, Run> = {};
    let sde = 0;

    beforeAll(async () => {
      dir = await freshDir(`rpm-${c.repo}`);
      const tree = unpackUpstream(c.repo);
      const map = c.map ? path.join(dir, 'deps.map') : null;
      if (map) await writeFile(map, c.map!);
      for (const which of ['A', 'B'] as const) {
        if (which === 'B') await new Promise((r) => setTimeout(r, 2000));
        runs[`engine-${which}`] = (await rpmBuildOnce({ spec: c.spec, dir: tree }, 'deterministic', CONDITIONS[which], path.join(dir, `engine-${which}`), { depMap: map })) as Run;
      }
      const a = runs['engine-A']!;
      if (!a.ok) return;
      // the controls rebuild the very .src.rpm the engine made, without detbuild
      const srpm = path.join(a.artifacts, Object.keys(a.rpms).find((n) => n.endsWith('.src.rpm'))!);
      sde = Number(/SOURCE_DATE_EPOCH="(\d+)"/.exec(await readFile(path.join(a.artifacts, Object.keys(a.others)[0]!), 'utf8'))![1]);
      for (const [label, env] of [['raw', null], ['sde', sde]] as const) {
        for (const which of ['A', 'B'] as const) {
          if (which === 'B') await new Promise((r) => setTimeout(r, 1100));
          runs[`${label}-${which}`] = (await rawRpmbuildOnce(srpm, CONDITIONS[which], path.join(dir, `${label}-${which}`), {
            sde: env,
            hostname: which === 'B' ? 'detbuild-control-b' : null,
          })) as Run;
        }
      }
    }, 300_000);
    afterAll(async () => dir && removeUnlessKept(dir));

    it('every build succeeds: the binary packages, the rebuilt .src.rpm, the .buildinfo', () => {
      for (const [name, r] of Object.entries(runs)) expect(r.ok, `${name}: ${r.message}\n${r.logTail ?? ''}`).toBe(true);
      const a = runs['engine-A']!;
      expect(Object.keys(a.rpms).filter((n) => !n.endsWith('.src.rpm')).sort()).toEqual([...c.binaries]);
      expect(Object.keys(a.others)).toHaveLength(1);
      expect(Object.keys(a.others)[0]).toMatch(/\.x86_64\.buildinfo$/);
    });

    it('under the engine the two builds are identical: sha256 and rpm -qp --dump', async () => {
      const a = runs['engine-A']!;
      const b = runs['engine-B']!;
      expect(differingRpms(a, b)).toEqual([]);
      expect(a.others).toEqual(b.others);
      for (const name of Object.keys(a.rpms)) expect(await rpmDump(path.join(b.artifacts, name)), name).toBe(await rpmDump(path.join(a.artifacts, name)));
    });

    it('plain rpmbuild -ra twice (the control) differs: build time and build host', async () => {
      const a = runs['raw-A']!;
      const b = runs['raw-B']!;
      const why = await explainRpms(a, b, 3);
      console.info(`${c.repo}, plain rpmbuild twice: ${why}`);
      for (const name of c.binaries) {
        const d = await rpmDifferences(path.join(a.artifacts, name), path.join(b.artifacts, name));
        expect(d?.tags, name).toEqual(expect.arrayContaining(['Buildhost', 'Buildtime']));
      }
    });

    it('with only SOURCE_DATE_EPOCH exported it still differs (printed: what)', async () => {
      const a = runs['sde-A']!;
      const b = runs['sde-B']!;
      const why = await explainRpms(a, b, 3);
      console.info(`${c.repo}, plain rpmbuild twice with SOURCE_DATE_EPOCH=${sde}: ${why}`);
      for (const name of c.binaries) {
        const d = await rpmDifferences(path.join(a.artifacts, name), path.join(b.artifacts, name));
        // Debian's rpm 4.18 leaves use_source_date_epoch_as_buildtime and clamp_mtime_to_source_date_epoch at 0
        expect(d?.tags, name).toEqual(expect.arrayContaining(['Buildhost', 'Buildtime', 'Filemtimes']));
      }
    });
  });
}
