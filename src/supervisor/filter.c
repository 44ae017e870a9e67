/* The seccomp filter every build process runs under: only the system calls
 * the engine must answer stop in the supervisor; those that would bypass it
 * are refused so programs fall back to paths it sees. */
#include "supervisor.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>

/* The kernel reads these arguments as an int: a 64-bit comparison would let
 * garbage above bit 31 slip past a rule (prctl(PR_SET_TSC | 1 << 32, ...)). */
#define INT_EQ(arg, value) SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)(uint32_t)(value))

#define RULE(action, name, ...)                                                                     \
	do {                                                                                        \
		int rc_ = seccomp_rule_add(ctx, action, SCMP_SYS(name), __VA_ARGS__);               \
		if (rc_ < 0)                                                                        \
			die("seccomp rule for %s: %s", #name, strerror(-rc_));                      \
	} while (0)

#define T SCMP_ACT_TRACE(0)

/* what the engine answers: time, entropy, host identity */
static void answered(scmp_filter_ctx ctx, bool trap_opens)
{
	/* time, when read by a system call rather than the vDSO */
	RULE(T, clock_gettime, 0);
	RULE(T, gettimeofday, 0);
	RULE(T, time, 0);
	RULE(T, times, 0);
	RULE(T, getrusage, 0); /* CPU accounting (rusage.c) */
	RULE(T, adjtimex, 0);
	RULE(T, clock_adjtime, 0);
	/* entropy */
	RULE(T, getrandom, 0);
	if (trap_opens) {
		/* only when the entropy file system could not be mounted */
		RULE(T, open, 0);
		RULE(T, openat, 0);
		RULE(T, openat2, 0);
	}
	/* host identity and CPU count */
	RULE(T, uname, 0);
	RULE(T, sysinfo, 0);
	/* on CPU 0 the real answers are already those of a one-CPU machine;
	 * elsewhere they would say which CPU (the JVM asks thousands of times) */
	if (cfg.build_cpu != 0) {
		RULE(T, sched_getaffinity, 0);
		RULE(T, getcpu, 0);
	}
	RULE(T, sched_setaffinity, 0);
}

static void fs_view(scmp_filter_ctx ctx, bool trap_opens)
{
	/* the filesystem view (fs/): metadata, listings, and the changes
	 * that give files their logical times */
	if (cfg.fs_view) {
		static const int fs_calls[] = {
			SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
			SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(creat), SCMP_SYS(openat2),
			SCMP_SYS(truncate), SCMP_SYS(ftruncate), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
			SCMP_SYS(mknod), SCMP_SYS(mknodat), SCMP_SYS(symlink), SCMP_SYS(symlinkat),
			SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rmdir),
			SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(utime),
			SCMP_SYS(utimes), SCMP_SYS(futimesat), SCMP_SYS(utimensat),
			SCMP_SYS(chdir), SCMP_SYS(fchdir), /* the view keeps working directories (fsproc.c) */
		};
		for (size_t i = 0; i < sizeof fs_calls / sizeof fs_calls[0]; i++) {
			if (trap_opens && fs_calls[i] == SCMP_SYS(openat2))
				continue;
			/* the stat family as user notifications where there are (fsnotify.c) */
			int rc_ = seccomp_rule_add(ctx, fsnotify_action(fs_calls[i], T), fs_calls[i], 0);
			if (rc_ < 0)
				die("seccomp rule for syscall %d: %s", fs_calls[i], strerror(-rc_));
		}
		/* opens that may write (reading opens run untouched) */
		static const unsigned long wflags[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC };
		for (size_t i = 0; !trap_opens && i < sizeof wflags / sizeof wflags[0]; i++) {
			RULE(T, open, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, wflags[i], wflags[i]));
			RULE(T, openat, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, wflags[i], wflags[i]));
		}
	}
	/* another root or mount namespace: the kernel resolves that process's paths */
	RULE(T, chroot, 0);
	RULE(T, pivot_root, 0);
	RULE(T, unshare, 0);
	RULE(T, setns, 0);
}

static void waits(scmp_filter_ctx ctx)
{
	/* waits with a timeout: the clock advances when they expire */
	RULE(T, nanosleep, 0);
	RULE(T, clock_nanosleep, 0);
	static const int futex_timed[] = { FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_WAIT_REQUEUE_PI, 13 };
	for (size_t i = 0; i < sizeof futex_timed / sizeof futex_timed[0]; i++)
		RULE(T, futex, 2, SCMP_A1(SCMP_CMP_MASKED_EQ, (uint32_t)FUTEX_CMD_MASK, (scmp_datum_t)futex_timed[i]),
		     SCMP_A3(SCMP_CMP_NE, 0));
	/* polls and selects without a timeout too: an answer on several
	 * descriptors is settled at a quiescent moment (settle.c) */
	RULE(T, poll, 0);
	RULE(T, epoll_wait, 1, SCMP_A3(SCMP_CMP_MASKED_EQ, 0x80000000, 0));
	RULE(T, epoll_pwait, 1, SCMP_A3(SCMP_CMP_MASKED_EQ, 0x80000000, 0));
	RULE(T, epoll_pwait2, 1, SCMP_A3(SCMP_CMP_NE, 0));
	RULE(T, ppoll, 0);
	RULE(T, select, 0);
	RULE(T, pselect6, 0);
	RULE(T, rt_sigtimedwait, 1, SCMP_A2(SCMP_CMP_NE, 0));
}

static void creation(scmp_filter_ctx ctx)
{
	/* process and thread creation: deterministic PIDs.  A child made with
	 * CLONE_UNTRACED would run beyond the tracer (the kernel's vDSO, real
	 * AT_RANDOM at its next exec): refused.  clone3 passes its flags in
	 * memory, where no filter can read them and the build could change them
	 * after any check of ours: it answers ENOSYS, so the C library falls back
	 * to clone (glibc and Rust do; Go uses clone). */
	RULE(T, fork, 0);
	RULE(T, vfork, 0);
	RULE(T, clone, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_UNTRACED, 0));
	RULE(SCMP_ACT_ERRNO(EPERM), clone, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_UNTRACED, CLONE_UNTRACED));
	RULE(SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
	/* ASLR stays off: personality() keeps ADDR_NO_RANDOMIZE (guards.c) */
	RULE(T, personality, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, ADDR_NO_RANDOMIZE, 0));
	/* a parent that reaps a child catches up with the child's clock */
	RULE(T, wait4, 0);
	RULE(T, waitid, 0);
}

static void refusals(scmp_filter_ctx ctx)
{
	/* facilities that would bypass the engine */
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_setup, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_enter, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_register, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), perf_event_open, 0);
	RULE(SCMP_ACT_ERRNO(EPERM), ptrace, 0);
	/* the build may not read the TSC directly: only the exec stub, which
	 * knows the cookie, may lift the faulting for the dynamic loader */
	RULE(SCMP_ACT_ERRNO(EPERM), prctl, 3, INT_EQ(0, PR_SET_TSC), INT_EQ(1, PR_TSC_ENABLE),
	     SCMP_A2(SCMP_CMP_NE, cfg.tsc_cookie));
	/* a program that makes itself not dumpable (gpg-agent, ssh-agent: against core
	 * dumps) would shut the supervisor out of its memory: run as an unprivileged
	 * user, it could no longer read or write it at the next stop, and the program
	 * crashed. The call succeeds without effect; core dumps are off in the sandbox. */
	RULE(SCMP_ACT_ERRNO(0), prctl, 1, INT_EQ(0, PR_SET_DUMPABLE));
	RULE(T, arch_prctl, 1, INT_EQ(0, ARCH_SET_FS));
	RULE(SCMP_ACT_ERRNO(EPERM), arch_prctl, 2, INT_EQ(0, ARCH_SET_CPUID), SCMP_A1(SCMP_CMP_NE, 0));
	/* the kernel's vDSO and its time data are unmapped at every exec (execsetup.c): not again */
	RULE(SCMP_ACT_ERRNO(EPERM), arch_prctl, 1, INT_EQ(0, ARCH_MAP_VDSO_X32));
	RULE(SCMP_ACT_ERRNO(EPERM), arch_prctl, 1, INT_EQ(0, ARCH_MAP_VDSO_32));
	RULE(SCMP_ACT_ERRNO(EPERM), arch_prctl, 1, INT_EQ(0, ARCH_MAP_VDSO_64));
	/* A filter of the build's own may return SECCOMP_RET_USER_NOTIF, which
	 * takes precedence over our SECCOMP_RET_TRACE: its listener could then
	 * let clock_gettime or getrandom run for real (FLAG_CONTINUE).  Without a
	 * listener a user notification fails the call (ENOSYS), so refusing the
	 * flag that makes one is enough; EINVAL is what kernels before 5.0, which
	 * had no user notification, answer. */
	RULE(SCMP_ACT_ERRNO(EINVAL), seccomp, 1,
	     SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_NEW_LISTENER));
}

void filter_install(bool trap_opens)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		die("seccomp_init failed (Hint: the kernel needs CONFIG_SECCOMP_FILTER)");
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
	/* every system call of the build runs this filter: a binary search
	 * over the syscall numbers instead of a linear scan */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	answered(ctx, trap_opens);
	fs_view(ctx, trap_opens);
	waits(ctx);
	creation(ctx);
	refusals(ctx);

	/* with the stat shim's answers: loaded with the prefix of ipfilter.c */
	int rc;
	if (fspub_active()) {
		rc = ipfilter_load(ctx, fsnotify_wanted());
		if (rc > 0)
			fsnotify_child_send_fd(rc);
		rc = rc < 0 ? rc : 0;
	} else {
		rc = seccomp_load(ctx);
		if (rc == 0)
			fsnotify_child_send(ctx);
	}
	seccomp_release(ctx);
	if (rc < 0)
		die("cannot load the seccomp filter: %s", strerror(-rc));
}
