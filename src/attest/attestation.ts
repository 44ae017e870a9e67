/**
 * What a rebuilder signs after a GOOD rebuild: its own provenance of the rebuild (an
 * in-toto statement, SLSA provenance v1, the same form every detbuild result carries),
 * naming the rebuilder and the statement it reproduced, in a DSSE envelope.
 */
import type { Manifest } from '../engine/types.js';
import { toInTotoStatement, type InTotoStatement } from '../record/intoto.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { INTOTO_PAYLOAD_TYPE, signEnvelope, type Envelope } from './dsse.js';

export const ATTESTATION_FILE = 'attestation.intoto.json';

export interface AttestationOptions {
  /** a URI naming the rebuilder (default urn:qubes-detbuild:rebuilder) */
  builderId?: string;
  /** sha256 of the canonical JSON of the statement that was reproduced */
  reproduces: string | null;
}

export function rebuildStatement(record: EnvironmentRecord, manifest: Manifest, opts: AttestationOptions): InTotoStatement {
  const s = toInTotoStatement(record, manifest, opts.builderId ?? 'urn:qubes-detbuild:rebuilder');
  s.predicate.runDetails.metadata = { rebuild: { verdict: 'GOOD', reproducesStatementSha256: opts.reproduces } };
  return s;
}

export function signStatement(statement: InTotoStatement, signer: (data: Buffer) => Promise<{ keyid: string; sig: Buffer }>): Promise<Envelope> {
  return signEnvelope(Buffer.from(JSON.stringify(statement), 'utf8'), INTOTO_PAYLOAD_TYPE, signer);
}
