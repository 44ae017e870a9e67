/**
 * Which Debian archive this machine reaches: the first `deb` source of its own
 * apt configuration that serves the distribution (not its security archive).
 * Used as the default archive of a lock made here and by the tests; never a
 * host name written into the code.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
}

/** Parses deb822 `.sources` text (sources.list(5)); only `Types: deb` stanzas. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || !line.trim()) continue;
      if (/^\s/.test(line) && last) f[last] += ` ${line.trim()}`;
      else {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) f[(last = m[1]!.toLowerCase())] = m[2]!;
      }
    }
    if (!(f.types ?? '').split(/\s+/).includes('deb') || f.enabled === 'no') continue;
    for (const uri of (f.uris ?? '').split(/\s+/).filter(Boolean)) {
      out.push({ uri, suites: (f.suites ?? '').split(/\s+/).filter(Boolean), components: (f.components ?? '').split(/\s+/).filter(Boolean) });
    }
  }
  return out;
}

/** Parses one-line `sources.list` text. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m) out.push({ uri: m[1]!, suites: [m[2]!], components: m[3]!.split(/\s+/).filter(Boolean) });
  }
  return out;
}

/** The machine's apt sources, in the order apt reads them. */
export async function machineSources(etcApt = '/etc/apt'): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const read = (p: string) => readFile(p, 'utf8').catch(() => '');
  out.push(...parseOneLineSources(await read(path.join(etcApt, 'sources.list'))));
  const dir = path.join(etcApt, 'sources.list.d');
  for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (f.endsWith('.sources')) out.push(...parseDeb822Sources(await read(path.join(dir, f))));
    else if (f.endsWith('.list')) out.push(...parseOneLineSources(await read(path.join(dir, f))));
  }
  return out;
}

/**
 * The archive URI for `suite`: $DETBUILD_TEMPLATE_ARCHIVE when set, else the
 * machine's first source that lists the suite itself (not -security/-updates).
 */
export async function machineArchiveUri(suite: string, etcApt = '/etc/apt'): Promise<string | null> {
  const fromEnv = process.env.DETBUILD_TEMPLATE_ARCHIVE;
  if (fromEnv) return fromEnv;
  for (const s of await machineSources(etcApt)) if (s.suites.includes(suite)) return s.uri;
  return null;
}
