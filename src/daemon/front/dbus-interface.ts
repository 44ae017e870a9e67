/**
 * org.qubes.DetBuild1.Builder on /org/qubes/DetBuild1: control only (submit, attach the
 * streams, cancel, list); the bytes travel on the caller's own descriptors.
 *
 *   Submit(s mode, s caller) -> (s id, u position)
 *   Attach(s id, h request, h response)        once Turn(id) was signalled
 *   Cancel(s id)
 *   List() -> a(sssssss)                       id, caller, mode, state, status, submitted, message
 *   EnvironmentRecord() -> s                   the builder's record (JSON), for +info
 *   signal Turn(s id)
 *   signal Finished(s id, s status, u exitCode)
 *   property Builds a(sssssss), Running s, Queued u   (busctl introspect shows them)
 */
import { closeSync } from 'node:fs';
import dbus from 'dbus-next';
import { describeError } from '../../errors.js';
import { ERROR_PREFIX } from '../bus.js';
import { DaemonError, RequestError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BuildQueue, QueuedBuild } from './queue.js';

const { Interface } = dbus.interface;

/** What the interface needs from the daemon. */
export interface BuilderBackend {
  queue: BuildQueue;
  /** hands a started build's descriptors to the worker (which then owns them) */
  startStreams(build: QueuedBuild, requestFd: number, responseFd: number): void;
  environmentRecord(): Promise<string>;
  logger: Logger;
}

type BuildRow = [string, string, string, string, string, string, string];

const CALLER = /^[A-Za-z0-9_.:@-]{1,64}$/;

function dbusError(err: unknown): dbus.DBusError {
  if (err instanceof dbus.DBusError) return err;
  const name = err instanceof DaemonError ? err.code.replace(/^DAEMON_/, '').toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase()) : 'Failed';
  return new dbus.DBusError(`${ERROR_PREFIX}.${name}`, describeError(err));
}

function closeQuietly(...fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

export class BuilderInterface extends Interface {
  /** unique name of the sender of the message being handled (set by trackSenders) */
  currentSender = '';

  constructor(
    name: string,
    private readonly backend: BuilderBackend,
  ) {
    super(name);
  }

  get Builds(): BuildRow[] {
    return this.backend.queue.list().map(row);
  }

  get Running(): string {
    return this.backend.queue.running?.id ?? '';
  }

  get Queued(): number {
    return this.backend.queue.queuedCount;
  }

  Submit(mode: string, caller: string): [string, number] {
    try {
      if (mode !== 'build' && mode !== 'verify') throw new RequestError('REQUEST_MODE', `unknown mode ${JSON.stringify(mode)} (build or verify)`);
      if (!CALLER.test(caller)) throw new RequestError('REQUEST_CALLER', 'the caller must be a qube name');
      const { build, position } = this.backend.queue.submit(mode, caller, this.currentSender);
      this.backend.logger.child({ build: build.id, caller }).info(`queued (${mode}), ${position} ahead`);
      return [build.id, position];
    } catch (err) {
      throw dbusError(err);
    }
  }

  Attach(id: string, request: number, response: number): void {
    let build: QueuedBuild;
    try {
      build = this.backend.queue.attach(id, this.currentSender);
    } catch (err) {
      closeQuietly(request, response);
      throw dbusError(err);
    }
    try {
      this.backend.startStreams(build, request, response);
    } catch (err) {
      throw dbusError(err);
    }
  }

  Cancel(id: string): void {
    try {
      this.backend.queue.cancel(id, this.currentSender);
    } catch (err) {
      throw dbusError(err);
    }
  }

  List(): BuildRow[] {
    return this.Builds;
  }

  async EnvironmentRecord(): Promise<string> {
    try {
      return await this.backend.environmentRecord();
    } catch (err) {
      throw dbusError(err);
    }
  }

  Turn(id: string): string {
    return id;
  }

  Finished(id: string, status: string, exitCode: number): [string, string, number] {
    return [id, status, exitCode];
  }
}

BuilderInterface.configureMembers({
  properties: {
    Builds: { signature: 'a(sssssss)', access: 'read' },
    Running: { signature: 's', access: 'read' },
    Queued: { signature: 'u', access: 'read' },
  },
  methods: {
    Submit: { inSignature: 'ss', outSignature: 'su' },
    Attach: { inSignature: 'shh', outSignature: '' },
    Cancel: { inSignature: 's', outSignature: '' },
    List: { inSignature: '', outSignature: 'a(sssssss)' },
    EnvironmentRecord: { inSignature: '', outSignature: 's' },
  },
  signals: {
    Turn: { signature: 's' },
    Finished: { signature: 'ssu' },
  },
});

function row(b: QueuedBuild): BuildRow {
  return [b.id, b.caller, b.mode, b.state, b.status, b.submittedAt.toISOString(), b.message];
}

/**
 * dbus-next does not tell a method who called it; it does emit each message on the bus
 * just before dispatching it synchronously, so the sender is known at call time.
 */
export function trackSenders(bus: dbus.MessageBus, iface: BuilderInterface): void {
  bus.on('message', (msg: dbus.Message) => {
    if (msg.type === dbus.MessageType.METHOD_CALL) iface.currentSender = msg.sender;
  });
}

/** Closes the descriptors of method calls that never reach Attach (wrong signature, wrong object). */
export function closeStrayFds(bus: dbus.MessageBus): void {
  bus.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.METHOD_CALL) return;
    if (msg.member === 'Attach' && msg.signature === 'shh') return;
    const sig = msg.signature ?? '';
    // only basic top-level arguments map one character to one body value
    if (!sig.includes('h') || !/^[ybnqiuxtdsogh]+$/.test(sig)) return;
    msg.body.forEach((v: unknown, i: number) => {
      if (sig[i] === 'h' && typeof v === 'number') closeQuietly(v);
    });
  });
}

export { describeError };
