/**
 * What the CLI's commands write: the live log (one time-stamped line per event on
 * stderr), the result (artifact hashes, or JSON, on stdout), the failure line, an
 * environment record, and the transfer line of a remote build. Every command prints
 * through here, so a build looks the same whichever command ran it.
 */
import path from 'node:path';
import type { RemoteProgress } from '../client/remote.js';
import type { BuildEvent, Manifest } from '../engine/types.js';
import { toBuildinfo } from '../record/buildinfo.js';
import type { EnvironmentRecord } from '../record/schema.js';

export function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

/**
 * Progress of anything that builds: the engine's events, or a stage/log line from elsewhere
 * (a rebuild, a builder qube); `run` names one of several builds (verify's a and b).
 */
export type ProgressEvent = (BuildEvent | { kind: 'stage'; stage: string; message: string } | { kind: 'log'; stream: 'stdout' | 'stderr'; line: string }) & {
  run?: string;
};

export function formatEvent(e: ProgressEvent, run: string | undefined = e.run): string | null {
  const at = `${clock()} ${run ? `[${run}] ` : ''}`;
  switch (e.kind) {
    case 'stage':
      return `${at}[${e.stage}] ${e.message}`;
    case 'log':
      return `${at}${e.stream === 'stdout' ? '│' : '!'} ${e.line}`;
    case 'warning':
      return `${at}[warning] ${e.message}`;
    case 'end':
      return null;
  }
}

/** The live log on stderr; --quiet keeps only the warnings (a workspace left behind). */
export function eventPrinter(quiet: boolean | undefined, before?: () => void): (e: ProgressEvent, run?: string) => void {
  return (e, run) => {
    if (quiet && e.kind !== 'warning') return;
    const line = formatEvent(e, run ?? e.run);
    if (line === null) return;
    before?.();
    process.stderr.write(`${line}\n`);
  };
}

/** A result as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A successful build on stdout: `SHA256  PATH` per artifact, then the manifest's path. */
export function printArtifacts(manifest: Manifest, outDir: string): void {
  for (const a of manifest.artifacts) process.stdout.write(`${a.sha256}  ${a.path}\n`);
  process.stdout.write(`${path.join(outDir, 'manifest.json')}\n`);
}

/** A failure: one line on stderr, `PREFIX: MESSAGE (log: PATH)`. */
export function printFailure(prefix: string, message: string, logPath?: string | null): void {
  process.stderr.write(`${prefix}: ${message}${logPath ? ` (log: ${logPath})` : ''}\n`);
}

/** An environment record: its .buildinfo-style text, or JSON. */
export function printRecord(record: EnvironmentRecord, asJson: boolean): void {
  if (asJson) printJson(record);
  else process.stdout.write(toBuildinfo(record));
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** One transfer line on stderr: rewritten in place on a terminal, every few seconds otherwise. */
export class TransferLine {
  private shown = false;
  private last = 0;
  constructor(private readonly tty: boolean) {}

  update(p: RemoteProgress): void {
    const text =
      p.phase === 'upload'
        ? `sending sources: ${mib(p.bytes)}`
        : p.artifact
          ? `receiving artifact ${p.artifact.index + 1}/${p.artifact.count}: ${p.artifact.path}`
          : `receiving artifacts: ${mib(p.bytes)}${p.total ? ` of ${mib(p.total)} (${Math.floor((p.bytes / Math.max(p.total, 1)) * 100)}%)` : ''}`;
    const now = Date.now();
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
      this.shown = true;
    } else if (now - this.last > 5000 || (p.total !== null && p.bytes === p.total)) {
      process.stderr.write(`${clock()} ${text}\n`);
      this.last = now;
    }
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}
