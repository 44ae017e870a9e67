/**
 * Generated Debian source packages, each capturing one thing a real package
 * captures (as the reproducible-builds notes file them): the build path
 * (captures_build_path), the locale's collation (different_due_to_locale) or
 * the wall clock (timestamps_in_documentation and the like). The CI subset of
 * the corpus builds them where the archive here offers no small real package
 * for that cause. Made at test time with `dpkg-source -b`: no debhelper,
 * `Rules-Requires-Root: binary-targets`, an `Architecture: all` .deb holding
 * what the build recorded.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export type ProbeCause = 'path' | 'locale' | 'time';

/** The make recipe line that records the cause into `captured` (make syntax: $$ for $). */
const RECORD: Record<ProbeCause, string> = {
  // what a configure script bakes into a generated header or a .pc file
  path: 'echo "srcdir=$$(pwd)" > captured',
  // what a generated index sorted with sort(1) looks like: collation of the locale
  locale: "printf 'beta\\nAlpha\\nalpha\\nBeta\\nzeta\\ntau\\nch\\nsh\\n' | sort > captured",
  // what a generated manual's "built on" line records
  time: "date -u '+built %Y-%m-%d %H:%M:%S' > captured",
};

/** Writes detbuild-PROBE-CAUSE-1.0 under DIR, builds its .dsc beside it and returns the .dsc's path. */
export async function makeCauseProbe(dir: string, cause: ProbeCause): Promise<string> {
  const name = `detbuild-captures-${cause}`;
  const tree = path.join(dir, `${name}-1.0`);
  await mkdir(path.join(tree, 'debian', 'source'), { recursive: true });
  await writeFile(
    path.join(tree, 'debian', 'control'),
    `Source: ${name}
Section: misc
Priority: optional
Maintainer: detbuild tests <detbuild@example.invalid>
Rules-Requires-Root: binary-targets
Standards-Version: 4.6.2

Package: ${name}
Architecture: all
Description: a package whose build captures the ${cause}
 Written by the detbuild test suite (test/corpus/probe-sources.ts).
`,
  );
  await writeFile(
    path.join(tree, 'debian', 'changelog'),
    `${name} (1.0) unstable; urgency=medium

  * Test package.

 -- detbuild tests <detbuild@example.invalid>  Tue, 14 Nov 2023 22:13:20 +0000
`,
  );
  await writeFile(path.join(tree, 'debian', 'source', 'format'), '3.0 (native)\n');
  const rules = `#!/usr/bin/make -f
P = debian/tmp/usr/share/${name}
build build-arch build-indep: stamp-build
stamp-build:
\t${RECORD[cause]}
\ttouch stamp-build
clean:
\trm -rf debian/tmp debian/files stamp-build captured
binary binary-arch binary-indep: build
\trm -rf debian/tmp
\tmkdir -p debian/tmp/DEBIAN $(P)
\tcp captured $(P)/
\tchmod 0644 $(P)/captured
\tchmod 0755 debian/tmp debian/tmp/usr debian/tmp/usr/share $(P)
\tchown -R root:root debian/tmp
\tdpkg-gencontrol -p${name} -Pdebian/tmp
\tchmod 0755 debian/tmp/DEBIAN
\tchmod 0644 debian/tmp/DEBIAN/control
\tdpkg-deb --root-owner-group --build debian/tmp ..
`;
  await writeFile(path.join(tree, 'debian', 'rules'), rules);
  await chmod(path.join(tree, 'debian', 'rules'), 0o755);
  await execa('dpkg-source', ['-b', path.basename(tree)], { cwd: dir, env: { LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: '1700000000' } });
  return path.join(dir, `${name}_1.0.dsc`);
}
