/* Managed runtimes whose own clock reads must not move the clock their
 * program sees (shared.h, quiet[]).
 *
 * A JVM's threads read CLOCK_MONOTONIC for the JVM's bookkeeping: class
 * loading and linking timers, the tiered compilation policy at every counter
 * overflow, compile-task time stamps, event logs.  How often the main thread
 * does so depends on when the compiler threads install code (a method that
 * is still interpreted overflows its counters again), so with a clock that
 * advances per read, System.nanoTime() in main() and every new
 * java.util.Random() (seeded from it) would differ from run to run by a few
 * dozen reads.  The code of libjvm.so is therefore registered for each thread
 * of a JVM process; the substitute vDSO answers a monotonic read made from it
 * with the thread's clock as it stands, without a step.  The program's own
 * reads (System.nanoTime: compiled code or the interpreter's native stub
 * calling os::javaTimeNanos) advance it as always, and so do timed waits.
 *
 * The runtime's code is looked for at thread creation (the java launcher
 * loads libjvm.so before it starts the thread that runs the VM and main()),
 * in the first few creations of each program, and inherited by new threads
 * and forked children. */
#include "supervisor.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the shared libraries of managed runtimes, by file name */
static const char *const runtime_libs[] = { "/libjvm.so" };

/* thread creations of a program looked at so far (reset at exec) */
#define SCANS_PER_PROGRAM 4
static uint8_t *scans;

static bool is_runtime(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof runtime_libs / sizeof runtime_libs[0]; i++) {
		size_t m = strlen(runtime_libs[i]);
		if (n >= m && strcmp(path + n - m, runtime_libs[i]) == 0)
			return true;
	}
	return false;
}

/* the executable mapping of a runtime library in process `tgid`, if any */
static bool find_runtime(pid_t tgid, struct dt_span *out)
{
	char name[64], line[4608];
	snprintf(name, sizeof name, "/proc/%d/maps", tgid);
	FILE *f = fopen(name, "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		int path_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3 || !path_at)
			continue;
		if (perms[2] != 'x')
			continue;
		char *path = line + path_at;
		path[strcspn(path, "\n")] = 0;
		if (is_runtime(path)) {
			out->lo = lo;
			out->hi = hi;
			found = true;
		}
	}
	fclose(f);
	return found;
}

void runtime_init(void)
{
	scans = calloc(nslots, 1);
	if (!scans)
		die("out of memory");
}

void runtime_on_exec(pid_t tid)
{
	struct dt_span *q = clock_quiet_of(tid);
	if (q)
		q->lo = q->hi = 0;
	if (tid > 0 && (uint64_t)tid < nslots)
		scans[tid] = 0;
}

void runtime_on_new(pid_t parent, pid_t child, bool thread)
{
	struct dt_span *pq = clock_quiet_of(parent), *cq = clock_quiet_of(child);
	if (!pq || !cq)
		return;
	*cq = *pq;
	pid_t tgid = thread_get(parent) ? thread_get(parent)->tgid : parent;
	if (!thread) {
		/* a forked child runs the same program until it execs */
		scans[child] = scans[tgid];
		return;
	}
	if (cq->hi || scans[tgid] >= SCANS_PER_PROGRAM)
		return;
	scans[tgid]++;
	struct dt_span span;
	if (!find_runtime(tgid, &span))
		return;
	debug("pid %d: runtime code at %lx-%lx: its own monotonic reads do not advance the clock", tgid,
	      (unsigned long)span.lo, (unsigned long)span.hi);
	scans[tgid] = SCANS_PER_PROGRAM;
	/* every thread of the process so far: the others are born from these */
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/task", tgid);
	DIR *d = opendir(name);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			pid_t t = (pid_t)atoi(e->d_name);
			struct dt_span *q = t > 0 ? clock_quiet_of(t) : NULL;
			if (q && thread_get(t) && thread_get(t)->tgid == tgid)
				*q = span;
		}
		closedir(d);
	}
	*pq = span;
	*cq = span;
}
