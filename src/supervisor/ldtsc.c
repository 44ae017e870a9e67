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

#include <stdbool.h>
#include <stdint.h>
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
	/* as the loader's file has them: a neighbour replaced in this program
	 * already is put back in the remembered bytes */
	for (int i = 0; i < nsites; i++) {
		long d = (long)(sites[i].at - (rip - CONTEXT / 2));
		for (int b = 0; b < 2; b++)
			if (d + b >= 0 && d + b < CONTEXT)
				s->context[d + b] = b ? 0x31 : 0x0f;
	}
	s->at = rip;
	/* kept in address order: ldtsc_patch writes neighbours together */
	for (int i = nsites; i > 0 && sites[i - 1].at > sites[i].at; i--) {
		struct site tmp = sites[i - 1];
		sites[i - 1] = sites[i];
		sites[i] = tmp;
	}
	nsites++;
	debug("ldtsc: the loader reads the TSC at %#lx: replaced in later programs", rip);
}

/* sites closer than this are read and written as one piece */
#define NEIGHBOURS 2048

void ldtsc_patch(pid_t tid, int mem_fd)
{
	if (!nsites || mem_fd < 0)
		return;
	/* groups of neighbouring sites: every group's bytes in one read, each
	 * group written back in one piece through /proc/PID/mem, which writes a
	 * read-only page (a private copy of it, for this process) */
	static unsigned char span[MAX_SITES][NEIGHBOURS * MAX_SITES / 4 + CONTEXT];
	int first[MAX_SITES], count[MAX_SITES], ngroups = 0;
	struct iovec local[MAX_SITES] = { { 0 } }, remote[MAX_SITES] = { { 0 } };
	size_t want = 0;
	for (int i = 0; i < nsites;) {
		int j = i + 1;
		while (j < nsites && sites[j].at - sites[j - 1].at <= NEIGHBOURS &&
		       sites[j].at - sites[i].at + CONTEXT <= sizeof span[0])
			j++;
		unsigned long from = sites[i].at - CONTEXT / 2, to = sites[j - 1].at + CONTEXT / 2;
		first[ngroups] = i;
		count[ngroups] = j - i;
		local[ngroups] = (struct iovec){ span[ngroups], to - from };
		remote[ngroups] = (struct iovec){ (void *)from, to - from };
		want += to - from;
		ngroups++;
		i = j;
	}
	if (process_vm_readv(tid, local, (unsigned long)ngroups, remote, (unsigned long)ngroups, 0) != (ssize_t)want)
		return;
	for (int g = 0; g < ngroups; g++) {
		unsigned long from = (unsigned long)remote[g].iov_base;
		size_t lo = SIZE_MAX, hi = 0;
		int patched = 0;
		bool same[MAX_SITES];
		for (int k = first[g]; k < first[g] + count[g]; k++) /* all compared before any is replaced */
			same[k] = !memcmp(span[g] + (sites[k].at - CONTEXT / 2 - from), sites[k].context, CONTEXT);
		for (int k = first[g]; k < first[g] + count[g]; k++) {
			size_t off = sites[k].at - CONTEXT / 2 - from;
			if (!same[k])
				continue; /* another loader, or another program there */
			memcpy(span[g] + off + CONTEXT / 2, xor_eax, sizeof xor_eax);
			lo = off + CONTEXT / 2 < lo ? off + CONTEXT / 2 : lo;
			hi = off + CONTEXT / 2 + sizeof xor_eax;
			patched++;
		}
		/* only the bytes from the first replaced site to the end of the last:
		 * the rest of them as they were */
		if (patched && pwrite(mem_fd, span[g] + lo, hi - lo, (off_t)(from + lo)) == (ssize_t)(hi - lo))
			stats.loader_tsc_patched += (uint64_t)patched;
	}
}
