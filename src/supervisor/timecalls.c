/* Time reads that did not go through the substitute vDSO (a static program,
 * a direct syscall, an old libc): answered from the thread's logical clock
 * (clocktable.c). */
#include "supervisor.h"
#include "verdict.h"

#include <errno.h>
#include <sys/times.h>
#include <time.h>

struct kts { long sec, nsec; };

static struct kts to_ts(uint64_t ns)
{
	struct kts ts = { (long)(ns / NS_PER_S), (long)(ns % NS_PER_S) };
	return ts;
}

struct verdict time_on_clock_gettime(struct thread *t, struct user_regs_struct *r)
{
	int id = (int)r->rdi;
	int cls = dt_classify(id);
	stats.time_traps++;
	if (cls == DT_C_BAD)
		return SKIP(-EINVAL);
	uint64_t v = clock_tick(t->tid, cls);
	if (id == CLOCK_TAI)
		v += 37 * NS_PER_S;
	struct kts ts = to_ts(v);
	return SKIP(tracee_put(t->tid, r->rsi, &ts, sizeof ts));
}

struct verdict time_on_gettimeofday(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	long ret = 0;
	if (r->rdi) {
		uint64_t v = clock_tick(t->tid, DT_C_RT);
		long tv[2] = { (long)(v / NS_PER_S), (long)((v % NS_PER_S) / 1000) };
		ret = tracee_put(t->tid, r->rdi, tv, sizeof tv);
	}
	if (r->rsi && ret == 0) {
		int tz[2] = { 0, 0 };
		ret = tracee_put(t->tid, r->rsi, tz, sizeof tz);
	}
	return SKIP(ret);
}

struct verdict time_on_time(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	long v = (long)(clock_tick(t->tid, DT_C_RT) / NS_PER_S);
	if (r->rdi && tracee_put(t->tid, r->rdi, &v, sizeof v) < 0)
		return SKIP(-EFAULT);
	return SKIP(v);
}

struct verdict time_on_times(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	uint64_t cpu = clock_tick(t->tid, DT_C_CPU);
	uint64_t mono = clock_tick(t->tid, DT_C_MONO);
	if (r->rdi) {
		struct tms tms = { .tms_utime = (clock_t)(cpu / 10000000) };
		if (tracee_put(t->tid, r->rdi, &tms, sizeof tms) < 0)
			return SKIP(-EFAULT);
	}
	return SKIP((long)(mono / 10000000));
}
