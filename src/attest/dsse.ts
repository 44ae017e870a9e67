/**
 * DSSE (Dead Simple Signing Envelope, v1), the envelope in-toto attestations travel in:
 * the signature covers PAE(payloadType, payload), never the JSON around it.
 */
import { z } from 'zod';
import { AttestError } from './errors.js';

export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export const EnvelopeSchema = z
  .object({
    payload: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
    payloadType: z.string().min(1),
    signatures: z.array(z.object({ keyid: z.string().optional(), sig: z.string().min(1) }).strict()).min(1),
  })
  .strict();
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export async function signEnvelope(payload: Buffer, payloadType: string, signer: (data: Buffer) => Promise<{ keyid: string; sig: Buffer }>): Promise<Envelope> {
  const { keyid, sig } = await signer(pae(payloadType, payload));
  return { payload: payload.toString('base64'), payloadType, signatures: [{ keyid, sig: sig.toString('base64') }] };
}

export function parseEnvelope(value: unknown, where: string): Envelope {
  const r = EnvelopeSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AttestError('ATTEST_ENVELOPE', `${where}: not a DSSE envelope (${i.path.join('.') || 'top'}: ${i.message})`);
  }
  return r.data;
}

export function envelopePayload(env: Envelope): Buffer {
  return Buffer.from(env.payload, 'base64');
}
