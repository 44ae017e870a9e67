/**
 * Renders a record as a Debian .buildinfo-style control file (deb-buildinfo(5) fields:
 * Format, Build-Origin, Build-Architecture, Build-Kernel-Version, Build-Date,
 * Installed-Build-Depends, Environment, Checksums-Sha256), with the fields Debian has no
 * name for as X-Detbuild-* extensions.
 */
import type { ArtifactEntry } from '../engine/types.js';
import type { EnvironmentRecord } from './schema.js';

export function toBuildinfo(record: EnvironmentRecord, artifacts: readonly ArtifactEntry[] = []): string {
  const env = record.environment;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name}: ${oneLine(value)}`);
  const multi = (name: string, values: readonly string[]) => {
    lines.push(`${name}:`);
    for (const v of values) lines.push(` ${oneLine(v)}`);
  };

  field('Format', '1.0');
  if (env.osRelease.ID) field('Build-Origin', env.osRelease.ID);
  field('Build-Architecture', env.architecture);
  field('Build-Kernel-Version', `${env.kernel.release} ${env.kernel.version}`);
  if (record.build) {
    // the logical date every process of the build saw, not the wall clock
    field('Build-Date', new Date(record.build.epoch * 1000).toUTCString().replace('GMT', '+0000'));
  }
  if (artifacts.length > 0) {
    multi('Checksums-Sha256', artifacts.map((a) => `${a.sha256} ${a.size} ${a.path}`));
  }
  const native = new Set([env.architecture, 'all', 'noarch']);
  multi(
    'Installed-Build-Depends',
    env.packages.map((p, i) => {
      const name = native.has(p.arch) ? p.name : `${p.name}:${p.arch}`;
      return `${name} (= ${p.version})${i < env.packages.length - 1 ? ',' : ''}`;
    }),
  );
  if (record.build) {
    multi('Environment', [
      `SOURCE_DATE_EPOCH="${record.build.epoch}"`,
      `DETBUILD_SEED="${record.build.seed}"`,
      `DETBUILD_TIME_STEP_NS="${record.build.timeStepNs}"`,
      `DETBUILD_MODE="${record.build.mode}"`,
    ]);
    field('X-Detbuild-Command', record.build.command);
    if (record.build.sourceHash) field('X-Detbuild-Source-Sha256', record.build.sourceHash);
    if (record.build.gitCommit) field('X-Detbuild-Git-Commit', record.build.gitCommit);
  }
  field('X-Detbuild-Engine', `${env.engine.name} ${env.engine.version}`);
  field('X-Detbuild-Package-Manager', env.packageManager);
  multi(
    'X-Detbuild-Toolchain',
    Object.keys(env.toolchain)
      .sort()
      .map((k) => `${k}: ${env.toolchain[k] ?? '(absent)'}`),
  );
  if (env.toolchainState?.length) multi('X-Detbuild-Toolchain-State', env.toolchainState.map((d) => `/${d}`));
  multi(
    'X-Detbuild-Os-Release',
    Object.keys(env.osRelease)
      .sort()
      .map((k) => `${k}=${env.osRelease[k]}`),
  );
  field('X-Detbuild-Environment-Sha256', record.environmentSha256);
  field('X-Detbuild-Record-Sha256', record.sha256);
  return `${lines.join('\n')}\n`;
}

/** Continuation lines may not be empty in a control file; newlines cannot appear in a value. */
function oneLine(v: string): string {
  const s = v.replace(/\r?\n/g, ' ').trimEnd();
  return s === '' ? '.' : s;
}
