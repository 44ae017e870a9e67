/**
 * The build queue of detbuildd's front: first come, first served, one build at a time.
 * A build waits 'queued', then 'waiting' for its caller to hand over its streams (Attach)
 * once its turn comes, then 'running' in the worker, then 'done'.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { FinalStatus } from '../../protocol/messages.js';
import type { RemoteStatus } from '../../protocol/status.js';
import { exitCodeOf } from '../../outcome.js';
import { DaemonError } from '../errors.js';

export type BuildState = 'queued' | 'waiting' | 'running' | 'done';

export interface QueuedBuild {
  id: string;
  caller: string;
  mode: 'build' | 'verify';
  /** D-Bus unique name of the connection that submitted it */
  owner: string;
  state: BuildState;
  status: RemoteStatus | '';
  message: string;
  submittedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface QueueEvents {
  /** it is this build's turn: its owner must Attach now */
  turn: [build: QueuedBuild];
  /** the build finished (or was dropped before it ran) */
  finished: [build: QueuedBuild, exitCode: number];
  /** the worker must start (or cancel) a build */
  start: [build: QueuedBuild];
  cancelRunning: [build: QueuedBuild];
  changed: [];
}

export class BuildQueue extends EventEmitter<QueueEvents> {
  private readonly active: QueuedBuild[] = [];
  private readonly done: QueuedBuild[] = [];
  private attachTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: { maxQueue: number; keepFinished: number; attachTimeoutMs: number }) {
    super();
  }

  /** Adds a build; returns it and how many builds are ahead of it. */
  submit(mode: 'build' | 'verify', caller: string, owner: string): { build: QueuedBuild; position: number } {
    if (this.active.length >= this.opts.maxQueue) {
      throw new DaemonError('DAEMON_QUEUE_FULL', `the builder's queue is full (${this.opts.maxQueue} builds); try again later`);
    }
    const build: QueuedBuild = {
      id: `b${randomBytes(5).toString('hex')}`,
      caller,
      mode,
      owner,
      state: 'queued',
      status: '',
      message: '',
      submittedAt: new Date(),
      startedAt: null,
      finishedAt: null,
    };
    const position = this.active.length;
    this.active.push(build);
    this.emit('changed');
    this.pump();
    return { build, position };
  }

  /** The head build's owner handed over its streams: start it. */
  attach(id: string, sender: string): QueuedBuild {
    const b = this.find(id);
    if (!b) throw new DaemonError('DAEMON_NO_SUCH_BUILD', `no build ${id}`);
    if (b.owner !== sender) throw new DaemonError('DAEMON_NOT_OWNER', `build ${id} belongs to another connection`);
    if (b.state !== 'waiting') throw new DaemonError('DAEMON_NOT_YOUR_TURN', `build ${id} is ${b.state}, not waiting for its streams`);
    this.clearAttachTimer();
    b.state = 'running';
    b.startedAt = new Date();
    this.emit('changed');
    this.emit('start', b);
    return b;
  }

  /** The worker reported the end of a running build. */
  finish(id: string, status: FinalStatus): void {
    const b = this.find(id);
    if (!b || b.state === 'done') return;
    this.complete(b, status.status, status.message, status.exitCode);
  }

  /** Cancels a build of `sender` (or of anyone when sender is null). */
  cancel(id: string, sender: string | null, why = 'cancelled'): void {
    const b = this.find(id);
    if (!b) throw new DaemonError('DAEMON_NO_SUCH_BUILD', `no build ${id}`);
    if (sender !== null && b.owner !== sender) throw new DaemonError('DAEMON_NOT_OWNER', `build ${id} belongs to another connection`);
    this.cancelBuild(b, why);
  }

  /** A D-Bus connection went away: its builds are of no use to anyone. */
  ownerGone(owner: string): void {
    for (const b of [...this.active]) if (b.owner === owner) this.cancelBuild(b, 'the caller went away');
  }

  cancelAll(why: string): void {
    for (const b of [...this.active]) this.cancelBuild(b, why);
  }

  get running(): QueuedBuild | null {
    return this.active.find((b) => b.state === 'running' || b.state === 'waiting') ?? null;
  }

  get queuedCount(): number {
    return this.active.filter((b) => b.state === 'queued').length;
  }

  /** Active builds first (in queue order), then the most recent finished ones. */
  list(): QueuedBuild[] {
    return [...this.active, ...[...this.done].reverse()];
  }

  private cancelBuild(b: QueuedBuild, why: string): void {
    if (b.state === 'running') {
      this.emit('cancelRunning', b);
      return;
    }
    if (b.state === 'waiting') this.clearAttachTimer();
    if (b.state !== 'done') this.complete(b, 'cancelled', why, exitCodeOf('cancelled'));
  }

  private complete(b: QueuedBuild, status: RemoteStatus, message: string, exitCode: number): void {
    b.state = 'done';
    b.status = status;
    b.message = message;
    b.finishedAt = new Date();
    const i = this.active.indexOf(b);
    if (i >= 0) this.active.splice(i, 1);
    this.done.push(b);
    while (this.done.length > this.opts.keepFinished) this.done.shift();
    this.emit('finished', b, exitCode);
    this.emit('changed');
    this.pump();
  }

  private pump(): void {
    if (this.active.some((b) => b.state === 'waiting' || b.state === 'running')) return;
    const next = this.active.find((b) => b.state === 'queued');
    if (!next) return;
    next.state = 'waiting';
    this.attachTimer = setTimeout(() => {
      this.attachTimer = null;
      if (next.state === 'waiting') this.complete(next, 'cancelled', 'the caller did not hand over its streams in time', exitCodeOf('cancelled'));
    }, this.opts.attachTimeoutMs);
    this.emit('changed');
    this.emit('turn', next);
  }

  private clearAttachTimer(): void {
    if (this.attachTimer) clearTimeout(this.attachTimer);
    this.attachTimer = null;
  }

  private find(id: string): QueuedBuild | undefined {
    return this.active.find((b) => b.id === id) ?? this.done.find((b) => b.id === id);
  }
}
