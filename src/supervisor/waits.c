/* Timed waits in logical time.
 *
 * A wait with a timeout (poll, select, epoll_wait, futex, nanosleep,
 * clock_nanosleep, sigtimedwait, ...) either ends because what it waits for
 * happened, or times out.  With real timeouts, which of the two happens
 * depends on how fast the rest of the build ran: a poll with a 2 ms timeout
 * on a pipe a compiling child writes to times out more often on a loaded
 * machine, each timeout advances the thread's clock, and every clock value
 * (and every mkstemp name, which glibc mixes from CLOCK_MONOTONIC and clock())
 * read after it differs.  A Python Popen.wait(timeout), a sleep-and-poll loop
 * and a pthread_cond_timedwait watchdog do the same.
 *
 * So a timed wait waits without a timeout, and a wait times out only when the
 * build cannot go on otherwise: when every thread of the build (and of the
 * supervisor, which serves FUSE and ptrace stops) is asleep at the same
 * moment.  Then the waiter with the earliest logical deadline times out (ties
 * broken by the threads' deterministic identities), its clock advancing by
 * the wait's length, and the others keep waiting.  Computation takes no
 * logical time: a sleep returns as soon as nothing else is running, a
 * timeout never fires while the work it guards is still running, and
 * whether it fires does not depend on the machine's load or speed.
 *
 * Mechanics.  At the wait's seccomp stop its timeout is removed (a NULL
 * timespec or -1 ms; a sleep becomes ppoll(NULL, 0, NULL, NULL), which only a
 * signal ends), the waiter is registered, and the thread runs to its
 * syscall-exit stop.  A helper thread of the supervisor looks for quiescence
 * (below); to time a wait out it sends the waiting thread SIGSTOP, which
 * interrupts the wait; at the exit stop the supervisor turns the interrupted
 * call into the timed-out result, puts the original arguments back, and
 * absorbs the SIGSTOP at its delivery stop (SIGSTOP because a thread cannot
 * block it).  A wait interrupted by a real signal gets its original arguments
 * back and restarts as the kernel decides, or returns EINTR with the whole
 * length remaining: no logical time passed.
 *
 * Quiescence: two passes over every thread of the build and of the
 * supervisor (but this helper) must find each asleep ('S') and, between its
 * two readings, never scheduled (/proc/TID/schedstat); so at the moment
 * between the passes every one of them was asleep at once, and only a
 * timeout can wake any of them.  A thread asleep writing to the build's
 * output pipe waits for the engine, outside the sandbox, and counts as
 * running; so does one that reads 'S' but is still on a run queue (preempted
 * on its way to sleep) or waits for a file system's server (a FUSE request to
 * the daemon of a workspace on sshfs or disorderfs, an NFS reply), whose
 * answer comes in real time (/proc/TID/wchan, still_runs()).  The passes
 * start after a short real pause that doubles while the build keeps running
 * (50 us to 20 ms).
 *
 * A thread that spins (sched_yield) until a sleeping thread acts never lets
 * the build fall asleep: its wait never times out, and the build runs into
 * its time limit.  A timeout that fired in real time instead would make the
 * outcome depend on the machine's speed again (JVM compiler threads idle in
 * 5 s waits through any long compile). */
#include "threads.h"
#include "hostclock.h"
#include "supervisor.h"
#include "verdict.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FIRST_PAUSE_NS 50000ULL
/* early looks (after a wait began or ended) at most this often: a build that
 * starts and ends timed waits all the time would otherwise have the helper
 * look every 50 us */
#define EARLY_GAP_NS 500000ULL
#define LONGEST_PAUSE_NS 20000000ULL
/* a barrier whose build never falls asleep and whose event never comes (a
 * process spins until the waiting one acts) ends after this much real time */
#define BARRIER_LONGEST_NS 1000000000ULL

struct kts { long sec, nsec; };

enum wait_kind {
	W_PLAIN,      /* nothing to write back */
	W_SLEEP,      /* nanosleep/clock_nanosleep (relative): EINTR leaves the whole length in *rem */
	W_TS,         /* ppoll, pselect6: the kernel writes the time left into the timespec */
	W_SELECT,     /* select: the timeval, and the fd sets are cleared on timeout */
	W_PSELECT,    /* pselect6: the timespec and the fd sets */
};

struct waiter {
	pid_t tid, tgid;
	enum wait_kind kind;
	struct user_regs_struct saved; /* the registers at the call's entry */
	uint64_t len;                  /* the wait's length on the thread's clock */
	uint64_t deadline;             /* when it ends on the thread's monotonic clock */
	uint8_t lineage[32];
	long timeout_ret;
	bool kicked;
	/* a barrier (settle.c): ends at quiescence, when `need` of its watched
	 * descriptors (the supervisor's own copies) are ready, or after
	 * BARRIER_LONGEST_NS of real time */
	bool barrier;
	uint64_t began;
	struct quiet_watch watch;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct waiter *waiters;
static size_t nwaiters, capwaiters;
static uint64_t generation;      /* changes at every creation, end, registration and exit */
/* the pause before the next look: `early` after a wait began or ended (the
 * build may just have fallen asleep), else `pause_ns`, which doubles while
 * the build keeps running */
static uint64_t pause_ns = FIRST_PAUSE_NS;
static bool early;
static uint64_t last_look;

static uint64_t real_now(void)
{
	return hostclock_ns(CLOCK_MONOTONIC);
}
static bool helper_started;
/* traced threads alive, for the helper's passes */
static pid_t *live;
static size_t nlive, caplive;
static int32_t *live_pos;        /* index in live + 1, by tid */
/* a SIGSTOP sent to time a wait out, not yet absorbed (by tid) */
static uint8_t *absorb;
/* the build's output (the supervisor's stdout and stderr) */
static struct stat out_st[2];
static bool out_ok[2];
static uint64_t passes, kicks, full_passes, barrier_events, barrier_late;
/* descriptors of dropped barriers: only the helper closes them (it may be
 * polling them), at once: a copy left open would keep a pipe's write end
 * open, and the reader would wait for its end forever */
static int *to_close;
static size_t nclose, capclose;
/* wakes the helper from its pause when a barrier's copies are to be closed */
static int wake_fd = -1;
static clockid_t helper_clock;
static bool helper_clock_ok;

static void ensure_tables(void)
{
	if (live_pos)
		return;
	live_pos = calloc(nslots, sizeof *live_pos);
	absorb = calloc(nslots, 1);
	if (!live_pos || !absorb)
		die("out of memory");
}

static void thread_born(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		return;
	pthread_mutex_lock(&lock);
	ensure_tables();
	if (!live_pos[tid]) {
		if (nlive == caplive) {
			caplive = caplive ? caplive * 2 : 256;
			live = realloc(live, caplive * sizeof *live);
			if (!live)
				die("out of memory");
		}
		live[nlive++] = tid;
		live_pos[tid] = (int32_t)nlive;
	}
	absorb[tid] = 0;
	generation++;
	pthread_mutex_unlock(&lock);
}

static void drop_waiter_locked(size_t i)
{
	for (int k = 0; k < waiters[i].watch.n; k++) {
		if (nclose == capclose) {
			capclose = capclose ? capclose * 2 : 64;
			to_close = realloc(to_close, capclose * sizeof *to_close);
			if (!to_close)
				die("out of memory");
		}
		to_close[nclose++] = waiters[i].watch.fd[k];
	}
	if (waiters[i].watch.n) {
		uint64_t one = 1;
		if (wake_fd >= 0 && write(wake_fd, &one, sizeof one) < 0)
			debug("waits: cannot wake the helper: %m");
		pthread_cond_signal(&wake);
	}
	waiters[i] = waiters[--nwaiters];
	generation++;
}

static void thread_died(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		return;
	pthread_mutex_lock(&lock);
	ensure_tables();
	int32_t p = live_pos[tid];
	if (p) {
		pid_t last = live[--nlive];
		live[p - 1] = last;
		live_pos[last] = p;
		live_pos[tid] = 0;
	}
	for (size_t i = 0; i < nwaiters; i++)
		if (waiters[i].tid == tid) {
			drop_waiter_locked(i);
			break;
		}
	absorb[tid] = 0;
	generation++;
	pthread_mutex_unlock(&lock);
}

void waits_init(void)
{
	threads_watch(thread_born, thread_died);
}

bool waits_absorb(pid_t tid, int sig)
{
	if (sig != SIGSTOP || tid <= 0 || (uint64_t)tid >= nslots || !absorb)
		return false;
	pthread_mutex_lock(&lock);
	bool ours = absorb[tid] != 0;
	absorb[tid] = 0;
	pthread_mutex_unlock(&lock);
	return ours;
}

/* ---- the helper: looking for quiescence ---- */

struct reading {
	char state;
	uint64_t runtime, pcount;
};

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static void proc_path(char *path, size_t len, pid_t tgid, pid_t tid, const char *file)
{
	if (tgid)
		snprintf(path, len, "/proc/%d/task/%d/%s", tgid, tid, file);
	else
		snprintf(path, len, "/proc/%d/%s", tid, file);
}

/* the scheduler state of thread `tid` of process `tgid` (0: a build thread) */
static char read_state(pid_t tgid, pid_t tid)
{
	char path[64], buf[1024];
	proc_path(path, sizeof path, tgid, tid, "stat");
	if (read_file(path, buf, sizeof buf) < 0)
		return '?';
	char *paren = strrchr(buf, ')');
	return paren && paren[1] && paren[2] ? paren[2] : '?';
}

/* how long and how often the thread has run */
static bool read_sched(pid_t tgid, pid_t tid, struct reading *out)
{
	char path[64], buf[256];
	proc_path(path, sizeof path, tgid, tid, "schedstat");
	unsigned long long rt, delay, pc;
	if (read_file(path, buf, sizeof buf) < 0 || sscanf(buf, "%llu %llu %llu", &rt, &delay, &pc) != 3)
		return false;
	out->runtime = rt;
	out->pcount = pc;
	return true;
}

/* whether a sleeping build thread waits to write to the build's output, which
 * the engine drains from outside the sandbox */
static bool writes_output(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/syscall", tid);
	if (read_file(path, buf, sizeof buf) < 0)
		return false;
	long nr;
	unsigned long a[6];
	if (sscanf(buf, "%ld %lx %lx %lx", &nr, &a[0], &a[1], &a[2]) < 4)
		return false;
	unsigned long fd;
	switch (nr) {
	case SYS_write: case SYS_writev: case SYS_pwrite64: case SYS_pwritev: case SYS_pwritev2:
	case SYS_sendfile: case SYS_sendto: case SYS_sendmsg: case SYS_vmsplice:
		fd = a[0];
		break;
	case SYS_splice: case SYS_copy_file_range: case SYS_tee:
		fd = nr == SYS_tee ? a[1] : a[2];
		break;
	default:
		return false;
	}
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d/fd/%lu", tid, fd);
	if (stat(path, &st) < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (out_ok[i] && st.st_dev == out_st[i].st_dev && st.st_ino == out_st[i].st_ino)
			return true;
	return false;
}

/* Whether a thread whose state reads 'S' may still run without a timeout: its
 * kernel wait channel (/proc/TID/wchan) says so.
 *
 * "0": the thread is still on a run queue.  A thread that set its state to
 * sleep and was preempted before it called schedule() (on a busy CPU, often)
 * reads 'S' and does not run until the CPU is its again; then it sleeps only
 * if what it waits for has not happened.  The kernel names no wait channel for
 * a thread on a run queue, so "0" means it counts as running, once a name has
 * been seen (a kernel without symbol names prints "0" for every thread: there
 * the check is off, as it was before).
 *
 * A file system's server: a FUSE request (the workspace on sshfs or
 * disorderfs, the supervisor's own views), a network file system's reply.
 * The thread sleeps, but its wait ends by itself when the server answers, in
 * real time that depends on the server's load. */
static const char *const fs_server_waits[] = {
	/* FUSE: a request's answer, a page's writeback (not fuse_dev_do_read:
	 * the supervisor's own FUSE servers wait there for requests) */
	"request_wait_answer", "fuse_wait_on",
	"nfs", "rpc_", /* NFS and SUNRPC */
	"p9_", /* 9p (virtfs) */
	"cifs", "smb2", "wait_for_response", /* SMB */
	"ceph", "afs_", "orangefs", "gfs2", "ocfs2", "dlm_",
};
static bool wchan_names; /* a wait channel was named: "0" means on a run queue */

static bool still_runs(pid_t tgid, pid_t tid)
{
	char path[64], buf[128];
	proc_path(path, sizeof path, tgid, tid, "wchan");
	if (read_file(path, buf, sizeof buf) < 0)
		return false;
	if (strcmp(buf, "0") == 0)
		return wchan_names;
	wchan_names = true;
	for (size_t i = 0; i < sizeof fs_server_waits / sizeof *fs_server_waits; i++)
		if (strstr(buf, fs_server_waits[i]))
			return true;
	return false;
}

struct entity {
	pid_t tgid, tid; /* tgid 0: a build thread */
	struct reading first;
};

static struct entity *ents;
static size_t nents, capents;
static size_t busy_hint;

static void add_entity(pid_t tgid, pid_t tid)
{
	if (nents == capents) {
		capents = capents ? capents * 2 : 256;
		ents = realloc(ents, capents * sizeof *ents);
		if (!ents)
			die("out of memory");
	}
	ents[nents].tgid = tgid;
	ents[nents].tid = tid;
	nents++;
}

/* the supervisor's own threads but this one */
static void add_own_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != self)
			add_entity(pid, (pid_t)atoi(e->d_name));
	closedir(d);
}

/* Quiescence, in three passes: a cheap one that stops at the first thread
 * not asleep (starting with the one found running last time), then the
 * run counts of every thread (A), then their states and run counts again
 * (B).  A thread asleep at its B reading that neither ran nor was scheduled
 * since its A reading slept through the whole interval; every A reading
 * comes before every B reading, so all slept at one moment in between. */
static int hint_fd = -1;
static pid_t hint_tid;
static uint64_t hint_runtime;

/* whether the thread found running last time has run since: one cheap read */
static bool hint_still_running(void)
{
	pid_t tid = ents[busy_hint].tid;
	if (tid != hint_tid) {
		if (hint_fd >= 0)
			close(hint_fd);
		char path[64];
		proc_path(path, sizeof path, 0, tid, "schedstat");
		hint_fd = open(path, O_RDONLY | O_CLOEXEC);
		hint_tid = tid;
		hint_runtime = 0;
	}
	char buf[128];
	ssize_t n = hint_fd >= 0 ? pread(hint_fd, buf, sizeof buf - 1, 0) : -1;
	if (n <= 0)
		return false;
	buf[n] = 0;
	uint64_t rt = strtoull(buf, NULL, 10);
	bool ran = rt != hint_runtime;
	hint_runtime = rt;
	return ran;
}

static bool quiescent(size_t nbuild)
{
	if (busy_hint >= nbuild)
		busy_hint = 0;
	if (hint_still_running())
		return false;
	for (size_t k = 0; k < nbuild; k++) {
		size_t i = (busy_hint + k) % nbuild;
		if (read_state(0, ents[i].tid) != 'S') {
			busy_hint = i;
			return false;
		}
	}
	add_own_threads();
	full_passes++;
	for (size_t i = 0; i < nents; i++)
		if (!read_sched(ents[i].tgid, ents[i].tid, &ents[i].first))
			return false;
	for (size_t i = 0; i < nents; i++) {
		struct reading r;
		if (read_state(ents[i].tgid, ents[i].tid) != 'S' || still_runs(ents[i].tgid, ents[i].tid) ||
		    !read_sched(ents[i].tgid, ents[i].tid, &r) ||
		    r.pcount != ents[i].first.pcount || r.runtime != ents[i].first.runtime) {
			if (i < nbuild)
				busy_hint = i;
			return false;
		}
	}
	for (size_t i = 0; i < nbuild; i++)
		if (writes_output(ents[i].tid))
			return false;
	return true;
}

static bool earlier(const struct waiter *a, const struct waiter *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return memcmp(a->lineage, b->lineage, 32) < 0;
}

static void kick_locked(struct waiter *w)
{
	w->kicked = true;
	kicks++;
	debug("waits: %d (nr %lld) times out, deadline %llu", w->tid, (long long)w->saved.orig_rax, (unsigned long long)w->deadline);
	absorb[w->tid] = 1;
	generation++;
	if (syscall(SYS_tgkill, w->tgid, w->tid, SIGSTOP) < 0)
		debug("waits: cannot end the wait of %d: %m", w->tid);
}

/* how many of a barrier's watched descriptors are ready; the others go into
 * sleep[] (for the helper's pause) when given */
static int watch_ready(const struct quiet_watch *w, struct pollfd *sleep, size_t *nsleep, size_t capsleep)
{
	struct pollfd p[QUIET_WATCH_MAX];
	for (int k = 0; k < w->n; k++)
		p[k] = (struct pollfd){ w->fd[k], w->events[k], 0 };
	if (poll(p, (nfds_t)w->n, 0) < 0)
		return 0;
	int ready = 0;
	for (int k = 0; k < w->n; k++) {
		if (p[k].revents)
			ready++;
		else if (sleep && *nsleep < capsleep)
			sleep[(*nsleep)++] = (struct pollfd){ w->fd[k], w->events[k], 0 };
	}
	return ready;
}

/* a barrier that may end now: its event came, or it waited too long in real
 * time (NULL: none); the lock is held */
static struct waiter *barrier_due_locked(void)
{
	struct waiter *due = NULL;
	bool late = false;
	uint64_t now = real_now();
	for (size_t i = 0; i < nwaiters; i++) {
		struct waiter *w = &waiters[i];
		if (!w->barrier)
			continue;
		bool event = w->watch.n && watch_ready(&w->watch, NULL, NULL, 0) >= w->watch.need;
		bool too_long = !event && now - w->began > BARRIER_LONGEST_NS;
		if ((event || too_long) && (!due || earlier(w, due))) {
			due = w;
			late = too_long;
		}
	}
	if (due && late) {
		barrier_late++;
		if (barrier_late <= 3)
			warnx_("a poll or wait of process %d was answered after %llu ms of real time without the build falling "
			       "asleep (a process that spins until it acts?): its answer may differ between builds",
			       due->tgid, (unsigned long long)(BARRIER_LONGEST_NS / 1000000));
	} else if (due) {
		barrier_events++;
	}
	return due;
}

static void *helper(void *arg)
{
	(void)arg;
	helper_clock_ok = pthread_getcpuclockid(pthread_self(), &helper_clock) == 0;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		pthread_mutex_lock(&lock);
		for (;;) {
			for (size_t i = 0; i < nclose; i++)
				close(to_close[i]);
			nclose = 0;
			if (nwaiters)
				break;
			pthread_cond_wait(&wake, &lock);
		}
		uint64_t pause = pause_ns;
		if (early) {
			uint64_t since = real_now() - last_look;
			pause = since >= EARLY_GAP_NS ? FIRST_PAUSE_NS : EARLY_GAP_NS - since;
			if (pause < FIRST_PAUSE_NS)
				pause = FIRST_PAUSE_NS;
			if (pause > pause_ns)
				pause = pause_ns;
		}
		early = false;
		/* the pause ends early when a barrier's awaited descriptor turns
		 * ready, or a barrier's copies are to be closed */
		struct pollfd sleep[64];
		size_t nsleep = 0;
		if (wake_fd >= 0)
			sleep[nsleep++] = (struct pollfd){ wake_fd, POLLIN, 0 };
		for (size_t i = 0; i < nwaiters; i++)
			if (waiters[i].barrier && !waiters[i].kicked)
				watch_ready(&waiters[i].watch, sleep, &nsleep, sizeof sleep / sizeof *sleep);
		pthread_mutex_unlock(&lock);
		struct timespec ts = { (long)(pause / NS_PER_S), (long)(pause % NS_PER_S) };
		ppoll(sleep, nsleep, &ts, NULL);
		uint64_t drained;
		if (wake_fd >= 0 && read(wake_fd, &drained, sizeof drained) < 0 && errno != EAGAIN)
			debug("waits: cannot read the helper's wake-up: %m");

		pthread_mutex_lock(&lock);
		bool in_flight = false;
		for (size_t i = 0; i < nwaiters; i++)
			in_flight |= waiters[i].kicked;
		if (in_flight || !nwaiters) {
			pthread_mutex_unlock(&lock);
			continue;
		}
		struct waiter *due = barrier_due_locked();
		if (due) {
			kick_locked(due);
			early = true;
			pthread_mutex_unlock(&lock);
			continue;
		}
		uint64_t gen = generation;
		nents = 0;
		for (size_t i = 0; i < nlive; i++)
			add_entity(0, live[i]);
		pthread_mutex_unlock(&lock);
		bool q = nents && quiescent(nents);
		passes++;
		last_look = real_now();

		pthread_mutex_lock(&lock);
		if (generation != gen) {
			early = true;
		} else if (q && nwaiters) {
			struct waiter *first = &waiters[0];
			for (size_t i = 1; i < nwaiters; i++)
				if (earlier(&waiters[i], first))
					first = &waiters[i];
			kick_locked(first);
			pause_ns = FIRST_PAUSE_NS;
		} else {
			pause_ns = pause_ns * 2 > LONGEST_PAUSE_NS ? LONGEST_PAUSE_NS : pause_ns * 2;
		}
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static void report_helper(void)
{
	uint64_t cpu_ns = helper_clock_ok ? hostclock_ns(helper_clock) : 0;
	struct timespec cpu = { (time_t)(cpu_ns / NS_PER_S), (long)(cpu_ns % NS_PER_S) };
	debug("waits: %llu looks for quiescence (%llu past the first pass), %llu waits timed out (%llu barriers by their event, %llu after the real-time bound); the helper used %ld.%03ld s of CPU",
	      (unsigned long long)passes, (unsigned long long)full_passes, (unsigned long long)kicks,
	      (unsigned long long)barrier_events, (unsigned long long)barrier_late,
	      (long)cpu.tv_sec, cpu.tv_nsec / 1000000);
}

static void start_helper(void)
{
	if (log_verbose)
		atexit(report_helper);
	for (int i = 0; i < 2; i++)
		out_ok[i] = fstat(i + 1, &out_st[i]) == 0 && (S_ISFIFO(out_st[i].st_mode) || S_ISSOCK(out_st[i].st_mode));
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!thread_start(helper, NULL, 256 * 1024, false))
		die("cannot start the timed-wait thread");
	helper_started = true;
}

/* ---- entry and exit stops of the waits ---- */

static int get_ts(pid_t tid, unsigned long addr, uint64_t *ns)
{
	struct kts ts;
	if (!addr || mem_read(tid, addr, &ts, sizeof ts) < 0 || ts.sec < 0 || ts.nsec < 0 || ts.nsec >= (long)NS_PER_S)
		return -1;
	*ns = (uint64_t)ts.sec * NS_PER_S + (uint64_t)ts.nsec;
	return 0;
}

/* registers the wait and lets the (rewritten) call run to its exit stop */
static struct verdict park_watching(struct thread *t, struct user_regs_struct *r, const struct user_regs_struct *orig, uint64_t len,
		 long timeout_ret, enum wait_kind kind, const struct quiet_watch *watch)
{
	if (!helper_started)
		start_helper();
	struct waiter w;
	memset(&w, 0, sizeof w);
	w.tid = t->tid;
	w.tgid = t->tgid;
	w.kind = kind;
	w.saved = *orig;
	w.len = len;
	w.deadline = clock_last(t->tid, DT_C_MONO) + len;
	memcpy(w.lineage, t->lineage, 32);
	w.timeout_ret = timeout_ret;
	if (watch) {
		w.barrier = true;
		w.began = real_now();
		w.watch = *watch;
	}
	if (regs_set(t->tid, r) < 0) {
		for (int k = 0; watch && k < watch->n; k++)
			close(watch->fd[k]);
		return CONTINUE;
	}
	pthread_mutex_lock(&lock);
	ensure_tables();
	for (size_t i = 0; i < nwaiters; i++)
		if (waiters[i].tid == t->tid)
			drop_waiter_locked(i--);
	if (nwaiters == capwaiters) {
		capwaiters = capwaiters ? capwaiters * 2 : 64;
		waiters = realloc(waiters, capwaiters * sizeof *waiters);
		if (!waiters)
			die("out of memory");
	}
	waiters[nwaiters++] = w;
	generation++;
	early = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	t->pending = PEND_TIMED_WAIT;
	stats.waits_timed++;
	return TO_EXIT;
}

static struct verdict park(struct thread *t, struct user_regs_struct *r, const struct user_regs_struct *orig, uint64_t len,
		 long timeout_ret, enum wait_kind kind)
{
	return park_watching(t, r, orig, len, timeout_ret, kind, NULL);
}

/* a sleep of `len`: ppoll(NULL, 0, NULL, NULL), which only a signal ends */
static struct verdict park_sleep_watching(struct thread *t, struct user_regs_struct *r, uint64_t len, enum wait_kind kind,
					  const struct quiet_watch *watch)
{
	struct user_regs_struct orig = *r;
	r->orig_rax = SYS_ppoll;
	r->rdi = r->rsi = r->rdx = r->r10 = 0;
	r->r8 = 8;
	return park_watching(t, r, &orig, len, 0, kind, watch);
}

static struct verdict park_sleep(struct thread *t, struct user_regs_struct *r, uint64_t len, enum wait_kind kind)
{
	return park_sleep_watching(t, r, len, kind, NULL);
}

struct verdict waits_until_quiet(struct thread *t, struct user_regs_struct *r, const struct quiet_watch *watch)
{
	return park_sleep_watching(t, r, 0, W_PLAIN, watch);
}

/* the logical length of an absolute deadline on clock class `cls` */
static uint64_t until(struct thread *t, uint64_t abs, int cls)
{
	uint64_t now = clock_last(t->tid, cls);
	return abs > now ? abs - now : 0;
}

/* an absolute deadline that has passed: the kernel gets one that has passed too */
static struct verdict expired_absolute(struct thread *t, struct user_regs_struct *r, int arg)
{
	struct kts zero = { 0, 1 };
	unsigned long at = scratch_addr(r, sizeof zero);
	if (mem_write(t->tid, at, &zero, sizeof zero) < 0)
		return CONTINUE;
	t->pend_argreg = arg;
	t->pend_argval = *regs_arg(r, arg);
	*regs_arg(r, arg) = at;
	regs_set(t->tid, r);
	t->pending = PEND_NONE;
	return TO_EXIT;
}

static struct verdict on_futex(struct thread *t, struct user_regs_struct *r)
{
	int op = (int)r->rsi, cmd = op & FUTEX_CMD_MASK;
	bool realtime = (op & FUTEX_CLOCK_REALTIME) != 0 || cmd == FUTEX_LOCK_PI;
	struct user_regs_struct orig = *r;
	uint64_t v, len;
	if (get_ts(t->tid, r->r10, &v) < 0)
		return CONTINUE;
	switch (cmd) {
	case FUTEX_WAIT:
		len = v;
		if (!len)
			return CONTINUE;
		break;
	case FUTEX_WAIT_BITSET:
	case FUTEX_WAIT_REQUEUE_PI:
	case FUTEX_LOCK_PI:
	case 13 /* FUTEX_LOCK_PI2 */:
		len = until(t, v, realtime ? DT_C_RT : DT_C_MONO);
		if (!len)
			return expired_absolute(t, r, 3);
		break;
	default:
		return CONTINUE;
	}
	r->r10 = 0;
	return park(t, r, &orig, len, -ETIMEDOUT, W_PLAIN);
}

static struct verdict on_ms_wait(struct thread *t, struct user_regs_struct *r, int arg)
{
	int ms = (int)*regs_arg(r, arg);
	if (ms <= 0)
		return CONTINUE;
	struct user_regs_struct orig = *r;
	*regs_arg(r, arg) = (unsigned long long)-1;
	return park(t, r, &orig, (uint64_t)ms * 1000000ULL, 0, W_PLAIN);
}

static struct verdict on_ts_wait(struct thread *t, struct user_regs_struct *r, int arg, long timeout_ret, enum wait_kind kind)
{
	uint64_t len;
	if (get_ts(t->tid, *regs_arg(r, arg), &len) < 0 || !len)
		return CONTINUE;
	struct user_regs_struct orig = *r;
	*regs_arg(r, arg) = 0;
	return park(t, r, &orig, len, timeout_ret, kind);
}

static struct verdict on_select(struct thread *t, struct user_regs_struct *r)
{
	long tv[2];
	if (!r->r8 || mem_read(t->tid, r->r8, tv, sizeof tv) < 0 || tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
		return CONTINUE;
	uint64_t len = (uint64_t)tv[0] * NS_PER_S + (uint64_t)tv[1] * 1000;
	if (!len)
		return CONTINUE;
	struct user_regs_struct orig = *r;
	r->r8 = 0;
	return park(t, r, &orig, len, 0, W_SELECT);
}

static struct verdict on_clock_nanosleep(struct thread *t, struct user_regs_struct *r)
{
	int cls = dt_classify((int)r->rdi);
	uint64_t v;
	if (cls == DT_C_BAD || cls == DT_C_CPU || get_ts(t->tid, r->rdx, &v) < 0)
		return CONTINUE;
	bool abs = (r->rsi & TIMER_ABSTIME) != 0;
	uint64_t len = abs ? until(t, v, cls) : v;
	if (!len)
		return SKIP(0);
	return park_sleep(t, r, len, abs ? W_PLAIN : W_SLEEP);
}

struct verdict waits_on_entry(struct thread *t, struct user_regs_struct *r)
{
	switch ((long)r->orig_rax) {
	case SYS_nanosleep: {
		uint64_t len;
		if (get_ts(t->tid, r->rdi, &len) < 0)
			return CONTINUE;
		if (!len)
			return SKIP(0);
		return park_sleep(t, r, len, W_SLEEP);
	}
	case SYS_clock_nanosleep: return on_clock_nanosleep(t, r);
	case SYS_futex: return on_futex(t, r);
	case SYS_poll: return on_ms_wait(t, r, 2);
	case SYS_epoll_wait:
	case SYS_epoll_pwait: return on_ms_wait(t, r, 3);
	case SYS_epoll_pwait2: return on_ts_wait(t, r, 3, 0, W_PLAIN);
	case SYS_ppoll: return on_ts_wait(t, r, 2, 0, W_TS);
	case SYS_pselect6: return on_ts_wait(t, r, 4, 0, W_PSELECT);
	case SYS_rt_sigtimedwait: return on_ts_wait(t, r, 2, -EAGAIN, W_PLAIN);
	case SYS_select: return on_select(t, r);
	default: return CONTINUE;
	}
}

static void clear_fd_sets(struct thread *t, const struct user_regs_struct *s)
{
	long n = (long)s->rdi;
	if (n <= 0 || n > 1 << 20)
		return;
	size_t bytes = (size_t)((n + 63) / 64) * 8;
	static const uint8_t zeros[4096];
	unsigned long sets[3] = { s->rsi, s->rdx, s->r10 };
	for (int i = 0; i < 3; i++)
		for (size_t off = 0; sets[i] && off < bytes; off += sizeof zeros)
			mem_write(t->tid, sets[i] + off, zeros, bytes - off < sizeof zeros ? bytes - off : sizeof zeros);
}

static bool interrupted(long ret)
{
	return ret == -EINTR || ret == -512 /* ERESTARTSYS */ || ret == -513 /* ERESTARTNOINTR */ ||
	       ret == -514 /* ERESTARTNOHAND */ || ret == -516 /* ERESTART_RESTARTBLOCK */;
}

void waits_on_exit(struct thread *t, struct user_regs_struct *r)
{
	struct waiter w;
	bool found = false;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nwaiters; i++)
		if (waiters[i].tid == t->tid) {
			w = waiters[i];
			drop_waiter_locked(i);
			found = true;
			break;
		}
	early = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	if (!found)
		return;
	long ret = (long)r->rax;
	const struct user_regs_struct *s = &w.saved;
	r->orig_rax = s->orig_rax;
	r->rdi = s->rdi;
	r->rsi = s->rsi;
	r->rdx = s->rdx;
	r->r10 = s->r10;
	r->r8 = s->r8;
	r->r9 = s->r9;
	if (!interrupted(ret))
		return; /* what it waited for happened */
	if (!w.kicked) {
		/* a real signal: the call restarts with its own arguments, or
		 * returns EINTR with its whole length left */
		if (w.kind == W_SLEEP) {
			unsigned long rem = s->orig_rax == SYS_nanosleep ? s->rsi : s->r10;
			struct kts left = { (long)(w.len / NS_PER_S), (long)(w.len % NS_PER_S) };
			if (rem)
				mem_write(t->tid, rem, &left, sizeof left);
		}
		return;
	}
	r->rax = (unsigned long long)w.timeout_ret;
	clock_advance(t->tid, w.len);
	stats.waits_timedout++;
	struct kts zero = { 0, 0 };
	long tv0[2] = { 0, 0 };
	switch (w.kind) {
	case W_TS:
		if (s->rdx)
			mem_write(t->tid, s->rdx, &zero, sizeof zero);
		break;
	case W_PSELECT:
		if (s->r8)
			mem_write(t->tid, s->r8, &zero, sizeof zero);
		clear_fd_sets(t, s);
		break;
	case W_SELECT:
		if (s->r8)
			mem_write(t->tid, s->r8, tv0, sizeof tv0);
		clear_fd_sets(t, s);
		break;
	default:
		break;
	}
}
