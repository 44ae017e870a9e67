/* Counting the supervisor's stops by kind (stops.c). */
#ifndef DETBUILD_STOPS_H
#define DETBUILD_STOPS_H

#include <stdbool.h>

/* --profile: also time the supervisor's work per kind of stop */
extern bool stops_profile;
/* a stop was just reported by waitpid */
void stops_begin(void);
/* ... and handled: what kind it was */
void stops_seccomp(long nr);
void stops_exit(long nr);
void stops_event(int event);
void stops_signal(int sig);
/* a call answered as a seccomp user notification (any thread) */
void stops_notified(long nr);
/* moments of the build's life, reported so that the engine can split its fixed cost */
enum stops_mark { MARK_MAIN, MARK_EXEC, MARK_END, MARK_REPORT, MARK_N };
void stops_mark(enum stops_mark m); /* the first call for each counts */
/* appends the counters to the status line being written to fd (",\"key\":n" pairs) */
void stops_json(int fd);

#endif
