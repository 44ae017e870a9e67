/** src/record: the environment record / provenance and the manifest formats. */
export { canonicalJson, canonicalSha256 } from './canonical.js';
export { collectEnvironment, collectEnvironmentRecord, makeRecord, recordIsSealed } from './collect.js';
export { compareRecords, type RecordDifference } from './compare.js';
export { toBuildinfo } from './buildinfo.js';
export { writeRecordFiles, RECORD_FILES, jsonText } from './files.js';
export { buildParametersFor } from './parameters.js';
export { toInTotoStatement, BUILD_TYPE, type InTotoStatement } from './intoto.js';
export { ManifestSchema, ArtifactEntrySchema, diffArtifacts, type ArtifactDifference } from './manifest.js';
export { diffoscopeReport, DIFFOSCOPE_DEFAULTS, type DiffoscopeOptions } from './diffoscope.js';
export { parseOsRelease, readOsRelease } from './os-release.js';
export { parseDpkgQuery, parseRpmQuery, listInstalledPackages } from './packages.js';
export { engineIdentity } from './engine-version.js';
export { RecordError } from './errors.js';
export {
  RECORD_FORMAT,
  EnvironmentRecordSchema,
  EnvironmentSchema,
  BuildParametersSchema,
  RecipeRecordSchema,
  InstalledPackageSchema,
  type EnvironmentRecord,
  type Environment,
  type BuildParameters,
  type RecipeRecord,
  type InstalledPackage,
} from './schema.js';
