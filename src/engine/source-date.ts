/**
 * The build's epoch (SOURCE_DATE_EPOCH, the start of the logical clock): the one
 * rule, used by `detbuild build`, `verify`, the daemon and the client. It depends
 * on the sources' content only, never on file times or on how they were checked
 * out. In order, the first that applies:
 *
 *   1. an explicit epoch (--epoch, a recipe's `epoch`)
 *   2. `epoch` of detbuild.json (the project chose it)
 *   3. the committer date of HEAD, when SRC_DIR is a git work tree, or a
 *      directory of its HEAD's tree (a project in a subdirectory of a repository)
 *   4. the date of the newest debian/changelog entry (what dpkg uses)
 *   5. the date of the newest %changelog entry of an RPM spec (rpm_spec/*.spec,
 *      rpm_spec/*.spec.in, or *.spec / *.spec.in at the top), at 12:00 UTC
 *   6. DEFAULT_EPOCH, 1980-01-01 00:00:00 UTC
 *
 * Derived dates (3-5) are never earlier than 1980-01-01 (zip's limit).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { EpochOrigin } from './types.js';
import { gitHead } from './vcs.js';

/** Zip cannot store times before 1980; an epoch below that breaks zip and jar. */
export const MIN_EPOCH = 315532800;

/** The epoch of sources that carry no date at all: 1980-01-01 00:00:00 UTC. */
export const DEFAULT_EPOCH = MIN_EPOCH;

export interface SourceDate {
  epoch: number;
  /** which rule gave the epoch */
  from: EpochOrigin;
  /** HEAD's commit id, when SRC_DIR is a git work tree (whatever gave the epoch) */
  gitCommit?: string;
}

/** The date of the newest debian/changelog entry (its first), as dpkg derives SOURCE_DATE_EPOCH. */
export async function changelogEpoch(root: string): Promise<number | null> {
  const text = await readOptional(path.join(root, 'debian', 'changelog'));
  if (text === null) return null;
  const m = /^ -- .*?>\s+(.+)$/m.exec(text);
  if (!m?.[1]) return null;
  const t = Date.parse(m[1]);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The newest entry of a spec's %changelog (`* Wed Jan 10 2024 Name <mail> - 1.0-1`),
 * at 12:00 UTC of that day (rpm takes noon of the day too, in local time).
 */
export function rpmChangelogDate(spec: string): number | null {
  const start = spec.search(/^%changelog\b/m);
  if (start < 0) return null;
  let newest: number | null = null;
  const entry = /^\*\s+(?:[A-Z][a-z]{2}\s+)?([A-Z][a-z]{2})\s+(\d{1,2})\s+(?:\d\d:\d\d:\d\d\s+(?:[A-Z]+\s+)?)?(\d{4})\b/gm;
  for (const m of spec.slice(start).matchAll(entry)) {
    const month = MONTHS.indexOf(m[1]!);
    if (month < 0) continue;
    const t = Date.UTC(Number(m[3]), month, Number(m[2]), 12) / 1000;
    if (newest === null || t > newest) newest = t;
  }
  return newest;
}

/** The newest %changelog date among the RPM specs of the sources. */
export async function rpmSpecEpoch(root: string): Promise<number | null> {
  const candidates: string[] = [];
  for (const dir of ['rpm_spec', '.']) {
    let names: string[];
    try {
      names = await fs.readdir(path.join(root, dir));
    } catch {
      continue;
    }
    for (const n of names.sort()) if (/\.spec(\.in)?$/.test(n)) candidates.push(path.join(root, dir, n));
  }
  let newest: number | null = null;
  for (const file of candidates) {
    const text = await readOptional(file);
    const t = text === null ? null : rpmChangelogDate(text);
    if (t !== null && (newest === null || t > newest)) newest = t;
  }
  return newest;
}

/** The epoch of the sources at `root` by the rule above; `explicit` and `project` are rules 1 and 2. */
export async function sourceDate(root: string, given: { explicit?: number; project?: number } = {}): Promise<SourceDate> {
  const chosen = given.explicit ?? given.project;
  if (chosen !== undefined) {
    // the commit is recorded when it can be read, but an epoch given needs no git
    const head = await gitHead(root).catch(() => null);
    return { epoch: chosen, from: given.explicit !== undefined ? 'option' : 'detbuild.json', ...(head ? { gitCommit: head.commit } : {}) };
  }
  const head = await gitHead(root);
  if (head) return { epoch: Math.max(head.committerTime, MIN_EPOCH), from: 'git', gitCommit: head.commit };
  const deb = await changelogEpoch(root);
  if (deb !== null) return { epoch: Math.max(deb, MIN_EPOCH), from: 'debian/changelog' };
  const rpm = await rpmSpecEpoch(root);
  if (rpm !== null) return { epoch: Math.max(rpm, MIN_EPOCH), from: 'rpm-spec' };
  return { epoch: DEFAULT_EPOCH, from: 'default' };
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
}
