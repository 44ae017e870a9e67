/**
 * The installed toolchains' state outside /usr and /etc, which every build
 * sees read-only at the same place, whatever made its spec (a generic build,
 * the dpkg and rpm recipes, the template recipe): Debian keeps TeX's formats and file
 * databases (mktexfmt fails without them: "Did not find entry for
 * byfmt=pdflatex"), the dpkg database (dpkg-query, dpkg-shlibdeps,
 * dpkg-checkbuilddeps), ghc's package database, OCaml's ld.conf (a symlink
 * from /usr/lib/ocaml), the XML and SGML catalogs, Perl's SAX parser list and
 * the rpm database (rpmbuild's BuildRequires check) under /var/lib, written by
 * the packages' maintainer scripts.  What is there
 * is a function of the installed packages, which the environment record lists
 * (src/record); the record also names these directories (`toolchainState`).
 */
import { existsSync } from 'node:fs';

export const TOOLCHAIN_STATE_DIRS: readonly string[] = [
  'var/lib/dpkg',
  'var/lib/texmf',
  'var/lib/tex-common',
  'var/lib/ghc',
  'var/lib/ocaml',
  'var/lib/sgml-base',
  'var/lib/xml-core',
  'var/lib/libxml-sax-perl',
  'var/lib/rpm',
];

/** The toolchain state directories present on this machine, as paths relative to /. */
export function presentToolchainState(): string[] {
  return TOOLCHAIN_STATE_DIRS.filter((d) => existsSync(`/${d}`));
}
