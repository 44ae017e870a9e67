/**
 * The sandbox's layout on the host: the host files the build sees replaced (written into
 * the workspace's view/ from the seed: cpuinfo, machine-id, …; /etc/localtime's zone file
 * as UTC), the supervisor it runs under and the stat shim its programs preload, the root's entries and toolchain state bound
 * read-only, the CPU it is pinned to and whether FUSE is usable.
 */
import { existsSync, promises as fs, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { firstAllowedCpu, fuseUsable, rootEntries, statShimPath, supervisorPath } from './facilities.js';
import type { HostUser } from './host-user.js';
import { hostViewFiles } from './hostview.js';
import type { WorkspaceLayout } from './sandbox.js';
import { presentToolchainState } from './toolchain-state.js';
import type { BuildSpec } from './types.js';
import type { Workspace } from './workspace.js';

/** Writes the replaced host files into viewDir; returns where each one is bound (inside -> host file). */
export async function writeHostView(spec: BuildSpec, viewDir: string): Promise<Map<string, string>> {
  const viewFiles = new Map<string, string>();
  if (spec.mode !== 'deterministic') return viewFiles;
  const files = hostViewFiles(spec.seed, readFileSync('/proc/cpuinfo', 'utf8'));
  let n = 0;
  for (const [inside, content] of files) {
    // a file can only be replaced where the host has one to bind over (or in our emptied cpu dir)
    if (!inside.startsWith('/sys/devices/system/cpu/') && !existsSync(inside)) continue;
    const host = path.join(viewDir, `f${n++}`);
    await fs.writeFile(host, content, { mode: 0o444 });
    await fs.chmod(host, 0o444);
    viewFiles.set(inside, host);
  }
  // /etc/localtime is a symlink into zoneinfo: the file it names becomes UTC
  const utc = '/usr/share/zoneinfo/Etc/UTC';
  if (existsSync('/etc/localtime') && existsSync(utc)) {
    const zone = realpathSync('/etc/localtime');
    if (zone !== realpathSync(utc) && zone.startsWith('/usr/')) viewFiles.set(zone, utc);
  }
  return viewFiles;
}

export async function sandboxLayout(spec: BuildSpec, ws: Workspace, user: HostUser | null, viewFiles: Map<string, string>, cpu: number | undefined): Promise<WorkspaceLayout> {
  const roots = await rootEntries();
  return {
    src: ws.src,
    out: ws.out,
    home: ws.home,
    viewFiles,
    // the build user may not be able to reach the installed one (a checkout under /root)
    supervisor: spec.mode === 'deterministic' && user ? await privateCopy(supervisorPath(), path.join(ws.view, 'supervisor')) : supervisorPath(),
    statShim: await statShimFor(spec.mode, user !== null, path.join(ws.view, 'stat-shim.so')),
    rootSymlinks: roots.symlinks,
    // the installed toolchains' state (toolchain-state.ts) and the spec's extra
    // read-only host directories, those that exist here
    rootDirs: [...new Set([...roots.dirs, ...presentToolchainState(), ...(spec.hostDirs ?? []).filter((d) => existsSync(`/${d}`))])],
    cpu: cpu ?? (await firstAllowedCpu()),
    fuse: await fuseUsable(),
  };
}

/** The stat shim for a deterministic build (none in plain mode), copied where the build user can read it. */
async function statShimFor(mode: BuildSpec['mode'], copy: boolean, to: string): Promise<string | undefined> {
  const shim = mode === 'deterministic' ? statShimPath() : null;
  if (!shim) return undefined;
  return copy ? privateCopy(shim, to) : shim;
}

/** A copy of a file only the engine can change, readable and executable by anyone. */
async function privateCopy(from: string, to: string): Promise<string> {
  await fs.copyFile(from, to);
  await fs.chmod(to, 0o555);
  return to;
}
