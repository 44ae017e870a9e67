/**
 * The bubblewrap command line of a build: which host paths the build sees and
 * where, which namespaces it gets, and its whole environment.  A pure function
 * of the spec and the workspace layout, so tests can read it and the manifest
 * can record it.
 */
import type { BuildSpec } from './types.js';
import { BUILD_USER, HOSTNAME, KERNEL_RELEASE } from './hostview.js';
import { sandboxLimits, supervisorLimitArgs } from './supervise/limits.js';

/** Fixed paths inside the sandbox. */
export const SANDBOX = {
  src: '/build/src',
  out: '/build/out',
  home: BUILD_USER.home,
  tmp: '/tmp',
  stateDir: '/run/detbuild',
  supervisor: '/run/detbuild-supervisor',
  statShim: '/run/detbuild-stat.so',
} as const;

export interface WorkspaceLayout {
  /** host directories bound read-write */
  src: string;
  out: string;
  home: string;
  /** host file for each replaced sandbox file (see hostview.ts) */
  viewFiles: Map<string, string>;
  /** host path of the supervisor binary */
  supervisor: string;
  /** host path of the stat shim (src/supervisor/statshim.c), when there is one */
  statShim?: string;
  /** host top-level entries that are symlinks (merged /usr): name -> target */
  rootSymlinks: Map<string, string>;
  /** host top-level directories to bind read-only besides /usr and /etc */
  rootDirs: string[];
  /** CPU the build is pinned to */
  cpu: number;
  /** /dev/fuse is usable: the supervisor serves /dev/urandom through FUSE instead of trapping open() */
  fuse: boolean;
}

/** Device nodes the build gets (bound from the host). */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;
const DEV_LINKS: ReadonlyArray<[string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['core', '/proc/kcore'],
];

/** The PATH every build runs with (what its tools are: the environment record probes the same). */
export const BUILD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Environment of every deterministic build; recipes may not override these. */
export function fixedEnvironment(spec: BuildSpec): Record<string, string> {
  return {
    PATH: BUILD_PATH,
    HOME: SANDBOX.home,
    USER: BUILD_USER.name,
    LOGNAME: BUILD_USER.name,
    SHELL: '/bin/sh',
    TMPDIR: SANDBOX.tmp,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    TERM: 'dumb',
    COLUMNS: '80',
    HOSTNAME,
    SOURCE_DATE_EPOCH: String(spec.epoch),
    DETBUILD_OUT: SANDBOX.out,
    DETBUILD: '1',
    // -j1: the usual job knobs
    MAKEFLAGS: '-j1',
    DEB_BUILD_OPTIONS: 'parallel=1',
    GOMAXPROCS: '1',
    // Go's asynchronous preemption is driven by real time (sysmon): it adds
    // clock reads at scheduling-dependent points of a goroutine
    GODEBUG: 'asyncpreemptoff=1',
    GOFLAGS: '-p=1',
    CMAKE_BUILD_PARALLEL_LEVEL: '1',
    CARGO_BUILD_JOBS: '1',
    OMP_NUM_THREADS: '1',
    XZ_DEFAULTS: '-T1',
    ZSTD_NBTHREADS: '1',
  };
}

/** Variables a recipe may set to another value than the fixed one. */
export const OVERRIDABLE = new Set(['DEB_BUILD_OPTIONS', 'DEB_BUILD_PROFILES']);

export function buildEnvironment(spec: BuildSpec, callerEnv: NodeJS.ProcessEnv): Record<string, string> {
  if (spec.mode === 'plain') {
    // the control: whatever the caller has, plus the paths the build needs
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(callerEnv)) if (v !== undefined) env[k] = v;
    return { ...env, ...spec.env, HOME: SANDBOX.home, TMPDIR: SANDBOX.tmp, DETBUILD_OUT: SANDBOX.out };
  }
  return { ...fixedEnvironment(spec), ...spec.env };
}

/** bubblewrap's info fd (its JSON names the host PID of the sandbox's pid 1, see supervise/teardown.ts) */
export const INFO_FD = 4;
/** the supervisor's status fd */
export const STATUS_FD = 3;
/** size of the supervisor's own tmpfs (the entropy file system's mount point, FIFOs of the fallback) */
const STATE_DIR_BYTES = 1024 * 1024;

export function bwrapArgs(spec: BuildSpec, ws: WorkspaceLayout, env: Record<string, string>): string[] {
  const limits = sandboxLimits(spec.limits);
  const a: string[] = [
    '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup-try',
    '--uid', String(BUILD_USER.uid), '--gid', String(BUILD_USER.gid),
    '--hostname', HOSTNAME,
    // the supervisor is the sandbox's pid 1 (init.c): the namespace ends with it
    '--as-pid-1', '--info-fd', String(INFO_FD),
    '--die-with-parent', '--new-session',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const [name, target] of ws.rootSymlinks) a.push('--symlink', target, `/${name}`);
  for (const dir of ws.rootDirs) a.push('--ro-bind', `/${dir}`, `/${dir}`);
  a.push('--ro-bind', '/etc', '/etc');
  // /dev built by hand: bwrap's --dev mounts devpts before the user namespace
  // exists when run by root, which leaves the PID namespace owned by the
  // host's user namespace and the supervisor unable to pin PIDs
  a.push('--proc', '/proc', '--tmpfs', '/dev');
  for (const dev of DEVICES) a.push('--dev-bind', `/dev/${dev}`, `/dev/${dev}`);
  if (spec.mode === 'deterministic' && ws.fuse) a.push('--dev-bind', '/dev/fuse', '/dev/fuse');
  for (const [name, target] of DEV_LINKS) a.push('--symlink', target, `/dev/${name}`);
  // every writable file system has a size (supervise/limits.ts); the rest is made read-only below
  a.push('--size', String(limits.maxShmBytes), '--tmpfs', '/dev/shm');
  a.push('--ro-bind', '/sys', '/sys');
  a.push('--size', String(limits.maxTmpBytes), '--tmpfs', SANDBOX.tmp);
  // the root is read-only: /var/tmp (rpmbuild's and others' temporary files) is /tmp
  a.push('--perms', '0755', '--dir', '/var', '--symlink', SANDBOX.tmp, '/var/tmp');
  a.push('--tmpfs', '/run', '--size', String(STATE_DIR_BYTES), '--tmpfs', SANDBOX.stateDir);
  a.push('--dir', '/build');
  a.push('--bind', ws.src, SANDBOX.src, '--bind', ws.out, SANDBOX.out, '--bind', ws.home, SANDBOX.home);
  a.push('--ro-bind', ws.supervisor, SANDBOX.supervisor);
  if (spec.mode === 'deterministic' && ws.statShim) a.push('--ro-bind', ws.statShim, SANDBOX.statShim);
  if (spec.mode === 'deterministic') {
    // the replaced views of the host; /sys/devices/system/cpu is emptied first
    a.push('--tmpfs', '/sys/devices/system/cpu', '--dir', '/sys/devices/system/cpu/cpu0');
    for (const [inside, host] of ws.viewFiles) a.push('--ro-bind', host, inside);
    a.push('--remount-ro', '/sys/devices/system/cpu');
    // the supervisor pins PIDs through ns_last_pid; it clears the capability before running the build
    a.push('--cap-add', 'CAP_SYS_ADMIN');
  }
  // the sandbox's own tmpfs mounts (its root, /dev, /run) hold nothing the build may write
  a.push('--remount-ro', '/dev', '--remount-ro', '/run', '--remount-ro', '/');
  a.push('--chdir', SANDBOX.src, '--clearenv');
  for (const [k, v] of Object.entries(env).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) a.push('--setenv', k, v);
  a.push('--');
  if (spec.mode === 'plain') {
    // the supervisor is only the sandbox's init: no engine
    a.push(SANDBOX.supervisor, '--plain', '--status-fd', String(STATUS_FD), '--merge-output',
      '--fsize', String(spec.limits.maxOutputBytes + 1), ...supervisorLimitArgs(limits), '--');
  } else {
    a.push(
      SANDBOX.supervisor,
      '--epoch', String(spec.epoch),
      '--seed', spec.seed,
      '--time-step', spec.timeStepNs.toString(),
      '--cpu', String(ws.cpu),
      '--state-dir', SANDBOX.stateDir,
      '--status-fd', String(STATUS_FD),
      '--release', KERNEL_RELEASE,
      '--merge-output',
      '--pin-pids',
      '--fsize', String(spec.limits.maxOutputBytes + 1),
      ...supervisorLimitArgs(limits),
      ...(process.env.DETBUILD_DEBUG ? ['--verbose'] : []),
      // benchmarks only: the engine without its filesystem view, to measure what the view costs
      ...(process.env.DETBUILD_NO_FS_VIEW === '1' ? ['--no-fs-view'] : []),
      // benchmarks only: the supervisor's own CPU time per kind of stop, in its counters
      ...(process.env.DETBUILD_PROFILE === '1' ? ['--profile'] : []),
      // benchmarks only: the stat family through ptrace stops instead of seccomp user notifications
      ...(process.env.DETBUILD_NO_NOTIFY === '1' ? ['--no-notify'] : []),
      // the stat shim answers in the build's processes (statshim.c); DETBUILD_NO_STAT_SHIM=1
      // (tests, benchmarks): it is loaded but every stat stops in the supervisor as before
      ...(ws.statShim ? ['--stat-shim', SANDBOX.statShim] : []),
      ...(process.env.DETBUILD_NO_STAT_SHIM === '1' ? ['--no-stat-answers'] : []),
      '--',
    );
  }
  a.push('/bin/sh', '-c', spec.mode === 'plain' ? `exec 2>&1; ${spec.command}` : spec.command);
  return a;
}
