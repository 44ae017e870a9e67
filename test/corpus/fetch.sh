#!/bin/sh
# Gets what the corpus builds need, as root: a deb-src entry for apt (added
# beside the machine's deb entry when there is none), the et_EE.UTF-8 locale
# (run B of each pair builds in it), the two system users the runs A and B
# build as (detbuild-rb1, detbuild-rb2: bench/lib/corpus-conditions.mjs), and
# for each package of
# test/corpus/corpus.json its source (apt-get source --download-only into
# ${DETBUILD_CACHE:-$HOME/.cache/detbuild}/debsrc-dpkg/PKG) and its build
# dependencies (apt-get build-dep).
#
#   sh test/corpus/fetch.sh            every package of the corpus
#   sh test/corpus/fetch.sh --subset   the CI subset ("subset": true)
#   sh test/corpus/fetch.sh PKG...     these packages
#
# A package whose source cannot be downloaded is reported and skipped (the
# corpus runner and the tests then say so); the script fails only when none
# of the requested packages could be fetched.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
	echo "fetch.sh: run as root (apt-get build-dep, localedef)" >&2
	exit 2
fi
cache=${DETBUILD_CACHE:-${HOME:-/root}/.cache/detbuild}

has_deb_src() {
	grep -Eqs '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}
if ! has_deb_src; then
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >/etc/apt/sources.list.d/detbuild-deb-src.sources
	elif [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/detbuild-deb-src.list
	fi
	has_deb_src || { echo "fetch.sh: cannot add a deb-src entry (no deb entry found)" >&2; exit 3; }
	echo "fetch.sh: added a deb-src entry to apt's sources"
fi
apt-get update -qq

# in /etc/locale.gen too, so that a later locale-gen (locales' triggers) keeps it
if ! locale -a 2>/dev/null | grep -qx 'et_EE.utf8'; then
	command -v locale-gen >/dev/null || apt-get install -y -qq --no-install-recommends locales
	grep -qs '^et_EE.UTF-8 UTF-8' /etc/locale.gen || echo 'et_EE.UTF-8 UTF-8' >>/etc/locale.gen
	locale-gen >/dev/null
fi

# the users of runs A and B (reprotest's user_group variation): system users, no home, no login
for u in detbuild-rb1 detbuild-rb2; do
	id -u "$u" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
done

if [ "${1:-}" = "--subset" ]; then
	pkgs=$(node -e 'for (const p of require(process.argv[1]).packages) if (p.subset && !p.upstream) console.log(p.package + "=" + p.version)' "$here/test/corpus/corpus.json")
elif [ $# -gt 0 ]; then
	pkgs="$*"
else
	pkgs=$(node -e 'for (const p of require(process.argv[1]).packages) if (!p.upstream) console.log(p.package + "=" + p.version)' "$here/test/corpus/corpus.json")
fi

ok=0
failed=""
for spec in $pkgs; do
	pkg=${spec%%=*}
	dir="$cache/debsrc-dpkg/$pkg"
	mkdir -p "$dir"
	ver=${spec#*=}
	[ "$ver" = "$spec" ] && ver=""
	dsc=""
	[ -n "$ver" ] && [ -f "$dir/${pkg}_${ver#*:}.dsc" ] && dsc="$dir/${pkg}_${ver#*:}.dsc"
	if [ -z "$dsc" ]; then
		# a few tries: a transient network error should not fail CI
		tries=0
		got=no
		while [ $tries -lt 4 ]; do
			if (cd "$dir" && apt-get source --download-only -qq "$spec" >/dev/null 2>"$dir/fetch.err"); then
				got=yes
				break
			fi
			tries=$((tries + 1))
			[ $tries -lt 4 ] && sleep 10
		done
		if [ $got = no ]; then
			echo "fetch.sh: $spec: source not downloadable: $(tail -n 1 "$dir/fetch.err")" >&2
			failed="$failed $pkg"
			continue
		fi
		dsc=$(ls "$dir"/"${pkg}"_*.dsc | tail -n 1)
	fi
	if ! apt-get -o DPkg::Lock::Timeout=600 build-dep -y -qq "$dsc" >"$dir/build-dep.log" 2>&1; then
		echo "fetch.sh: $spec: apt-get build-dep failed: $(tail -n 1 "$dir/build-dep.log")" >&2
		failed="$failed $pkg"
		continue
	fi
	echo "fetch.sh: $spec ready ($dsc)"
	ok=$((ok + 1))
done
[ -n "$failed" ] && echo "fetch.sh: not fetched:$failed" >&2
[ "$ok" -gt 0 ] || [ -z "$pkgs" ]
