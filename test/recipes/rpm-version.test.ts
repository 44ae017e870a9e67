/**
 * rpm's version rules as the BuildRequires check applies them: our
 * comparison against rpm's own (`rpm.vercmp` in rpm's Lua, which compares
 * [E:]V[-R] strings), and the range overlap rules on real cases.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { compareEvr, rangesOverlap, SENSE, vercmp } from '../../src/recipes/rpm-version.js';

const PAIRS: Array<[string, string]> = [
  ['1.0', '1.0'], ['1.0', '2.0'], ['2.0', '1.0'], ['2.0.1', '2.0.1'], ['2.0', '2.0.1'], ['2.0.1a', '2.0.1'],
  ['5.5p1', '5.5p2'], ['5.5p10', '5.5p1'], ['10xyz', '10.1xyz'], ['xyz10', 'xyz10.1'], ['xyz.4', '8'], ['xyz.4', '2'],
  ['5.5p1', '5.5.p1'], ['5.6p1', '5.5p1'], ['1.0aa', '1.0a'], ['10.0001', '10.1'], ['10.0001', '10.0039'],
  ['4.999.9', '5.0'], ['20101121', '20101122'], ['2_0', '2_0'], ['2.0', '2_0'], ['a', 'a'], ['a+', 'a+'], ['a+', 'a_'],
  ['+', '+'], ['+', '_'], ['1.0~rc1', '1.0~rc1'], ['1.0~rc1', '1.0'], ['1.0', '1.0~rc1'], ['1.0~rc1', '1.0~rc2'],
  ['1.0~rc1~git123', '1.0~rc1'], ['1.0^', '1.0^'], ['1.0^', '1.0'], ['1.0', '1.0^'], ['1.0^git1', '1.0'],
  ['1.0^git1', '1.0^git2'], ['1.0^git1', '1.01'], ['1.0^20160101', '1.0.1'], ['1.0^20160101^git1', '1.0^20160101'],
  ['1.0~rc1^git1', '1.0~rc1'], ['1.0^git1~pre', '1.0^git1'], ['4.17.7+13-g2445b30a44', '4.2'],
  ['1:1.0', '2.0'], ['0:1.0', '1.0'], ['1.0-1', '1.0-2'], ['1.0-10', '1.0-9'],
];

describe('rpm version comparison', () => {
  it("agrees with rpm's own rpm.vercmp on every case", async () => {
    const lua = PAIRS.map(([a, b]) => `print(rpm.vercmp('${a}','${b}')..' ')`).join(' ');
    const r = await execa('rpm', ['--eval', `%{lua: ${lua}}`]);
    const theirs = r.stdout.trim().split(/\s+/).map(Number);
    expect(theirs).toHaveLength(PAIRS.length);
    // rpm.vercmp compares [E:]V[-R] strings: compareEvr, which is vercmp when there is no epoch or release
    const ours = PAIRS.map(([a, b]) => compareEvr(a, b));
    expect(vercmp('1.0^git1', '1.0')).toBe(1);
    expect(Object.fromEntries(PAIRS.map(([a, b], i) => [`${a} vs ${b}`, ours[i]]))).toEqual(Object.fromEntries(PAIRS.map(([a, b], i) => [`${a} vs ${b}`, theirs[i]])));
  });

  it('ranges: a provided version satisfies a required range as rpm decides', () => {
    const eq = (evr: string) => ({ flags: SENSE.equal, evr });
    const ge = (evr: string) => ({ flags: SENSE.greater | SENSE.equal, evr });
    const lt = (evr: string) => ({ flags: SENSE.less, evr });
    expect(rangesOverlap(eq('4.17.1-2'), ge('4.2'))).toBe(true);
    expect(rangesOverlap(eq('4.1-9'), ge('4.2'))).toBe(false);
    expect(rangesOverlap(eq('2.0-1'), lt('2.0'))).toBe(false);
    expect(rangesOverlap(eq('1.9-1'), lt('2.0'))).toBe(true);
    // a requirement without release matches any release of that version
    expect(rangesOverlap(eq('1.0-7'), eq('1.0'))).toBe(true);
    expect(rangesOverlap(eq('1.0-7'), eq('1.0-8'))).toBe(false);
    // the epoch counts: 1:1.0 is newer than 2.0
    expect(rangesOverlap(eq('1:1.0-1'), ge('2.0'))).toBe(true);
    // unversioned on either side always overlaps
    expect(rangesOverlap({ flags: 0, evr: '' }, ge('99'))).toBe(true);
    expect(rangesOverlap(eq('1.0'), { flags: 0, evr: '' })).toBe(true);
  });
});
