/**
 * Signed rebuild attestations and M-of-N agreement, with real GnuPG keys, real builds and
 * real rebuilds (detbuild rebuild --sign), checked by detbuild agree against a keyring.
 */
import { execa } from 'execa';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpgSign } from '../../src/attest/gpg.js';
import { envelopePayload, parseEnvelope } from '../../src/attest/dsse.js';
import { signStatement } from '../../src/attest/attestation.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { InTotoStatement } from '../../src/record/intoto.js';
import { ELSEWHERE, runCli as detbuild, otherCpu } from '../helpers/cli.js';
import { freshDir } from '../helpers/trees.js';

let root: string;
let gnupg: string;
let keyring: string;
const fpr: Record<string, string> = {};
const att: Record<string, string> = {};
let pub: string;

async function gpg(args: string[]): Promise<string> {
  const r = await execa('gpg', ['--batch', '--quiet', ...args], { env: { GNUPGHOME: gnupg } });
  return r.stdout;
}

async function makeProject(dir: string, data: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Makefile'), 'all:\n\tmkdir -p $(DETBUILD_OUT)\n\tdate > $(DETBUILD_OUT)/date.txt\n\thead -c 8 /dev/urandom | od -An -tx1 > $(DETBUILD_OUT)/id.txt\n\tcp data.txt $(DETBUILD_OUT)/\n');
  await writeFile(path.join(dir, 'data.txt'), data);
  return dir;
}

const envelope = async (file: string) => parseEnvelope(JSON.parse(await readFile(file, 'utf8')), file);

beforeAll(async () => {
  root = await freshDir('agree');
  gnupg = path.join(root, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  // k1-k3 and k5 are trusted rebuilders (in the keyring); k4 is not
  for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) {
    await gpg(['--passphrase', '', '--quick-gen-key', `rebuilder ${k} <${k}@example.invalid>`, 'ed25519', 'sign', 'never']);
    fpr[k] = /^fpr:+([0-9A-F]{40}):/m.exec(await gpg(['--with-colons', '--fingerprint', '--list-keys', `${k}@example.invalid`]))![1]!;
  }
  keyring = path.join(root, 'trusted.asc');
  await writeFile(keyring, await gpg(['--armor', '--export', ...['k1', 'k2', 'k3', 'k5'].map((k) => `${k}@example.invalid`)]));

  const src = await makeProject(path.join(root, 'src'), 'the data\n');
  pub = path.join(root, 'pub');
  expect((await detbuild(['build', src, '--out', pub, '--quiet'], { cpu: 0 })).exitCode).toBe(0);
  const other = await makeProject(path.join(root, 'other-src'), 'other data\n');
  const otherPub = path.join(root, 'other-pub');
  expect((await detbuild(['build', other, '--out', otherPub, '--quiet'], { cpu: 0 })).exitCode).toBe(0);

  const rebuildSigned = async (name: string, key: string, published: string, sources: string) => {
    const out = path.join(root, `rebuild-${name}`);
    const r = await detbuild(['rebuild', published, '--sources', sources, '--out', out, '--sign', `${key}@example.invalid`, '--builder-id', `urn:example:rebuilder:${key}`], {
      ...ELSEWHERE,
      cpu: key === 'k2' ? 0 : otherCpu,
      env: { ...ELSEWHERE.env, GNUPGHOME: gnupg },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`signed by ${fpr[key]}`);
    att[name] = path.join(out, 'attestation.intoto.json');
  };
  for (const k of ['k1', 'k2', 'k3', 'k4']) await rebuildSigned(k, k, pub, src);
  await rebuildSigned('other-sources', 'k2', otherPub, other);

  // k5 attests another data.txt for the same sources and recipe: dissent, properly signed
  process.env.GNUPGHOME = gnupg;
  const st = JSON.parse(envelopePayload(await envelope(att.k3!)).toString('utf8')) as InTotoStatement;
  st.subject.find((s) => s.name === 'data.txt')!.digest.sha256 = 'e'.repeat(64);
  st.predicate.runDetails.builder.id = 'urn:example:rebuilder:k5';
  const dissent = await signStatement(st, (d) => gpgSign(d, { key: 'k5@example.invalid' }));
  att.k5 = path.join(root, 'k5.intoto.json');
  await writeFile(att.k5, JSON.stringify(dissent));

  // k3's envelope with its payload altered after signing: a forgery
  const forged = await envelope(att.k3!);
  const altered = JSON.parse(envelopePayload(forged).toString('utf8')) as InTotoStatement;
  altered.subject[0]!.digest.sha256 = '0'.repeat(64);
  att.forged = path.join(root, 'forged.intoto.json');
  await writeFile(att.forged, JSON.stringify({ ...forged, payload: Buffer.from(JSON.stringify(altered)).toString('base64') }));
}, 300_000);

afterAll(async () => {
  if (gnupg) await execa('gpgconf', ['--kill', 'gpg-agent'], { env: { GNUPGHOME: gnupg }, reject: false });
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
});

const agreeCli = (files: string[], threshold: number, extra: string[] = []) => detbuild(['agree', ...files, '--keys', keyring, '--threshold', String(threshold), ...extra]);

describe('detbuild agree', () => {
  it('a valid 3-of-3 set agrees, naming the three keys', async () => {
    const r = await agreeCli([att.k1!, att.k2!, att.k3!], 3);
    expect(r.exitCode, r.stderr).toBe(EXIT.ok);
    expect(r.stdout.split('\n')[0]).toBe('AGREED: 3 independent rebuilders (threshold 3) attest the same 3 artifacts');
    for (const k of ['k1', 'k2', 'k3']) expect(r.stdout).toContain(`attested by ${fpr[k]}`);
    expect(r.stderr).toBe('');
  });

  it('M-1 rebuilders do not reach M; one key twice counts once', async () => {
    const r = await agreeCli([att.k1!, att.k2!, att.k1!], 3);
    expect(r.exitCode).toBe(EXIT.noAgreement);
    expect(r.stdout.split('\n')[0]).toBe('NO AGREEMENT: 2 of the 3 rebuilders required attest the same artifacts');
  });

  it('a forged statement (payload altered after signing) is rejected with one line and counts for nothing', async () => {
    const r = await agreeCli([att.k1!, att.k2!, att.forged!], 3);
    expect(r.exitCode).toBe(EXIT.noAgreement);
    expect(r.stderr).toBe(`detbuild agree: rejected: ${att.forged}: bad signature (key ${fpr.k3!.slice(-16)}): the statement was altered or the signature forged`);
    const two = await agreeCli([att.k1!, att.k2!, att.forged!], 2);
    expect(two.exitCode).toBe(EXIT.ok);
  });

  it('a key outside the keyring is rejected', async () => {
    const r = await agreeCli([att.k1!, att.k4!], 2);
    expect(r.exitCode).toBe(EXIT.noAgreement);
    expect(r.stderr).toMatch(new RegExp(`^detbuild agree: rejected: ${att.k4!.replace(/[.]/g, '\\.')}: signed by key [0-9A-F]+, which is not in the keyring$`));
    expect(fpr.k4!.endsWith(/key ([0-9A-F]+),/.exec(r.stderr)![1]!)).toBe(true);
  });

  it('a statement about other sources is rejected', async () => {
    const r = await agreeCli([att.k1!, att.k3!, att['other-sources']!], 3, ['--provenance', pub]);
    expect(r.exitCode).toBe(EXIT.noAgreement);
    expect(r.stderr).toMatch(/^detbuild agree: rejected: .*other-sources\/attestation\.intoto\.json: about other sources \(sha256 [0-9a-f]{16}…, .*pub has [0-9a-f]{16}…\)$/);
  });

  it('a rebuilder that attests other artifacts is listed as dissent; the others still agree', async () => {
    const r = await agreeCli([att.k1!, att.k2!, att.k3!, att.k5!], 3, ['--provenance', pub]);
    expect(r.exitCode, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toMatch(new RegExp(`^dissent: ${fpr.k5} \\(.*k5\\.intoto\\.json\\): data\\.txt eeeeeeeeeeee… instead of [0-9a-f]{12}…$`, 'm'));
    // without the k1-k3 majority the dissenter alone agrees with nobody
    const alone = await agreeCli([att.k1!, att.k5!], 2);
    expect(alone.exitCode).toBe(EXIT.noAgreement);
  });

  it('usage and keyring errors', async () => {
    expect((await detbuild(['agree', att.k1!, '--keys', keyring])).exitCode).toBe(EXIT.usage);
    const missing = await detbuild(['agree', att.k1!, '--keys', path.join(root, 'nope.gpg'), '--threshold', '1']);
    expect(missing.exitCode).toBe(EXIT.badInput);
    expect(missing.stderr).toMatch(/^detbuild agree: cannot read the keyring .*nope\.gpg$/);
  });
});
