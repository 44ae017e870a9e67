/* Reaping: a parent that collects a child (wait4, waitid) learns the child's
 * time.  At the entry stop the call is let run to its exit stop; there the
 * reaped child's clocks are merged into the parent's. */
#include "supervisor.h"
#include "verdict.h"

#include <sys/syscall.h>

struct verdict reap_on_wait_entry(struct thread *t, struct user_regs_struct *r)
{
	t->pending = PEND_REAP;
	t->pend_ptr = r->orig_rax == SYS_waitid ? r->rdx : 0;
	rusage_on_wait_entry(t, r);
	return TO_EXIT;
}

/* A parent that reaps a single-threaded child takes the later of the two
 * clocks, so time never goes backwards along make -> gcc -> make -> ld.  A
 * child that ran several threads (Go, the JVM) may have read its clocks a
 * number of times that depends on scheduling: letting that leak into the
 * parent would make every later sibling nondeterministic, so the parent only
 * advances by one step. */
static void merge_child(struct thread *t, pid_t child)
{
	if (child <= 0 || (uint64_t)child >= nslots)
		return;
	stats.reaps++;
	struct process *p = process_of(child);
	if (p->threaded) {
		clock_step(t->tid);
		/* never behind the files it wrote (fschange.c): they carry one time */
		clock_merge(t->tid, fs_change_time_of(child), 0);
		procident_on_reap(t, child, fs_change_time_of(child), 0);
		return;
	}
	struct dt_slot *s = slot_of(child);
	uint64_t rt = s->rt > p->exit_rt ? s->rt : p->exit_rt;
	uint64_t mono = s->mono > p->exit_mono ? s->mono : p->exit_mono;
	clock_merge(t->tid, rt, mono);
	procident_on_reap(t, child, rt, mono);
}

void reap_on_wait_exit(struct thread *t, long ret)
{
	rusage_on_wait_exit(t, ret);
	if (t->pend_nr == SYS_wait4 && ret > 0) {
		merge_child(t, (pid_t)ret);
	} else if (t->pend_nr == SYS_waitid && ret == 0 && t->pend_ptr) {
		int pid;
		if (mem_read(t->tid, t->pend_ptr + 16, &pid, sizeof pid) == 0)
			merge_child(t, pid);
	}
}
