#!/bin/sh
# Quick start. Makes a git repository of examples/hello (one commit), clones it
# twice, and builds each clone with no flags at all under the engine: the second
# clone made 2 s later, at another path, under umask 077, with other file times
# (and by another user when run as root), built on another CPU with another
# TZ, LANG, umask and MAKEFLAGS. Every artifact hash is identical: the epoch is
# the commit's date and the seed the hash of the content, whatever the
# checkout. Then once plainly, to show what the engine fixes.
#
# Run as root (sudo), it first installs what the project needs and what
# `npm test` needs, as .ci/run does: the Debian packages of .ci/packages.txt,
# GNU hello's sources (test/fixtures/fetch-hello.sh) and the corpus subset's
# sources and build dependencies (test/corpus/fetch.sh --subset), the last two
# into the cache of the user who ran sudo; fetch.sh also makes the two system
# users the corpus builds as (detbuild-rb1, detbuild-rb2).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
	sh scripts/install-deps.sh
	[ -d node_modules ] || npm ci --no-audit --no-fund
	npm run --silent build >/dev/null
	if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && [ -z "${DETBUILD_CACHE:-}" ]; then
		DETBUILD_CACHE="$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cache/detbuild"
		export DETBUILD_CACHE
	fi
	echo "== what npm test needs: GNU hello's sources and the corpus subset (as .ci/run does)"
	if ! sh test/fixtures/fetch-hello.sh >/dev/null; then
		echo "example.sh: warning: test/fixtures/fetch-hello.sh failed; test/engine/hello.test.ts needs it" >&2
	fi
	if ! sh test/corpus/fetch.sh --subset; then
		echo "example.sh: warning: test/corpus/fetch.sh --subset failed; the corpus tests of npm test need it" >&2
	fi
	# what this script made belongs to the user who ran sudo, so that npm test runs as them
	if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
		chown -R "$SUDO_USER:" node_modules dist native
		if [ -d "${DETBUILD_CACHE:-/nonexistent}" ]; then chown -R "$SUDO_USER:" "$DETBUILD_CACHE"; fi
	fi
else
	[ -d node_modules ] || npm ci --no-audit --no-fund
	npm run --silent build >/dev/null
fi
cli="$PWD/dist/cli/main.js"

out=$(mktemp -d)
chmod 755 "$out"
gitq() { git -c init.defaultBranch=main -c user.name=example -c user.email=example@example.invalid "$@"; }
cp -R examples/hello "$out/repo"
rm -rf "$out/repo/out"
gitq -C "$out/repo" init -q
gitq -C "$out/repo" add -A
GIT_AUTHOR_DATE='2024-05-01T12:00:00Z' GIT_COMMITTER_DATE='2024-05-01T12:00:00Z' gitq -C "$out/repo" commit -q -m 'hello'

echo "== clone 1, built on CPU 0, no flags"
git clone -q "$out/repo" "$out/clone1"
taskset -c 0 node "$cli" build "$out/clone1" --out "$out/a" --quiet
sleep 2
mkdir -p "$out/elsewhere/second"
who=""
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	# another user clones: git needs to be told the repository of root is safe to read
	printf '[safe]\n\tdirectory = *\n' >"$out/gitconfig"
	chown nobody "$out/elsewhere/second"
	who="setpriv --reuid=nobody --regid=$(id -gn nobody) --clear-groups env HOME=$out/elsewhere/second XDG_CONFIG_HOME=$out/elsewhere/second GIT_CONFIG_GLOBAL=$out/gitconfig"
fi
echo "== clone 2: 2 s later, another path, umask 077, other file times${who:+, by nobody}; built on CPU $(($(nproc) - 1)), TZ=Asia/Tokyo, LANG=de_DE.UTF-8, MAKEFLAGS=-j8, no flags"
(umask 077; $who git clone -q "$out/repo" "$out/elsewhere/second/clone2")
touch -d '2001-02-03 04:05:06' "$out/elsewhere/second/clone2/hello.c" "$out/elsewhere/second/clone2/Makefile"
(umask 077; TZ=Asia/Tokyo LANG=de_DE.UTF-8 MAKEFLAGS=-j8 SOURCE_DATE_EPOCH=1 \
	taskset -c "$(($(nproc) - 1))" node "$cli" build "$out/elsewhere/second/clone2" --out "$out/b" --quiet)
echo "== plain build of clone 1 (no engine), for comparison"
node "$cli" build "$out/clone1" --out "$out/plain" --plain --quiet
echo
if diff -r "$out/a/artifacts" "$out/b/artifacts" >/dev/null; then
	echo "identical: both engine builds produced the same bytes"
else
	echo "DIFFERENT: the engine builds differ" >&2
	exit 1
fi
echo "epoch and seed, the same in both (manifest.json):"
grep -E '"(epoch|epochFrom|seed|gitCommit)"' "$out/a/manifest.json" | sed 's/^ */  /'
echo "the plain build differs from them in:"
for f in $(cd "$out/a/artifacts" && ls); do
	cmp -s "$out/a/artifacts/$f" "$out/plain/artifacts/$f" || echo "  $f"
done
echo
echo "engine output:  $out/a/artifacts/stamp.txt"
sed 's/^/  /' "$out/a/artifacts/stamp.txt"
echo "plain output:   $out/plain/artifacts/stamp.txt"
sed 's/^/  /' "$out/plain/artifacts/stamp.txt"
