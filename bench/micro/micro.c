/* Microbenchmark loops for bench/run.mjs.
 *
 *   micro OP N [OP N ...]
 *
 * For each (OP, N) pair it writes "B OP N" to stdout, runs OP N times, then
 * writes "E OP N".  It never times itself: under the determinism engine every
 * clock a build can read is logical, so bench/run.mjs timestamps the markers
 * as they arrive on the pipe, outside the sandbox, and takes
 * (T(2N) - T(N)) / N as the cost of one OP.  Markers go straight to write(2)
 * so no stdio buffering sits between a loop's end and its marker. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile unsigned long sink;

static void marker(char what, const char *op, long n)
{
	char line[128];
	int len = snprintf(line, sizeof line, "%c %s %ld\n", what, op, n);
	if (write(STDOUT_FILENO, line, (size_t)len) != len)
		_exit(3);
}

static int run(const char *op, long n, const char *file)
{
	struct timespec ts;
	unsigned char buf[16];
	if (!strcmp(op, "vdso_clock")) {
		/* glibc's clock_gettime: the vDSO (under the engine: the substitute vDSO) */
		for (long i = 0; i < n; i++) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sink += (unsigned long)ts.tv_nsec;
		}
	} else if (!strcmp(op, "vdso_realtime")) {
		for (long i = 0; i < n; i++) {
			clock_gettime(CLOCK_REALTIME, &ts);
			sink += (unsigned long)ts.tv_nsec;
		}
	} else if (!strcmp(op, "raw_clock")) {
		/* the real system call, which the engine's seccomp filter sends to the supervisor */
		for (long i = 0; i < n; i++) {
			syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
			sink += (unsigned long)ts.tv_nsec;
		}
	} else if (!strcmp(op, "getrandom16")) {
		for (long i = 0; i < n; i++) {
			if (getrandom(buf, sizeof buf, 0) != (ssize_t)sizeof buf)
				return 1;
			sink += buf[0];
		}
	} else if (!strcmp(op, "getpid")) {
		/* a system call the engine does not care about */
		for (long i = 0; i < n; i++)
			sink += (unsigned long)syscall(SYS_getpid);
	} else if (!strcmp(op, "open_close")) {
		/* openat of a regular file: every openat stops in the supervisor (it looks for /dev/urandom) */
		for (long i = 0; i < n; i++) {
			int fd = open(file, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return 1;
			close(fd);
		}
	} else if (!strcmp(op, "fstat")) {
		/* fstat of an open file: every stat-family call stops in the supervisor (the filesystem view) */
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0)
			return 1;
		for (long i = 0; i < n; i++) {
			if (fstat(fd, &st) < 0)
				return 1;
			sink += (unsigned long)st.st_ino;
		}
		close(fd);
	} else if (!strcmp(op, "stat_path")) {
		for (long i = 0; i < n; i++) {
			struct stat st;
			if (stat(file, &st) < 0)
				return 1;
			sink += (unsigned long)st.st_ino;
		}
	} else if (!strcmp(op, "stat_missing")) {
		/* a failed lookup (compilers probe include directories): the supervisor's stat fails, the kernel's reruns */
		for (long i = 0; i < n; i++) {
			struct stat st;
			sink += (unsigned long)stat("no-such-file.h", &st);
		}
	} else if (!strcmp(op, "poll0")) {
		/* a wait with a (zero) timeout: trapped, and let through at once */
		for (long i = 0; i < n; i++)
			sink += (unsigned long)poll(NULL, 0, 0);
	} else if (!strcmp(op, "fork_wait")) {
		/* process creation and reaping (fork event, child attach, wait4 entry and exit) */
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid < 0)
				return 1;
			if (pid == 0)
				_exit(0);
			int st;
			if (waitpid(pid, &st, 0) != pid)
				return 1;
		}
	} else if (!strcmp(op, "spawn_true")) {
		/* fork + exec of a dynamically linked program + reap: one step of make or configure */
		char *argv[] = { "/bin/true", NULL };
		for (long i = 0; i < n; i++) {
			pid_t pid;
			if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
				return 1;
			int st;
			if (waitpid(pid, &st, 0) != pid)
				return 1;
		}
	} else if (!strcmp(op, "pipe_pingpong")) {
		/* one byte there and back between two processes on the same CPU: two
		 * process switches and four untrapped syscalls, the floor under any
		 * stop in a ptrace supervisor (which is a process switch each way) */
		int a[2], b[2];
		char c = 'x';
		if (pipe(a) || pipe(b))
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			for (long i = 0; i < n; i++)
				if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
					_exit(1);
			_exit(0);
		}
		for (long i = 0; i < n; i++)
			if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
				return 1;
		int st;
		waitpid(pid, &st, 0);
		close(a[0]);
		close(a[1]);
		close(b[0]);
		close(b[1]);
	} else {
		fprintf(stderr, "micro: unknown op %s\n", op);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (argc - 1) % 2) {
		fprintf(stderr, "usage: micro OP N [OP N ...]\n");
		return 2;
	}
	const char *file = argv[0];
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *op = argv[i];
		long n = atol(argv[i + 1]);
		marker('B', op, n);
		int rc = run(op, n, file);
		if (rc) {
			fprintf(stderr, "micro: %s failed\n", op);
			return rc;
		}
		marker('E', op, n);
	}
	return 0;
}
