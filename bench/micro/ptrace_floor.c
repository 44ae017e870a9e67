/* The floor under one supervisor stop on this machine, outside any sandbox:
 * a minimal ptrace tracer that answers a SECCOMP_RET_TRACE'd clock_gettime
 * the way detbuild-supervisor does (GETREGS, process_vm_writev, SETREGS,
 * CONT), with tracer and tracee on the same CPU.
 *
 *   ptrace_floor N TRACEE_FLAGS TRACER_FLAGS
 *
 * FLAGS: 1 = arm TSC faulting (PR_SET_TSC), 2 = arm CPUID faulting
 * (ARCH_SET_CPUID 0), in the tracee and/or the tracer.  Prints
 * "STOP_NS=<ns per stop>".  It times itself: it runs natively, never under
 * the engine.
 *
 * Why: a context switch between a task with CPUID faulting armed and one
 * without rewrites MSR_MISC_FEATURES_ENABLES; in a VM each such write may
 * exit to the hypervisor, and every ptrace stop is two such switches. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	/* the system call, not the vDSO: a tracer with TSC faulting armed must not execute rdtsc */
	struct timespec t;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void arm(int flags)
{
	if ((flags & 1) && prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0)
		perror("PR_SET_TSC");
	if ((flags & 2) && syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) < 0)
		perror("ARCH_SET_CPUID");
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ptrace_floor N TRACEE_FLAGS TRACER_FLAGS\n");
		return 2;
	}
	long n = atol(argv[1]);
	int tracee_flags = atoi(argv[2]), tracer_flags = atoi(argv[3]);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		perror("sched_setaffinity");
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { 4, f };
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(3);
		arm(tracee_flags);
		struct timespec ts;
		for (long i = 0; i < n; i++)
			syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
		_exit(0);
	}
	arm(tracer_flags);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return 1;
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	double t0 = now();
	long stops = 0;
	for (;;) {
		if (waitpid(pid, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			break;
		int sig = 0;
		if ((st >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, pid, 0, &r);
			struct timespec v = { 1, 2 };
			struct iovec local = { &v, sizeof v }, remote = { (void *)r.rsi, sizeof v };
			process_vm_writev(pid, &local, 1, &remote, 1, 0);
			r.orig_rax = (unsigned long long)-1;
			r.rax = 0;
			ptrace(PTRACE_SETREGS, pid, 0, &r);
			stops++;
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) != SIGTRAP) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, pid, 0, (void *)(long)sig);
	}
	double dt = now() - t0;
	if (stops != n) {
		fprintf(stderr, "ptrace_floor: %ld stops, expected %ld\n", stops, n);
		return 1;
	}
	printf("STOP_NS=%.0f\n", dt / (double)stops * 1e9);
	return 0;
}
