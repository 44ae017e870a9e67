/**
 * The detbuild CLI as the tests run it: the compiled entry point (or $DETBUILD_CLI) under
 * this Node.js, never throwing on a non-zero exit, stdin closed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from './trees.js';

/** The detbuild CLI entry point the runners call. */
export function cliPath(): string {
  return process.env.DETBUILD_CLI ?? path.join(repoRoot, 'dist', 'cli', 'main.js');
}

/** Throws a clear error when the CLI has not been built. */
export function requireCli(): string {
  const cli = cliPath();
  if (!existsSync(cli)) {
    throw new Error(`detbuild CLI not found at ${cli}: run \`npm run build\` first (or set DETBUILD_CLI)`);
  }
  return cli;
}

/** Runs `detbuild ARGS...`; the result carries exitCode, stdout and stderr whatever the outcome. */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeout?: number } = {},
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [requireCli(), ...args], { reject: false, stdin: 'ignore', timeout: 300_000, ...opts });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}
