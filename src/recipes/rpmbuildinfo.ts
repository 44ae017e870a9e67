/**
 * The build environment as RPM users know it: a `.buildinfo` in the format of
 * the `rpmbuildinfo` script that mock and the Qubes builder run after a build
 * ("Format: 0.2-rpm": Build-Architecture, Source, Epoch, Version, Release,
 * Architecture, Binary, Build-Origin, Build-Date, Build-Path,
 * Installed-Build-Depends, Environment, Checksums-Sha256).  Written by a sh
 * snippet at the end of the build, inside the sandbox, so that it is an
 * artifact like the packages (under the engine, Build-Date is the logical
 * clock's).  On a Debian builder Installed-Build-Depends lists the dpkg
 * packages (`name-version.arch`), and `X-Detbuild-Package-Manager: dpkg`
 * says so; on an RPM builder the rpm database's `[E:]N-V-R.A`.
 */

/** Variables whose value the .buildinfo records (those set): toolchain, flags, locale, SOURCE_DATE_EPOCH. */
export const BUILDINFO_ENVIRONMENT = [
  'CC', 'CPP', 'CXX', 'LD', 'AR', 'MAKE',
  'CFLAGS', 'CPPFLAGS', 'CXXFLAGS', 'LDFLAGS', 'MAKEFLAGS',
  'LD_LIBRARY_PATH',
  'LANG', 'LC_ALL', 'LC_CTYPE', 'LC_COLLATE', 'LC_MESSAGES', 'LC_TIME',
  'SOURCE_DATE_EPOCH',
] as const;

/**
 * sh, run in $DETBUILD_OUT after the packages were copied there (one .src.rpm
 * and the binary .rpms); `top` is rpmbuild's %{_topdir}.
 */
export function rpmbuildinfoScript(top: string): string {
  return [
    '# rpmbuildinfo: the build environment, Format 0.2-rpm',
    'cd "$DETBUILD_OUT"',
    'srpm=$(ls -- *.src.rpm)',
    'q() { rpm -qp --qf "$1" "$srpm"; }',
    'bins=$(ls -- *.rpm | grep -v "\\.src\\.rpm$" || true)',
    'bi="$(q "%{NAME}-%{VERSION}-%{RELEASE}").$(uname -m).buildinfo"',
    '{',
    '  echo "Format: 0.2-rpm"',
    '  echo "Build-Architecture: $(uname -m)"',
    '  echo "Source: $(q "%{NAME}")"',
    '  echo "Epoch: $(q "%{EPOCHNUM}")"',
    '  echo "Version: $(q "%{VERSION}")"',
    '  echo "Release: $(q "%{RELEASE}")"',
    '  echo "Architecture: $(q "%{ARCH}")"',
    '  echo "Binary: $(for f in $bins; do rpm -qp --qf "%{NAME}\\n" "$f"; done | LC_ALL=C sort -u | tr "\\n" " " | sed "s/ $//")"',
    '  echo "Build-Origin: $( (. /etc/os-release 2>/dev/null; echo "${ID:-unknown}") )"',
    '  echo "Build-Date: $(date -R)"',
    `  echo "Build-Path: $(rpm --define "_topdir ${top}" --eval "%{_builddir}")"`,
    '  if [ -n "$(rpm -qa 2>/dev/null | head -n 1)" ]; then',
    '    echo "Installed-Build-Depends:"',
    '    rpm -qa --qf "%{NAME}\\t%{EPOCH}:%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n" | sed "s/\\t(none):/\\t/" | LC_ALL=C sort | cut -f2 | sed "s/^/ /"',
    '  else',
    '    echo "X-Detbuild-Package-Manager: dpkg"',
    '    echo "Installed-Build-Depends:"',
    '    dpkg-query -W -f \'${db:Status-Abbrev}\\t${Package}-${Version}.${Architecture}\\n\' | awk -F "\\t" \'$1 ~ /^.i/ { print " " $2 }\' | LC_ALL=C sort',
    '  fi',
    '  echo "Environment:"',
    `  for v in ${BUILDINFO_ENVIRONMENT.join(' ')}; do`,
    '    eval "x=\\${$v-}"',
    '    if [ -n "$x" ]; then printf \' %s="%s"\\n\' "$v" "$x"; fi',
    '  done',
    '  echo "Checksums-Sha256:"',
    '  for f in "$srpm" $bins; do printf \' %s %s %s\\n\' "$(sha256sum < "$f" | cut -c1-64)" "$(stat -c %s "$f")" "$f"; done',
    '} > "$bi"',
  ].join('\n');
}
