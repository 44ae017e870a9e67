/* The supervisor's configuration (set once from the command line by main.c)
 * and the counters reported in the final status line.  A leaf: every other
 * file reads these; only main.c writes cfg. */
#ifndef DETBUILD_CONFIG_H
#define DETBUILD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define NS_PER_S 1000000000ULL

struct config {
	uint64_t epoch_ns;      /* start of the logical wall clock */
	uint64_t rt_step;       /* ns per wall-clock read */
	uint64_t mono_step;     /* ns per monotonic read */
	uint64_t cpu_step;      /* ns per CPU-clock read */
	uint64_t tsc_step;      /* cycles per rdtsc */
	uint64_t mono_start;    /* initial CLOCK_MONOTONIC value */
	uint8_t seed[32];       /* sha256 of the seed given on the command line */
	const char *state_dir;  /* tmpfs directory visible to the build, e.g. /run/detbuild */
	int status_fd;          /* where the final JSON status goes, or -1 */
	volatile int status_sent; /* the final status is being written: the engine may close its end */
	char release[65];       /* uname -r the build sees */
	uint64_t tsc_cookie;    /* only PR_TSC_ENABLE calls with this argument pass the filter */
	bool pin_pids;          /* --pin-pids: we own the PID namespace (never the host's) */
	int build_cpu;          /* the one CPU the build runs on */
	uint64_t fsize;         /* RLIMIT_FSIZE of the build (0: unchanged) */
	bool trap_opens;        /* no entropy file system: opens are trapped for /dev/urandom */
	bool fs_view;           /* stat, getdents and file times go through the view (fs/) */
	uint64_t start_real_ns; /* the real wall clock when the supervisor started */
	bool plain;             /* --plain: only the sandbox's init (no engine) */
	uint64_t max_procs;     /* processes and threads of the build at once (0: no limit) */
	uint64_t max_memory;    /* bytes of memory the build may hold (0: no limit) */
	bool no_notify;         /* --no-notify: the stat family stops through ptrace (fs/fsnotify.c) */
	bool profile;           /* --profile: the supervisor's CPU time per kind of stop (stops.c) */
	bool no_stat_answers;   /* --no-stat-answers: the stat shim finds no table and asks every time (fs/fspub.c) */
};
extern struct config cfg;

/* counters reported in the final status */
struct counters {
	uint64_t execs, forks, threads, time_traps, random_traps, random_bytes, opens_redirected;
	uint64_t waits_timed, waits_timedout, reaps, rdtsc, cpuid, vdso_fallbacks, identity_traps, opens;
	uint64_t settles;
	uint64_t loader_tsc_patched; /* the loader's rdtsc instructions replaced (ldtsc.c) */
};
extern struct counters stats;

#endif
