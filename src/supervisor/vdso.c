/* The substitute vDSO: mapped by the supervisor into every build process in
 * place of the kernel's, so that glibc, static binaries and Go read the
 * logical clock without entering the kernel (the fast path of a time read).
 *
 * Freestanding: no libc, no relocations, no writable data of its own.  Each
 * thread's clocks live in the shared table right after this image (see
 * shared.h); a thread finds its slot by its kernel thread id. */
#include "shared.h"

#include <stddef.h>

typedef long time_t_;
struct ts_ { long tv_sec; long tv_nsec; };
struct tv_ { long tv_sec; long tv_usec; };
struct tz_ { int tz_minuteswest; int tz_dsttime; };

#define EINVAL_ 22
#define NS 1000000000UL

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static inline long raw_gettid(void)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(186L) : "rcx", "r11", "memory");
	return r;
}

static inline const struct dt_header *header(void)
{
	return (const struct dt_header *)(__ehdr_start + DT_TABLE_OFF);
}

static inline struct dt_slot *slot_at(unsigned long i)
{
	return (struct dt_slot *)(__ehdr_start + DT_SLOTS_OFF) + i;
}

static inline unsigned long my_tid(void)
{
	const struct dt_header *h = header();
	if (h->gs_tid) {
		unsigned long gs;
		__asm__ volatile("rdgsbase %0" : "=r"(gs));
		/* a program that set GS base itself falls through to the syscall */
		if (gs - 1 < h->nslots)
			return gs - 1;
	}
	unsigned long tid = (unsigned long)raw_gettid();
	return tid < h->nslots ? tid : 0;
}

/* Fetch-and-add without a lock prefix: atomic against a signal handler of the
 * same thread, which is the only other writer of this slot while it runs. */
static inline uint64_t tick(uint64_t *p, uint64_t step)
{
	uint64_t v = step;
	__asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

/* Whether a monotonic read comes from the code of a managed runtime (shared.h,
 * quiet[]).  `fp` is this function's frame: above it the saved frame pointer
 * of the caller, the C library's clock_gettime, which keeps its own caller's
 * frame pointer (it has no frame of its own); one word above that frame sits
 * the address the function that asked for the time returns to.  That address
 * is the runtime's own code for its bookkeeping, and elsewhere (compiled Java
 * code, the interpreter's native call stub: System.nanoTime) for the
 * program's reads.  The frame must lie just above the stack pointer, aligned
 * as a frame pointer is, or the read counts as the program's. */
static int from_runtime(const struct dt_span *q, const unsigned long *fp)
{
	unsigned long sp = (unsigned long)(fp + 2);
	unsigned long caller_fp = fp[0];
	if (caller_fp <= sp || caller_fp - sp > 1024 || (caller_fp & 15))
		return 0;
	unsigned long ra = ((const unsigned long *)caller_fp)[1];
	return ra >= q->lo && ra < q->hi;
}

static uint64_t read_clock(int cls, const unsigned long *fp)
{
	const struct dt_header *h = header();
	unsigned long tid = my_tid();
	struct dt_slot *s = slot_at(tid);
	switch (cls) {
	case DT_C_RT: {
		const uint32_t *rt_index = (const uint32_t *)slot_at(h->nslots);
		uint32_t shared = rt_index[tid];
		return tick(&slot_at(shared && shared < h->nslots ? shared : tid)->rt, h->rt_step);
	}
	case DT_C_MONO: {
		const struct dt_span *q = (const struct dt_span *)(__ehdr_start + DT_TABLE_OFF + dt_quiet_off(h->nslots)) + tid;
		if (fp && q->hi && from_runtime(q, fp))
			return s->mono;
		return tick(&s->mono, h->mono_step);
	}
	default:
		return tick(&s->cpu, h->cpu_step);
	}
}

__attribute__((visibility("default")))
int __vdso_clock_gettime(int id, struct ts_ *ts)
{
	int cls = dt_classify(id);
	if (cls == DT_C_BAD)
		return -EINVAL_;
	uint64_t v = read_clock(cls, (const unsigned long *)__builtin_frame_address(0));
	if (id == 11)
		v += 37 * NS; /* TAI - UTC */
	ts->tv_sec = (long)(v / NS);
	ts->tv_nsec = (long)(v % NS);
	return 0;
}

__attribute__((visibility("default")))
int __vdso_gettimeofday(struct tv_ *tv, struct tz_ *tz)
{
	if (tv) {
		uint64_t v = read_clock(DT_C_RT, 0);
		tv->tv_sec = (long)(v / NS);
		tv->tv_usec = (long)((v % NS) / 1000);
	}
	if (tz) {
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

__attribute__((visibility("default")))
time_t_ __vdso_time(time_t_ *t)
{
	time_t_ v = (time_t_)(read_clock(DT_C_RT, 0) / NS);
	if (t)
		*t = v;
	return v;
}

__attribute__((visibility("default")))
int __vdso_clock_getres(int id, struct ts_ *res)
{
	if (dt_classify(id) == DT_C_BAD)
		return -EINVAL_;
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = (id == 5 || id == 6) ? 4000000 : 1;
	}
	return 0;
}

__attribute__((visibility("default")))
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	(void)unused;
	if (cpu)
		*cpu = 0;
	if (node)
		*node = 0;
	return 0;
}

/* The unprefixed aliases the kernel's vDSO exports too. */
int clock_gettime(int, struct ts_ *) __attribute__((weak, alias("__vdso_clock_gettime"), visibility("default")));
int gettimeofday(struct tv_ *, struct tz_ *) __attribute__((weak, alias("__vdso_gettimeofday"), visibility("default")));
time_t_ time(time_t_ *) __attribute__((weak, alias("__vdso_time"), visibility("default")));
int clock_getres(int, struct ts_ *) __attribute__((weak, alias("__vdso_clock_getres"), visibility("default")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu"), visibility("default")));

/* Not part of the vDSO interface: the supervisor sends a thread here instead
 * of letting its arch_prctl(ARCH_SET_FS) return (having set FS itself), to
 * arm CPUID and TSC faulting from inside the process with no further stop.
 * r11 holds the address to go back to; flags and every register the program
 * may rely on across a system call are kept. */
__asm__(
	"	.text\n"
	"	.globl dt_arm_faulting\n"
	"	.hidden dt_arm_faulting\n"
	"	.type dt_arm_faulting, @function\n"
	"dt_arm_faulting:\n"
	"	sub $512, %rsp\n"
	"	pushfq\n"
	"	push %r11\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	push %rdx\n"
	"	mov $0x1012, %edi\n"   /* ARCH_SET_CPUID */
	"	xor %esi, %esi\n"      /* 0: cpuid faults */
	"	mov $158, %eax\n"      /* arch_prctl */
	"	syscall\n"
	"	mov $26, %edi\n"       /* PR_SET_TSC */
	"	mov $2, %esi\n"        /* PR_TSC_SIGSEGV */
	"	xor %edx, %edx\n"
	"	mov $157, %eax\n"      /* prctl */
	"	syscall\n"
	"	pop %rdx\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	pop %r11\n"
	"	popfq\n"
	"	lea 512(%rsp), %rsp\n"
	"	xor %eax, %eax\n"      /* what arch_prctl(ARCH_SET_FS) returns */
	"	jmp *%r11\n"
	"	.size dt_arm_faulting, .-dt_arm_faulting\n");

/* Not part of the vDSO interface either: the one instruction from which the
 * build's stat-family calls run without a stop (filter.c lets them through
 * when the instruction pointer is dt_fs_syscall_ret).  The stat shim
 * (statshim.c) calls it as long dt_fs_syscall(nr, a0, a1, a2, a3) and
 * rewrites the kernel's answer itself, from the view's published identities
 * (fspub.c). */
__asm__(
	"	.text\n"
	"	.globl dt_fs_syscall\n"
	"	.hidden dt_fs_syscall\n"
	"	.globl dt_fs_syscall_ret\n"
	"	.hidden dt_fs_syscall_ret\n"
	"	.type dt_fs_syscall, @function\n"
	"dt_fs_syscall:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	syscall\n"
	"dt_fs_syscall_ret:\n"
	"	ret\n"
	"	.size dt_fs_syscall, .-dt_fs_syscall\n");
