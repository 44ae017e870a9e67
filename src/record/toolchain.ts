import { execa } from 'execa';
import { BUILD_PATH } from '../engine/sandbox.js';

/** Tools whose version a rebuilder needs to know, and how to ask each. */
export const TOOLCHAIN_PROBES: ReadonlyArray<readonly [name: string, file: string, args: readonly string[]]> = [
  ['gcc', 'gcc', ['--version']],
  ['g++', 'g++', ['--version']],
  ['clang', 'clang', ['--version']],
  ['ld', 'ld', ['--version']],
  ['make', 'make', ['--version']],
  ['go', 'go', ['version']],
  ['javac', 'javac', ['-version']],
  ['java', 'java', ['-version']],
  ['node', 'node', ['--version']],
  ['python3', 'python3', ['--version']],
  ['rustc', 'rustc', ['--version']],
  ['bwrap', 'bwrap', ['--version']],
  ['tar', 'tar', ['--version']],
];

/**
 * First non-empty line of a tool's version output (stdout, else stderr); null when absent.
 * The tool is looked up on the PATH builds run with, not the caller's: the record says what
 * a build uses, whoever collects it (a worker with ~/.cargo/bin first on its PATH included).
 */
export async function probeVersion(file: string, args: readonly string[]): Promise<string | null> {
  try {
    const r = await execa(file, args, { timeout: 15_000, reject: false, stdin: 'ignore', env: { LC_ALL: 'C', PATH: BUILD_PATH } });
    if (r.failed && r.exitCode === undefined) return null;
    const line = [r.stdout, r.stderr]
      .map((s) => String(s ?? '').split('\n').map((l) => l.trim()).find((l) => l !== ''))
      .find((l) => l !== undefined);
    return line ?? null;
  } catch {
    return null;
  }
}

export async function collectToolchain(): Promise<Record<string, string | null>> {
  const results = await Promise.all(TOOLCHAIN_PROBES.map(([, file, args]) => probeVersion(file, args)));
  const out: Record<string, string | null> = {};
  TOOLCHAIN_PROBES.forEach(([name], i) => {
    out[name] = results[i] ?? null;
  });
  return out;
}
