/** The one rule for a sha256 digest written out (artifacts, sources, records, statements), wherever one is read. */
import { z } from 'zod';

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
export const SHA256_RULE = 'a lowercase hex sha256';

export function isSha256(value: string): boolean {
  return SHA256_PATTERN.test(value);
}

/** The rule as a zod schema, for the wire's frames, the manifest, the record and statements. */
export const sha256Hex = z.string().regex(SHA256_PATTERN, SHA256_RULE);
