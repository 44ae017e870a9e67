/**
 * A tiny real Debian source package, made at test time with `dpkg-source -b`:
 * no debhelper, `Rules-Requires-Root: binary-targets` (so dpkg-buildpackage
 * runs `fakeroot debian/rules binary`), and a build that records the wall
 * clock, random bytes, the CPU count, the time zone, the locale and the umask
 * into the .deb. Built plainly twice in different conditions it differs;
 * under the engine it must not.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

const RULES = `#!/usr/bin/make -f
P = debian/tmp/usr/share/detbuild-probe
build build-arch build-indep: stamp-build
stamp-build:
\tdate +%s.%N > now
\thead -c 16 /dev/urandom | od -An -tx1 > random
\tnproc > cpus
\tdate -d @$$SOURCE_DATE_EPOCH '+%c %Z' > local-date
\tumask > umask
\ttouch stamp-build
clean:
\trm -rf debian/tmp debian/files stamp-build now random cpus local-date umask
binary binary-arch binary-indep: build
\trm -rf debian/tmp
\tmkdir -p debian/tmp/DEBIAN $(P)
\tcp now random cpus local-date umask $(P)/
\tchown -R root:root debian/tmp
\tdpkg-gencontrol -pdetbuild-probe -Pdebian/tmp
\tdpkg-deb --build debian/tmp ..
`;

export interface ProbeOptions {
  /** extra Build-Depends (e.g. a package that is not installed) */
  buildDepends?: string;
  version?: string;
  /** 'quilt': "3.0 (quilt)", an upstream tarball and a debian tarball (version default 1.0-1); default "3.0 (native)" */
  format?: 'native' | 'quilt';
}

/** Writes the source tree under DIR/detbuild-probe-VERSION and builds the .dsc beside it; returns the .dsc's path. */
export async function makeProbePackage(dir: string, opts: ProbeOptions = {}): Promise<string> {
  const quilt = opts.format === 'quilt';
  const version = opts.version ?? (quilt ? '1.0-1' : '1.0');
  const upstream = version.replace(/-[^-]*$/, '');
  const tree = path.join(dir, `detbuild-probe-${quilt ? upstream : version}`);
  await mkdir(path.join(tree, 'debian', 'source'), { recursive: true });
  await writeFile(
    path.join(tree, 'debian', 'control'),
    `Source: detbuild-probe
Section: misc
Priority: optional
Maintainer: detbuild tests <detbuild@example.invalid>
Rules-Requires-Root: binary-targets
${opts.buildDepends ? `Build-Depends: ${opts.buildDepends}\n` : ''}Standards-Version: 4.6.2

Package: detbuild-probe
Architecture: all
Description: what a build sees of its time, randomness and environment
 Written by the detbuild test suite.
`,
  );
  await writeFile(
    path.join(tree, 'debian', 'changelog'),
    `detbuild-probe (${version}) unstable; urgency=medium

  * Test package.

 -- detbuild tests <detbuild@example.invalid>  Tue, 14 Nov 2023 22:13:20 +0000
`,
  );
  await writeFile(path.join(tree, 'debian', 'source', 'format'), quilt ? '3.0 (quilt)\n' : '3.0 (native)\n');
  await writeFile(path.join(tree, 'debian', 'rules'), RULES);
  await chmod(path.join(tree, 'debian', 'rules'), 0o755);
  await writeFile(path.join(tree, 'README'), 'probe\n');
  if (quilt) {
    await execa('tar', ['-czf', `detbuild-probe_${upstream}.orig.tar.gz`, '--exclude=debian', path.basename(tree)], { cwd: dir });
  }
  await execa('dpkg-source', ['-b', path.basename(tree)], { cwd: dir, env: { LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: '1700000000' } });
  return path.join(dir, `detbuild-probe_${version}.dsc`);
}
