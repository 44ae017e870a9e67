/**
 * Reads what the probe fixture (test/fixtures/probe) observed: one report per
 * probes/NAME.txt, made of `key=value` lines, among them `sanity.CHECK=ok` or
 * `sanity.CHECK=FAIL why`.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './trees.js';

export const probeFixture = path.join(repoRoot, 'test', 'fixtures', 'probe');

/** Probes of the full build (`make`), by output name. */
export const allProbes = ['c-dynamic', 'c-static', 'c-threads', 'go', 'python', 'java', 'shell'] as const;
/** Probes of `make quick`. */
export const quickProbes = ['c-dynamic', 'shell'] as const;

export interface SanityLine {
  probe: string;
  check: string;
  ok: boolean;
  why: string;
}

export interface ProbeReport {
  probe: string;
  values: Map<string, string>;
  sanity: SanityLine[];
}

export function parseProbe(probe: string, text: string): ProbeReport {
  const values = new Map<string, string>();
  const sanity: SanityLine[] = [];
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    values.set(key, value);
    if (key.startsWith('sanity.')) {
      const ok = value === 'ok';
      sanity.push({ probe, check: key.slice('sanity.'.length), ok, why: ok ? '' : value.replace(/^FAIL ?/, '') });
    }
  }
  return { probe, values, sanity };
}

/** All probe reports of a result's artifacts directory, by probe name (file name without .txt). */
export async function readProbes(artifactsDir: string): Promise<Map<string, ProbeReport>> {
  const dir = path.join(artifactsDir, 'probes');
  const reports = new Map<string, ProbeReport>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.txt')).sort()) {
    const probe = name.slice(0, -'.txt'.length);
    reports.set(probe, parseProbe(probe, await readFile(path.join(dir, name), 'utf8')));
  }
  return reports;
}

/** `date +%s` as the build's very first command (probes/first-date.txt). */
export async function readFirstDate(artifactsDir: string): Promise<number> {
  return Number((await readFile(path.join(artifactsDir, 'probes', 'first-date.txt'), 'utf8')).trim());
}

/** Failed sanity lines, as `probe: check: why`, leaving out the checks named in `except`. */
export function sanityFailures(reports: Map<string, ProbeReport>, except: string[] = []): string[] {
  return [...reports.values()]
    .flatMap((r) => r.sanity)
    .filter((s) => !s.ok && !except.includes(s.check))
    .map((s) => `${s.probe}: ${s.check}: ${s.why}`);
}

/** A value that must be there. */
export function value(reports: Map<string, ProbeReport>, probe: string, key: string): string {
  const v = reports.get(probe)?.values.get(key);
  if (v === undefined) throw new Error(`probe ${probe} reported no ${key}`);
  return v;
}

/** Keys whose values differ between two reports of the same probe, as `key: A | B` lines. */
export function diffReports(a: ProbeReport | undefined, b: ProbeReport | undefined): string[] {
  const keys = new Set([...(a?.values.keys() ?? []), ...(b?.values.keys() ?? [])]);
  return [...keys]
    .filter((k) => a?.values.get(k) !== b?.values.get(k))
    .map((k) => `${k}: ${a?.values.get(k) ?? '(missing)'} | ${b?.values.get(k) ?? '(missing)'}`);
}

/** Every differing probe key of two results, prefixed by probe: for messages. */
export function diffAllProbes(a: Map<string, ProbeReport>, b: Map<string, ProbeReport>): string[] {
  const probes = new Set([...a.keys(), ...b.keys()]);
  return [...probes].flatMap((p) => diffReports(a.get(p), b.get(p)).map((d) => `${p}: ${d}`));
}
