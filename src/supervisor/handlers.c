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

static int get_ts(struct thread *t, unsigned long addr, uint64_t *ns)
{
	struct kts ts;
	if (mem_read(t->tid, addr, &ts, sizeof ts) < 0 || ts.sec < 0 || ts.nsec < 0 || ts.nsec >= (long)NS_PER_S)
		return -1;
	*ns = (uint64_t)ts.sec * NS_PER_S + (uint64_t)ts.nsec;
	return 0;
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

/* ---- timed waits ----
 * A relative timeout keeps its real length; if the wait expires, the thread's
 * clocks advance by that length.  An absolute timeout on a logical clock is
 * turned into the same distance on the real clock, in a copy on the stack. */

static void wait_relative(struct thread *t, uint64_t ns, int timeout_ret)
{
	if (ns == 0)
		return resume(t, 0);
	t->pending = PEND_TIMED_WAIT;
	t->pend_ns = ns;
	t->pend_timeout_ret = timeout_ret;
	stats.waits_timed++;
	resume_to_exit(t);
}

/* rewrites argument `arg` (an absolute timespec on logical clock `cls`) */
static void wait_absolute(struct thread *t, struct user_regs_struct *r, int arg, int cls, clockid_t real_clock,
			  int timeout_ret)
{
	uint64_t abs;
	unsigned long long *reg = regs_arg(r, arg);
	if (get_ts(t, *reg, &abs) < 0)
		return resume(t, 0); /* let the kernel report the bad pointer */
	uint64_t now = clock_last(t->tid, cls);
	uint64_t d = abs > now ? abs - now : 0;
	struct timespec real;
	clock_gettime(real_clock, &real);
	uint64_t target = (uint64_t)real.tv_sec * NS_PER_S + (uint64_t)real.tv_nsec + d;
	struct kts ts = to_ts(target);
	unsigned long at = scratch_addr(r, sizeof ts);
	if (mem_write(t->tid, at, &ts, sizeof ts) < 0)
		return resume(t, 0);
	t->pend_argreg = arg;
	t->pend_argval = *reg;
	*reg = at;
	regs_set(t->tid, r);
	t->pending = PEND_TIMED_WAIT;
	t->pend_ns = d;
	t->pend_timeout_ret = timeout_ret;
	stats.waits_timed++;
	resume_to_exit(t);
}

/* A relative sleep nearly always runs its course: the clocks advance by its
 * length when it starts (no second stop at its end; an interrupted sleep still
 * counts whole, which keeps "a sleep of N lets the clock advance by N"). */
static void sleep_relative(struct thread *t, uint64_t ns)
{
	if (ns) {
		clock_advance(t->tid, ns);
		stats.waits_timed++;
		stats.waits_timedout++;
	}
	resume(t, 0);
}

static void do_nanosleep(struct thread *t, struct user_regs_struct *r)
{
	uint64_t ns;
	if (get_ts(t, r->rdi, &ns) < 0)
		return resume(t, 0);
	sleep_relative(t, ns);
}

static void do_clock_nanosleep(struct thread *t, struct user_regs_struct *r)
{
	int cls = dt_classify((int)r->rdi);
	if (cls == DT_C_BAD || cls == DT_C_CPU)
		return resume(t, 0);
	if (r->rsi & TIMER_ABSTIME) {
		/* make it a relative sleep on the real clock of the same kind */
		uint64_t abs;
		if (get_ts(t, r->rdx, &abs) < 0)
			return resume(t, 0);
		uint64_t now = clock_last(t->tid, cls);
		uint64_t d = abs > now ? abs - now : 0;
		struct kts ts = to_ts(d);
		unsigned long at = scratch_addr(r, sizeof ts);
		if (mem_write(t->tid, at, &ts, sizeof ts) < 0)
			return resume(t, 0);
		t->pend_argreg = 1;
		t->pend_argval = r->rsi;
		t->pend_argreg2 = 2;
		t->pend_argval2 = r->rdx;
		r->rsi = 0;
		r->rdx = at;
		regs_set(t->tid, r);
		t->pending = PEND_TIMED_WAIT;
		t->pend_ns = d;
		t->pend_timeout_ret = 0;
		stats.waits_timed++;
		return resume_to_exit(t);
	}
	uint64_t ns;
	if (get_ts(t, r->rdx, &ns) < 0)
		return resume(t, 0);
	sleep_relative(t, ns);
}

static void do_futex(struct thread *t, struct user_regs_struct *r)
{
	int op = (int)r->rsi;
	int cmd = op & FUTEX_CMD_MASK;
	bool realtime = (op & FUTEX_CLOCK_REALTIME) != 0;
	switch (cmd) {
	case FUTEX_WAIT: {
		uint64_t ns;
		if (get_ts(t, r->r10, &ns) < 0)
			return resume(t, 0);
		return wait_relative(t, ns, -ETIMEDOUT);
	}
	case FUTEX_WAIT_BITSET:
	case FUTEX_WAIT_REQUEUE_PI:
	case 13 /* FUTEX_LOCK_PI2 */:
		return wait_absolute(t, r, 3, realtime ? DT_C_RT : DT_C_MONO,
				     realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, -ETIMEDOUT);
	case FUTEX_LOCK_PI:
		return wait_absolute(t, r, 3, DT_C_RT, CLOCK_REALTIME, -ETIMEDOUT);
	default:
		return resume(t, 0);
	}
}

static void do_poll_ms(struct thread *t, long ms)
{
	if (ms <= 0)
		return resume(t, 0);
	wait_relative(t, (uint64_t)ms * 1000000ULL, 0);
}

static void do_ts_wait(struct thread *t, unsigned long tsp, int timeout_ret)
{
	uint64_t ns;
	if (!tsp || get_ts(t, tsp, &ns) < 0)
		return resume(t, 0);
	wait_relative(t, ns, timeout_ret);
}

static void do_select(struct thread *t, struct user_regs_struct *r)
{
	long tv[2];
	if (!r->r8 || mem_read(t->tid, r->r8, tv, sizeof tv) < 0 || tv[0] < 0 || tv[1] < 0)
		return resume(t, 0);
	wait_relative(t, (uint64_t)tv[0] * NS_PER_S + (uint64_t)tv[1] * 1000, 0);
}

/* ---- reaping: a parent that collects a child learns the child's time ---- */

static void do_wait(struct thread *t, struct user_regs_struct *r)
{
	t->pending = PEND_REAP;
	t->pend_ptr = r->orig_rax == SYS_waitid ? r->rdx : 0;
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
		return;
	}
	struct dt_slot *s = slot_of(child);
	uint64_t rt = s->rt > proc_exit_rt[child] ? s->rt : proc_exit_rt[child];
	uint64_t mono = s->mono > proc_exit_mono[child] ? s->mono : proc_exit_mono[child];
	clock_merge(t->tid, rt, mono);
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
	case SYS_getrandom: return do_getrandom(t, &r);
	case SYS_uname: return do_uname(t, &r);
	case SYS_sysinfo: return do_sysinfo(t, &r);
	case SYS_sched_getaffinity: return do_sched_getaffinity(t, &r);
	case SYS_sched_setaffinity: return skip(t, &r, 0);
	case SYS_getcpu: return do_getcpu(t, &r);
	case SYS_adjtimex:
	case SYS_clock_adjtime: return skip(t, &r, -EPERM);
	case SYS_nanosleep: return do_nanosleep(t, &r);
	case SYS_clock_nanosleep: return do_clock_nanosleep(t, &r);
	case SYS_futex: return do_futex(t, &r);
	case SYS_poll: return do_poll_ms(t, (int)r.rdx);
	case SYS_epoll_wait:
	case SYS_epoll_pwait: return do_poll_ms(t, (int)r.r10);
	case SYS_ppoll: return do_ts_wait(t, r.rdx, 0);
	case SYS_pselect6: return do_ts_wait(t, r.r8, 0);
	case SYS_epoll_pwait2: return do_ts_wait(t, r.r10, 0);
	case SYS_rt_sigtimedwait: return do_ts_wait(t, r.rdx, -EAGAIN);
	case SYS_select: return do_select(t, &r);
	case SYS_wait4:
	case SYS_waitid: return do_wait(t, &r);
	case SYS_arch_prctl:
		if (t->cpuid_pending && r.rdi == 0x1002 /* ARCH_SET_FS */) {
			t->cpuid_pending = false;
			return arm_faulting_at_set_fs(t, &r);
		}
		return resume(t, 0);
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3: return pids_on_clone_entry(t);
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
		if (ret == t->pend_timeout_ret) {
			clock_advance(t->tid, t->pend_ns);
			stats.waits_timedout++;
		}
		break;
	case PEND_REAP:
		if (t->pend_nr == SYS_wait4 && ret > 0) {
			merge_child(t, (pid_t)ret);
		} else if (t->pend_nr == SYS_waitid && ret == 0 && t->pend_ptr) {
			int pid;
			if (mem_read(t->tid, t->pend_ptr + 16, &pid, sizeof pid) == 0)
				merge_child(t, pid);
		}
		break;
	case PEND_CLONE:
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
	if (changed)
		regs_set(t->tid, &r);
	t->pending = PEND_NONE;
	t->pend_argreg = t->pend_argreg2 = -1;
	resume(t, 0);
}
