/**
 * What `detbuild verify` varies between its two builds, modelled on reprotest's
 * variations (same names where one exists): each changes a real condition of the
 * process that runs the build (run B) against the reference (run A), never a
 * setting of the engine. A variation that this machine cannot apply says why.
 */

/** The real conditions one run starts under. */
export interface RunConditions {
  name: 'a' | 'b';
  /** milliseconds to wait after the previous run ended before this one starts */
  startDelayMs: number;
  /** where the run's copy of the sources lives, below the run's own directory */
  sourcePath: string[];
  /** the copy keeps the sources' file times (else the times of the copy) */
  keepTimes: boolean;
  /** the order the copy's entries are created in (directories list in creation order on some filesystems) */
  order: 'sorted' | 'reverse';
  /** the user that owns the copy and runs the build: the caller, or `nobody` */
  user: 'caller' | 'nobody';
  /** umask of the build's process, and of the copy's modes */
  umask: number;
  /** environment variables set over the caller's own */
  env: Record<string, string>;
  /** CPUs the run may use (taskset), or null for the caller's */
  cpus: number[] | null;
  /** busy loops running beside the build */
  loadWorkers: number;
  /** the engine's workspace (TMPDIR) on tmpfs rather than beside the run's directory */
  workspaceOnTmpfs: boolean;
  /** address-space layout randomisation of the build's process (setarch -R turns it off) */
  aslr: boolean;
}

/** What this machine offers the variations. */
export interface HostFacts {
  /** whether we run as root (needed to run a build as another user) */
  root: boolean;
  /** whether `nobody` can run the engine here (it can read the installed detbuild) */
  nobodyUsable: boolean;
  /** the CPUs the caller may use */
  cpus: number[];
  /** free bytes on /dev/shm (tmpfs), 0 when there is none */
  shmFreeBytes: number;
}

export type Applied = { a: string; b: string } | { skipped: string };

export interface Variation {
  /** reprotest's name for it, where it has one */
  name: string;
  /** what it changes, in one line */
  what: string;
  apply(a: RunConditions, b: RunConditions, host: HostFacts): Applied;
}

/** The host user run A's build runs as when the caller is root (an unprivileged uid besides nobody's). */
export const RUN_A_BUILD_USER = '65533:65533';

/** The gap between the end of run A and the start of run B. */
export const TIME_GAP_MS = 2000;
/** Run B's workspace goes to tmpfs only when it has this much room. */
const TMPFS_MIN_FREE = 4 * 1024 ** 3;

const cpuList = (cpus: number[]): string => cpus.join(',');

export const VARIATIONS: readonly Variation[] = [
  {
    name: 'time',
    what: 'the wall clock: run B starts later, and its copy of the sources has the times of the copy instead of the originals',
    apply(_a, b) {
      b.startDelayMs = TIME_GAP_MS;
      b.keepTimes = false;
      return { a: 'first; original file times', b: `${TIME_GAP_MS / 1000} s after A ended; file times of the copy` };
    },
  },
  {
    name: 'build_path',
    what: 'where the sources are: another directory, at another depth',
    apply(a, b) {
      b.sourcePath = ['second-build', 'at', 'a', 'longer', 'path', 'sources'];
      return { a: a.sourcePath.join('/'), b: b.sourcePath.join('/') };
    },
  },
  {
    name: 'user_group',
    what: 'the user who owns the sources and runs the build',
    apply(a, b, host) {
      if (!host.root) return { skipped: 'needs root to run a build as another user' };
      if (!host.nobodyUsable) return { skipped: 'the user nobody cannot run the installed detbuild here (it cannot read it)' };
      b.user = 'nobody';
      // run by root, the engine starts builds as an unprivileged user (nobody by default):
      // run A's gets one of its own, so that the two builds still run as different users
      a.env.DETBUILD_BUILD_USER = RUN_A_BUILD_USER;
      return { a: `the caller (root; its build runs as uid ${RUN_A_BUILD_USER})`, b: 'nobody' };
    },
  },
  {
    name: 'umask',
    what: "the umask of the build's process and the modes of the copy",
    apply(a, b) {
      a.umask = 0o022;
      b.umask = 0o077;
      return { a: '022', b: '077' };
    },
  },
  {
    name: 'locales',
    what: 'the locale (LANG, LC_ALL, LANGUAGE)',
    apply(a, b) {
      Object.assign(a.env, { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', LANGUAGE: 'en_US:en' });
      Object.assign(b.env, { LANG: 'et_EE.UTF-8', LC_ALL: 'et_EE.UTF-8', LANGUAGE: 'et_EE:et' });
      return { a: 'C.UTF-8', b: 'et_EE.UTF-8' };
    },
  },
  {
    name: 'timezone',
    what: 'the time zone (TZ), 26 hours apart: another date for most of the day',
    apply(a, b) {
      a.env.TZ = 'Etc/GMT+12';
      b.env.TZ = 'Etc/GMT-14';
      return { a: a.env.TZ, b: b.env.TZ };
    },
  },
  {
    name: 'num_cpus',
    what: 'the CPUs the build may run on, and how many (taskset)',
    apply(a, b, host) {
      if (host.cpus.length < 2) return { skipped: 'this machine lets us use one CPU only' };
      a.cpus = host.cpus.slice(0, 1);
      b.cpus = host.cpus.slice(1);
      return { a: `CPU ${cpuList(a.cpus)}`, b: `CPU ${cpuList(b.cpus)}` };
    },
  },
  {
    name: 'load',
    what: 'the machine\'s load: busy loops run beside run B',
    apply(_a, b, host) {
      b.loadWorkers = Math.max(1, host.cpus.length);
      return { a: 'none', b: `${b.loadWorkers} busy loops` };
    },
  },
  {
    name: 'fileordering',
    what: "the order directories list their entries in: B's copy is created in reverse order, and its engine workspace is on tmpfs",
    apply(a, b, host) {
      b.order = 'reverse';
      const tmpfs = host.shmFreeBytes >= TMPFS_MIN_FREE;
      b.workspaceOnTmpfs = tmpfs;
      return { a: 'sorted creation; workspace on the disk', b: `reverse creation; workspace ${tmpfs ? 'on tmpfs (/dev/shm)' : 'on the disk (/dev/shm has less than 4 GiB free)'}` };
    },
  },
  {
    name: 'environment',
    what: 'environment variables: HOME, USER, PATH, job counts, SOURCE_DATE_EPOCH, hash seeds and a junk variable',
    apply(a, b) {
      Object.assign(a.env, { HOME: '/nonexistent/first-build', USER: 'builder1', LOGNAME: 'builder1' });
      Object.assign(b.env, {
        HOME: '/nonexistent/second-build',
        USER: 'builder2',
        LOGNAME: 'builder2',
        PATH: `/nonexistent/bin:${process.env.PATH ?? '/usr/bin:/bin'}`,
        MAKEFLAGS: '-j8',
        DEB_BUILD_OPTIONS: 'parallel=4',
        SOURCE_DATE_EPOCH: '1',
        PYTHONHASHSEED: '4242',
        GOMAXPROCS: '7',
        OMP_NUM_THREADS: '8',
        DETBUILD_VERIFY_JUNK: 'junk '.repeat(20).trim(),
      });
      return { a: 'the caller\'s, HOME=/nonexistent/first-build USER=builder1', b: 'HOME=/nonexistent/second-build USER=builder2 PATH=/nonexistent/bin:… MAKEFLAGS=-j8 SOURCE_DATE_EPOCH=1 …' };
    },
  },
  {
    name: 'aslr',
    what: "address-space layout randomisation of the build's process",
    apply(a) {
      a.aslr = false;
      return { a: 'off (setarch -R)', b: 'on' };
    },
  },
];

/** The reference conditions, before any variation. */
export function baseConditions(name: 'a' | 'b'): RunConditions {
  return {
    name,
    startDelayMs: 0,
    sourcePath: ['sources'],
    keepTimes: true,
    order: 'sorted',
    user: 'caller',
    umask: 0o022,
    env: {},
    cpus: null,
    loadWorkers: 0,
    workspaceOnTmpfs: false,
    aslr: true,
  };
}

export interface AppliedVariation {
  name: string;
  what: string;
  /** what run A and run B had, or why it was not applied here */
  a?: string;
  b?: string;
  skipped?: string;
}

/** Applies every variation to fresh conditions for runs A and B. */
export function planRuns(host: HostFacts): { a: RunConditions; b: RunConditions; variations: AppliedVariation[] } {
  const a = baseConditions('a');
  const b = baseConditions('b');
  const variations = VARIATIONS.map((v) => ({ name: v.name, what: v.what, ...v.apply(a, b, host) }));
  return { a, b, variations };
}
