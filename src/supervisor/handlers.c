/* System calls the seccomp filter sends to the supervisor: answered from the
 * logical clock and the seeded streams, or let through with their timeouts
 * translated and the clock advanced when they expire. */
#include "supervisor.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <time.h>

struct kts { long sec, nsec; };

void syscall_skip(struct thread *t, struct user_regs_struct *r, long ret)
{
	r->orig_rax = (unsigned long long)-1;
	r->rax = (unsigned long long)ret;
	regs_set(t->tid, r);
	resume(t, 0);
}

#define skip syscall_skip

static long put(struct thread *t, unsigned long addr, const void *buf, size_t len)
{
	if (!addr)
		return -EFAULT;
	return mem_write(t->tid, addr, buf, len) < 0 ? -EFAULT : 0;
}

static struct kts to_ts(uint64_t ns)
{
	struct kts ts = { (long)(ns / NS_PER_S), (long)(ns % NS_PER_S) };
	return ts;
}

/* ---- time reads that did not go through the vDSO ---- */

static void do_clock_gettime(struct thread *t, struct user_regs_struct *r)
{
	int id = (int)r->rdi;
	int cls = dt_classify(id);
	stats.time_traps++;
	if (cls == DT_C_BAD)
		return skip(t, r, -EINVAL);
	uint64_t v = clock_tick(t->tid, cls);
	if (id == CLOCK_TAI)
		v += 37 * NS_PER_S;
	struct kts ts = to_ts(v);
	skip(t, r, put(t, r->rsi, &ts, sizeof ts));
}

static void do_gettimeofday(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	long ret = 0;
	if (r->rdi) {
		uint64_t v = clock_tick(t->tid, DT_C_RT);
		long tv[2] = { (long)(v / NS_PER_S), (long)((v % NS_PER_S) / 1000) };
		ret = put(t, r->rdi, tv, sizeof tv);
	}
	if (r->rsi && ret == 0) {
		int tz[2] = { 0, 0 };
		ret = put(t, r->rsi, tz, sizeof tz);
	}
	skip(t, r, ret);
}

static void do_time(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	long v = (long)(clock_tick(t->tid, DT_C_RT) / NS_PER_S);
	if (r->rdi && put(t, r->rdi, &v, sizeof v) < 0)
		return skip(t, r, -EFAULT);
	skip(t, r, v);
}

static void do_times(struct thread *t, struct user_regs_struct *r)
{
	stats.time_traps++;
	uint64_t cpu = clock_tick(t->tid, DT_C_CPU);
	uint64_t mono = clock_tick(t->tid, DT_C_MONO);
	if (r->rdi) {
		struct tms tms = { .tms_utime = (clock_t)(cpu / 10000000) };
		if (put(t, r->rdi, &tms, sizeof tms) < 0)
			return skip(t, r, -EFAULT);
	}
	skip(t, r, (long)(mono / 10000000));
}

/* ---- randomness ---- */

static void do_getrandom(struct thread *t, struct user_regs_struct *r)
{
	size_t len = (size_t)r->rsi;
	if (len > 33554431)
		len = 33554431;
	uint8_t key[32], buf[65536];
	stream_derive(key, t->lineage, "getrandom", 0);
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < sizeof buf ? len - done : sizeof buf;
		stream_fill(key, t->rand_pos, buf, n);
		if (mem_write(t->tid, r->rdi + done, buf, n) < 0)
			return skip(t, r, done ? (long)done : -EFAULT);
		t->rand_pos += n;
		done += n;
	}
	stats.random_traps++;
	stats.random_bytes += len;
	skip(t, r, (long)len);
}

/* ---- host identity ---- */

static void do_uname(struct thread *t, struct user_regs_struct *r)
{
	struct utsname u;
	memset(&u, 0, sizeof u);
	strcpy(u.sysname, "Linux");
	strcpy(u.nodename, "detbuild");
	snprintf(u.release, sizeof u.release, "%s", cfg.release);
	strcpy(u.version, "#1 SMP PREEMPT_DYNAMIC detbuild");
	strcpy(u.machine, "x86_64");
	strcpy(u.domainname, "(none)");
	stats.identity_traps++;
	skip(t, r, put(t, r->rdi, &u, sizeof u));
}

static void do_sysinfo(struct thread *t, struct user_regs_struct *r)
{
	struct sysinfo si;
	memset(&si, 0, sizeof si);
	si.uptime = (long)(clock_last(t->tid, DT_C_MONO) / NS_PER_S);
	si.totalram = 8ULL << 30;
	si.freeram = 4ULL << 30;
	si.procs = 1;
	si.mem_unit = 1;
	stats.identity_traps++;
	skip(t, r, put(t, r->rdi, &si, sizeof si));
}

static void do_sched_getaffinity(struct thread *t, struct user_regs_struct *r)
{
	size_t len = (size_t)r->rsi;
	if (len < sizeof(unsigned long) || len % sizeof(unsigned long))
		return skip(t, r, -EINVAL);
	unsigned long mask = 1;
	stats.identity_traps++;
	long ret = put(t, r->rdx, &mask, sizeof mask);
	skip(t, r, ret < 0 ? ret : (long)sizeof mask);
}

static void do_getcpu(struct thread *t, struct user_regs_struct *r)
{
	unsigned zero = 0;
	if (r->rdi)
		put(t, r->rdi, &zero, sizeof zero);
	if (r->rsi)
		put(t, r->rsi, &zero, sizeof zero);
	skip(t, r, 0);
}

/* ---- timed waits: in logical time (waits.c) ---- */

/* ---- reaping: a parent that collects a child learns the child's time ---- */

static void do_wait(struct thread *t, struct user_regs_struct *r)
{
	t->pending = PEND_REAP;
	t->pend_ptr = r->orig_rax == SYS_waitid ? r->rdx : 0;
	rusage_on_wait_entry(t, r);
	resume_to_exit(t);
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
	if (proc_threaded[child]) {
		clock_step(t->tid);
		/* never behind the files it wrote (fschange.c): they carry one time */
		clock_merge(t->tid, fs_change_time_of(child), 0);
		procident_on_reap(t, child, fs_change_time_of(child), 0);
		return;
	}
	struct dt_slot *s = slot_of(child);
	uint64_t rt = s->rt > proc_exit_rt[child] ? s->rt : proc_exit_rt[child];
	uint64_t mono = s->mono > proc_exit_mono[child] ? s->mono : proc_exit_mono[child];
	clock_merge(t->tid, rt, mono);
	procident_on_reap(t, child, rt, mono);
}

/* ---- opening entropy files ---- */

static void do_open(struct thread *t, struct user_regs_struct *r, int arg)
{
	char path[4096];
	unsigned long long *reg = regs_arg(r, arg);
	stats.opens++;
	if (mem_read_str(t->tid, *reg, path, sizeof path) < 0)
		return resume(t, 0);
	const char *fifo = urandom_redirect(t, path);
	if (!fifo)
		return resume(t, 0);
	size_t len = strlen(fifo) + 1;
	unsigned long at = scratch_addr(r, len);
	if (mem_write(t->tid, at, fifo, len) < 0)
		return resume(t, 0);
	t->pend_argreg = arg;
	t->pend_argval = *reg;
	*reg = at;
	regs_set(t->tid, r);
	t->pending = PEND_OPEN;
	stats.opens_redirected++;
	resume_to_exit(t);
}

/* An open that may write: its file takes the thread's logical time (fsview.c);
 * without the entropy file system every open comes here, for /dev/urandom. */
static void on_open(struct thread *t, struct user_regs_struct *r)
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
		return resume(t, 0);
	return do_open(t, r, nr == SYS_open ? 0 : 1);
}

void on_seccomp(struct thread *t)
{
	struct user_regs_struct r;
	if (regs_get(t->tid, &r) < 0)
		return;
	t->pend_nr = (long)r.orig_rax;
	switch ((long)r.orig_rax) {
	case SYS_clock_gettime: return do_clock_gettime(t, &r);
	case SYS_gettimeofday: return do_gettimeofday(t, &r);
	case SYS_time: return do_time(t, &r);
	case SYS_times: return do_times(t, &r);
	case SYS_getrusage: return rusage_on_getrusage(t, &r);
	case SYS_getrandom: return do_getrandom(t, &r);
	case SYS_uname: return do_uname(t, &r);
	case SYS_sysinfo: return do_sysinfo(t, &r);
	case SYS_sched_getaffinity: return do_sched_getaffinity(t, &r);
	case SYS_sched_setaffinity: return skip(t, &r, 0);
	case SYS_getcpu: return do_getcpu(t, &r);
	case SYS_adjtimex:
	case SYS_clock_adjtime: return skip(t, &r, -EPERM);
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
	case SYS_futex:
	case SYS_poll:
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_ppoll:
	case SYS_pselect6:
	case SYS_epoll_pwait2:
	case SYS_rt_sigtimedwait:
	case SYS_select: return waits_on_entry(t, &r);
	case SYS_wait4:
	case SYS_waitid: return do_wait(t, &r);
	case SYS_arch_prctl:
		if (t->cpuid_pending && (uint32_t)r.rdi == 0x1002 /* ARCH_SET_FS: the kernel reads an int */) {
			t->cpuid_pending = false;
			return arm_faulting_at_set_fs(t, &r);
		}
		return resume(t, 0);
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
		if (limits_refuse_clone(t, &r))
			return;
		return pids_on_clone_entry(t);
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat: return on_open(t, &r);
	case SYS_stat:
	case SYS_lstat:
	case SYS_fstat:
	case SYS_newfstatat:
	case SYS_statx: return cfg.fs_view ? fs_on_stat(t, &r) : resume(t, 0);
	case SYS_getdents:
	case SYS_getdents64: return cfg.fs_view ? fs_on_getdents(t, &r) : resume(t, 0);
	case SYS_truncate: case SYS_ftruncate:
	case SYS_mkdir: case SYS_mkdirat: case SYS_mknod: case SYS_mknodat:
	case SYS_symlink: case SYS_symlinkat: case SYS_link: case SYS_linkat:
	case SYS_unlink: case SYS_unlinkat: case SYS_rmdir:
	case SYS_rename: case SYS_renameat: case SYS_renameat2:
	case SYS_utime: case SYS_utimes: case SYS_futimesat: case SYS_utimensat:
	case SYS_chdir: case SYS_fchdir:
		return cfg.fs_view ? fs_on_change(t, &r) : resume(t, 0);
	case SYS_chroot: case SYS_pivot_root: case SYS_unshare: case SYS_setns:
		return fs_on_foreign(t, &r);
	case SYS_personality: return guard_personality(t, &r);
	default:
		return resume(t, 0);
	}
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
		rusage_on_wait_exit(t, ret);
		if (t->pend_nr == SYS_wait4 && ret > 0) {
			merge_child(t, (pid_t)ret);
		} else if (t->pend_nr == SYS_waitid && ret == 0 && t->pend_ptr) {
			int pid;
			if (mem_read(t->tid, t->pend_ptr + 16, &pid, sizeof pid) == 0)
				merge_child(t, pid);
		}
		break;
	case PEND_CLONE:
		pids_on_clone_exit(t->tid);
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
	if (changed)
		regs_set(t->tid, &r);
	t->pending = PEND_NONE;
	t->pend_argreg = t->pend_argreg2 = -1;
	resume(t, 0);
}
