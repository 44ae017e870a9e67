/**
 * Forwards the engine's events to the caller as event frames, live. The engine calls
 * onEvent synchronously, so frames are queued without waiting; memory stays bounded:
 * at most about `limits.maxLogBytes` of log frames are forwarded, and lines are dropped (and counted)
 * while the caller reads too slowly for the backlog to stay under BACKLOG_BYTES.
 */
import type { BuildEvent } from '../engine/types.js';
import { FrameType } from '../protocol/constants.js';
import type { EventFrame } from '../protocol/messages.js';
import type { FrameWriter } from '../protocol/writer.js';

export const BACKLOG_BYTES = 8 * 1024 * 1024;

export class LiveLog {
  private forwarded = 0;
  private truncated = false;
  private dropped = 0;

  constructor(
    private readonly writer: FrameWriter,
    private readonly maxLogBytes: number,
    private readonly run?: 'a' | 'b',
  ) {}

  /** Sends a stage frame of the daemon's own (receive, compare, send). */
  stage(stage: Extract<EventFrame, { kind: 'stage' }>['stage'], message: string): void {
    this.send({ kind: 'stage', stage, message, ...(this.run ? { run: this.run } : {}) }, true);
  }

  /** The engine's onEvent. */
  readonly onEvent = (e: BuildEvent): void => {
    switch (e.kind) {
      case 'stage':
        this.stage(e.stage, e.message);
        return;
      case 'log': {
        if (this.truncated) return;
        // counted as sent: the frame, not just the line (short lines cost more in frames)
        const bytes = Buffer.byteLength(e.line) + 64;
        if (this.forwarded + bytes > this.maxLogBytes) {
          this.truncated = true;
          this.send({ kind: 'log', stream: 'stderr', line: `[detbuild: live log truncated at ${this.maxLogBytes} bytes]`, ...(this.run ? { run: this.run } : {}) }, true);
          return;
        }
        this.forwarded += bytes;
        this.send({ kind: 'log', stream: e.stream, line: e.line, ...(this.run ? { run: this.run } : {}) }, false);
        return;
      }
      case 'warning':
        this.send({ kind: 'log', stream: 'stderr', line: `[detbuild: ${e.message}]`, ...(this.run ? { run: this.run } : {}) }, true);
        return;
      case 'end':
        return;
      default: {
        const never: never = e;
        void never;
      }
    }
  };

  private send(frame: EventFrame, important: boolean): void {
    if (this.dropped > 0 && this.writer) {
      const note: EventFrame = { kind: 'log', stream: 'stderr', line: `[detbuild: ${this.dropped} log lines not shown: the caller read too slowly]`, ...(this.run ? { run: this.run } : {}) };
      if (this.writer.frameNoWait(FrameType.event, Buffer.from(JSON.stringify(note)), BACKLOG_BYTES)) this.dropped = 0;
    }
    const ok = this.writer.frameNoWait(FrameType.event, Buffer.from(JSON.stringify(frame)), important ? BACKLOG_BYTES * 2 : BACKLOG_BYTES);
    if (!ok) this.dropped++;
  }
}
