/* Threads and processes begin and end: a fork, vfork or clone event makes the
 * child's entry in the tables (proctable.c) with its clocks (clocktable.c),
 * identity (procident.c) and program (runtime.c); a thread that ends leaves
 * its clocks to its process, for the parent that reaps it (reap.c). */
#include "supervisor.h"
#include "sha256.h"
#include "stream.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

static unsigned long long clone_flags(pid_t parent)
{
	struct user_regs_struct r;
	if (regs_get(parent, &r) < 0)
		return 0;
	if ((long)r.orig_rax == SYS_clone)
		return r.rdi;
	if ((long)r.orig_rax != SYS_clone3)
		return 0; /* fork, vfork */
	struct clone_args ca;
	if (mem_read(parent, r.rdi, &ca, sizeof ca.flags) < 0)
		return 0;
	return ca.flags;
}

static bool creates_thread(pid_t parent)
{
	return (clone_flags(parent) & CLONE_THREAD) != 0;
}

/* a fork, vfork or clone event of `parent`: the verdict is the parent's */
struct verdict lifecycle_on_new_child(struct thread *parent, int event)
{
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, parent->tid, NULL, &msg);
	pid_t child = (pid_t)msg;
	debug("pid: %d created %d (event %d)", parent->tid, child, event);
	struct thread *c = thread_get(child);
	bool attached = c && c->attached;
	c = thread_new(child);
	c->attached = attached;
	bool thread = event == PTRACE_EVENT_CLONE && creates_thread(parent->tid);
	c->tgid = thread ? parent->tgid : child;
	if (thread) /* a process's identity is its process's (procident.c) */
		stream_derive(c->lineage, parent->lineage, "thread", parent->nchildren++);
	struct dt_slot *ps = slot_of(parent->tid), *cs = slot_of(child);
	cs->rt = ps->rt;
	cs->mono = ps->mono;
	cs->tsc = ps->tsc;
	cs->cpu = 0;
	if (!thread) {
		process_new(child, parent->tgid, (clone_flags(parent->tid) & (CLONE_NEWNS | CLONE_NEWUSER)) != 0);
		fs_proc_new(child);
		clock_share_rt(child, 0);
		if (clock_rt_shared(parent->tid))
			cs->rt = clock_rt_now(parent->tid);
		procident_on_fork(parent, c); /* the process's identity and spawn clock, not the thread's */
		stats.forks++;
	} else {
		struct process *pp = process_of(parent->tgid);
		if (!pp->threaded)
			fs_on_threaded(parent);
		pp->threaded = true;
		procident_on_thread(parent);
		clock_share_rt(child, pp->go ? parent->tgid : 0);
		stats.threads++;
	}
	runtime_on_new(parent->tid, child, thread);
	c->ready = true;
	if (c->attached) {
		thread_tag(child);
		resume(c, 0);
	}
	if (pids_is_busy(parent->tid)) {
		/* the PID is taken: the next creator may go (a vfork parent waits
		 * for its child, which may itself fork); nothing is left for the
		 * call's exit, so the parent goes on without stopping there */
		pids_on_clone_done(parent->tid);
		parent->pending = PEND_NONE;
		return CONTINUE;
	}
	return CONTINUE;
}

void lifecycle_on_thread_gone(pid_t tid)
{
	struct thread *t = thread_get(tid);
	if (t) {
		struct dt_slot *s = slot_of(tid);
		process_thread_exited(t->tgid, s->rt, s->mono);
	}
	thread_free(tid);
}

/* Kills every process we trace (never kill(-1): outside a PID namespace
 * that would reach the whole machine).  The processes are those /proc lists
 * that we trace: scanning the thread table instead would touch every page of
 * it (pid_max is 4194304 in a new PID namespace: ~40 ms of page faults). */
void lifecycle_kill_tracees(void)
{
	DIR *d = opendir("/proc");
	if (!d) {
		for (uint64_t tid = 1; tid < nslots; tid++)
			if (thread_get((pid_t)tid))
				kill((pid_t)tid, SIGKILL);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || (uint64_t)pid >= nslots)
			continue;
		if (thread_get((pid_t)pid))
			kill((pid_t)pid, SIGKILL);
	}
	closedir(d);
}

/* the build's first process, stopped before its exec: its identity and clocks */
void lifecycle_first(pid_t pid)
{
	struct thread *first = thread_new(pid);
	first->attached = first->ready = true;
	sha256_3(first->lineage, cfg.seed, 32, "root", 4, NULL, 0);
	struct dt_slot *s0 = slot_of(pid);
	s0->rt = cfg.epoch_ns;
	s0->mono = cfg.mono_start;
	s0->cpu = 0;
	s0->tsc = 1ULL << 32;
	resume(first, 0);
}
