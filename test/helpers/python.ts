/**
 * A Python interpreter of at least a given version for tests that run upstream Python
 * (qubes-builderv2 needs 3.12): python3.N on PATH, python3 itself, or one of pyenv's
 * versions (`pyenv root`, else ~/.pyenv). Null when there is none.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

function versionOf(python: string): [number, number] | null {
  const r = spawnSync(python, ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return null;
  const m = /^(\d+) (\d+)/.exec(r.stdout.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function pyenvRoot(): string {
  const r = spawnSync('pyenv', ['root'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : path.join(homedir(), '.pyenv');
}

export function findPython(major: number, minor: number): string | null {
  const candidates = [...[12, 13, 14].map((m) => `python${major}.${m}`), `python${major}`];
  const root = path.join(pyenvRoot(), 'versions');
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort().reverse()) candidates.push(path.join(root, v, 'bin', 'python3'));
  }
  for (const c of candidates) {
    const v = versionOf(c);
    if (v && (v[0] > major || (v[0] === major && v[1] >= minor))) return c;
  }
  return null;
}
