/**
 * The host as the build sees it: fixed contents for the /proc, /sys and /etc
 * files that would otherwise reveal the machine, the date or the CPU count.
 * Pure functions of the spec; the sandbox binds them over the real files.
 */
import { createHash } from 'node:crypto';

export const BUILD_USER = { name: 'build', uid: 1000, gid: 1000, home: '/build/home' } as const;
export const HOSTNAME = 'detbuild';
export const KERNEL_RELEASE = '6.1.0-detbuild-amd64';
export const UPTIME_S = 1000;

function derivedHex(seed: string, label: string, len: number): string {
  return createHash('sha256').update(`${label}\0${seed}`).digest('hex').slice(0, len);
}

function uuidFrom(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/** /proc/pressure/*: nothing ever stalled. */
const PSI_IDLE = 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';

/** /proc/cpuinfo reduced to processor 0, with the speed fields fixed. */
export function cpuinfoFor(realCpuinfo: string): string {
  const first = realCpuinfo.split(/\n\s*\n/)[0] ?? '';
  const lines = first.split('\n').map((line) => {
    const key = line.split(':')[0]?.trim() ?? '';
    switch (key) {
      case 'processor':
      case 'core id':
      case 'physical id':
      case 'apicid':
      case 'initial apicid':
        return `${line.split(':')[0]}: 0`;
      case 'siblings':
      case 'cpu cores':
        return `${line.split(':')[0]}: 1`;
      case 'cpu MHz':
        return `${line.split(':')[0]}: 2000.000`;
      case 'bogomips':
        return `${line.split(':')[0]}: 4000.00`;
      case 'flags':
        // what cpuid reports inside the build: no RDRAND, RDSEED or RDPID
        return line.replace(/ (rdrand|rdseed|rdpid)(?= |$)/g, '');
      default:
        return line;
    }
  });
  return `${lines.join('\n')}\n\n`;
}

/** Every file the sandbox replaces, keyed by its path inside the sandbox. */
export function hostViewFiles(seed: string, realCpuinfo: string): Map<string, string> {
  const files = new Map<string, string>();
  const { name, uid, gid, home } = BUILD_USER;
  files.set('/etc/passwd', `root:x:0:0:root:/root:/bin/sh\n${name}:x:${uid}:${gid}:build:${home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
  files.set('/etc/group', `root:x:0:\n${name}:x:${gid}:\nnogroup:x:65534:\n`);
  files.set('/etc/hostname', `${HOSTNAME}\n`);
  files.set('/etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  files.set('/etc/resolv.conf', '');
  files.set('/etc/timezone', 'Etc/UTC\n');
  files.set('/etc/machine-id', `${derivedHex(seed, 'machine-id', 32)}\n`);
  files.set('/proc/cpuinfo', cpuinfoFor(realCpuinfo));
  files.set('/proc/stat', 'cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nintr 0\nctxt 0\nbtime 0\nprocesses 1\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n');
  files.set('/proc/uptime', `${UPTIME_S}.00 ${UPTIME_S}.00\n`);
  files.set('/proc/loadavg', '0.00 0.00 0.00 1/1 1\n');
  // pressure stall information: how busy the host is (the kernel's numbers, where PSI is enabled)
  for (const r of ['cpu', 'io', 'memory']) files.set(`/proc/pressure/${r}`, PSI_IDLE);
  files.set('/proc/pressure/irq', PSI_IDLE.split('\n')[1]! + '\n');
  files.set('/proc/meminfo', 'MemTotal:        8388608 kB\nMemFree:         4194304 kB\nMemAvailable:    4194304 kB\nBuffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n');
  files.set('/proc/version', `Linux version ${KERNEL_RELEASE} (detbuild) #1 SMP PREEMPT_DYNAMIC detbuild\n`);
  files.set('/proc/sys/kernel/osrelease', `${KERNEL_RELEASE}\n`);
  files.set('/proc/sys/kernel/version', '#1 SMP PREEMPT_DYNAMIC detbuild\n');
  files.set('/proc/sys/kernel/random/boot_id', `${uuidFrom(derivedHex(seed, 'boot_id', 32))}\n`);
  for (const f of ['online', 'possible', 'present']) files.set(`/sys/devices/system/cpu/${f}`, '0\n');
  files.set('/sys/devices/system/cpu/offline', '\n');
  files.set('/sys/devices/system/cpu/kernel_max', '0\n');
  return files;
}
