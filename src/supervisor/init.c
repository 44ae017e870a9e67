/* The sandbox's pid 1.  bubblewrap runs the supervisor as the first process
 * of the build's PID namespace (--as-pid-1): when it exits, the kernel kills
 * every process left in the namespace, whatever they did to themselves.  The
 * build cannot write its memory (it is not dumpable, and under the engine it
 * holds capabilities the build lacks) and cannot signal it (the kernel
 * ignores signals sent to a namespace's init from inside, bar those it
 * handles).  In plain mode (the control run, no engine) that is all it is:
 * it starts the command, reaps every process, ends the tree when the command
 * ends, watches the limits and reports. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

void init_harden(void)
{
	/* if memory runs out, the build goes first (never the daemon beside it) */
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1000", 4) != 4)
			debug("cannot raise oom_score_adj: %m");
		close(fd);
	}
	/* /proc/1/mem, /proc/1/fd and ptrace are closed to the build; a child
	 * becomes dumpable again when it execs */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("cannot make the supervisor non-dumpable: %m");
	/* bubblewrap (our parent) goes when its caller goes (--die-with-parent), but
	 * that signal does not reach us through our exec: without this, a daemon
	 * worker killed mid-build left its build running, as pid 1 of a namespace
	 * nobody waited for.  Our end ends the namespace, and the build with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die("cannot follow bubblewrap's end: %m");
}

/* What every build process starts with, under the engine and plainly: no descriptor of
 * the supervisor or its caller, the file-size and process limits, no core dumps (a
 * crashing build leaves nothing of its memory behind, and PR_SET_DUMPABLE, which
 * programs call against core dumps, is a no-op: filter.c), output merged if asked. */
void init_enter_build(bool merge_output)
{
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (cfg.fsize) {
		struct rlimit rl = { cfg.fsize, cfg.fsize };
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			die("cannot limit the size of the build's files: %m");
	}
	limits_apply_child();
	struct rlimit core = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		die("cannot turn core dumps off: %m");
	if (merge_output && dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
		die("dup2: %m");
}

void init_run_plain(char **argv, bool merge_output, int *code, int *sig)
{
	if (getpid() != 1)
		die("--plain: the supervisor must be the sandbox's pid 1 (bwrap --as-pid-1)");
	pid_t main_pid = fork();
	if (main_pid < 0)
		die("fork: %m");
	if (main_pid == 0) {
		init_enter_build(merge_output);
		execvp(argv[0], argv);
		fprintf(stderr, "detbuild-supervisor: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(EXIT_CANNOT_RUN);
	}
	*code = -1;
	*sig = 0;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: the namespace is empty */
		}
		if (pid == main_pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
			*code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			*sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
			limits_final();
			tracee_kill_all(); /* the build is over: nothing it left may keep running */
		}
	}
}
