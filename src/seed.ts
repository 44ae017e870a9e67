/** The one rule for a seed (of every random stream of a build), wherever a seed is read. */
import { z } from 'zod';

export const SEED_PATTERN = /^[0-9a-f]{16,128}$/;
export const SEED_RULE = '16 to 128 lowercase hex digits';

export function isSeed(value: string): boolean {
  return SEED_PATTERN.test(value);
}

/** The rule as a zod schema, for the wire's recipe and rebuild statements. */
export const seedSchema = z.string().regex(SEED_PATTERN, SEED_RULE);
