/** The engine's library API: the same code path serves the CLI, the daemon and tests. */
export { runBuild } from './run.js';
export type { BuildOutcome, EngineStats } from './result.js';
export { defaultSpecFor, validateSpec, DEFAULT_LIMITS, DEFAULT_TIME_STEP_NS } from './spec.js';
export type { SpecChoices, ResolvedSpec } from './spec.js';
export { EngineError, SpecError } from './errors.js';
export { ENGINE_VERSION } from './version.js';
export { SANDBOX, fixedEnvironment } from './sandbox.js';
export { TOOLCHAIN_STATE_DIRS, presentToolchainState } from './toolchain-state.js';
export { allowedCpus } from './facilities.js';
export * from './types.js';
