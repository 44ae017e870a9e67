/** How build events look on a terminal: a short time and stage prefix per line. */
import type { BuildEvent } from '../engine/types.js';

function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

/** Progress of anything that builds: the engine's events, or a stage/log line from elsewhere (a rebuild, a builder qube). */
export type ProgressEvent = BuildEvent | { kind: 'stage'; stage: string; message: string } | { kind: 'log'; stream: 'stdout' | 'stderr'; line: string };

export function formatEvent(e: ProgressEvent): string | null {
  switch (e.kind) {
    case 'stage':
      return `${clock()} [${e.stage}] ${e.message}`;
    case 'log':
      return `${clock()} ${e.stream === 'stdout' ? '│' : '!'} ${e.line}`;
    case 'warning':
      return `${clock()} [warning] ${e.message}`;
    case 'end':
      return null;
  }
}
