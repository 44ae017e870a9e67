/* The supervisor's own clock reads and its rdtsc mode (hostclock.h). */
#include "hostclock.h"
#include "log.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000ULL

uint64_t hostclock_ns(clockid_t id)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void hostclock_match_build(void)
{
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0)
		debug("the supervisor keeps reading the TSC (%m): switching to the build costs more");
}
