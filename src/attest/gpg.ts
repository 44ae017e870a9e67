/**
 * OpenPGP signatures through GnuPG: signing with `gpg --detach-sign` (or a drop-in such
 * as Qubes' split-GPG `qubes-gpg-client-wrapper`, which keeps the key in a vault qube), and
 * checking with `gpgv` against a keyring file of trusted keys only, as apt and dpkg do.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import { AttestError } from './errors.js';

export interface GpgSigner {
  /** the gpg program (default gpg; qubes-gpg-client-wrapper for split GPG) */
  program?: string;
  /** the key to sign with (fingerprint, key id or user id) */
  key: string;
}

/** The fingerprint gpg knows the key by, when it can list it (split GPG may not): else the key as given. */
async function fingerprintOf(s: GpgSigner): Promise<string> {
  const r = await execa(s.program ?? 'gpg', ['--batch', '--with-colons', '--fingerprint', '--list-keys', s.key], { reject: false, stdin: 'ignore' });
  const fpr = /^fpr:+([0-9A-F]{40,64}):/m.exec(String(r.stdout ?? ''));
  return r.exitCode === 0 && fpr ? fpr[1]! : s.key;
}

/** A detached binary signature over `data`. */
export async function gpgSign(data: Buffer, s: GpgSigner): Promise<{ keyid: string; sig: Buffer }> {
  const r = await execa(s.program ?? 'gpg', ['--batch', '--yes', '--detach-sign', '--local-user', s.key, '--output', '-'], {
    input: data,
    encoding: 'buffer',
    // a signature is binary: its last byte may be a newline, which must stay
    stripFinalNewline: false,
    reject: false,
  });
  if (r.exitCode !== 0 || !r.stdout || r.stdout.length === 0) {
    const why = Buffer.from(r.stderr ?? '').toString('utf8').trim().split('\n').slice(-2).join(' / ');
    throw new AttestError('ATTEST_SIGN', `${s.program ?? 'gpg'} could not sign with ${s.key}${why ? `: ${why}` : r.failed && r.exitCode === undefined ? ': not installed' : ''}`);
  }
  return { keyid: await fingerprintOf(s), sig: Buffer.from(r.stdout) };
}

export type Verification =
  | { ok: true; fingerprint: string; primary: string }
  | { ok: false; reason: 'bad-signature' | 'unknown-key' | 'expired-or-revoked' | 'error'; keyid: string | null; detail: string };

/** A keyring usable by gpgv: binary keyrings as they are, armored ones dearmored into `workDir`. */
export async function usableKeyring(keyring: string, workDir: string): Promise<string> {
  let head: Buffer;
  try {
    const fh = await fs.open(keyring, 'r');
    try {
      head = Buffer.alloc(64);
      await fh.read(head, 0, 64, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new AttestError('ATTEST_KEYRING', `cannot read the keyring ${keyring} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const abs = path.resolve(keyring);
  if (!head.toString('latin1').includes('-----BEGIN PGP')) return abs;
  const out = path.join(workDir, 'keyring.gpg');
  const r = await execa('gpg', ['--batch', '--dearmor', '--output', out, abs], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new AttestError('ATTEST_KEYRING', `cannot dearmor the keyring ${keyring}: ${String(r.stderr).trim().split('\n')[0]}`);
  return out;
}

/** Checks a detached signature with gpgv against exactly one keyring (and nothing in ~/.gnupg). */
export async function gpgVerify(data: Buffer, sig: Buffer, keyring: string): Promise<Verification> {
  const tmp = await tmpDir({ prefix: 'detbuild-gpgv-', unsafeCleanup: true });
  try {
    const dataFile = path.join(tmp.path, 'data');
    const sigFile = path.join(tmp.path, 'data.sig');
    await fs.writeFile(dataFile, data);
    await fs.writeFile(sigFile, sig);
    const home = path.join(tmp.path, 'home');
    await fs.mkdir(home, { mode: 0o700 });
    const ring = await usableKeyring(keyring, tmp.path);
    const r = await execa('gpgv', ['--homedir', home, '--status-fd', '1', '--keyring', ring, sigFile, dataFile], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
    if (r.failed && r.exitCode === undefined) return { ok: false, reason: 'error', keyid: null, detail: 'gpgv is not installed' };
    const status = String(r.stdout ?? '');
    const valid = /^\[GNUPG:\] VALIDSIG ([0-9A-F]+) .* ([0-9A-F]{40,64})$/m.exec(status);
    if (r.exitCode === 0 && valid && /^\[GNUPG:\] GOODSIG /m.test(status)) return { ok: true, fingerprint: valid[1]!, primary: valid[2]! };
    const keyid = /^\[GNUPG:\] (?:BADSIG|ERRSIG|NO_PUBKEY|EXPKEYSIG|REVKEYSIG|EXPSIG) ([0-9A-F]+)/m.exec(status)?.[1] ?? null;
    const detail = String(r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? '';
    if (/^\[GNUPG:\] BADSIG /m.test(status)) return { ok: false, reason: 'bad-signature', keyid, detail };
    if (/^\[GNUPG:\] NO_PUBKEY /m.test(status) || /^\[GNUPG:\] ERRSIG \S+ \S+ \S+ \S+ \S+ 9\b/m.test(status)) return { ok: false, reason: 'unknown-key', keyid, detail };
    if (/^\[GNUPG:\] (EXPKEYSIG|REVKEYSIG|EXPSIG) /m.test(status)) return { ok: false, reason: 'expired-or-revoked', keyid, detail };
    // anything else (a mangled signature packet, NODATA, a failed check) is not a valid signature
    return { ok: false, reason: 'bad-signature', keyid, detail };
  } finally {
    await tmp.cleanup().catch(() => undefined);
  }
}
