/**
 * Messages between detbuildd's front (D-Bus, queue) and its build worker.
 *
 * Why two processes: file descriptors that arrive over D-Bus (SCM_RIGHTS, read by usocket
 * without MSG_CMSG_CLOEXEC) and the D-Bus connection itself (usocket opens it without
 * SOCK_CLOEXEC) would be inherited by every process the daemon starts, builds included:
 * a build could then write into another caller's stream or speak D-Bus as the daemon.
 * The worker is forked before the front connects to D-Bus and gets each caller's streams
 * over Node's IPC channel, which receives them close-on-exec; it never holds the bus, and
 * the front never starts a process after the fork.
 */
import type { FinalStatus } from '../protocol/messages.js';
import type { EnvironmentRecord } from '../record/schema.js';
import type { DaemonConfig } from './config.js';

export type ToWorker =
  | { t: 'config'; config: DaemonConfig }
  /** a job; its streams follow as two 'stream' messages carrying the sockets */
  | { t: 'job'; id: string; caller: string; mode: 'build' | 'verify' }
  | { t: 'stream'; id: string; which: 'input' | 'output' }
  | { t: 'cancel'; id: string }
  | { t: 'record'; seq: number }
  | { t: 'shutdown' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'started'; id: string }
  | { t: 'finished'; id: string; status: FinalStatus }
  | { t: 'record'; seq: number; record: EnvironmentRecord | null; error: string | null };
