/* Readiness that depends on scheduling: answered at a quiescent moment.
 *
 * A wait on several sources (poll, ppoll, select, pselect6 on two or more
 * file descriptors) returns as soon as one of them is ready, with the ones
 * that happen to be ready at that instant.  Which ones those are depends on
 * how the processes that feed them were scheduled: an OUnit runner that
 * polls the pipes of its two worker processes finds one ready in one run and
 * both in another, goes round its loop a different number of times, and reads
 * the clock a different number of times (ocaml-re's .buildinfo Build-Date was
 * a second apart between two builds).  A wait that does not wait at all is
 * the same race: a poll with a zero timeout on a pipe a child is about to
 * write to, or a wait4 with WNOHANG on a child about to exit, answers
 * "nothing yet" or not depending on the machine's load.
 *
 * Such an answer is deterministic at a quiescent moment: when every thread of
 * the build is asleep, what each source holds follows from what the build
 * did, not from when it ran.  So at the exit of such a call, when its answer
 * is partial (some but not all sources ready, or nothing ready where the call
 * did not wait), the call is turned back into a barrier: the thread waits
 * (ppoll(NULL, 0, NULL, NULL) parked as a timed wait of length 0, waits.c)
 * until the build is quiescent, then runs the original call again, and that
 * second answer stands.  An answer with every source ready is complete and
 * stands at once; so does a timed wait that timed out (it did so at a
 * quiescent moment).  No logical time passes at the barrier.
 *
 * Mechanics.  At the call's exit stop its registers are kept, the
 * instruction pointer goes back over the `syscall` instruction and the call
 * becomes ppoll(NULL, 0, &zero, NULL), which the filter traps; at that entry
 * the barrier parks.  When the helper of waits.c times it out, the kept
 * registers come back with the pointer again before `syscall` and the
 * original number in rax: the call runs again.  A select's fd sets, which
 * the kernel rewrote with the partial answer, are put back first.  A real
 * signal that interrupts the barrier gets the original call back with the
 * code that call would have returned (ERESTARTSYS for the waits for
 * children, ERESTARTNOHAND for the polls): the kernel restarts it or
 * returns EINTR as it would have.
 *
 * Not covered: epoll_wait's ready list (the number of registered descriptors
 * is not in the call, so a partial answer cannot be told from a whole one),
 * and a read or accept on a non-blocking descriptor that answers EAGAIN. */
#include "supervisor.h"
#include "verdict.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETTLE_MAX_POLLFDS 4096

enum settle_state {
	SETTLE_NONE,
	SETTLE_WATCH,   /* the call's answer is checked at its exit stop */
	SETTLE_BARRIER, /* the thread runs the barrier next */
	SETTLE_PASSED,  /* the thread runs the original call again: its answer stands */
};

static bool zero_ts(pid_t tid, unsigned long addr, size_t len)
{
	long v[2];
	return addr && mem_read(tid, addr, v, len) == 0 && v[0] == 0 && v[1] == 0;
}

/* poll and ppoll: the descriptors watched (fd >= 0), -1 when unknown */
static int poll_sources(pid_t tid, unsigned long fds, unsigned long n)
{
	if (n > SETTLE_MAX_POLLFDS || (n && !fds))
		return -1;
	struct pollfd buf[64];
	int count = 0;
	for (unsigned long off = 0; off < n; off += 64) {
		unsigned long k = n - off < 64 ? n - off : 64;
		if (mem_read(tid, fds + off * sizeof *buf, buf, k * sizeof *buf) < 0)
			return -1;
		for (unsigned long i = 0; i < k; i++)
			count += buf[i].fd >= 0;
	}
	return count;
}

/* select and pselect6: keeps the three sets, returns the bits set, -1 when unknown */
static int select_sources(struct thread *t, const struct user_regs_struct *r)
{
	long n = (long)r->rdi;
	if (n < 0 || n > SETTLE_MAX_FDS)
		return -1;
	size_t bytes = (size_t)((n + 63) / 64) * 8;
	unsigned long at[3] = { r->rsi, r->rdx, r->r10 };
	int count = 0;
	for (int i = 0; i < 3; i++) {
		uint64_t *set = t->settle_sets[i];
		memset(set, 0, sizeof t->settle_sets[i]);
		if (at[i] && bytes && mem_read(t->tid, at[i], set, bytes) < 0)
			return -1;
		/* bits past n are not watched */
		if (n % 64 && bytes)
			set[bytes / 8 - 1] &= (1ULL << (n % 64)) - 1;
		for (size_t w = 0; w < bytes / 8; w++)
			count += __builtin_popcountll(set[w]);
	}
	t->settle_set_bytes = bytes;
	return count;
}

static void put_sets_back(struct thread *t, const struct user_regs_struct *call)
{
	if (call->orig_rax != SYS_select && call->orig_rax != SYS_pselect6)
		return;
	unsigned long at[3] = { call->rsi, call->rdx, call->r10 };
	for (int i = 0; i < 3; i++)
		if (at[i] && t->settle_set_bytes)
			mem_write(t->tid, at[i], t->settle_sets[i], t->settle_set_bytes);
}

/* what to watch at the exit: the sources and whether the call does not wait */
static bool watch(struct thread *t, const struct user_regs_struct *r)
{
	int sources = -1;
	bool nowait = false;
	switch ((long)r->orig_rax) {
	case SYS_poll:
		sources = poll_sources(t->tid, r->rdi, r->rsi);
		nowait = (int)r->rdx == 0;
		break;
	case SYS_ppoll:
		sources = poll_sources(t->tid, r->rdi, r->rsi);
		nowait = zero_ts(t->tid, r->rdx, 2 * sizeof(long));
		break;
	case SYS_select:
		sources = select_sources(t, r);
		nowait = zero_ts(t->tid, r->r8, 2 * sizeof(long));
		break;
	case SYS_pselect6:
		sources = select_sources(t, r);
		nowait = zero_ts(t->tid, r->r8, 2 * sizeof(long));
		break;
	case SYS_wait4:
		sources = 1;
		nowait = (r->rdx & WNOHANG) != 0;
		break;
	case SYS_waitid:
		sources = 1;
		nowait = (r->r10 & WNOHANG) != 0 && r->rdx;
		break;
	default:
		return false;
	}
	if (sources <= 0 || (sources == 1 && !nowait))
		return false; /* one source, waited for: ready or timed out, never partial */
	t->settle = SETTLE_WATCH;
	t->settle_sources = sources;
	t->settle_nowait = nowait;
	return true;
}

/* ---- the barrier's early end: the supervisor's own copies of what the call waits for ---- */

static void watch_add(struct quiet_watch *w, int fd, short events)
{
	if (fd < 0)
		return;
	if (w->n == QUIET_WATCH_MAX) {
		close(fd);
		w->need = -1; /* too many: the barrier ends only at quiescence */
		return;
	}
	w->fd[w->n] = fd;
	w->events[w->n++] = events;
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* a copy of descriptor `fd` of process `pidfd` */
static int copy_fd(int pidfd, int fd)
{
	return pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

static void watch_children(struct quiet_watch *w, pid_t tgid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", tgid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[320], buf[1024];
		snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", tgid, e->d_name);
		int fd = open(cpath, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		for (char *s = buf, *end; *s; s = end) {
			long pid = strtol(s, &end, 10);
			if (end == s)
				break;
			watch_add(w, pidfd_of((pid_t)pid), POLLIN);
		}
	}
	closedir(d);
}

/* what ends the barrier of `call` early: every watched descriptor ready, or
 * (waits for children) one awaited child gone */
static void watch_of(const struct thread *t, const struct user_regs_struct *call, struct quiet_watch *w)
{
	memset(w, 0, sizeof *w);
	long nr = (long)call->orig_rax;
	if (nr == SYS_wait4 || nr == SYS_waitid) {
		w->need = 1;
		long idtype = nr == SYS_waitid ? (long)call->rdi : 0;
		long id = nr == SYS_waitid ? (long)call->rsi : (int)call->rdi;
		if (nr == SYS_wait4)
			idtype = id > 0 ? P_PID : id == -1 ? P_ALL : -1;
		if (idtype == P_PID)
			watch_add(w, pidfd_of((pid_t)id), POLLIN);
		else if (idtype == P_ALL)
			watch_children(w, t->tgid);
		else if (idtype == 3 /* P_PIDFD */) {
			int pidfd = pidfd_of(t->tgid);
			watch_add(w, copy_fd(pidfd, (int)id), POLLIN);
			if (pidfd >= 0)
				close(pidfd);
		}
	} else {
		int pidfd = pidfd_of(t->tgid);
		if (nr == SYS_poll || nr == SYS_ppoll) {
			struct pollfd p[QUIET_WATCH_MAX];
			unsigned long n = call->rsi;
			if (n <= QUIET_WATCH_MAX && mem_read(t->tid, call->rdi, p, n * sizeof *p) == 0) {
				for (unsigned long i = 0; i < n; i++)
					if (p[i].fd >= 0)
						watch_add(w, copy_fd(pidfd, p[i].fd), p[i].events ? p[i].events : POLLIN);
			} else {
				w->need = -1;
			}
		} else {
			static const short ev[3] = { POLLIN, POLLOUT, POLLPRI };
			for (int s = 0; s < 3; s++)
				for (size_t word = 0; word < t->settle_set_bytes / 8; word++)
					for (int b = 0; b < 64; b++)
						if (t->settle_sets[s][word] >> b & 1)
							watch_add(w, copy_fd(pidfd, (int)(word * 64 + (size_t)b)), ev[s]);
		}
		if (pidfd >= 0)
			close(pidfd);
		/* every descriptor must be watched, else only quiescence ends it */
		w->need = w->need < 0 || w->n < t->settle_sources ? -1 : w->n;
	}
	if (w->need < 0 || !w->n) {
		for (int k = 0; k < w->n; k++)
			close(w->fd[k]);
		w->n = 0;
		w->need = 0;
	}
}

static bool is_barrier(const struct thread *t, const struct user_regs_struct *r)
{
	return t->settle == SETTLE_BARRIER && (long)r->orig_rax == SYS_ppoll && !r->rdi && !r->rsi &&
	       r->rdx == t->settle_at && !r->r10;
}

struct verdict settle_on_entry(struct thread *t, struct user_regs_struct *r,
			       struct verdict (*call)(struct thread *, struct user_regs_struct *))
{
	if (is_barrier(t, r)) {
		struct quiet_watch w;
		watch_of(t, &t->settle_regs, &w);
		return waits_until_quiet(t, r, &w);
	}
	if (t->settle == SETTLE_BARRIER)
		return call(t, r); /* a signal handler's call before the barrier: the barrier stays next */
	bool passed = t->settle == SETTLE_PASSED && t->settle_regs.orig_rax == r->orig_rax;
	t->settle = SETTLE_NONE;
	if (passed)
		return call(t, r);
	bool watched = watch(t, r);
	struct verdict v = call(t, r);
	if (!watched || v.kind == V_SKIP) {
		if (watched)
			t->settle = SETTLE_NONE;
		return v;
	}
	return v.kind == V_CONTINUE ? TO_EXIT : v;
}

/* the code the original call returns when a signal interrupts it */
static long restart_code(long nr)
{
	return nr == SYS_wait4 || nr == SYS_waitid ? -512 /* ERESTARTSYS */ : -514 /* ERESTARTNOHAND */;
}

static bool partial(struct thread *t, const struct user_regs_struct *r)
{
	long ret = (long)r->rax;
	if (ret < 0)
		return false;
	switch ((long)r->orig_rax) {
	case SYS_wait4:
		return ret == 0;
	case SYS_waitid: {
		int pid = 0;
		/* WNOHANG with no child to report: si_pid is 0 */
		return ret == 0 && mem_read(t->tid, r->rdx + 16, &pid, sizeof pid) == 0 && pid == 0;
	}
	default:
		return ret == 0 ? t->settle_nowait : ret < t->settle_sources;
	}
}

bool settle_on_exit(struct thread *t, struct user_regs_struct *r)
{
	if (t->settle == SETTLE_WATCH) {
		t->settle = SETTLE_NONE;
		if (!partial(t, r))
			return false;
		/* the barrier next, then the call again */
		t->settle_regs = *r;
		unsigned long at = scratch_addr(r, 16);
		long zero[2] = { 0, 0 };
		if (mem_write(t->tid, at, zero, sizeof zero) < 0)
			return false;
		t->settle = SETTLE_BARRIER;
		t->settle_at = at;
		stats.settles++;
		r->rip -= 2; /* the `syscall` instruction */
		r->rax = SYS_ppoll;
		r->rdi = r->rsi = r->r10 = 0;
		r->rdx = at;
		r->r8 = 8;
		return true;
	}
	if (t->settle != SETTLE_BARRIER || (long)r->orig_rax != SYS_ppoll)
		return false;
	long ret = (long)r->rax;
	struct user_regs_struct call = t->settle_regs;
	put_sets_back(t, &call);
	*r = call;
	if (ret == 0) {
		/* timed out at a quiescent moment: the call again */
		r->rax = call.orig_rax;
		r->rip -= 2;
		t->settle = SETTLE_PASSED;
	} else {
		r->rax = (unsigned long long)restart_code((long)call.orig_rax);
		t->settle = SETTLE_NONE;
	}
	return true;
}
