/** src/recipes/template: a builder template regenerated from a lock file, byte for byte. */
export { TemplateError } from './errors.js';
export {
  LOCK_FORMAT,
  TemplateLockSchema,
  LockedPackageSchema,
  ArchiveSchema,
  lockSha256,
  normalizeLock,
  parseLock,
  readLock,
  serializeLock,
  type Archive,
  type LockedPackage,
  type TemplateLock,
} from './lock.js';
export { aptUpdate, availablePackages, createAptEnv, downloadPackages, missingPackages, resolveClosure, sourcesList, type AptEnv } from './apt.js';
export { machineArchiveUri, machineSources, parseDeb822Sources, parseOneLineSources } from './archive.js';
export { fetchTemplateSources, readDebFields, type FetchOptions, type FetchResult } from './fetch.js';
export { ARTIFACTS, SOURCE_FILES, buildScript, derivedUuid, expectedPackages } from './script.js';
export { regenerateTemplate, type RegenerateOptions, type RegenerateResult } from './regenerate.js';
export { BUILDER_ROOTS, builderPackagesHere, closureOf, makeLock, packagesFromRecordFile, parseStatusDeps, type LockChoices } from './select.js';
export { defaultEpoch, lockArchives, lockPackages, type PackageChoice } from './compose.js';
