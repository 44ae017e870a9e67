import type { EnvironmentRecord, InstalledPackage } from './schema.js';

/** One way two records differ, in words a person can act on. */
export interface RecordDifference {
  field: string;
  a: string | null;
  b: string | null;
}

/**
 * Compares two environment records field by field: a rebuild in a different environment
 * shows up here (a package upgraded, another kernel, other build parameters).
 */
export function compareRecords(a: EnvironmentRecord, b: EnvironmentRecord): RecordDifference[] {
  const out: RecordDifference[] = [];
  const cmp = (field: string, x: unknown, y: unknown) => {
    const sx = x === undefined || x === null ? null : String(x);
    const sy = y === undefined || y === null ? null : String(y);
    if (sx !== sy) out.push({ field, a: sx, b: sy });
  };
  const ea = a.environment;
  const eb = b.environment;
  for (const k of union(Object.keys(ea.osRelease), Object.keys(eb.osRelease))) {
    cmp(`osRelease.${k}`, ea.osRelease[k], eb.osRelease[k]);
  }
  for (const k of ['sysname', 'release', 'version', 'machine'] as const) cmp(`kernel.${k}`, ea.kernel[k], eb.kernel[k]);
  cmp('architecture', ea.architecture, eb.architecture);
  cmp('packageManager', ea.packageManager, eb.packageManager);
  const pa = packageMap(ea.packages);
  const pb = packageMap(eb.packages);
  for (const k of union([...pa.keys()], [...pb.keys()])) cmp(`packages.${k}`, pa.get(k), pb.get(k));
  for (const k of union(Object.keys(ea.toolchain), Object.keys(eb.toolchain))) {
    cmp(`toolchain.${k}`, ea.toolchain[k], eb.toolchain[k]);
  }
  cmp('toolchainState', ea.toolchainState?.join(' '), eb.toolchainState?.join(' '));
  cmp('engine.name', ea.engine.name, eb.engine.name);
  cmp('engine.version', ea.engine.version, eb.engine.version);
  const ba = a.build;
  const bb = b.build;
  for (const k of ['mode', 'command', 'epoch', 'seed', 'timeStepNs', 'sourceHash'] as const) {
    cmp(`build.${k}`, ba?.[k], bb?.[k]);
  }
  return out;
}

function packageMap(list: readonly InstalledPackage[]): Map<string, string> {
  return new Map(list.map((p) => [`${p.name}:${p.arch}`, p.version]));
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
