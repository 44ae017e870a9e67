/**
 * Builds the packages the way CI and a maintainer do (packaging/build-packages.sh)
 * in a scratch copy of the repository, and lists what they contain.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const SOURCE_DATE_EPOCH = '1764000000';
const run = promisify(execFile);

/** Directories of the repository that the packaging reads, besides tracked files. */
const OWN_PATHS = ['Makefile', 'packaging', 'rpm-spec', 'salt', 'policy', 'docs/ADMIN.md'];

/**
 * Copies the repository as CI checks it out: the last commit (other engineers'
 * uncommitted work stays out), with the packaging's own paths as they are in the
 * work tree on top. node_modules (the dev tools: tsc) is linked, never written.
 */
export function copyRepository(dest: string): void {
  mkdirSync(dest, { recursive: true });
  const archive = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', 'HEAD'], { maxBuffer: 512 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dest], { input: archive });
  const own = execFileSync('git', ['-C', REPO, 'ls-files', '-z', '-c', '-o', '--exclude-standard', '--', ...OWN_PATHS], {
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean);
  for (const file of own) {
    const from = join(REPO, file);
    const to = join(dest, file);
    rmSync(to, { force: true });
    if (!existsSync(from)) continue; // deleted in the work tree
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { preserveTimestamps: false, verbatimSymlinks: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dest, 'node_modules'));
}

/**
 * Payload inputs that other parts of the project provide. When one does not
 * exist yet, a tiny stand-in is written into the scratch copy (never into the
 * repository) so that the packaging can still be built and checked; the list
 * of stand-ins is returned and printed.
 */
export function addStandIns(dir: string): string[] {
  const standIns: Array<[string, string, string, number]> = [
    // [input the package needs, source that would produce it, stand-in content, mode]
    ['dist/daemon/main.js', 'src/daemon/main.ts', 'console.log("stand-in daemon");\n', 0o644],
    ['dist/cli/main.js', 'src/cli/main.ts', 'console.log("stand-in cli");\n', 0o755],
    ['qrexec-services/qubes.DetBuild', 'qrexec-services/qubes.DetBuild', '#!/bin/sh\necho stand-in\n', 0o755],
    ['qrexec-services/qubes.DetBuild.rpc-config', 'qrexec-services/qubes.DetBuild.rpc-config', 'wait-for-session=0\n', 0o644],
    [
      'packaging/systemd/detbuildd.service',
      'packaging/systemd/detbuildd.service',
      '[Unit]\nDescription=stand-in\n[Service]\nUser=detbuild\nExecStart=/usr/bin/node /usr/lib/qubes-detbuild/dist/daemon/main.js\n[Install]\nWantedBy=multi-user.target\n',
      0o644,
    ],
    ['packaging/dbus/org.qubes.DetBuild1.conf', 'packaging/dbus/org.qubes.DetBuild1.conf', '<busconfig>\n</busconfig>\n', 0o644],
  ];
  const used: string[] = [];
  for (const [input, source, content, mode] of standIns) {
    if (existsSync(join(dir, source))) continue;
    mkdirSync(dirname(join(dir, input)), { recursive: true });
    writeFileSync(join(dir, input), content, { mode });
    used.push(input);
  }
  return used;
}

export interface Built {
  dir: string;
  deb: string;
  vmRpm: string;
  dom0Rpm: string;
  log: string;
}

export async function buildPackages(dir: string): Promise<Built> {
  const out = join(dir, 'out');
  const { stdout, stderr } = await run(join(dir, 'packaging/build-packages.sh'), [], {
    cwd: dir,
    env: { ...process.env, SOURCE_DATE_EPOCH, DETBUILD_PACKAGES_OUT: out },
    maxBuffer: 64 * 1024 * 1024,
  });
  const pick = (re: RegExp) => {
    const name = readdirSync(out).find((f) => re.test(f));
    if (!name) throw new Error(`no ${re} in ${out}`);
    return join(out, name);
  };
  return {
    dir,
    deb: pick(/^qubes-detbuild-vm_.*_amd64\.deb$/),
    vmRpm: pick(/^qubes-detbuild-vm-.*\.x86_64\.rpm$/),
    dom0Rpm: pick(/^qubes-detbuild-dom0-.*\.noarch\.rpm$/),
    log: stdout + stderr,
  };
}

export interface Entry {
  /** 'ls -l' style: -rw-r--r--, drwxr-xr-x, lrwxrwxrwx */
  perms: string;
  owner: string;
  group: string;
  path: string;
}

export function debEntries(deb: string): Entry[] {
  const out = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(\S{10}) (\S+)\/(\S+)\s+\d+ \S+ \S+ \.(\/.*?)(?: -> .*)?$/.exec(line);
      if (!m) throw new Error(`unparsed dpkg-deb line: ${line}`);
      return { perms: m[1]!, owner: m[2]!, group: m[3]!, path: m[4]!.replace(/\/$/, '') || '/' };
    });
}

export function debMtimes(deb: string): string[] {
  const out = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 256 * 1024 * 1024 });
  const list = execFileSync('tar', ['--list', '--verbose', '--full-time', '--utc'], {
    input: out,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return list.trim().split('\n').map((l) => l.split(/\s+/).slice(3, 5).join(' '));
}

export function rpmEntries(rpm: string): Entry[] {
  const out = execFileSync(
    'rpm',
    ['-qp', '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\\n]', rpm],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const [perms, owner, group, ...rest] = line.split(' ');
      return { perms: perms!, owner: owner!, group: group!, path: rest.join(' ') };
    });
}

/** Files (not directories) under `root`, as paths relative to it, with their ls-style type+mode. */
export function treeFiles(root: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) result.set(relative(root, p), 'l');
      else result.set(relative(root, p), statSync(p).mode & 0o100 ? '-rwxr-xr-x' : '-rw-r--r--');
    }
  };
  walk(root);
  return result;
}
