/* detbuild-supervisor: runs a command so that every process it spawns sees a
 * logical clock, seeded randomness and one CPU.
 *
 *   detbuild-supervisor [options] -- COMMAND [ARG...]
 *
 * It is meant to run inside the build's bubblewrap sandbox (fresh PID, user,
 * mount and UTS namespaces); it traces the command and all its descendants
 * with ptrace, under a seccomp filter that stops only the system calls the
 * engine answers, and maps a substitute vDSO into each program at exec. */
#include "hostclock.h"
#include "supervisor.h"
#include "sha256.h"
#include "stops.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/ptrace.h>

static uint64_t parse_u64(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		die("%s: not a non-negative integer: '%s'", opt, s);
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: detbuild-supervisor --epoch SECONDS --seed HEX [--time-step NS] [--mono-step NS]\n"
		"                           [--cpu N] [--state-dir DIR] [--status-fd FD] [--release R]\n"
		"                           [--merge-output] [--pin-pids] [--fsize BYTES] [--no-fs-view] [--no-notify] [--stat-shim PATH] [--no-stat-answers] [--profile] [-v]\n"
		"                           [--max-procs N] [--max-memory BYTES] [--watch-fs DIR]...\n"
		"                           -- COMMAND [ARG...]\n"
		"       detbuild-supervisor --plain [--status-fd FD] [--merge-output] [--fsize BYTES]\n"
		"                           [--max-procs N] [--max-memory BYTES] [--watch-fs DIR]... -- COMMAND [ARG...]\n");
	exit(EXIT_USAGE);
}

/* ---- the first process ---- */

static pid_t launch(char **argv, int cpu, bool merge_output, bool trap_opens)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid > 0)
		return pid;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		die("PTRACE_TRACEME: %m (Hint: ptrace must be allowed in the sandbox)");
	raise(SIGSTOP);
	if (personality(ADDR_NO_RANDOMIZE) < 0)
		die("personality(ADDR_NO_RANDOMIZE): %m");
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		die("cannot pin the build to CPU %d: %m", cpu);
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0)
		die("PR_SET_TSC: %m (Hint: rdtsc faulting needs an x86 kernel with CONFIG_X86_TSC)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS: %m");
	umask(022);
	/* the supervisor may hold capabilities (to pin PIDs); the build holds none */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("cannot clear ambient capabilities: %m");
	init_enter_build(merge_output);
	procview_enter();
	filter_install(trap_opens);
	execvp(argv[0], argv);
	fprintf(stderr, "detbuild-supervisor: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(EXIT_CANNOT_RUN);
}

struct args {
	const char *seed;
	bool have_epoch;
	bool merge_output;
	int cpu;       /* -1: the first the supervisor may run on */
	const char *stat_shim; /* --stat-shim: the library /etc/ld.so.preload names (preload.c) */
	char **command;
};

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "epoch", required_argument, 0, 'e' },
		{ "seed", required_argument, 0, 's' },
		{ "time-step", required_argument, 0, 't' },
		{ "mono-step", required_argument, 0, 'm' },
		{ "cpu", required_argument, 0, 'c' },
		{ "state-dir", required_argument, 0, 'd' },
		{ "status-fd", required_argument, 0, 'f' },
		{ "release", required_argument, 0, 'r' },
		{ "merge-output", no_argument, 0, 'o' },
		{ "pin-pids", no_argument, 0, 'p' },
		{ "fsize", required_argument, 0, 'z' },
		{ "no-fs-view", no_argument, 0, 'n' },
		{ "plain", no_argument, 0, 'P' },
		{ "max-procs", required_argument, 0, 'M' },
		{ "max-memory", required_argument, 0, 'B' },
		{ "watch-fs", required_argument, 0, 'W' },
		{ "verbose", no_argument, 0, 'v' },
		{ "profile", no_argument, 0, 'R' },
		{ "no-notify", no_argument, 0, 'N' },
		{ "stat-shim", required_argument, 0, 'S' },
		{ "no-stat-answers", no_argument, 0, 'A' },
		{ 0, 0, 0, 0 },
	};
	memset(a, 0, sizeof *a);
	a->cpu = -1;
	int c;
	while ((c = getopt_long(argc, argv, "+v", opts, NULL)) != -1) {
		switch (c) {
		case 'e': cfg.epoch_ns = parse_u64("--epoch", optarg) * NS_PER_S; a->have_epoch = true; break;
		case 's': a->seed = optarg; break;
		case 't': cfg.rt_step = parse_u64("--time-step", optarg); break;
		case 'm': cfg.mono_step = parse_u64("--mono-step", optarg); break;
		case 'c': a->cpu = (int)parse_u64("--cpu", optarg); break;
		case 'd': cfg.state_dir = optarg; break;
		case 'f': cfg.status_fd = (int)parse_u64("--status-fd", optarg); break;
		case 'r': snprintf(cfg.release, sizeof cfg.release, "%s", optarg); break;
		case 'o': a->merge_output = true; break;
		case 'p': cfg.pin_pids = true; break;
		case 'z': cfg.fsize = parse_u64("--fsize", optarg); break;
		case 'n': cfg.fs_view = false; break;
		case 'P': cfg.plain = true; break;
		case 'M': cfg.max_procs = parse_u64("--max-procs", optarg); break;
		case 'B': cfg.max_memory = parse_u64("--max-memory", optarg); break;
		case 'W': limits_watch_fs(optarg); break;
		case 'v': log_verbose++; break;
		case 'R': cfg.profile = true; break;
		case 'N': cfg.no_notify = true; break;
		case 'S': a->stat_shim = optarg; break;
		case 'A': cfg.no_stat_answers = true; break;
		default: usage();
		}
	}
	a->command = optind < argc ? argv + optind : NULL;
}

/* the process's status as a shell reports it */
static int exit_status(int code, int sig)
{
	if (sig)
		return EXIT_SIGNAL_BASE + sig;
	return code < 0 ? EXIT_ENGINE_FAILED : code;
}

/* the control run: only the sandbox's init, no engine */
static int run_plain(const struct args *a)
{
	int code, sig;
	if (cfg.status_fd >= 0)
		fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	init_harden();
	limits_start();
	init_run_plain(a->command, a->merge_output, &code, &sig);
	status_report(cfg.status_fd, code, sig);
	return exit_status(code, sig);
}

/* the seed, the CPU, the tables and the supervisor's threads, before the build starts */
static void prepare(struct args *a)
{
	if (strlen(a->seed) < 16 || strspn(a->seed, "0123456789abcdef") != strlen(a->seed))
		die("--seed: expected at least 16 lowercase hex digits");
	sha256_3(cfg.seed, "detbuild-seed", 13, a->seed, strlen(a->seed), NULL, 0);
	if (getrandom(&cfg.tsc_cookie, sizeof cfg.tsc_cookie, 0) != sizeof cfg.tsc_cookie)
		die("getrandom: %m");
	if (cfg.status_fd >= 0)
		fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC);
	if (a->cpu < 0) {
		cpu_set_t set;
		if (sched_getaffinity(0, sizeof set, &set) < 0)
			die("sched_getaffinity: %m");
		for (a->cpu = 0; a->cpu < CPU_SETSIZE && !CPU_ISSET(a->cpu, &set); a->cpu++)
			;
	}
	signal(SIGPIPE, SIG_IGN);
	cfg.build_cpu = a->cpu;
	/* the supervisor runs on the build's CPU too: a stop then costs a
	 * context switch instead of waking an idle CPU (measured in a VM: a
	 * trapped call took ~85 us across CPUs) */
	cpu_set_t own;
	CPU_ZERO(&own);
	CPU_SET(a->cpu, &own);
	if (sched_setaffinity(0, sizeof own, &own) < 0)
		warnx_("cannot pin the supervisor to CPU %d: %m", a->cpu);

	mkdir(cfg.state_dir, 0755);
	table_create();
	proctable_init();
	runtime_init();
	waits_init();
	fs_init();
	fspub_init();
	if (a->stat_shim && cfg.fs_view)
		preload_setup(a->stat_shim);
	cfg.start_real_ns = hostclock_ns(CLOCK_REALTIME);

	if (cfg.fs_view)
		ldsite_fstat_ip(); /* its probe before the build's first process (launch() inherits the answer) */
	cpuid_prepare(); /* before any thread: they inherit the faulting */
	hostclock_match_build(); /* the same, for rdtsc */
	bool have_entropyfs = entropyfs_start();
	cfg.trap_opens = !have_entropyfs;
	if (have_entropyfs)
		procview_start();
	init_harden();
	fsnotify_prepare();
	limits_start(); /* after the entropy thread: the build's PIDs stay where they were */
}

/* the build's first process, traced and stopped before its exec */
static pid_t start_build(const struct args *a)
{
	pid_t main_pid = launch(a->command, a->cpu, a->merge_output, cfg.trap_opens);
	int st;
	if (waitpid(main_pid, &st, 0) < 0 || !WIFSTOPPED(st))
		die("the build command did not start");
	if (ptrace(PTRACE_SETOPTIONS, main_pid, NULL,
		   (void *)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_TRACECLONE |
			    PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESECCOMP)) < 0)
		die("PTRACE_SETOPTIONS: %m (Hint: needs Linux 4.8 or later)");
	pids_init(main_pid);
	lifecycle_first(main_pid);
	fsnotify_start();
	handout_start(); /* after the first process: the build's PIDs stay where they were */
	return main_pid;
}

/* The wait loop: every stop of every traced thread goes to the dispatcher,
 * until no traced process is left.  Returns the supervisor's exit status. */
static int trace(pid_t main_pid)
{
	int main_code = -1, main_sig = 0, st;
	bool killed_rest = false;
	for (;;) {
		pid_t tid = waitpid(-1, &st, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				break;
			die("waitpid: %m");
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			lifecycle_on_thread_gone(tid);
			if (tid == main_pid) {
				stops_mark(MARK_END);
				main_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
				main_sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
				if (!killed_rest) {
					/* the build is over: nothing it left behind may keep running */
					limits_final();
					if (!tracee_kill_all())
						lifecycle_kill_tracees();
					killed_rest = true;
				}
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		dispatch_stop(tid, st);
	}
	status_report(cfg.status_fd, main_code, main_sig);
	return exit_status(main_code, main_sig);
}

int main(int argc, char **argv)
{
	stops_mark(MARK_MAIN);
	struct args a;
	parse_args(argc, argv, &a);
	if (a.command && cfg.plain)
		return run_plain(&a);
	if (!a.command || !a.have_epoch || !a.seed)
		usage();
	prepare(&a);
	return trace(start_build(&a));
}
