/**
 * Ending a sandbox for certain: its pid 1 (the supervisor, run by bubblewrap
 * with --as-pid-1) is killed directly, by its host PID, which bubblewrap
 * reports on its info fd; the kernel then kills every process of the PID
 * namespace, whatever they did to themselves (a new session, a cleared
 * parent-death signal). Nothing waits on the build's pipes: once bubblewrap
 * has exited, the streams get a short grace to deliver what is buffered and
 * are then destroyed.
 */
import { readlinkSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

export class SandboxTeardown {
  /** host PID of the sandbox's pid 1, and the PID namespace it was born in */
  private init: { pid: number; ns: string } | null = null;
  private infoText = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    private readonly child: ChildProcess,
    info: Readable | null | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    info?.on('data', (c: Buffer) => {
      this.infoText += c.toString('utf8');
      this.readInfo();
    });
    info?.on('error', () => undefined);
  }

  private readInfo(): void {
    if (this.init) return;
    const m = /"child-pid"\s*:\s*(\d+)/.exec(this.infoText);
    if (!m) return;
    const pid = Number(m[1]);
    try {
      // its own PID namespace: a later kill can check it is still the same process
      this.init = { pid, ns: readlinkSync(`/proc/${pid}/ns/pid`) };
    } catch {
      // already gone: the namespace died with it
      this.init = { pid, ns: '' };
    }
  }

  /** Kills the whole sandbox: its pid 1 (hence its PID namespace) and bubblewrap's process group. */
  kill(): void {
    this.killInit();
    try {
      if (this.child.pid) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }

  /** Kills the sandbox's pid 1 if it is still the process bubblewrap started (same PID namespace). */
  killInit(): void {
    if (!this.init?.ns) return;
    let ns: string;
    try {
      ns = readlinkSync(`/proc/${this.init.pid}/ns/pid`);
    } catch {
      return; // gone
    }
    if (ns !== this.init.ns) return; // another process took the PID
    try {
      process.kill(this.init.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }

  /**
   * After bubblewrap exited: makes sure nothing of the sandbox remains, then
   * lets the streams deliver what is buffered for at most `graceMs` and
   * destroys those still open.
   */
  async finish(streams: Array<Readable | null | undefined>, graceMs = 2000): Promise<void> {
    this.killInit();
    const open = streams.filter((s): s is Readable => !!s && !s.readableEnded && !s.destroyed);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((s) => new Promise<void>((resolve) => {
        s.once('end', resolve);
        s.once('close', resolve);
        s.once('error', () => resolve());
      }))),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of open) if (!s.readableEnded) s.destroy();
  }
}
