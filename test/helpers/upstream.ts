/**
 * The unmodified Qubes snapshots in ../shared/upstream/ (see its README):
 * finding one by repository name and unpacking it once per machine into a
 * scratch directory. When ../shared is absent (a clone elsewhere), the tests
 * that need a snapshot say so in one line and are skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './trees.js';

export const upstreamDir = path.resolve(repoRoot, '..', 'shared', 'upstream');

/** The snapshot archive of REPO (e.g. 'qubes-core-qrexec'), or null. */
export function upstreamArchive(repo: string): string | null {
  if (!existsSync(upstreamDir)) return null;
  const name = readdirSync(upstreamDir).find((f) => f.startsWith(`${repo}-`) && f.endsWith('.tar.gz') && /^[0-9a-f]+$/.test(f.slice(repo.length + 1, -'.tar.gz'.length)));
  return name ? path.join(upstreamDir, name) : null;
}

/** One line saying why tests that need REPO's snapshot are skipped, or null when it is there. */
export function upstreamMissing(repo: string): string | null {
  return upstreamArchive(repo) ? null : `skipped: no ${repo} snapshot in ${upstreamDir} (a clone without ../shared/upstream)`;
}

/**
 * The unpacked top directory of REPO's snapshot (unpacked once, under the
 * system's temporary directory, keyed by the archive's name; the archive
 * holds one top directory named after the repository).
 */
export function unpackUpstream(repo: string): string {
  const archive = upstreamArchive(repo);
  if (!archive) throw new Error(upstreamMissing(repo) ?? repo);
  const base = path.join(tmpdir(), 'detbuild-upstream', path.basename(archive, '.tar.gz'));
  const done = path.join(base, 'tree');
  if (existsSync(done)) return path.join(done, onlyEntry(done));
  const scratch = `${base}.${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const r = spawnSync('tar', ['-xzf', archive, '-C', scratch], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot unpack ${archive}: ${r.stderr.trim()}`);
  mkdirSync(base, { recursive: true });
  try {
    renameSync(scratch, done);
  } catch {
    rmSync(scratch, { recursive: true, force: true }); // another process won the race
  }
  return path.join(done, onlyEntry(done));
}

function onlyEntry(dir: string): string {
  const entries = readdirSync(dir);
  if (entries.length !== 1) throw new Error(`${dir}: expected one top directory, found ${entries.length}`);
  return entries[0]!;
}
