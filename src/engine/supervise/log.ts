/**
 * The build's log: what the build prints (its stdout, with its stderr merged in by the
 * supervisor) and what the supervisor says (its stderr), as lines. Each line is streamed
 * as an event and written to build.log up to the spec's maxLogBytes; past that one marker
 * line says where the log was cut, and the rest is only streamed.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { lineSplitter, type LineSplitter } from '../lines.js';
import type { BuildEvent } from '../types.js';

export class BuildLog {
  private readonly file: WriteStream;
  private bytes = 0;
  private truncated = false;
  /** the build's own output */
  readonly build: LineSplitter;
  /** the supervisor's messages */
  readonly engine: LineSplitter;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    emit: (e: BuildEvent) => void,
  ) {
    this.file = createWriteStream(path);
    this.build = lineSplitter((line) => {
      this.write(line);
      emit({ kind: 'log', stream: 'stdout', line });
    });
    this.engine = lineSplitter((line) => {
      this.write(`[detbuild-supervisor] ${line}`);
      emit({ kind: 'log', stream: 'stderr', line });
    });
  }

  private write(line: string): void {
    if (this.truncated) return;
    const data = `${line}\n`;
    if (this.bytes + data.length > this.maxBytes) {
      this.file.write(`[detbuild: log truncated at ${this.maxBytes} bytes]\n`);
      this.truncated = true;
      return;
    }
    this.bytes += data.length;
    this.file.write(data);
  }

  /** Flushes the last partial lines and closes the file. */
  async close(): Promise<void> {
    this.build.end();
    this.engine.end();
    await new Promise<void>((resolve) => this.file.end(resolve));
  }
}
