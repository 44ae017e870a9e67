/** The front's handle on its build worker process: messages both ways, environment records on request. */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { DaemonError } from '../errors.js';
import type { FromWorker, ToWorker } from '../ipc.js';

export class Worker {
  private seq = 0;
  private readonly records = new Map<number, { resolve: (s: string) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    private readonly onMessage: (msg: FromWorker) => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new DaemonError('DAEMON_WORKER', `the build worker exited (${signal ?? code}) before it was ready`)));
      child.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') resolve();
        else if (msg.t === 'record') {
          const p = this.records.get(msg.seq);
          this.records.delete(msg.seq);
          if (msg.record) p?.resolve(JSON.stringify(msg.record));
          else p?.reject(new DaemonError('DAEMON_RECORD', msg.error ?? 'cannot collect the environment record'));
        } else this.onMessage(msg);
      });
    });
  }

  send(msg: ToWorker, handle?: Socket): void {
    this.child.send(msg, handle as never);
  }

  record(): Promise<string> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.records.set(seq, { resolve, reject });
      this.send({ t: 'record', seq });
    });
  }
}
