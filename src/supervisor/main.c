/* detbuild-supervisor: runs a command so that every process it spawns sees a
 * logical clock, seeded randomness and one CPU.
 *
 *   detbuild-supervisor [options] -- COMMAND [ARG...]
 *
 * It is meant to run inside the build's bubblewrap sandbox (fresh PID, user,
 * mount and UTS namespaces); it traces the command and all its descendants
 * with ptrace, under a seccomp filter that stops only the system calls the
 * engine answers, and maps a substitute vDSO into each program at exec. */
#include "supervisor.h"
#include "sha256.h"
#include "stream.h"
#include "stops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

struct config cfg = {
	.rt_step = NS_PER_S,
	.mono_step = 1000,
	.cpu_step = 1000,
	.tsc_step = 1000,
	.mono_start = 1000 * NS_PER_S,
	.state_dir = "/run/detbuild",
	.status_fd = -1,
	.release = "6.1.0-detbuild-amd64",
	.fs_view = true,
};
struct counters stats;

static void vwarn(const char *fmt, va_list ap)
{
	fputs("detbuild-supervisor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(125 - 5); /* 120: the engine failed, distinct from any build status we relay */
}

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
	exit(2);
}

/* ---- resuming ---- */

void resume(struct thread *t, int sig)
{
	if (!sig && t->pend_sig) {
		sig = t->pend_sig;
		t->pend_sig = 0;
	}
	ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)sig);
}

void resume_to_exit(struct thread *t)
{
	ptrace(PTRACE_SYSCALL, t->tid, NULL, NULL);
}

/* ---- process and thread creation ---- */

static unsigned long long clone_flags(pid_t parent)
{
	struct user_regs_struct r;
	if (regs_get(parent, &r) < 0)
		return 0;
	if ((long)r.orig_rax == SYS_clone)
		return r.rdi;
	if ((long)r.orig_rax != SYS_clone3)
		return 0; /* fork, vfork */
	struct clone_args ca;
	if (mem_read(parent, r.rdi, &ca, sizeof ca.flags) < 0)
		return 0;
	return ca.flags;
}

static bool creates_thread(pid_t parent)
{
	return (clone_flags(parent) & CLONE_THREAD) != 0;
}

static void on_new_child(struct thread *parent, int event)
{
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, parent->tid, NULL, &msg);
	pid_t child = (pid_t)msg;
	debug("pid: %d created %d (event %d)", parent->tid, child, event);
	struct thread *c = thread_get(child);
	bool attached = c && c->attached;
	c = thread_new(child);
	c->attached = attached;
	bool thread = event == PTRACE_EVENT_CLONE && creates_thread(parent->tid);
	c->tgid = thread ? parent->tgid : child;
	if (thread) /* a process's identity is its process's (procident.c) */
		stream_derive(c->lineage, parent->lineage, "thread", parent->nchildren++);
	struct dt_slot *ps = slot_of(parent->tid), *cs = slot_of(child);
	cs->rt = ps->rt;
	cs->mono = ps->mono;
	cs->tsc = ps->tsc;
	cs->cpu = 0;
	if (!thread) {
		proc_exit_rt[child] = 0;
		proc_exit_mono[child] = 0;
		proc_threaded[child] = 0;
		/* a forked child runs the same program until it execs */
		proc_go[child] = proc_go[parent->tgid];
		proc_foreign[child] = proc_foreign[parent->tgid] || (clone_flags(parent->tid) & (CLONE_NEWNS | CLONE_NEWUSER));
		fs_proc_new(child);
		clock_share_rt(child, 0);
		if (clock_rt_shared(parent->tid))
			cs->rt = slots[rt_index[parent->tid]].rt;
		procident_on_fork(parent, c); /* the process's identity and spawn clock, not the thread's */
		stats.forks++;
	} else {
		if (!proc_threaded[parent->tgid])
			fs_on_threaded(parent);
		proc_threaded[parent->tgid] = 1;
		procident_on_thread(parent);
		clock_share_rt(child, proc_go[parent->tgid] ? parent->tgid : 0);
		stats.threads++;
	}
	runtime_on_new(parent->tid, child, thread);
	c->ready = true;
	if (c->attached) {
		thread_tag(child);
		resume(c, 0);
	}
	if (pids_is_busy(parent->tid)) {
		/* the PID is taken: the next creator may go (a vfork parent waits
		 * for its child, which may itself fork); the exit stop is consumed */
		pids_on_clone_done(parent->tid);
		resume_to_exit(parent);
	} else {
		resume(parent, 0);
	}
}

static void on_thread_gone(pid_t tid)
{
	struct thread *t = thread_get(tid);
	if (t) {
		struct dt_slot *s = slot_of(tid);
		if (s->rt > proc_exit_rt[t->tgid])
			proc_exit_rt[t->tgid] = s->rt;
		if (s->mono > proc_exit_mono[t->tgid])
			proc_exit_mono[t->tgid] = s->mono;
	}
	thread_free(tid);
}

/* Kills every process we trace (never kill(-1): outside a PID namespace
 * that would reach the whole machine).  The processes are those /proc lists
 * that we trace: scanning the thread table instead would touch every page of
 * it (pid_max is 4194304 in a new PID namespace: ~40 ms of page faults). */
static void kill_all_tracees(void)
{
	DIR *d = opendir("/proc");
	if (!d) {
		for (uint64_t tid = 1; tid < nslots; tid++)
			if (thread_get((pid_t)tid))
				kill((pid_t)tid, SIGKILL);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || (uint64_t)pid >= nslots)
			continue;
		if (thread_get((pid_t)pid))
			kill((pid_t)pid, SIGKILL);
	}
	closedir(d);
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
	_exit(127 - 1);
}

static void report(int fd, int code, int sig)
{
	if (fd < 0)
		return;
	char limits[512];
	limits_json(limits, sizeof limits);
	dprintf(fd,
		"{\"exitCode\":%d,\"signal\":%d,\"execs\":%llu,\"forks\":%llu,\"threads\":%llu,"
		"\"timeTraps\":%llu,\"randomTraps\":%llu,\"randomBytes\":%llu,\"opensRedirected\":%llu,"
		"\"timedWaits\":%llu,\"timedOut\":%llu,\"reaps\":%llu,\"rdtsc\":%llu,\"cpuid\":%llu,"
		"\"vdsoFallbacks\":%llu,\"identityTraps\":%llu,\"opens\":%llu,"
		"\"fsStats\":%llu,\"fsStatsAtExit\":%llu,\"fsListings\":%llu,\"fsListingsReal\":%llu,\"fsChanges\":%llu,"
		"\"fsStamps\":%llu,\"fsInodes\":%llu%s",
		code, sig, (unsigned long long)stats.execs, (unsigned long long)stats.forks,
		(unsigned long long)stats.threads, (unsigned long long)stats.time_traps,
		(unsigned long long)stats.random_traps, (unsigned long long)stats.random_bytes,
		(unsigned long long)stats.opens_redirected, (unsigned long long)stats.waits_timed,
		(unsigned long long)stats.waits_timedout, (unsigned long long)stats.reaps,
		(unsigned long long)stats.rdtsc, (unsigned long long)stats.cpuid,
		(unsigned long long)stats.vdso_fallbacks, (unsigned long long)stats.identity_traps,
		(unsigned long long)stats.opens, (unsigned long long)fsstats.stats,
		(unsigned long long)fsstats.stats_at_exit, (unsigned long long)fsstats.listings,
		(unsigned long long)fsstats.listings_real,
		(unsigned long long)fsstats.changes, (unsigned long long)fsstats.stamps,
		(unsigned long long)fsstats.inodes, limits);
	stops_json(fd);
	dprintf(fd, "}\n");
}

int main(int argc, char **argv)
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
	stops_mark(MARK_MAIN);
	const char *seed = NULL, *stat_shim = NULL;
	bool merge_output = false;
	bool have_epoch = false;
	int cpu = -1, c;
	while ((c = getopt_long(argc, argv, "+v", opts, NULL)) != -1) {
		switch (c) {
		case 'e': cfg.epoch_ns = parse_u64("--epoch", optarg) * NS_PER_S; have_epoch = true; break;
		case 's': seed = optarg; break;
		case 't': cfg.rt_step = parse_u64("--time-step", optarg); break;
		case 'm': cfg.mono_step = parse_u64("--mono-step", optarg); break;
		case 'c': cpu = (int)parse_u64("--cpu", optarg); break;
		case 'd': cfg.state_dir = optarg; break;
		case 'f': cfg.status_fd = (int)parse_u64("--status-fd", optarg); break;
		case 'r': snprintf(cfg.release, sizeof cfg.release, "%s", optarg); break;
		case 'o': merge_output = true; break;
		case 'p': cfg.pin_pids = true; break;
		case 'z': cfg.fsize = parse_u64("--fsize", optarg); break;
		case 'n': cfg.fs_view = false; break;
		case 'P': cfg.plain = true; break;
		case 'M': cfg.max_procs = parse_u64("--max-procs", optarg); break;
		case 'B': cfg.max_memory = parse_u64("--max-memory", optarg); break;
		case 'W': limits_watch_fs(optarg); break;
		case 'v': cfg.verbose++; break;
		case 'R': stops_profile = true; break;
		case 'N': fsnotify_disabled = true; break;
		case 'S': stat_shim = optarg; break;
		case 'A': fspub_disabled = true; break;
		default: usage();
		}
	}
	if (optind < argc && cfg.plain) {
		/* the control run: only the sandbox's init, no engine */
		int code, sig;
		if (cfg.status_fd >= 0)
			fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC);
		signal(SIGPIPE, SIG_IGN);
		init_harden();
		limits_start();
		init_run_plain(argv + optind, merge_output, &code, &sig);
		report(cfg.status_fd, code, sig);
		return sig ? 128 + sig : code < 0 ? 120 : code;
	}
	if (optind >= argc || !have_epoch || !seed)
		usage();
	if (strlen(seed) < 16 || strspn(seed, "0123456789abcdef") != strlen(seed))
		die("--seed: expected at least 16 lowercase hex digits");
	sha256_3(cfg.seed, "detbuild-seed", 13, seed, strlen(seed), NULL, 0);
	if (getrandom(&cfg.tsc_cookie, sizeof cfg.tsc_cookie, 0) != sizeof cfg.tsc_cookie)
		die("getrandom: %m");
	if (cfg.status_fd >= 0)
		fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC);
	if (cpu < 0) {
		cpu_set_t set;
		if (sched_getaffinity(0, sizeof set, &set) < 0)
			die("sched_getaffinity: %m");
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
			;
	}
	signal(SIGPIPE, SIG_IGN);
	cfg.build_cpu = cpu;
	/* the supervisor runs on the build's CPU too: a stop then costs a
	 * context switch instead of waking an idle CPU (measured in a VM: a
	 * trapped call took ~85 us across CPUs) */
	{
		cpu_set_t own;
		CPU_ZERO(&own);
		CPU_SET(cpu, &own);
		if (sched_setaffinity(0, sizeof own, &own) < 0)
			warnx_("cannot pin the supervisor to CPU %d: %m", cpu);
	}

	mkdir(cfg.state_dir, 0755);
	table_create();
	runtime_init();
	fs_init();
	fspub_init();
	if (stat_shim && cfg.fs_view)
		preload_setup(stat_shim);
	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		cfg.start_real_ns = (uint64_t)now.tv_sec * NS_PER_S + (uint64_t)now.tv_nsec;
	}

	cpuid_prepare(); /* before any thread: they inherit the faulting */
	bool have_entropyfs = entropyfs_start();
	cfg.trap_opens = !have_entropyfs;
	if (have_entropyfs)
		procview_start();
	init_harden();
	fsnotify_prepare();
	limits_start(); /* after the entropy thread: the build's PIDs stay where they were */
	pid_t main_pid = launch(argv + optind, cpu, merge_output, !have_entropyfs);
	int st;
	if (waitpid(main_pid, &st, 0) < 0 || !WIFSTOPPED(st))
		die("the build command did not start");
	if (ptrace(PTRACE_SETOPTIONS, main_pid, NULL,
		   (void *)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_TRACECLONE |
			    PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESECCOMP)) < 0)
		die("PTRACE_SETOPTIONS: %m (Hint: needs Linux 4.8 or later)");
	pids_init(main_pid);
	struct thread *first = thread_new(main_pid);
	first->attached = first->ready = true;
	sha256_3(first->lineage, cfg.seed, 32, "root", 4, NULL, 0);
	struct dt_slot *s0 = slot_of(main_pid);
	s0->rt = cfg.epoch_ns;
	s0->mono = cfg.mono_start;
	s0->cpu = 0;
	s0->tsc = 1ULL << 32;
	resume(first, 0);
	fsnotify_start();

	int main_code = -1, main_sig = 0;
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
			on_thread_gone(tid);
			if (tid == main_pid) {
				stops_mark(MARK_END);
				main_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
				main_sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
				if (!killed_rest) {
					/* the build is over: nothing it left behind may keep running */
					limits_final();
					if (!init_kill_all())
						kill_all_tracees();
					killed_rest = true;
				}
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		struct thread *t = thread_get(tid);
		int sig = WSTOPSIG(st), event = st >> 16;
		stops_begin();
		if (!t) {
			/* a new child reported before its parent's fork event */
			t = thread_new(tid);
			t->attached = true;
			continue;
		}
		if (!t->attached) {
			/* the first stop of a child whose parent's event came first */
			t->attached = true;
			if (t->ready) {
				thread_tag(tid);
				resume(t, 0);
			}
			continue;
		}
		if (sig == SIGTRAP && event) {
			switch (event) {
			case PTRACE_EVENT_FORK:
			case PTRACE_EVENT_VFORK:
			case PTRACE_EVENT_CLONE:
				on_new_child(t, event);
				break;
			case PTRACE_EVENT_EXEC:
				on_exec(t);
				resume(thread_get(tid) ? thread_get(tid) : t, 0);
				break;
			case PTRACE_EVENT_SECCOMP:
				on_seccomp(t);
				stops_seccomp(t->pend_nr);
				continue;
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
			if (cfg.verbose && (sig == SIGSEGV || sig == SIGILL || sig == SIGBUS)) {
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
	report(cfg.status_fd, main_code, main_sig);
	if (main_sig)
		return 128 + main_sig;
	return main_code < 0 ? 120 : main_code;
}
