/**
 * A request may name the builder environment it accepts (recipe `requireEnvironment`, the
 * `environmentSha256` of a record the caller trusts): checked before anything is built.
 */
import { canonicalSha256 } from '../../record/canonical.js';
import type { Environment } from '../../record/schema.js';
import { RequestError } from '../errors.js';

export async function checkRequiredEnvironment(required: string | undefined, environment: () => Promise<Environment>): Promise<void> {
  if (required === undefined) return;
  const actual = canonicalSha256(await environment());
  if (actual !== required) {
    throw new RequestError('REQUEST_ENVIRONMENT', `this builder's environment is ${actual}, the request requires ${required}`);
  }
}
