/* What one answered stat costs on this machine, outside any sandbox, by the
 * way the supervisor learns of it: a ptrace stop (SECCOMP_RET_TRACE, as the
 * filesystem view does today) or a seccomp user notification
 * (SECCOMP_RET_USER_NOTIF), with or without synchronous wake-ups
 * (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6).  Tracer and tracee on
 * CPU 0; each answer does what the supervisor does for a stat: read the
 * path, statx it, write a struct stat back.
 *
 *   notif_floor N MODE      MODE: ptrace | notif | notif-sync
 *
 * Prints "STOP_NS=<wall ns per stat> CPU_NS=<CPU ns per stat, both processes>".
 * It times itself: it runs natively, never under the engine. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage a, b;
	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) / 1e6;
}

/* the supervisor's part of a stat: read the path, statx it, write the answer */
static long answer(pid_t pid, unsigned long pathp, unsigned long buf)
{
	char path[256];
	struct iovec l = { path, sizeof path }, r = { (void *)pathp, sizeof path };
	if (process_vm_readv(pid, &l, 1, &r, 1, 0) < 0)
		return -EFAULT;
	path[sizeof path - 1] = 0;
	struct statx x;
	if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &x) < 0)
		return -errno;
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_ino = 4242;
	st.st_size = (off_t)x.stx_size;
	st.st_mode = x.stx_mode;
	struct iovec l2 = { &st, sizeof st }, r2 = { (void *)buf, sizeof st };
	return process_vm_writev(pid, &l2, 1, &r2, 1, 0) < 0 ? -EFAULT : 0;
}

static void tracee_loop(long n, const char *file)
{
	struct stat st;
	for (long i = 0; i < n; i++)
		if (stat(file, &st) < 0 || st.st_ino != 4242)
			_exit(4);
	_exit(0);
}

static struct sock_fprog filter_for(unsigned action)
{
	static struct sock_filter f[4];
	struct sock_filter g[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_newfstatat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	memcpy(f, g, sizeof f);
	return (struct sock_fprog){ 4, f };
}

static int run_ptrace(long n, const char *file, pid_t *child)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		struct sock_fprog prog = filter_for(SECCOMP_RET_TRACE);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(3);
		tracee_loop(n, file);
	}
	*child = pid;
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	long stops = 0;
	for (;;) {
		if (waitpid(pid, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			break;
		int sig = 0;
		if ((st >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, pid, 0, &r);
			r.rax = (unsigned long long)answer(pid, r.rsi, r.rdx);
			r.orig_rax = (unsigned long long)-1;
			ptrace(PTRACE_SETREGS, pid, 0, &r);
			stops++;
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) != SIGTRAP) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, pid, 0, (void *)(long)sig);
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && stops == n ? 0 : -1;
}

static int run_notif(long n, const char *file, bool sync, pid_t *child)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_fprog prog = filter_for(SECCOMP_RET_USER_NOTIF);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		if (fd < 0)
			_exit(3);
		char c = 0;
		struct iovec iov = { &c, 1 };
		char ctl[CMSG_SPACE(sizeof(int))];
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS, cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
		if (sendmsg(sv[1], &m, 0) < 0)
			_exit(5);
		close(fd);
		if (read(sv[1], &c, 1) != 1) /* the supervisor is ready */
			_exit(6);
		tracee_loop(n, file);
	}
	*child = pid;
	char c;
	struct iovec iov = { &c, 1 };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	if (recvmsg(sv[0], &m, 0) < 0)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
	if (sync && ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		perror("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP");
	if (write(sv[0], "g", 1) != 1)
		return -1;
	long stops = 0;
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	for (;;) {
		memset(&req, 0, sizeof req);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR)
				continue;
			break; /* ENOENT: the tracee is gone */
		}
		long ret = answer(req.pid, req.data.args[1], req.data.args[2]);
		resp = (struct seccomp_notif_resp){ .id = req.id, .val = ret < 0 ? -1 : 0, .error = ret < 0 ? (int)ret : 0 };
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
			stops++;
		if (stops == n)
			break;
	}
	int st;
	waitpid(pid, &st, 0);
	close(fd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && stops == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: notif_floor N ptrace|notif|notif-sync\n");
		return 2;
	}
	long n = atol(argv[1]);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		perror("sched_setaffinity");
	pid_t child = 0;
	double c0 = cpu_s(), t0 = now();
	int rc;
	if (!strcmp(argv[2], "ptrace"))
		rc = run_ptrace(n, argv[0], &child);
	else
		rc = run_notif(n, argv[0], !strcmp(argv[2], "notif-sync"), &child);
	double dt = now() - t0;
	if (rc < 0) {
		fprintf(stderr, "notif_floor: %s failed\n", argv[2]);
		return 1;
	}
	double dc = cpu_s() - c0;
	printf("STOP_NS=%.0f CPU_NS=%.0f\n", dt / (double)n * 1e9, dc / (double)n * 1e9);
	return 0;
}
