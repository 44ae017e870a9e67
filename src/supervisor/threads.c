/* Helper threads of the supervisor (threads.h). */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

bool thread_start(void *(*fn)(void *), void *arg, size_t stack, bool no_signals)
{
	sigset_t all, old;
	if (no_signals) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old); /* the new thread inherits the mask */
	}
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	int rc = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (no_signals)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		errno = rc;
	return rc == 0;
}
