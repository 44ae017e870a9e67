#!/bin/sh
# Installs the Debian packages the engine, its build and its tests need
# (the list lives in .ci/packages.txt), plus Node.js/npm when missing.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root (apt-get install)" >&2
	exit 2
fi
pkgs=$(grep -v '^\s*#' "$here/.ci/packages.txt" | tr '\n' ' ')
command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
missing=""
for p in $pkgs; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
# /dev/fuse as every Debian system with udev has it (systemd's 50-udev-default.rules:
# KERNEL=="fuse", MODE="0666"): the supervisor, run as an unprivileged user, mounts its
# entropy and /proc file systems in the sandbox's user namespace. Machines without udev
# (containers, some CI images) leave the kernel's default 0600.
if [ -c /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" = 600 ]; then
	chmod 0666 /dev/fuse
fi
