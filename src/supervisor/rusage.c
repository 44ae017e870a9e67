/* CPU accounting as the build reads it: getrusage() and the rusage that
 * wait4() and waitid() fill in.  The kernel's numbers are the host's: CPU
 * time used, page faults, context switches and the maximum resident size,
 * which change with load, the CPU and the page cache.  libgcrypt mixes
 * getrusage() into its entropy pool, so a key made by gpg differed on every
 * run although time and getrandom were deterministic.
 *
 * What the build reads instead, the same on every run:
 *   RUSAGE_SELF, RUSAGE_THREAD   user time = the calling thread's CPU-time
 *                                clock (one read of it, as clock() and
 *                                times() do), everything else fixed
 *   RUSAGE_CHILDREN, and what    zero (as times()'s tms_cutime): a child's
 *   the wait calls report        real usage is the host's, and its logical
 *                                CPU clock is its own */
#include "supervisor.h"
#include "verdict.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* what a small program's maximum resident size looks like, in KiB */
#define FIXED_MAXRSS_KB 4096

static void self_usage(struct thread *t, struct rusage *ru)
{
	memset(ru, 0, sizeof *ru);
	uint64_t cpu = clock_tick(t->tid, DT_C_CPU);
	ru->ru_utime.tv_sec = (time_t)(cpu / NS_PER_S);
	ru->ru_utime.tv_usec = (suseconds_t)((cpu % NS_PER_S) / 1000);
	ru->ru_maxrss = FIXED_MAXRSS_KB;
}

struct verdict rusage_on_getrusage(struct thread *t, struct user_regs_struct *r)
{
	struct rusage ru;
	int who = (int)r->rdi;
	stats.time_traps++;
	if (who == RUSAGE_SELF || who == RUSAGE_THREAD)
		self_usage(t, &ru);
	else if (who == RUSAGE_CHILDREN)
		memset(&ru, 0, sizeof ru);
	else
		return SKIP(-EINVAL);
	long ret = r->rsi && mem_write(t->tid, r->rsi, &ru, sizeof ru) == 0 ? 0 : -EFAULT;
	return SKIP(ret);
}

void rusage_on_wait_entry(struct thread *t, const struct user_regs_struct *r)
{
	long nr = (long)r->orig_rax;
	t->pend_rusage = nr == SYS_wait4 ? r->r10 : nr == SYS_waitid ? r->r8 : 0;
}

void rusage_on_wait_exit(struct thread *t, long ret)
{
	unsigned long long at = t->pend_rusage;
	t->pend_rusage = 0;
	if (!at || (t->pend_nr == SYS_wait4 ? ret <= 0 : ret != 0))
		return; /* nothing was written */
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	mem_write(t->tid, at, &ru, sizeof ru);
}
