/* The supervisor's helper threads: each started detached, the same way. */
#ifndef DETBUILD_THREADS_H
#define DETBUILD_THREADS_H

#include <stdbool.h>
#include <stddef.h>

/* Starts fn(arg) on a detached thread with `stack` bytes of stack (0: the
 * default).  no_signals: the thread blocks every signal (they go to the main
 * thread).  It inherits the caller's CPU, rdtsc and CPUID settings
 * (hostclock.h).  Returns false, with errno set, when it could not start. */
bool thread_start(void *(*fn)(void *), void *arg, size_t stack, bool no_signals);

#endif
