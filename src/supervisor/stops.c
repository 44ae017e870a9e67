/* Where the supervisor's time goes: every stop of a traced thread counted
 * by kind (the system call a seccomp stop is for, the call whose exit stop it
 * is, the ptrace event, the signal), and with --profile the supervisor's own
 * time per kind (from the moment waitpid returned the stop to the next
 * waitpid).  Reported in the final status line as flat keys:
 *
 *   "stops": all stops, "stopsSeccomp", "stopsExit", "stopsEvent", "stopsSignal",
 *   "stop.NAME": seccomp stops of system call NAME,
 *   "exit.NAME": exit stops of system call NAME,
 *   "notifications", "notif.NAME": calls answered as seccomp user notifications
 *   (fsnotify.c: no ptrace stop, counted apart from "stops"),
 *   "event.fork" / "event.clone" / "event.exec" / ..., "signal.SIGSEGV" (rdtsc, cpuid) / ...,
 *   "supervisorCpuUs": the supervisor's CPU time (all its threads),
 *   "tMainNs", "tExecNs", "tEndNs", "tReportNs": CLOCK_MONOTONIC when the
 *   supervisor started, when the build command was exec'd, when it exited,
 *   and when this line was written (the engine splits its fixed cost with them),
 *   with --profile "ns.KEY": the supervisor's CPU time (its main thread's, from
 *   CLOCK_THREAD_CPUTIME_ID: other load on the machine does not count) spent
 *   on the stops of KEY. */
#include "hostclock.h"
#include "config.h"
#include "stops.h"

#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <time.h>

#define NSYS 512
#define NEVENT 16
#define NSIG_ 65

static uint64_t n_seccomp[NSYS], n_exit[NSYS], n_event[NEVENT], n_signal[NSIG_];
static uint64_t ns_seccomp[NSYS], ns_exit[NSYS], ns_event[NEVENT], ns_signal[NSIG_];
static uint64_t started;

static uint64_t now_ns(void)
{
	return hostclock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void stops_begin(void)
{
	if (cfg.profile)
		started = now_ns();
}

static void end(uint64_t *count, uint64_t *ns)
{
	(*count)++;
	if (cfg.profile)
		*ns += now_ns() - started;
}

static size_t sys_index(long nr) { return nr >= 0 && nr < NSYS - 1 ? (size_t)nr : NSYS - 1; }

void stops_seccomp(long nr) { end(&n_seccomp[sys_index(nr)], &ns_seccomp[sys_index(nr)]); }
void stops_exit(long nr) { end(&n_exit[sys_index(nr)], &ns_exit[sys_index(nr)]); }

void stops_event(int event)
{
	size_t i = event > 0 && event < NEVENT ? (size_t)event : 0;
	if (i == PTRACE_EVENT_EXEC && !n_event[i])
		stops_mark(MARK_EXEC);
	end(&n_event[i], &ns_event[i]);
}

/* stat-family calls answered as seccomp user notifications (another thread: atomic) */
static uint64_t n_notified[NSYS];

void stops_notified(long nr)
{
	__atomic_fetch_add(&n_notified[sys_index(nr)], 1, __ATOMIC_RELAXED);
}

static uint64_t marks[MARK_N];

void stops_mark(enum stops_mark m)
{
	if (!marks[m])
		marks[m] = hostclock_ns(CLOCK_MONOTONIC);
}

void stops_signal(int sig)
{
	size_t i = sig > 0 && sig < NSIG_ ? (size_t)sig : 0;
	end(&n_signal[i], &ns_signal[i]);
}

static const char *event_name(size_t e)
{
	switch (e) {
	case PTRACE_EVENT_FORK: return "fork";
	case PTRACE_EVENT_VFORK: return "vfork";
	case PTRACE_EVENT_CLONE: return "clone";
	case PTRACE_EVENT_EXEC: return "exec";
	case PTRACE_EVENT_VFORK_DONE: return "vforkDone";
	case PTRACE_EVENT_EXIT: return "exit";
	case PTRACE_EVENT_SECCOMP: return "seccomp";
	default: return "other";
	}
}

/* one "KEY":count (and "ns.KEY":ns) pair per kind that occurred */
static void put(int fd, const char *prefix, const char *name, uint64_t n, uint64_t ns)
{
	if (!n)
		return;
	dprintf(fd, ",\"%s%s\":%llu", prefix, name, (unsigned long long)n);
	if (cfg.profile && ns)
		dprintf(fd, ",\"ns.%s%s\":%llu", prefix, name, (unsigned long long)ns);
}

static void put_syscalls(int fd, const char *prefix, const uint64_t *n, const uint64_t *ns)
{
	for (size_t i = 0; i < NSYS; i++) {
		if (!n[i])
			continue;
		char *name = i < NSYS - 1 ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)i) : NULL;
		char num[24];
		snprintf(num, sizeof num, "%zu", i);
		put(fd, prefix, name ? name : num, n[i], ns[i]);
		free(name);
	}
}

static uint64_t sum(const uint64_t *a, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i];
	return s;
}

void stops_json(int fd)
{
	uint64_t sc = sum(n_seccomp, NSYS), ex = sum(n_exit, NSYS), ev = sum(n_event, NEVENT), sg = sum(n_signal, NSIG_);
	struct rusage ru;
	uint64_t cpu_us = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
			 (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	dprintf(fd, ",\"stops\":%llu,\"stopsSeccomp\":%llu,\"stopsExit\":%llu,\"stopsEvent\":%llu,\"stopsSignal\":%llu,\"supervisorCpuUs\":%llu",
		(unsigned long long)(sc + ex + ev + sg), (unsigned long long)sc, (unsigned long long)ex,
		(unsigned long long)ev, (unsigned long long)sg, (unsigned long long)cpu_us);
	stops_mark(MARK_REPORT);
	static const char *const mark_names[MARK_N] = { "tMainNs", "tExecNs", "tEndNs", "tReportNs" };
	for (int m = 0; m < MARK_N; m++)
		dprintf(fd, ",\"%s\":%llu", mark_names[m], (unsigned long long)marks[m]);
	put_syscalls(fd, "stop.", n_seccomp, ns_seccomp);
	put_syscalls(fd, "exit.", n_exit, ns_exit);
	static const uint64_t no_ns[NSYS];
	dprintf(fd, ",\"notifications\":%llu", (unsigned long long)sum(n_notified, NSYS));
	put_syscalls(fd, "notif.", n_notified, no_ns);
	for (size_t i = 0; i < NEVENT; i++)
		put(fd, "event.", event_name(i), n_event[i], ns_event[i]);
	for (size_t i = 0; i < NSIG_; i++) {
		const char *abbrev = i ? sigabbrev_np((int)i) : NULL;
		char name[24];
		snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "?");
		put(fd, "signal.", name, n_signal[i], ns_signal[i]);
	}
}
