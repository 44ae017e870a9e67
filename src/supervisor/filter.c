/* The seccomp filter every build process runs under: only the system calls
 * the engine must answer stop in the supervisor; those that would bypass it
 * are refused so programs fall back to paths it sees. */
#include "supervisor.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>

#define RULE(action, name, ...)                                                                     \
	do {                                                                                        \
		int rc_ = seccomp_rule_add(ctx, action, SCMP_SYS(name), __VA_ARGS__);               \
		if (rc_ < 0)                                                                        \
			die("seccomp rule for %s: %s", #name, strerror(-rc_));                      \
	} while (0)

void filter_install(bool trap_opens)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		die("seccomp_init failed (Hint: the kernel needs CONFIG_SECCOMP_FILTER)");
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
	/* every system call of the build runs this filter: a binary search
	 * over the syscall numbers instead of a linear scan */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	const uint32_t T = SCMP_ACT_TRACE(0);

	/* time, when read by a system call rather than the vDSO */
	RULE(T, clock_gettime, 0);
	RULE(T, gettimeofday, 0);
	RULE(T, time, 0);
	RULE(T, times, 0);
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
	/* the filesystem view (fsview.c): metadata, listings, and the changes
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
	/* waits with a timeout: the clock advances when they expire */
	RULE(T, nanosleep, 0);
	RULE(T, clock_nanosleep, 0);
	static const int futex_timed[] = { FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_WAIT_REQUEUE_PI, 13 };
	for (size_t i = 0; i < sizeof futex_timed / sizeof futex_timed[0]; i++)
		RULE(T, futex, 2, SCMP_A1(SCMP_CMP_MASKED_EQ, FUTEX_CMD_MASK, (scmp_datum_t)futex_timed[i]),
		     SCMP_A3(SCMP_CMP_NE, 0));
	RULE(T, poll, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, 0x80000000, 0));
	RULE(T, epoll_wait, 1, SCMP_A3(SCMP_CMP_MASKED_EQ, 0x80000000, 0));
	RULE(T, epoll_pwait, 1, SCMP_A3(SCMP_CMP_MASKED_EQ, 0x80000000, 0));
	RULE(T, epoll_pwait2, 1, SCMP_A3(SCMP_CMP_NE, 0));
	RULE(T, ppoll, 1, SCMP_A2(SCMP_CMP_NE, 0));
	RULE(T, select, 1, SCMP_A4(SCMP_CMP_NE, 0));
	RULE(T, pselect6, 1, SCMP_A4(SCMP_CMP_NE, 0));
	RULE(T, rt_sigtimedwait, 1, SCMP_A2(SCMP_CMP_NE, 0));
	/* process and thread creation: deterministic PIDs */
	RULE(T, fork, 0);
	RULE(T, vfork, 0);
	RULE(T, clone, 0);
	RULE(T, clone3, 0);
	/* a parent that reaps a child catches up with the child's clock */
	RULE(T, wait4, 0);
	RULE(T, waitid, 0);

	/* facilities that would bypass the engine */
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_setup, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_enter, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), io_uring_register, 0);
	RULE(SCMP_ACT_ERRNO(ENOSYS), perf_event_open, 0);
	RULE(SCMP_ACT_ERRNO(EPERM), ptrace, 0);
	/* the build may not read the TSC directly: only the exec stub, which
	 * knows the cookie, may lift the faulting for the dynamic loader */
	RULE(SCMP_ACT_ERRNO(EPERM), prctl, 3, SCMP_A0(SCMP_CMP_EQ, PR_SET_TSC), SCMP_A1(SCMP_CMP_EQ, PR_TSC_ENABLE),
	     SCMP_A2(SCMP_CMP_NE, cfg.tsc_cookie));
	RULE(T, arch_prctl, 1, SCMP_A0(SCMP_CMP_EQ, ARCH_SET_FS));
	RULE(SCMP_ACT_ERRNO(EPERM), arch_prctl, 2, SCMP_A0(SCMP_CMP_EQ, ARCH_SET_CPUID), SCMP_A1(SCMP_CMP_NE, 0));

	int rc = seccomp_load(ctx);
	if (rc == 0)
		fsnotify_child_send(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		die("cannot load the seccomp filter: %s", strerror(-rc));
}
