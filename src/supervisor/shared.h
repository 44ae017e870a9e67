/* Layout shared by the supervisor and the substitute vDSO it maps into every
 * build process.  One file, /run/detbuild/state inside the sandbox:
 *
 *   [0, DT_IMAGE_MAX)          the substitute vDSO image (ELF, linked at 0)
 *   [DT_TABLE_OFF, +4096)      struct dt_header (steps, slot count)
 *   [DT_TABLE_OFF+4096, ...)   struct dt_slot[nslots], indexed by kernel tid
 *
 * The image is mapped privately and executable at DT_VDSO_BASE; the table is
 * mapped shared and writable right after it, so the vDSO finds it at a fixed
 * offset from its own ELF header and the supervisor sees every write. */
#ifndef DETBUILD_SHARED_H
#define DETBUILD_SHARED_H

#include <stdint.h>

#define DT_VDSO_BASE 0x7e0000000000UL
#define DT_IMAGE_MAX 0x10000UL
#define DT_TABLE_OFF DT_IMAGE_MAX
#define DT_MAGIC 0x31636f6c63746564ULL /* "detclock1" */

struct dt_header {
	uint64_t magic;
	uint64_t rt_step;   /* ns added to a thread's wall clock per read */
	uint64_t mono_step; /* ns added to a thread's monotonic clock per read */
	uint64_t cpu_step;  /* ns added to a thread's CPU-time clock per read */
	uint64_t nslots;    /* number of dt_slot entries (pid_max) */
	/* non-zero when user code may read GS base (FSGSBASE): the supervisor
	 * then keeps every build thread's GS base at its tid + 1, and the vDSO
	 * finds its slot with one rdgsbase instead of a gettid system call */
	uint64_t gs_tid;
};

/* One logical clock per thread; written by the thread itself (through the
 * vDSO) or by the supervisor while that thread is stopped. */
struct dt_slot {
	uint64_t rt;   /* CLOCK_REALTIME, ns since the epoch */
	uint64_t mono; /* CLOCK_MONOTONIC/BOOTTIME, ns */
	uint64_t cpu;  /* CPU-time clocks, ns */
	uint64_t tsc;  /* time-stamp counter */
};

#define DT_SLOTS_OFF (DT_TABLE_OFF + 4096UL)

/* After the slots: uint32_t rt_index[nslots].  Non-zero for a thread of a Go
 * process: the slot whose wall clock the thread reads (the process leader's).
 * Goroutines migrate between threads, so a per-thread wall clock would make
 * time.Now() depend on which thread happened to run the goroutine.
 *
 * Then, 16-byte aligned: struct dt_span quiet[nslots] (runtime.c).  Non-empty
 * for a thread of a managed runtime (a JVM): the code of the runtime itself.
 * A monotonic read made from that code (the function that called the C
 * library's clock_gettime returns into it) returns the thread's clock without
 * advancing it: a JVM reads the clock for its own bookkeeping (class-loading
 * timers, the JIT's compilation policy) a number of times that depends on when
 * its compiler threads install code, and only the program's own reads
 * (System.nanoTime) may move the clock the program sees. */
struct dt_span {
	uint64_t lo, hi;
};

static inline uint64_t dt_quiet_off(uint64_t nslots)
{
	return DT_SLOTS_OFF - DT_TABLE_OFF + nslots * 32 + ((nslots * 4 + 15) & ~15ULL);
}

static inline uint64_t dt_table_len(uint64_t nslots)
{
	return dt_quiet_off(nslots) + nslots * sizeof(struct dt_span);
}

/* Which logical clock a clock id reads. */
enum { DT_C_RT, DT_C_MONO, DT_C_CPU, DT_C_BAD };

static inline int dt_classify(int id)
{
	if (id < 0)
		return DT_C_CPU; /* CPU clocks of other processes/threads */
	switch (id) {
	case 0:  /* REALTIME */
	case 5:  /* REALTIME_COARSE */
	case 8:  /* REALTIME_ALARM */
	case 11: /* TAI */
		return DT_C_RT;
	case 1:  /* MONOTONIC */
	case 4:  /* MONOTONIC_RAW */
	case 6:  /* MONOTONIC_COARSE */
	case 7:  /* BOOTTIME */
	case 9:  /* BOOTTIME_ALARM */
		return DT_C_MONO;
	case 2:  /* PROCESS_CPUTIME_ID */
	case 3:  /* THREAD_CPUTIME_ID */
		return DT_C_CPU;
	default:
		return DT_C_BAD;
	}
}

#endif
