#!/bin/sh
# Builds the packages of qubes-detbuild into packaging/build/packages (or $DETBUILD_PACKAGES_OUT):
#   qubes-detbuild-vm_VERSION-1_amd64.deb       builder side, Debian templates
#   qubes-detbuild-vm-VERSION-1.x86_64.rpm      builder side, Fedora templates
#   qubes-detbuild-dom0-VERSION-1.noarch.rpm    policy, salt formula and the .deb
# The .deb and the VM rpm are both made from one `make install-vm`.
#
# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) sets every
# timestamp, mtimes are clamped to it, archives are sorted, owners are root.
#
# Usage: packaging/build-packages.sh [--skip-build] [--deb-only]
#   --skip-build  use dist/ and native/ as they are (no `npm run build`)
#   --deb-only    stop after the .deb
# Needs: node and npm, make, gcc, dpkg-deb, rpmbuild, apt-get (Node.js headers
# of Debian's nodejs for the native addons, see the Makefile's vm-modules).
set -eu

skip_build=0
deb_only=0
for arg in "$@"; do
	case "$arg" in
	--skip-build) skip_build=1 ;;
	--deb-only) deb_only=1 ;;
	*) echo "usage: $0 [--skip-build] [--deb-only]" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${DETBUILD_PACKAGES_OUT:-$root/packaging/build/packages}

export LC_ALL=C TZ=UTC
umask 022
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
# the supervisor keeps its debug information: without the build directory in it
CFLAGS="${CFLAGS:--O2 -g} -ffile-prefix-map=$root=."
export CFLAGS

version=$(node -p 'require("./package.json").version')
deb_version="$version-1"

if [ "$skip_build" = 0 ]; then
	# from scratch: whatever an earlier build left in dist/ must not be packaged
	rm -rf dist
	make build
fi
make vm-modules check-payload

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out"

clamp_mtimes() {
	find "$1" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
}

## .deb
stage="$work/deb"
make install-vm DESTDIR="$stage"
mkdir -m 0755 "$stage/DEBIAN"
# Installed-Size in KiB, as dpkg-gencontrol counts: each file rounded up, 1 per directory or link
installed_size=$(find "$stage" -path "$stage/DEBIAN" -prune -o \( -type f -printf '%s\n' \) -o -printf '0\n' |
	awk '{ s += ($1 == 0) ? 1 : int(($1 + 1023) / 1024) } END { print s }')
sed -e "s/@VERSION@/$deb_version/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
	packaging/debian/control.in > "$stage/DEBIAN/control"
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
	while IFS= read -r f; do md5sum "$f"; done) > "$stage/DEBIAN/md5sums"
for script in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
clamp_mtimes "$stage"
deb="$out/qubes-detbuild-vm_${deb_version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "built $deb"

[ "$deb_only" = 1 ] && exit 0

## RPMs
topdir="$work/rpmbuild"
mkdir -p "$topdir"
rpmbuild -bb --quiet \
	--define "_topdir $topdir" \
	--define "detbuild_srcdir $root" \
	--define "detbuild_version $version" \
	--define "detbuild_vm_deb $deb" \
	rpm-spec/qubes-detbuild.spec
for rpm in "$topdir"/RPMS/*/*.rpm; do
	cp "$rpm" "$out/"
	echo "built $out/$(basename "$rpm")"
done
