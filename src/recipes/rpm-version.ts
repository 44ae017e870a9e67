/**
 * RPM's version rules, as rpm 4.18 applies them to dependencies: comparing
 * two versions segment by segment (rpmvercmp: `~` sorts before anything,
 * `^` after the base version, numbers after letters), comparing [E:]V[-R]
 * (the release only when both sides have one), and whether a provided
 * version range satisfies a required one.  Written from rpm's documented
 * behaviour; test/recipes/rpm-version.test.ts checks it against rpm's own
 * `rpm.vercmp`.
 */

/** Bits of RPMTAG_REQUIREFLAGS / PROVIDEFLAGS that say how versions compare. */
export const SENSE = { less: 2, greater: 4, equal: 8 } as const;
const SENSE_MASK = SENSE.less | SENSE.greater | SENSE.equal;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isAlnum = (c: string | undefined): boolean => isDigit(c) || isAlpha(c);

/** rpmvercmp: -1, 0 or 1. */
export function vercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]);
    const take = numeric ? isDigit : isAlpha;
    const si = i;
    const sj = j;
    while (i < a.length && take(a[i])) i++;
    while (j < b.length && take(b[j])) j++;
    let x = a.slice(si, i);
    let y = b.slice(sj, j);
    if (y.length === 0) return numeric ? 1 : -1;
    if (numeric) {
      x = x.replace(/^0+/, '');
      y = y.replace(/^0+/, '');
      if (x.length !== y.length) return x.length > y.length ? 1 : -1;
    }
    if (x !== y) return x > y ? 1 : -1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i < a.length ? 1 : -1;
}

export interface Evr {
  epoch: number;
  version: string;
  /** '' when the string has none */
  release: string;
}

/** `[E:]V[-R]`; a missing epoch is 0. */
export function parseEvr(evr: string): Evr {
  let rest = evr;
  let epoch = 0;
  const m = /^(\d+):/.exec(rest);
  if (m) {
    epoch = Number(m[1]);
    rest = rest.slice(m[0].length);
  }
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest, release: '' };
}

/** Compares two EVRs as rpm does for dependencies: the release only when both have one. */
export function compareEvr(a: string, b: string): number {
  const x = parseEvr(a);
  const y = parseEvr(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  const v = vercmp(x.version, y.version);
  if (v !== 0 || !x.release || !y.release) return v;
  return vercmp(x.release, y.release);
}

/** A dependency's version range: flags (SENSE bits) and EVR; no bits means any version. */
export interface Range {
  flags: number;
  evr: string;
}

/** Whether two ranges of the same name overlap (rpm's rpmdsCompare): a provide satisfies a require. */
export function rangesOverlap(provide: Range, require: Range): boolean {
  const pf = provide.flags & SENSE_MASK;
  const rf = require.flags & SENSE_MASK;
  if (!pf || !rf || !provide.evr || !require.evr) return true;
  const sense = compareEvr(provide.evr, require.evr);
  if (sense < 0) return Boolean(pf & SENSE.greater || rf & SENSE.less);
  if (sense > 0) return Boolean(pf & SENSE.less || rf & SENSE.greater);
  return Boolean((pf & SENSE.equal && rf & SENSE.equal) || (pf & SENSE.less && rf & SENSE.less) || (pf & SENSE.greater && rf & SENSE.greater));
}

/** `>=` etc. for a flags value (as rpm prints it), '' when unversioned. */
export function senseOperator(flags: number): string {
  switch (flags & SENSE_MASK) {
    case SENSE.less:
      return '<';
    case SENSE.less | SENSE.equal:
      return '<=';
    case SENSE.equal:
      return '=';
    case SENSE.greater | SENSE.equal:
      return '>=';
    case SENSE.greater:
      return '>';
    default:
      return '';
  }
}
