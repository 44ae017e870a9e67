/* The dispatcher: maps a system-call stop to the feature module that answers
 * it, and acts on the module's verdict (verdict.h): let the call run, let it
 * run to its exit stop, answer it without running it, or hold the thread.
 * The seccomp filter (filter.c) sends only the calls listed here; the table
 * "which call is handled where" is in docs/SUPERVISOR.md. */
#include "supervisor.h"
#include "verdict.h"
#include "stops.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <linux/ptrace.h>
#include <sys/syscall.h>

/* acts on a module's answer for the thread stopped at a system call's entry */
static void apply(struct thread *t, struct user_regs_struct *r, struct verdict v)
{
	switch (v.kind) {
	case V_CONTINUE:
		resume(t, 0);
		break;
	case V_TO_EXIT:
		resume_to_exit(t);
		break;
	case V_SKIP:
		tracee_skip(t->tid, r, v.ret);
		resume(t, 0);
		break;
	case V_HOLD:
		break;
	}
}

/* An open that may write: its file takes the thread's logical time (the
 * view, fs/); without the entropy file system every open comes here, for
 * /dev/urandom (urandom.c). */
static struct verdict on_open(struct thread *t, struct user_regs_struct *r)
{
	long nr = (long)r->orig_rax;
	uint64_t flags = O_WRONLY | O_CREAT | O_TRUNC;
	if (nr == SYS_open)
		flags = r->rsi;
	else if (nr == SYS_openat)
		flags = r->rdx;
	else if (nr == SYS_openat2 && mem_read(t->tid, r->rdx, &flags, sizeof flags) < 0)
		flags = 0;
	if (cfg.fs_view && (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)))
		return fs_on_change(t, r);
	if (nr == SYS_creat || !cfg.trap_opens)
		return CONTINUE;
	return urandom_on_open(t, r, nr == SYS_open ? 0 : 1);
}

static struct verdict on_clone(struct thread *t)
{
	if (limits_refuse_clone())
		return SKIP(-EAGAIN);
	return pids_on_clone_entry(t);
}

static struct verdict on_arch_prctl(struct thread *t, struct user_regs_struct *r)
{
	if (t->cpuid_pending && (uint32_t)r->rdi == 0x1002 /* ARCH_SET_FS: the kernel reads an int */) {
		t->cpuid_pending = false;
		return arm_faulting_at_set_fs(t, r);
	}
	return CONTINUE;
}

static struct verdict route(struct thread *t, struct user_regs_struct *r)
{
	switch ((long)r->orig_rax) {
	case SYS_clock_gettime: return time_on_clock_gettime(t, r);
	case SYS_gettimeofday: return time_on_gettimeofday(t, r);
	case SYS_time: return time_on_time(t, r);
	case SYS_times: return time_on_times(t, r);
	case SYS_getrusage: return rusage_on_getrusage(t, r);
	case SYS_getrandom: return random_on_getrandom(t, r);
	case SYS_uname: return identity_on_uname(t, r);
	case SYS_sysinfo: return identity_on_sysinfo(t, r);
	case SYS_sched_getaffinity: return identity_on_sched_getaffinity(t, r);
	case SYS_sched_setaffinity: return SKIP(0);
	case SYS_getcpu: return identity_on_getcpu(t, r);
	case SYS_adjtimex:
	case SYS_clock_adjtime: return SKIP(-EPERM);
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
	case SYS_futex:
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
	case SYS_rt_sigtimedwait: return waits_on_entry(t, r);
	case SYS_poll:
	case SYS_ppoll:
	case SYS_pselect6:
	case SYS_select: return settle_on_entry(t, r, waits_on_entry);
	case SYS_wait4:
	case SYS_waitid: return settle_on_entry(t, r, reap_on_wait_entry);
	case SYS_arch_prctl: return on_arch_prctl(t, r);
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3: return on_clone(t);
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat: return on_open(t, r);
	case SYS_stat:
	case SYS_lstat:
	case SYS_fstat:
	case SYS_newfstatat:
	case SYS_statx: return cfg.fs_view ? fs_on_stat(t, r) : CONTINUE;
	case SYS_getdents:
	case SYS_getdents64: return cfg.fs_view ? fs_on_getdents(t, r) : CONTINUE;
	case SYS_truncate: case SYS_ftruncate:
	case SYS_mkdir: case SYS_mkdirat: case SYS_mknod: case SYS_mknodat:
	case SYS_symlink: case SYS_symlinkat: case SYS_link: case SYS_linkat:
	case SYS_unlink: case SYS_unlinkat: case SYS_rmdir:
	case SYS_rename: case SYS_renameat: case SYS_renameat2:
	case SYS_utime: case SYS_utimes: case SYS_futimesat: case SYS_utimensat:
	case SYS_chdir: case SYS_fchdir:
		return cfg.fs_view ? fs_on_change(t, r) : CONTINUE;
	case SYS_chroot: case SYS_pivot_root: case SYS_unshare: case SYS_setns:
		return fs_on_foreign(t, r);
	case SYS_personality: return guard_personality(t, r);
	default:
		return CONTINUE;
	}
}

void on_seccomp(struct thread *t)
{
	struct user_regs_struct r;
	if (regs_get(t->tid, &r) < 0)
		return;
	t->pend_nr = (long)r.orig_rax;
	apply(t, &r, route(t, &r));
}

void on_syscall_exit(struct thread *t)
{
	struct user_regs_struct r;
	if (regs_get(t->tid, &r) < 0)
		return;
	long ret = (long)r.rax;
	bool changed = false;
	if (t->pend_argreg >= 0) {
		*regs_arg(&r, t->pend_argreg) = t->pend_argval;
		changed = true;
	}
	if (t->pend_argreg2 >= 0) {
		*regs_arg(&r, t->pend_argreg2) = t->pend_argval2;
		changed = true;
	}
	switch (t->pending) {
	case PEND_TIMED_WAIT:
		waits_on_exit(t, &r);
		changed = true;
		break;
	case PEND_REAP:
		reap_on_wait_exit(t, ret);
		break;
	case PEND_CLONE:
		if (ret < 0)
			pids_on_clone_failed(t->tid);
		else
			pids_on_clone_done(t->tid);
		break;
	case PEND_FS:
		fs_on_exit(t, ret);
		break;
	case PEND_ARM:
		if (ret == 0)
			arm_cpuid_at_exit(t, &r);
		r.rax = 0; /* arch_prctl(ARCH_SET_FS) succeeded: FS was set by us */
		changed = true;
		break;
	default:
		break;
	}
	if (settle_on_exit(t, &r))
		changed = true;
	if (changed)
		regs_set(t->tid, &r);
	t->pending = PEND_NONE;
	t->pend_argreg = t->pend_argreg2 = -1;
	resume(t, 0);
}

/* a thread stopped (waitpid status st): an event, a system call's exit, a
 * fault the engine emulates, or a signal on its way to the thread */
void dispatch_stop(pid_t tid, int st)
{
	struct thread *t = thread_get(tid);
	int sig = WSTOPSIG(st), event = st >> 16;
	stops_begin();
	if (!t) {
		/* a new child reported before its parent's fork event */
		t = thread_new(tid);
		t->attached = true;
		return;
	}
	if (!t->attached) {
		/* the first stop of a child whose parent's event came first */
		t->attached = true;
		if (t->ready) {
			thread_tag(tid);
			resume(t, 0);
		}
		return;
	}
	if (sig == SIGTRAP && event) {
		switch (event) {
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			apply(t, NULL, lifecycle_on_new_child(t, event)); /* never a skip: no registers */
			break;
		case PTRACE_EVENT_EXEC:
			on_exec(t);
			resume(thread_get(tid) ? thread_get(tid) : t, 0);
			break;
		case PTRACE_EVENT_SECCOMP:
			on_seccomp(t);
			stops_seccomp(t->pend_nr);
			return;
		default:
			resume(t, 0);
		}
		stops_event(event);
	} else if (sig == (SIGTRAP | 0x80)) {
		long nr = t->pend_nr;
		on_syscall_exit(t);
		stops_exit(nr);
	} else if (sig == SIGSEGV && emulate_fault(t)) {
		resume(t, 0);
		stops_signal(sig);
	} else if (waits_absorb(tid, sig)) {
		resume(t, 0); /* the SIGSTOP that ended a timed wait (waits.c) */
	} else {
		stops_signal(sig);
		siginfo_t si;
		if (log_verbose && (sig == SIGSEGV || sig == SIGILL || sig == SIGBUS)) {
			struct user_regs_struct x;
			regs_get(tid, &x);
			unsigned char b[4] = { 0 };
			mem_read(tid, x.rip, b, 4);
			debug("pid %d: signal %d at %llx (%02x %02x %02x %02x), fs %llx", tid, sig, x.rip, b[0], b[1], b[2],
			      b[3], x.fs_base);
		}
		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
			resume(t, 0); /* group-stop: let it go on */
		else
			resume(t, sig);
	}
}
