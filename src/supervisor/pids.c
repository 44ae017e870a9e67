/* Deterministic PIDs.  In the build's fresh PID namespace the kernel hands out
 * ids in creation order, threads included, so a Go or Java program that
 * starts a scheduling-dependent number of threads would shift the PID of
 * every later process.  Processes and threads therefore draw from separate
 * ranges: at each fork/clone the supervisor sets the namespace's
 * ns_last_pid just below the next id of the right range, one creation at a
 * time (other creators wait at their seccomp stop until it completes). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int last_pid_fd = -1;
static pid_t next_process, next_thread, process_lo, thread_lo, top;
static pid_t busy;               /* the thread whose clone is in flight, or 0 */
static pid_t *busy_next;         /* the range counter its id was drawn from */
static pid_t queue[4096];
static size_t qhead, qlen;

void pids_init(pid_t first)
{
	if (!cfg.pin_pids)
		return;
	last_pid_fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (last_pid_fd < 0) {
		debug("ns_last_pid not writable (%m): PIDs follow the kernel's order");
		return;
	}
	top = (pid_t)(nslots - 1);
	process_lo = first + 1;
	thread_lo = top / 2;
	if (thread_lo <= process_lo + 100)
		thread_lo = process_lo + (top - process_lo) / 2;
	next_process = process_lo;
	next_thread = thread_lo;
}

bool pids_pinned(void)
{
	return last_pid_fd >= 0;
}

static bool is_thread_clone(const struct user_regs_struct *r, pid_t tid)
{
	long nr = (long)r->orig_rax;
	if (nr == SYS_clone)
		return (r->rdi & CLONE_THREAD) != 0;
	if (nr == SYS_clone3) {
		unsigned long long flags;
		if (mem_read(tid, r->rdi, &flags, sizeof flags) < 0)
			return false;
		return (flags & CLONE_THREAD) != 0;
	}
	return false;
}

static void start(struct thread *t)
{
	struct user_regs_struct r;
	if (regs_get(t->tid, &r) < 0)
		return;
	bool thread = is_thread_clone(&r, t->tid);
	pid_t *next = thread ? &next_thread : &next_process;
	pid_t lo = thread ? thread_lo : process_lo, hi = thread ? top : thread_lo - 1;
	if (*next > hi)
		*next = lo;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d", *next - 1);
	if (pwrite(last_pid_fd, buf, (size_t)n, 0) < 0)
		debug("cannot write ns_last_pid \"%s\": %m", buf);
	debug("pid: %d creates a %s, pinned to %d", t->tid, thread ? "thread" : "process", *next);
	(*next)++;
	busy = t->tid;
	busy_next = next;
	t->pending = PEND_CLONE;
	resume_to_exit(t);
}

void pids_on_clone_entry(struct thread *t)
{
	if (last_pid_fd < 0)
		return resume(t, 0);
	if (busy) {
		if (qlen == sizeof queue / sizeof queue[0])
			return resume(t, 0); /* give up ordering rather than deadlock */
		queue[(qhead + qlen++) % (sizeof queue / sizeof queue[0])] = t->tid;
		return; /* stays stopped until the creation in flight completes */
	}
	start(t);
}

bool pids_is_busy(pid_t tid)
{
	return busy == tid;
}

/* The exit stop of a clone that made nothing (no fork event came first): a
 * fork the kernel restarts because a signal arrived meanwhile (a child's
 * SIGCHLD, at a time that depends on scheduling) stops again at its entry;
 * it gets the id it was given, not the next one. */
void pids_on_clone_exit(pid_t tid)
{
	if (busy == tid && busy_next)
		(*busy_next)--;
	pids_on_clone_done(tid);
}

void pids_on_clone_done(pid_t tid)
{
	if (busy != tid)
		return;
	busy = 0;
	while (qlen > 0 && !busy) {
		pid_t next = queue[qhead];
		qhead = (qhead + 1) % (sizeof queue / sizeof queue[0]);
		qlen--;
		struct thread *w = thread_get(next);
		if (w)
			start(w);
	}
}
