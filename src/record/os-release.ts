import { readFile } from 'node:fs/promises';

/** Parses os-release(5): KEY=value lines, values optionally quoted with shell rules. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]!] = unquote(m[2]!);
  }
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
  }
  return v;
}

/** Reads /etc/os-release, falling back to /usr/lib/os-release as os-release(5) says. */
export async function readOsRelease(paths = ['/etc/os-release', '/usr/lib/os-release']): Promise<Record<string, string>> {
  for (const p of paths) {
    try {
      return parseOsRelease(await readFile(p, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return {};
}
