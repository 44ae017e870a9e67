/**
 * M-of-N agreement: do at least M independent rebuilders (distinct keys of the keyring)
 * attest the same artifacts for the same sources and recipe? Every envelope is checked
 * (signature, key, statement, sources, recipe); what fails is rejected with one line and
 * counts for nothing. Rebuilders that attest other artifacts are the dissent.
 */
import { promises as fs } from 'node:fs';
import { canonicalJson } from '../record/canonical.js';
import { StatementSchema, describedBuild, subjectsOf, type Subject } from '../rebuild/statement.js';
import { describeError } from '../errors.js';
import { INTOTO_PAYLOAD_TYPE, envelopePayload, pae, parseEnvelope, type Envelope } from './dsse.js';
import { AttestError } from './errors.js';
import { gpgVerify } from './gpg.js';

/** What every attestation must be about: these sources, built this way. */
export interface Reference {
  sourceHash: string;
  /** canonical JSON of the build parameters (command, mode, epoch, seed, time step, recipe) */
  recipe: string;
  /** the published subjects, when a provenance was given: agreement is about these */
  subjects: Subject[] | null;
  /** where the reference came from, for messages */
  from: string;
}

export interface Attested {
  file: string;
  /** primary key fingerprints whose signatures are valid */
  keys: string[];
  builderId: string;
  subjects: Subject[];
}

export interface Dissent {
  file: string;
  keys: string[];
  differences: string[];
}

export interface AgreeResult {
  agreed: boolean;
  threshold: number;
  reference: Reference | null;
  /** the artifacts agreed on (or expected, with a provenance) */
  subjects: Subject[] | null;
  /** distinct keys attesting them */
  supporters: string[];
  accepted: Attested[];
  rejected: Array<{ file: string; reason: string }>;
  dissent: Dissent[];
  message: string;
}

export function recipeKey(b: ReturnType<typeof describedBuild>): string {
  return canonicalJson({ command: b.command, mode: b.mode, epoch: b.epoch, seed: b.seed, timeStepNs: b.timeStepNs, recipe: b.recipe });
}

const subjectsKey = (s: readonly Subject[]): string => s.map((x) => `${x.path}\0${x.sha256}`).join('\n');

function subjectDifferences(expected: readonly Subject[], got: readonly Subject[]): string[] {
  const e = new Map(expected.map((s) => [s.path, s.sha256]));
  const g = new Map(got.map((s) => [s.path, s.sha256]));
  const out: string[] = [];
  for (const p of [...new Set([...e.keys(), ...g.keys()])].sort()) {
    const a = e.get(p);
    const b = g.get(p);
    if (a === b) continue;
    out.push(a === undefined ? `${p} attested (${b!.slice(0, 12)}…), not expected` : b === undefined ? `${p} not attested` : `${p} ${b.slice(0, 12)}… instead of ${a.slice(0, 12)}…`);
  }
  return out;
}

/** Reads one attestation file: a DSSE envelope (JSON), or several, one per line (JSON Lines). */
export async function readEnvelopes(file: string): Promise<Envelope[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new AttestError('ATTEST_ENVELOPE', `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(text));
  } catch {
    try {
      for (const line of text.split('\n').filter((l) => l.trim() !== '')) docs.push(JSON.parse(line));
    } catch {
      throw new AttestError('ATTEST_ENVELOPE', `${file}: not JSON`);
    }
  }
  return docs.map((d) => parseEnvelope(d, file));
}

/** Checks one envelope; throws AttestError with a one-line reason when it counts for nothing. */
export async function checkEnvelope(env: Envelope, file: string, keyring: string): Promise<{ keys: string[]; statement: ReturnType<typeof StatementSchema.parse> }> {
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) throw new AttestError('ATTEST_ENVELOPE', `${file}: payload type ${env.payloadType}, not ${INTOTO_PAYLOAD_TYPE}`);
  const payload = envelopePayload(env);
  const signed = pae(env.payloadType, payload);
  const keys = new Set<string>();
  for (const s of env.signatures) {
    const v = await gpgVerify(signed, Buffer.from(s.sig, 'base64'), keyring);
    if (!v.ok) {
      const who = v.keyid ?? s.keyid ?? 'unnamed';
      if (v.reason === 'unknown-key') throw new AttestError('ATTEST_UNKNOWN_KEY', `${file}: signed by key ${who}, which is not in the keyring`);
      if (v.reason === 'expired-or-revoked') throw new AttestError('ATTEST_SIGNATURE', `${file}: signed by key ${who}, which has expired or was revoked`);
      if (v.reason === 'error') throw new AttestError('ATTEST_SIGNATURE', `${file}: cannot check the signature of key ${who}: ${v.detail}`);
      throw new AttestError('ATTEST_SIGNATURE', `${file}: bad signature (key ${who}): the statement was altered or the signature forged`);
    }
    keys.add(v.primary);
  }
  let statement;
  try {
    statement = StatementSchema.parse(JSON.parse(payload.toString('utf8')));
    describedBuild(statement);
  } catch (err) {
    throw new AttestError('ATTEST_STATEMENT', `${file}: the signed payload is not a detbuild statement (${describeError(err).split('\n')[0]})`);
  }
  return { keys: [...keys].sort(), statement };
}

export async function agree(files: readonly string[], keyring: string, threshold: number, given: Reference | null): Promise<AgreeResult> {
  const rejected: AgreeResult['rejected'] = [];
  const accepted: Attested[] = [];
  let reference = given;
  for (const file of files) {
    let envelopes: Envelope[];
    try {
      envelopes = await readEnvelopes(file);
    } catch (err) {
      if (err instanceof AttestError) {
        rejected.push({ file, reason: err.message });
        continue;
      }
      throw err;
    }
    for (const env of envelopes) {
      try {
        const { keys, statement } = await checkEnvelope(env, file, keyring);
        const build = describedBuild(statement);
        reference ??= { sourceHash: build.sourceHash, recipe: recipeKey(build), subjects: null, from: file };
        if (build.sourceHash !== reference.sourceHash) {
          throw new AttestError('ATTEST_OTHER_BUILD', `${file}: about other sources (sha256 ${build.sourceHash.slice(0, 16)}…, ${reference.from} has ${reference.sourceHash.slice(0, 16)}…)`);
        }
        if (recipeKey(build) !== reference.recipe) throw new AttestError('ATTEST_OTHER_BUILD', `${file}: about the same sources built another way (other command, epoch, seed, time step or recipe than ${reference.from})`);
        accepted.push({ file, keys, builderId: statement.predicate.runDetails.builder.id, subjects: subjectsOf(statement) });
      } catch (err) {
        if (err instanceof AttestError) rejected.push({ file, reason: err.message });
        else throw err;
      }
    }
  }

  // one key, one voice: a key that attests two different results counts for neither
  const byKey = new Map<string, Set<string>>();
  for (const a of accepted) for (const k of a.keys) (byKey.get(k) ?? byKey.set(k, new Set()).get(k)!).add(subjectsKey(a.subjects));
  const contradicting = new Set([...byKey].filter(([, s]) => s.size > 1).map(([k]) => k));
  const groups = new Map<string, { subjects: Subject[]; keys: Set<string> }>();
  for (const a of accepted) {
    const key = subjectsKey(a.subjects);
    const g = groups.get(key) ?? groups.set(key, { subjects: a.subjects, keys: new Set() }).get(key)!;
    for (const k of a.keys) if (!contradicting.has(k)) g.keys.add(k);
  }
  const ranked = [...groups.values()].sort((a, b) => b.keys.size - a.keys.size);
  const expected = reference?.subjects ?? ranked[0]?.subjects ?? null;
  const winner = expected ? groups.get(subjectsKey(expected)) : undefined;
  const supporters = winner ? [...winner.keys].sort() : [];
  const rivals = ranked.filter((g) => g !== winner && g.keys.size >= threshold);
  const dissent: Dissent[] = accepted
    .filter((a) => !expected || subjectsKey(a.subjects) !== subjectsKey(expected) || a.keys.some((k) => contradicting.has(k)))
    .map((a) => ({
      file: a.file,
      keys: a.keys,
      differences: a.keys.some((k) => contradicting.has(k)) ? ['the same key attests different artifacts elsewhere'] : subjectDifferences(expected ?? [], a.subjects),
    }));
  const agreed = expected !== null && supporters.length >= threshold && rivals.length === 0;
  const n = expected?.length ?? 0;
  const message = agreed
    ? `AGREED: ${supporters.length} independent rebuilder${supporters.length === 1 ? '' : 's'} (threshold ${threshold}) attest the same ${n} artifact${n === 1 ? '' : 's'}`
    : rivals.length > 0
      ? `NO AGREEMENT: ${rivals.length + (supporters.length >= threshold ? 1 : 0)} different results each reach the threshold of ${threshold}`
      : `NO AGREEMENT: ${supporters.length} of the ${threshold} rebuilders required attest the same artifacts${accepted.length === 0 ? ' (no valid attestation)' : ''}`;
  return { agreed, threshold, reference, subjects: expected, supporters, accepted, rejected, dissent, message };
}
