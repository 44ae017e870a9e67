#!/bin/sh
# Quick start: builds examples/hello twice under the engine, in different
# real conditions (time, CPU, time zone, locale, umask), and shows that every
# artifact hash is identical; then once plainly, to show what it fixes.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] && sh scripts/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build >/dev/null
out=$(mktemp -d)
echo "== build 1 (CPU 0, UTC)"
taskset -c 0 node dist/cli/main.js build examples/hello --out "$out/a" --quiet
sleep 2
echo "== build 2 (CPU 1 if present, 2 s later, TZ=Asia/Tokyo, LANG=de_DE.UTF-8, umask 077, MAKEFLAGS=-j8)"
(umask 077; TZ=Asia/Tokyo LANG=de_DE.UTF-8 MAKEFLAGS=-j8 SOURCE_DATE_EPOCH=1 \
	taskset -c "$(($(nproc) - 1))" node dist/cli/main.js build examples/hello --out "$out/b" --quiet)
echo "== plain build (no engine), for comparison"
node dist/cli/main.js build examples/hello --out "$out/plain" --plain --quiet
echo
if diff -r "$out/a/artifacts" "$out/b/artifacts" >/dev/null; then
	echo "identical: both engine builds produced the same bytes"
else
	echo "DIFFERENT: the engine builds differ" >&2
	exit 1
fi
echo "the plain build differs from them in:"
for f in $(cd "$out/a/artifacts" && ls); do
	cmp -s "$out/a/artifacts/$f" "$out/plain/artifacts/$f" || echo "  $f"
done
echo
echo "engine output:  $out/a/artifacts/stamp.txt"
sed 's/^/  /' "$out/a/artifacts/stamp.txt"
echo "plain output:   $out/plain/artifacts/stamp.txt"
sed 's/^/  /' "$out/plain/artifacts/stamp.txt"
