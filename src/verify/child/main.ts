/**
 * One build of `detbuild verify`, in its own process so that the run's real
 * conditions (user, umask, CPUs, environment, ASLR) are those of the whole
 * process tree: reads `{ spec, outDir }` as JSON on stdin, runs the engine, and
 * writes JSON lines on stdout: `{ "event": BuildEvent }` while it runs, then
 * `{ "result": BuildResult }`. SIGTERM cancels the build.
 *
 *   child/main.js --probe    exits 0 when this user can run the engine here
 */
import { constants as fsConstants, accessSync } from 'node:fs';
import { runBuild, type BuildSpec } from '../../engine/index.js';
import { supervisorPath } from '../../engine/facilities.js';

function line(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<number> {
  if (process.argv[2] === '--probe') {
    accessSync(supervisorPath(), fsConstants.X_OK);
    return 0;
  }
  const input = JSON.parse(await readStdin()) as { spec: Omit<BuildSpec, 'timeStepNs'> & { timeStepNs: string }; outDir: string };
  const spec: BuildSpec = { ...input.spec, timeStepNs: BigInt(input.spec.timeStepNs) };
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort());
  process.once('SIGINT', () => controller.abort());
  const result = await runBuild(spec, {
    outDir: input.outDir,
    signal: controller.signal,
    onEvent: (event) => {
      if (event.kind !== 'end') line({ event });
    },
  });
  line({ result: { ...result, stats: undefined } });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`detbuild verify (build): ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
