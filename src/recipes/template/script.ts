/**
 * The shell script that runs inside the engine (phase 2): a local repository
 * of exactly the pinned .debs, mmdebstrap in fakechroot mode into a root
 * tarball, a check that the installed set is the lock's, then an ext4 image.
 * A pure function of the lock, so the script is part of what the seed and the
 * source hash cover.
 */
import { createHash } from 'node:crypto';
import { normalizeLock, type TemplateLock } from './lock.js';

/** Files of a regeneration's source directory. */
export const SOURCE_FILES = {
  script: 'build.sh',
  lock: 'lock.json',
  expected: 'expected-packages.txt',
  repo: 'repo',
} as const;

/** Artifacts a regeneration writes under $DETBUILD_OUT. */
export const ARTIFACTS = {
  tarball: 'root.tar',
  image: 'root.img',
  packages: 'packages.txt',
  lock: 'lock.json',
} as const;

/** A UUID (version 4 layout) derived from the lock: the same for every regeneration of it. */
export function derivedUuid(lockSha: string, label: string): string {
  const h = createHash('sha256').update(`${label}\0${lockSha}`).digest('hex').split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/** `name\tversion\tarch` lines, sorted: what dpkg-query must report inside the image. */
export function expectedPackages(lock: TemplateLock): string {
  return lock.packages.map((p) => `${p.name}\t${p.version}\t${p.arch}\n`).sort().join('');
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function buildScript(unsorted: TemplateLock, lockSha: string): string {
  const lock = normalizeLock(unsorted);
  const include = lock.packages.map((p) => (p.arch === lock.architecture || p.arch === 'all' ? p.name : `${p.name}:${p.arch}`)).join(',');
  const fsUuid = derivedUuid(lockSha, 'ext4-uuid');
  const hashSeed = derivedUuid(lockSha, 'ext4-hash-seed');
  const size = lock.imageSizeMiB === undefined ? '' : String(lock.imageSizeMiB);
  return `#!/bin/sh
# Regenerates a builder template from ${SOURCE_FILES.lock} (written by \`detbuild template fetch\`).
# Run it under the engine: detbuild build THIS_DIR --out OUT (epoch and seed come from detbuild.json).
set -eu
out=\${DETBUILD_OUT:?not run by detbuild}
here=$(pwd)
# fakeroot in a user namespace that maps one uid: chown to root fails with EINVAL,
# which fakeroot does not swallow (only EPERM); this makes it not try at all
export FAKEROOTDONTTRYCHOWN=1

echo "[template] indexing ${lock.packages.length} pinned packages"
(cd ${SOURCE_FILES.repo} && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null)

echo "[template] mmdebstrap (fakechroot mode)"
echo "deb [trusted=yes] copy://$here/${SOURCE_FILES.repo} ./" |
mmdebstrap --mode=fakechroot --variant=custom --format=tar \\
  --architectures=${lock.architecture} \\
  --include=${shQuote(include)} \\
  --hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr \\
  --aptopt='Acquire::Languages "none"' \\
  --customize-hook='rm -f "$1"/etc/resolv.conf "$1"/etc/hostname' \\
  --customize-hook='dpkg-query --admindir="$1"/var/lib/dpkg -W -f "\\\${db:Status-Abbrev}\\t\\\${Package}\\t\\\${Version}\\t\\\${Architecture}\\n" > "$DETBUILD_OUT"/installed.raw' \\
  ${shQuote(lock.suite)} "$out/${ARTIFACTS.tarball}" -

echo "[template] checking the installed package set against the lock"
awk -F '\\t' '$1 ~ /^.i/ {print $2 "\\t" $3 "\\t" $4}' "$out/installed.raw" | LC_ALL=C sort > "$out/${ARTIFACTS.packages}"
rm -f "$out/installed.raw"
if ! LC_ALL=C sort ${SOURCE_FILES.expected} | cmp -s - "$out/${ARTIFACTS.packages}"; then
  echo "[template] the image's packages differ from the lock:" >&2
  LC_ALL=C sort ${SOURCE_FILES.expected} | diff - "$out/${ARTIFACTS.packages}" >&2 || true
  exit 1
fi

size_mib=${size}
if [ -z "$size_mib" ]; then
  # the tarball's size plus a quarter and 64 MiB, rounded up to 64 MiB (Qubes grows the volume later)
  bytes=$(stat -c %s "$out/${ARTIFACTS.tarball}")
  size_mib=$(( ( (bytes / 1048576) * 5 / 4 + 64 + 63 ) / 64 * 64 ))
fi
echo "[template] ext4 image of $size_mib MiB"
img="$out/${ARTIFACTS.image}"
# extracted into the sandbox's tmpfs: its directory order is the tarball's, whatever the host's file system
root=$(mktemp -d)
fakeroot sh -c '
  set -eu
  tar -xpf "$1" -C "$2" --numeric-owner
  if [ -n "\${SOURCE_DATE_EPOCH:-}" ]; then export E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH"; fi
  mkfs.ext4 -q -F -t ext4 -b 4096 -I 256 -L root -U ${fsUuid} \\
    -E hash_seed=${hashSeed},root_owner=0:0 -d "$2" "$3" "$4"M
' sh "$out/${ARTIFACTS.tarball}" "$root" "$img" "$size_mib"
rm -rf "$root"

if [ -n "\${SOURCE_DATE_EPOCH:-}" ]; then
  # mke2fs -d copies each file's atime and ctime from the extracted tree, which carry
  # the real time of extraction: set them to the epoch in every used inode (the used
  # ones are the complement of the free ranges dumpe2fs lists per group)
  dumpe2fs "$img" 2>/dev/null | awk -v E="$SOURCE_DATE_EPOCH" '
    /^Inode count:/ { n = $3 }
    /^Inodes per group:/ { ipg = $4 }
    /^Group [0-9]+:/ { g = $2 + 0 }
    /^  Free inodes: / {
      s = $0; sub(/^  Free inodes: /, "", s)
      for (i = g * ipg + 1; i <= (g + 1) * ipg; i++) used[i] = 1
      k = split(s, r, ", ")
      for (j = 1; j <= k; j++) { if (r[j] == "") continue; split(r[j], ab, "-"); a = ab[1] + 0; b = (ab[2] == "" ? a : ab[2] + 0); for (i = a; i <= b; i++) delete used[i] }
    }
    END { for (i = 1; i <= n; i++) if (i in used) printf "sif <%d> atime @%s\\nsif <%d> ctime @%s\\n", i, E, i, E }' > "$here/inode-times.debugfs"
  # E2FSPROGS_FAKE_TIME: closing the file system stamps the superblock's last write time
  # with the epoch, not the logical clock (which a wait that expires or not can move on)
  E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" debugfs -w -f "$here/inode-times.debugfs" "$img" > /dev/null 2> "$here/debugfs.log" || { cat "$here/debugfs.log" >&2; exit 1; }
  if grep -v '^debugfs ' "$here/debugfs.log" | grep -q .; then cat "$here/debugfs.log" >&2; exit 1; fi
fi
e2fsck -fn "$img"
cp ${SOURCE_FILES.lock} "$out/${ARTIFACTS.lock}"
cd "$out" && sha256sum ${ARTIFACTS.tarball} ${ARTIFACTS.image}
`;
}
