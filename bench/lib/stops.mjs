/**
 * The supervisor's counters, split: the scalar counters it always had
 * (execs, forks, fsStats, …) and its stops per kind (stops.c: "stop.NAME"
 * for a seccomp stop of system call NAME, "exit.NAME" for an exit stop,
 * "event.KIND", "signal.SIG"; "ns.KEY" the supervisor's CPU time on them with
 * DETBUILD_PROFILE=1), so that a regression shows where it comes from.
 */

/** keys that are not counts of what the build did (they vary from run to run by nature) */
export function isTimingKey(k) {
  return k.startsWith('ns.') || k === 'supervisorCpuUs' || /^t[A-Z]\w*Ns$/.test(k);
}

const KIND = /^(stop|exit|event|signal|notif)\./;

/** { base: [[k, v]], kinds: [{ key, name, n, ns }] sorted by count, total, supervisorCpuUs } */
export function splitStats(stats) {
  if (!stats) return null;
  const base = [];
  const kinds = [];
  for (const [k, v] of Object.entries(stats)) {
    if (k === 'exitCode' || k === 'signal' || isTimingKey(k)) continue;
    if (KIND.test(k)) kinds.push({ key: k, name: kindName(k), n: v, ns: stats[`ns.${k}`] ?? null });
    else base.push([k, v]);
  }
  kinds.sort((a, b) => b.n - a.n || (a.key < b.key ? -1 : 1));
  // notifications are round trips too (no ptrace stop): counted with the stops here
  const total = stats.stops === undefined ? null : stats.stops + (stats.notifications ?? 0);
  return { base: base.filter(([k]) => k !== 'stops' && k !== 'notifications'), kinds, total, supervisorCpuUs: stats.supervisorCpuUs ?? null };
}

/** "stop.newfstatat" -> "newfstatat", "exit.wait4" -> "wait4 (exit)", "signal.SIGSEGV" -> "SIGSEGV (rdtsc, cpuid)" */
export function kindName(k) {
  const [kind, name] = [k.slice(0, k.indexOf('.')), k.slice(k.indexOf('.') + 1)];
  if (kind === 'stop') return name;
  if (kind === 'exit') return `${name} (exit)`;
  if (kind === 'event') return `${name} (event)`;
  if (kind === 'notif') return `${name} (notification)`;
  return name === 'SIGSEGV' ? 'SIGSEGV (rdtsc, cpuid)' : name;
}

/** "67,911 newfstatat, 3,920 SIGSEGV (rdtsc, cpuid), …" — the first `top` kinds */
export function kindsText(split, top = 10) {
  if (!split?.kinds.length) return '';
  const shown = split.kinds.slice(0, top).map((x) => `${x.n.toLocaleString('en-US')} ${x.name}${x.ns ? ` (${(x.ns / x.n / 1000).toFixed(1)} µs each)` : ''}`);
  const rest = split.kinds.slice(top).reduce((a, x) => a + x.n, 0);
  if (rest) shown.push(`${rest.toLocaleString('en-US')} other`);
  return shown.join(', ');
}
