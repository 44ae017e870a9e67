/* What a build may take, watched from the supervisor's second thread: the
 * number of its processes and threads, its memory (resident anonymous and
 * shared memory of every process, plus what it keeps in the sandbox's tmpfs
 * mounts), and whether a tmpfs it writes (/tmp, /dev/shm) ran full.  Past a
 * limit the whole tree is killed and the status names the limit.  (New
 * programs get their tables from another thread, on the build's CPU:
 * handout.c.) */
#include "threads.h"
#include "supervisor.h"
#include "exitcodes.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define WATCH_MS 100
#define MAX_WATCHED 4

static const char *watched[MAX_WATCHED];
static bool watched_full[MAX_WATCHED];
static int nwatched;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *hit_what;
static uint64_t hit_value, hit_max;

void limits_watch_fs(const char *path)
{
	if (nwatched == MAX_WATCHED)
		die("--watch-fs: at most %d file systems", MAX_WATCHED);
	watched[nwatched++] = path;
}

static void hit(const char *what, uint64_t value, uint64_t max)
{
	pthread_mutex_lock(&lock);
	bool first = !hit_what;
	if (first) {
		hit_what = what;
		hit_value = value;
		hit_max = max;
	}
	pthread_mutex_unlock(&lock);
	if (!first)
		return;
	warnx_("the build exceeded its %s limit (%llu, at most %llu): the whole build is killed", what,
	       (unsigned long long)value, (unsigned long long)max);
	if (!tracee_kill_all())
		warnx_("not the sandbox's pid 1: the build cannot be killed from here");
}

void limits_apply_child(void)
{
	/* a backstop the kernel enforces at every fork (unless the build runs
	 * as the host's root): the supervisor's own threads count too */
	if (cfg.max_procs) {
		struct rlimit rl = { cfg.max_procs + 16, cfg.max_procs + 16 };
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			debug("cannot set RLIMIT_NPROC: %m");
	}
}

bool limits_refuse_clone(void)
{
	if (!cfg.max_procs || threads_count() < cfg.max_procs)
		return false;
	hit("processes", threads_count() + 1, cfg.max_procs);
	return true;
}

/* bytes used in a tmpfs, and whether it is (nearly) full */
static uint64_t fs_used(const char *path, bool *full)
{
	struct statfs s;
	if (statfs(path, &s) < 0 || !s.f_blocks)
		return 0;
	uint64_t size = (uint64_t)s.f_blocks * s.f_bsize, avail = (uint64_t)s.f_bavail * s.f_bsize;
	uint64_t slack = size / 64 < (1 << 20) ? size / 64 : (1 << 20);
	if (avail <= slack)
		*full = true;
	return (uint64_t)(s.f_blocks - s.f_bfree) * s.f_bsize;
}

static uint64_t status_field(const char *text, const char *name)
{
	const char *p = strstr(text, name);
	return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static void scan(void)
{
	uint64_t memory = 0, tasks = 0;
	DIR *d = opendir("/proc");
	pid_t self = getpid();
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid == self || pid == 1)
			continue;
		char path[64], text[4096];
		snprintf(path, sizeof path, "/proc/%d/status", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, text, sizeof text - 1);
		close(fd);
		if (n <= 0)
			continue;
		text[n] = 0;
		memory += (status_field(text, "\nRssAnon:") + status_field(text, "\nRssShmem:")) * 1024;
		uint64_t threads = status_field(text, "\nThreads:");
		tasks += threads ? threads : 1;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < nwatched; i++)
		memory += fs_used(watched[i], &watched_full[i]);
	if (cfg.max_memory && memory > cfg.max_memory)
		hit("memory", memory, cfg.max_memory);
	if (cfg.max_procs && tasks > cfg.max_procs)
		hit("processes", tasks, cfg.max_procs);
}

/* at the end of the build, before what it left is killed: one last look, so that a
 * build whose last forks the kernel refused (RLIMIT_NPROC is only a backstop, and
 * plainly nothing else sees a fork) is reported over its limit, not as a failure */
void limits_final(void)
{
	scan();
}

static void *watch(void *arg)
{
	(void)arg;
	/* off the build's CPU where there is another: its scans must not delay
	 * the build or the supervisor's answers (how long a trapped call takes
	 * changes how a Go runtime spreads its goroutines over its threads) */
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (c != cfg.build_cpu)
			CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		debug("the watch thread stays on the build's CPU: %m");
	for (;;) {
		struct timespec pause = { WATCH_MS / 1000, (WATCH_MS % 1000) * 1000000L };
		while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
			;
		/* the engine's end of the status stream closed before the status was
		 * sent: the caller is gone (its worker killed). Bubblewrap's end
		 * should have ended us (PR_SET_PDEATHSIG, init.c), and under load
		 * once in a while did not: the build then ran on, orphaned, as the
		 * pid 1 of a namespace nobody waited for. Ending here ends it. */
		if (cfg.status_fd >= 0 && !cfg.status_sent) {
			struct pollfd p = { .fd = cfg.status_fd, .events = 0 };
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) && !cfg.status_sent) {
				warnx_("the engine's end of the status stream is gone: ending the build");
				_exit(EXIT_ENGINE_FAILED);
			}
		}
		scan();
	}
	return NULL;
}

void limits_start(void)
{
	if (!thread_start(watch, NULL, 0, true))
		die("cannot start the watch thread: %m");
}

void limits_json(char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	pthread_mutex_lock(&lock);
	if (hit_what)
		at += (size_t)snprintf(buf, len, ",\"limit\":\"%s\",\"limitValue\":%llu,\"limitMax\":%llu", hit_what,
				       (unsigned long long)hit_value, (unsigned long long)hit_max);
	pthread_mutex_unlock(&lock);
	if (at >= len)
		return;
	at += (size_t)snprintf(buf + at, len - at, ",\"fullFs\":[");
	bool first = true;
	for (int i = 0; i < nwatched && at < len; i++) {
		if (!watched_full[i])
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s\"%s\"", first ? "" : ",", watched[i]);
		first = false;
	}
	if (at < len)
		snprintf(buf + at, len - at, "]");
}
