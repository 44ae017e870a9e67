/** What this machine offers `detbuild verify`'s variations (HostFacts), found out once. */
import { execa } from 'execa';
import { promises as fs } from 'node:fs';
import type { HostFacts } from './variations.js';

/** The uid and gid of `nobody`, from the user database. */
export async function nobodyIds(): Promise<{ uid: number; gid: number } | null> {
  const r = await execa('getent', ['passwd', 'nobody'], { reject: false });
  const f = String(r.stdout).split(':');
  if (r.exitCode !== 0 || f.length < 4) return null;
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** The CPUs this process may run on (Cpus_allowed_list: "0-3,6"). */
export async function allowedCpus(): Promise<number[]> {
  const status = await fs.readFile('/proc/self/status', 'utf8').catch(() => '');
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
  if (!list) return [0];
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    for (let c = lo!; c <= (hi ?? lo!); c++) cpus.push(c);
  }
  return cpus;
}

async function shmFreeBytes(): Promise<number> {
  try {
    const st = await fs.statfs('/dev/shm');
    return st.type === 0x01021994 ? st.bavail * st.bsize : 0; // TMPFS_MAGIC
  } catch {
    return 0;
  }
}

/** Whether `nobody` can start the build child (read the installed detbuild, run the supervisor). */
async function nobodyCanRun(childScript: string, ids: { uid: number; gid: number } | null): Promise<boolean> {
  if (!ids) return false;
  const r = await execa('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', process.execPath, childScript, '--probe'], {
    reject: false,
    stdin: 'ignore',
    cwd: '/',
    timeout: 60_000,
  });
  return r.exitCode === 0;
}

export async function hostFacts(childScript: string): Promise<HostFacts & { nobody: { uid: number; gid: number } | null }> {
  const root = process.getuid?.() === 0;
  const nobody = root ? await nobodyIds() : null;
  return {
    root,
    nobody,
    nobodyUsable: root && (await nobodyCanRun(childScript, nobody)),
    cpus: await allowedCpus(),
    shmFreeBytes: await shmFreeBytes(),
  };
}
