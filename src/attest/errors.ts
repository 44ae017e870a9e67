import { DetbuildError } from '../errors.js';

/**
 * Signing or checking attestations (codes ATTEST_*): ATTEST_SIGN (the signer failed),
 * ATTEST_KEYRING (the keyring cannot be read), ATTEST_ENVELOPE (not a DSSE envelope),
 * ATTEST_SIGNATURE (a bad signature), ATTEST_UNKNOWN_KEY (signed by a key not in the keyring),
 * ATTEST_STATEMENT (not a statement a rebuild makes), ATTEST_OTHER_BUILD (about other sources or another recipe).
 */
export class AttestError extends DetbuildError {}
