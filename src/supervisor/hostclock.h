/* The host's clocks as the supervisor reads them for itself (timeouts, its
 * watch thread, profiling): always through the system call, never the vDSO. */
#ifndef DETBUILD_HOSTCLOCK_H
#define DETBUILD_HOSTCLOCK_H

#include <stdint.h>
#include <time.h>

/* nanoseconds of `id` (CLOCK_MONOTONIC, CLOCK_REALTIME, a CPU-time clock) */
uint64_t hostclock_ns(clockid_t id);

/* Gives the calling thread, and every thread it starts later, the build's
 * rdtsc faulting (PR_TSC_SIGSEGV).  The kernel flips the CPU's TSD bit at
 * every switch between two tasks whose TSC modes differ, and on a virtual
 * machine that write is trapped: a round trip between the build and the
 * supervisor (every stop, every notification) took 13.4 us with the modes
 * apart and 4.1 us with them alike (CPUID faulting already alike, faults.c).
 * From here on this thread must not execute rdtsc: the vDSO's clocks would,
 * so hostclock_ns goes through the system call. */
void hostclock_match_build(void);

#endif
