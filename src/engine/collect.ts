/**
 * Artifacts: what the build left under $DETBUILD_OUT, checked against the
 * limits, hashed, and listed in a fixed order.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ArtifactEntry, BuildLimits, BuildSpec, Manifest } from './types.js';
import { ENGINE_VERSION } from './version.js';
import { EngineError } from './errors.js';
import { pathProblem } from '../portable-path.js';

export class OutputLimitError extends EngineError {}

/** The build left something that cannot be published (a special file, a name no one can carry): the build's fault. */
export class ArtifactError extends EngineError {}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Total bytes and files under dir (symlinks count as entries of size 0). */
export async function measureTree(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  async function walk(d: string): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(d, name);
      let st;
      try {
        st = await fs.lstat(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) await walk(p);
      else {
        files++;
        if (st.isFile()) bytes += st.size;
      }
    }
  }
  await walk(dir);
  return { bytes, files };
}

/**
 * Lists regular files and symlinks under dir, sorted by path, with sizes and hashes.
 * Every path must be one the wire can carry (pathProblem), so a local and a remote build
 * of the same sources publish the same artifacts or fail the same way (ArtifactError).
 */
export async function listArtifacts(dir: string, limits: BuildLimits): Promise<ArtifactEntry[]> {
  const out: ArtifactEntry[] = [];
  let total = 0;
  const tooLong = (r: string, err: unknown): never => {
    if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') {
      throw new ArtifactError('ARTIFACT_NAME', `artifact ${JSON.stringify(r.slice(0, 200))} refused: its path is too long to open`, { cause: err });
    }
    throw err;
  };
  async function walk(rel: string): Promise<void> {
    const names = (await fs.readdir(path.join(dir, rel)).catch((err: unknown) => tooLong(rel, err))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const problem = pathProblem(r);
      if (problem !== null) throw new ArtifactError('ARTIFACT_NAME', `artifact ${JSON.stringify(r.slice(0, 200))} refused: ${problem}`);
      const p = path.join(dir, r);
      const st = await fs.lstat(p).catch((err: unknown) => tooLong(r, err));
      if (st.isDirectory()) {
        await walk(r);
        continue;
      }
      if (!st.isFile() && !st.isSymbolicLink()) {
        throw new ArtifactError('ARTIFACT_SPECIAL_FILE', `the build left a special file in its output: ${r}`);
      }
      total += st.isFile() ? st.size : 0;
      if (out.length + 1 > limits.maxOutputFiles || total > limits.maxOutputBytes) {
        throw new OutputLimitError('OUTPUT_LIMIT', `the artifacts exceed the output limit (${limits.maxOutputFiles} files, ${limits.maxOutputBytes} bytes)`);
      }
      if (st.isSymbolicLink()) {
        const target = await fs.readlink(p);
        out.push({ path: r, size: 0, sha256: createHash('sha256').update(`symlink\0${target}`).digest('hex') });
      } else {
        out.push({ path: r, size: st.size, sha256: await sha256File(p) });
      }
    }
  }
  await walk('');
  return out;
}

/** The manifest of a build: what it was given (mode, epoch, seed, command, sources) and what it made. */
export function manifestFor(spec: BuildSpec, sourceHash: string, artifacts: ArtifactEntry[]): Manifest {
  return {
    format: 'detbuild-manifest/1',
    engineVersion: ENGINE_VERSION,
    mode: spec.mode,
    epoch: spec.epoch,
    seed: spec.seed,
    timeStepNs: spec.timeStepNs.toString(),
    command: spec.command,
    sourceHash,
    ...(spec.origin ? { epochFrom: spec.origin.epochFrom } : {}),
    ...(spec.origin?.gitCommit ? { gitCommit: spec.origin.gitCommit } : {}),
    artifacts,
  };
}
