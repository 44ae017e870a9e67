import os from 'node:os';
import { canonicalSha256 } from './canonical.js';
import { engineIdentity } from './engine-version.js';
import { RecordError } from './errors.js';
import { readOsRelease } from './os-release.js';
import { listInstalledPackages, packageArchitecture } from './packages.js';
import {
  RECORD_FORMAT,
  EnvironmentRecordSchema,
  type BuildParameters,
  type Environment,
  type EnvironmentRecord,
} from './schema.js';
import { collectToolchain } from './toolchain.js';
import { presentToolchainState } from '../engine/toolchain-state.js';

/** Collects what describes this machine as a build environment (no build parameters). */
export async function collectEnvironment(): Promise<Environment> {
  try {
    const [osRelease, pkgs, toolchain] = await Promise.all([
      readOsRelease(),
      listInstalledPackages(),
      collectToolchain(),
    ]);
    const kernel = { sysname: os.type(), release: os.release(), version: os.version(), machine: os.machine() };
    return {
      osRelease,
      kernel,
      architecture: await packageArchitecture(pkgs.manager, kernel.machine),
      packageManager: pkgs.manager,
      packages: pkgs.packages,
      toolchain,
      toolchainState: presentToolchainState(),
      engine: engineIdentity(),
    };
  } catch (err) {
    throw new RecordError('RECORD_COLLECT', 'cannot collect the environment record', { cause: err });
  }
}

/** Seals an environment and the build parameters into a record with its hashes. */
export function makeRecord(environment: Environment, build: BuildParameters | null): EnvironmentRecord {
  const record: EnvironmentRecord = {
    format: RECORD_FORMAT,
    environment,
    environmentSha256: canonicalSha256(environment),
    build,
    sha256: canonicalSha256({ format: RECORD_FORMAT, environment, build }),
  };
  return EnvironmentRecordSchema.parse(record);
}

/**
 * The environment record of this machine: OS release, kernel, every installed package,
 * toolchain versions, engine version, and (for a build) its epoch, seed and time step,
 * with a sha256 over all of it.
 */
export async function collectEnvironmentRecord(build: BuildParameters | null = null): Promise<EnvironmentRecord> {
  return makeRecord(await collectEnvironment(), build);
}

/** Re-computes a record's hashes: false when it was altered after sealing. */
export function recordIsSealed(record: EnvironmentRecord): boolean {
  return (
    record.environmentSha256 === canonicalSha256(record.environment) &&
    record.sha256 === canonicalSha256({ format: record.format, environment: record.environment, build: record.build })
  );
}
