/**
 * Renders a build's record as an in-toto Statement (v1) carrying SLSA provenance (v1):
 * the artifacts are the subjects, the installed packages the resolved dependencies
 * (as package URLs), the recipe the external parameters.
 */
import type { Manifest } from '../engine/types.js';
import type { EnvironmentRecord } from './schema.js';

/** A URI naming this build type; docs/QREXEC.md describes its parameters. */
export const BUILD_TYPE = 'urn:qubes-detbuild:build-type:v1';

export interface InTotoStatement {
  _type: 'https://in-toto.io/Statement/v1';
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: 'https://slsa.dev/provenance/v1';
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters: Record<string, unknown>;
      resolvedDependencies: Array<{ uri?: string; name?: string; digest?: Record<string, string> }>;
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata: Record<string, unknown>;
    };
  };
}

export function toInTotoStatement(record: EnvironmentRecord, manifest: Manifest, builderId = 'urn:qubes-detbuild:builder'): InTotoStatement {
  const env = record.environment;
  const purlType = env.packageManager === 'rpm' ? 'rpm' : 'deb';
  const distro = encodeURIComponent((env.osRelease.ID ?? 'unknown').toLowerCase());
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: manifest.artifacts.map((a) => ({ name: a.path, digest: { sha256: a.sha256 } })),
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          command: manifest.command,
          mode: manifest.mode,
          epoch: manifest.epoch,
          seed: manifest.seed,
          timeStepNs: manifest.timeStepNs,
          // what the sources are (a plain tree, a Debian source package): how to prepare them again
          ...(record.build?.recipe ? { recipe: record.build.recipe } : {}),
        },
        internalParameters: {
          engineVersion: manifest.engineVersion,
          environmentSha256: record.environmentSha256,
          recordSha256: record.sha256,
          kernel: `${env.kernel.sysname} ${env.kernel.release} ${env.kernel.version} ${env.kernel.machine}`,
          osRelease: env.osRelease.PRETTY_NAME ?? null,
          toolchain: env.toolchain,
        },
        resolvedDependencies: [
          { name: 'sources', digest: { sha256: manifest.sourceHash } },
          ...(env.packageManager === 'none'
            ? []
            : env.packages.map((p) => ({
                uri: `pkg:${purlType}/${distro}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(p.arch)}`,
              }))),
        ],
      },
      runDetails: {
        builder: { id: builderId, version: { [env.engine.name]: env.engine.version } },
        metadata: {},
      },
    },
  };
}
