/* The dynamic loader's late rdtsc instructions, taken out of the stops.
 *
 * The loader reads the TSC some 8 times in every program: the timing of its
 * startup and relocations, which it prints only with LD_DEBUG=statistics and
 * which nothing else reads (glibc 2.36).  Each read is a SIGSEGV stop,
 * emulated from the logical clock (before, the exec stub let the reads before
 * arch_prctl(ARCH_SET_FS) run on the real TSC, so the statistics differed
 * from run to run, and 4 stops remained: 4 of the 13 stops of a spawned
 * /bin/true).
 *
 * So an emulated rdtsc of a program that this loader started (its AT_BASE is
 * the loader's place), at an address inside the loader's executable segment
 * (ldsite.c), is remembered with the 32 bytes around it.  At every later exec
 * of a program the loader starts, where those same 32 bytes are at the same
 * address -- the same loader at the same place, as ASLR is off -- the
 * instruction is replaced, in that process's private copy of the page, by
 * `xor %eax,%eax` (also two bytes): the loader's timings then hold what %edx
 * held, the same in every run.  Only
 * the loader's own instructions, and only ones the CPU has faulted on (so they
 * are instructions, not bytes inside one), are replaced; a program's rdtsc
 * keeps the logical TSC. */
#include "supervisor.h"

#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SITES 16
#define CONTEXT 32 /* bytes around a site: 16 before, the instruction, 14 after */

static const unsigned char xor_eax[2] = { 0x31, 0xc0 };

struct site {
	unsigned long at;
	unsigned char context[CONTEXT];
};
static struct site sites[MAX_SITES];
static int nsites;

void ldtsc_learn(pid_t tid, unsigned long rip)
{
	unsigned long lo, hi;
	if (nsites == MAX_SITES || !ldsite_loader_text(&lo, &hi) || rip < lo + CONTEXT / 2 || rip + CONTEXT / 2 > hi)
		return;
	for (int i = 0; i < nsites; i++)
		if (sites[i].at == rip)
			return; /* another loader at the same place: its context differs, it is not patched */
	struct site *s = &sites[nsites];
	if (mem_read(tid, rip - CONTEXT / 2, s->context, CONTEXT) < 0 || s->context[CONTEXT / 2] != 0x0f ||
	    s->context[CONTEXT / 2 + 1] != 0x31)
		return;
	s->at = rip;
	nsites++;
	debug("ldtsc: the loader reads the TSC at %#lx: replaced in later programs", rip);
}

void ldtsc_patch(pid_t tid, int mem_fd)
{
	if (!nsites || mem_fd < 0)
		return;
	/* every site's context in one read; each write through /proc/PID/mem,
	 * which writes a read-only page (a private copy of it, for this process) */
	unsigned char now[MAX_SITES][CONTEXT];
	struct iovec local[MAX_SITES] = { { 0 } }, remote[MAX_SITES] = { { 0 } };
	for (int i = 0; i < nsites; i++) {
		local[i] = (struct iovec){ now[i], CONTEXT };
		remote[i] = (struct iovec){ (void *)(sites[i].at - CONTEXT / 2), CONTEXT };
	}
	if (process_vm_readv(tid, local, (unsigned long)nsites, remote, (unsigned long)nsites, 0) != (ssize_t)nsites * CONTEXT)
		return;
	for (int i = 0; i < nsites; i++)
		if (!memcmp(now[i], sites[i].context, CONTEXT) &&
		    pwrite(mem_fd, xor_eax, sizeof xor_eax, (off_t)sites[i].at) == (ssize_t)sizeof xor_eax)
			stats.loader_tsc_patched++;
}
