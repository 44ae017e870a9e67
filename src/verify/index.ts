/** `detbuild verify` as a library: a spec built twice under different real conditions, compared. */
export { verifyBuild, type VerifyOptions, type VerifyResult, type VerifyRun, type VerifyStatus } from './verify.js';
export { VARIATIONS, planRuns, type AppliedVariation, type RunConditions, type Variation } from './variations.js';
export { VerifyError } from './errors.js';
