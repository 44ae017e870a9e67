/* The hand-out thread: it answers the programs that ask the supervisor for a
 * descriptor, the exec stub for the clock table (tableserve.c) and the stat
 * shim for the identity table (fs/fspub.c).  Each asks by connecting to a
 * socket and waits in recvmsg until the answer comes, so the thread runs on
 * the build's CPU, where the asking program is: answered from the other CPU
 * (the watch thread, limits.c, before), the exec stub took 176 us per
 * program, from this one 120 us (a build of 2,000 spawns).  It does nothing
 * else: it never takes the build's CPU while no one asks. */
#include "threads.h"
#include "supervisor.h"
#include "tableserve.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

static void *serve(void *arg)
{
	(void)arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cfg.build_cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		debug("the hand-out thread is not on the build's CPU: %m");
	struct pollfd p[2] = { { .fd = tableserve_fd(), .events = POLLIN }, { .fd = fspub_fd(), .events = POLLIN } };
	for (;;) {
		int n = poll(p, p[1].fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno != EINTR)
			die("the hand-out thread cannot wait: %m");
		if (n > 0 && (p[0].revents & POLLIN))
			tableserve_answer();
		if (n > 0 && p[1].fd >= 0 && (p[1].revents & POLLIN))
			fspub_answer();
	}
	return NULL;
}

void handout_start(void)
{
	if (!thread_start(serve, NULL, 256 * 1024, true))
		die("cannot start the hand-out thread: %m");
}
