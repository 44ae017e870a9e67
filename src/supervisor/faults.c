/* Instructions that read time or entropy without a system call: rdtsc and
 * rdtscp fault (PR_SET_TSC), cpuid faults (ARCH_SET_CPUID); we emulate them
 * here, with a logical counter and with RDRAND, RDSEED and RDPID hidden. */
#include "supervisor.h"

#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

/* cpuid is slow in a VM (an exit to the hypervisor): answers are cached */
struct cpuid_entry { unsigned leaf, sub, a, b, c, d; bool used; };
static struct cpuid_entry cpuid_cache[1024];

static bool cache_frozen; /* after cpuid_prepare: the supervisor itself faults on cpuid */

/* Leaves whose answer depends on ECX; for the others the CPU ignores it
 * (and programs leave garbage there). */
static bool has_subleaves(unsigned leaf)
{
	switch (leaf) {
	case 4: case 7: case 0xb: case 0xd: case 0xf: case 0x10: case 0x12: case 0x14: case 0x17:
	case 0x18: case 0x1a: case 0x1b: case 0x1d: case 0x1e: case 0x1f: case 0x20: case 0x23: case 0x24:
	case 0x8000001d: case 0x80000020: case 0x80000026:
		return true;
	default:
		return false;
	}
}

static void real_cpuid(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{
	if (!has_subleaves(leaf))
		sub = 0;
	unsigned h = (leaf * 31u + sub) & 1023u;
	for (unsigned i = 0; i < 1024; i++, h = (h + 1) & 1023u) {
		struct cpuid_entry *e = &cpuid_cache[h];
		if (e->used && e->leaf == leaf && e->sub == sub) {
			*a = e->a; *b = e->b; *c = e->c; *d = e->d;
			return;
		}
		if (!e->used) {
			if (cache_frozen) {
				/* a leaf no CPU we know of has: what out-of-range leaves give */
				*a = *b = *c = *d = 0;
				return;
			}
			__cpuid_count(leaf, sub, *a, *b, *c, *d);
			*e = (struct cpuid_entry){ leaf, sub, *a, *b, *c, *d, true };
			return;
		}
	}
	__cpuid_count(leaf, sub, *a, *b, *c, *d);
}

/* Answers every leaf and subleaf a program may ask for, then makes the
 * supervisor's own threads fault on cpuid like the build's.  With CPUID
 * faulting on one side of a context switch only, the kernel rewrites an MSR
 * at every switch between supervisor and build: measured ~8 us each in a VM,
 * two per stop (bench/README.md, finding 1). */
void cpuid_prepare(void)
{
	unsigned a, b, c, d;
	static const unsigned bases[] = { 0, 0x40000000u, 0x80000000u };
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		__cpuid_count(bases[i], 0, a, b, c, d);
		unsigned max = a;
		if (max < bases[i] || max > bases[i] + 0x40)
			max = bases[i];
		for (unsigned leaf = bases[i]; leaf <= max; leaf++)
			for (unsigned sub = 0; sub < (leaf == 0xd ? 64u : has_subleaves(leaf) ? 16u : 1u); sub++)
				real_cpuid(leaf, sub, &a, &b, &c, &d);
	}
	if (syscall(SYS_arch_prctl, 0x1012 /* ARCH_SET_CPUID */, 0) == 0)
		cache_frozen = true;
}

static void emulate_cpuid(struct user_regs_struct *r)
{
	unsigned leaf = (unsigned)r->rax, sub = (unsigned)r->rcx;
	unsigned a = 0, b = 0, c = 0, d = 0;
	real_cpuid(leaf, sub, &a, &b, &c, &d);
	switch (leaf) {
	case 1:
		c &= ~(1u << 30);          /* RDRAND */
		b &= 0x00ffffffu;          /* initial APIC id: which CPU we run on */
		break;
	case 7:
		if (sub == 0) {
			b &= ~(1u << 18);  /* RDSEED */
			c &= ~(1u << 22);  /* RDPID: reads the CPU number */
		}
		break;
	case 0xb:
	case 0x1f:
		d = 0;                     /* x2APIC id */
		break;
	default:
		break;
	}
	r->rax = a;
	r->rbx = b;
	r->rcx = c;
	r->rdx = d;
}

bool emulate_fault(struct thread *t)
{
	/* no siginfo needed: rdtsc, rdtscp and cpuid touch no memory, so a
	 * SIGSEGV at one of them can only be the faulting we asked for */
	struct user_regs_struct r;
	if (regs_get(t->tid, &r) < 0)
		return false;
	unsigned char insn[4];
	if (mem_read(t->tid, r.rip, insn, 3) < 0) {
		errno = 0;
		long w = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)r.rip, NULL);
		if (errno)
			return false;
		memcpy(insn, &w, 4);
	}
	if (insn[0] != 0x0f)
		return false;
	if (insn[1] == 0x31 || (insn[1] == 0x01 && insn[2] == 0xf9)) {
		struct dt_slot *s = slot_of(t->tid);
		uint64_t v = s->tsc;
		s->tsc += cfg.tsc_step;
		r.rax = v & 0xffffffffu;
		r.rdx = v >> 32;
		if (insn[1] == 0x01) {
			r.rcx = 0; /* TSC_AUX: CPU 0 */
			r.rip += 3;
		} else {
			if (process_of(t->tgid)->loader)
				ldtsc_learn(t->tid, r.rip);
			r.rip += 2;
		}
		stats.rdtsc++;
	} else if (insn[1] == 0xa2) {
		emulate_cpuid(&r);
		r.rip += 2;
		stats.cpuid++;
	} else {
		return false;
	}
	regs_set(t->tid, &r);
	return true;
}
