/* System calls the supervisor rewrites so that the build stays inside the
 * engine (rather than answering what it observes, which the other feature
 * modules do). */
#include "supervisor.h"
#include "verdict.h"

#include <sys/personality.h>

/* personality(): any persona the build asks for, but never with ASLR back on
 * (a child exec'ed after clearing ADDR_NO_RANDOMIZE would get random
 * addresses).  The kernel reads the argument as an unsigned int. */
struct verdict guard_personality(struct thread *t, struct user_regs_struct *r)
{
	uint32_t persona = (uint32_t)r->rdi;
	if (persona != 0xffffffffu && !(persona & ADDR_NO_RANDOMIZE)) {
		r->rdi = persona | ADDR_NO_RANDOMIZE;
		regs_set(t->tid, r);
	}
	return CONTINUE;
}
