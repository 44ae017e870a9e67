/* What happens at every execve of a build process, before its first
 * instruction: map the substitute vDSO and the clock table, point
 * AT_SYSINFO_EHDR at it, replace the AT_RANDOM bytes, and re-arm CPUID
 * faulting (execve resets it). */
#include "supervisor.h"
#include "verdict.h"
#include "stream.h"
#include "vdso_syms.h"

#include <asm/prctl.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/ptrace.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Runs one system call inside the stopped tracee at `insn` (the address of a
 * `syscall` instruction) and returns its result. */
long inject(struct thread *t, const struct user_regs_struct *base, unsigned long insn,
		   long nr, unsigned long a0, unsigned long a1, unsigned long a2,
		   unsigned long a3, unsigned long a4, unsigned long a5)
{
	struct user_regs_struct r = *base;
	r.rip = insn;
	r.rax = (unsigned long long)nr;
	r.orig_rax = (unsigned long long)nr;
	r.rdi = a0; r.rsi = a1; r.rdx = a2; r.r10 = a3; r.r8 = a4; r.r9 = a5;
	if (regs_set(t->tid, &r) < 0)
		return -EFAULT;
	for (int guard = 0; guard < 16; guard++) {
		if (ptrace(PTRACE_SYSCALL, t->tid, NULL, NULL) < 0)
			return -ESRCH;
		int st;
		pid_t w;
		do
			w = waitpid(t->tid, &st, __WALL);
		while (w < 0 && errno == EINTR);
		if (w < 0 || !WIFSTOPPED(st))
			return -ESRCH;
		int sig = WSTOPSIG(st);
		if (sig == (SIGTRAP | 0x80)) {
			struct ptrace_syscall_info info;
			if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof info, &info) < 0)
				return -EFAULT;
			if (info.op == PTRACE_SYSCALL_INFO_EXIT)
				return (long)info.exit.rval;
			continue; /* entry stop */
		}
		if (sig == SIGTRAP && (st >> 16) == PTRACE_EVENT_SECCOMP)
			continue; /* our own filter saw the injected call */
		/* a signal arrived meanwhile: keep it for later */
		if (sig != SIGTRAP)
			t->pend_sig = sig;
	}
	return -EIO;
}

struct auxv_pos {
	unsigned long sysinfo_addr;  /* where the AT_SYSINFO_EHDR value sits on the stack */
	unsigned long sysinfo_val;   /* the kernel's vDSO: its ELF header */
	unsigned long random_ptr;    /* AT_RANDOM value: address of the 16 bytes */
	unsigned long ignore_addr;   /* an AT_IGNORE entry we could reuse */
	unsigned long flags_addr;    /* AT_FLAGS (always 0, read by nobody): reused when the
				      * kernel gave no vDSO (booted with vdso=0) */
	unsigned long phdr, phnum;   /* AT_PHDR, AT_PHNUM: the program's headers in memory */
	unsigned long interp;        /* AT_BASE: where its dynamic loader is (0: a static program) */
};

/* Reads the tracee's stack word by word (a page at a time) from argc on. */
struct stack_reader {
	pid_t tid;
	unsigned long base; /* address of words[0] */
	unsigned long words[512];
	size_t n;
};

static int word_at(struct stack_reader *sr, unsigned long addr, unsigned long *out)
{
	if (addr < sr->base || addr >= sr->base + sr->n * sizeof(unsigned long)) {
		size_t len = 4096 - (addr & 4095);
		if (mem_read(sr->tid, addr, sr->words, len) < 0)
			return -1;
		sr->base = addr;
		sr->n = len / sizeof(unsigned long);
	}
	*out = sr->words[(addr - sr->base) / sizeof(unsigned long)];
	return 0;
}

static int find_auxv(pid_t tid, unsigned long sp, struct auxv_pos *pos)
{
	memset(pos, 0, sizeof *pos);
	struct stack_reader sr = { .tid = tid };
	unsigned long addr = sp + sizeof(unsigned long), w;
	for (int nulls = 0; nulls < 2; addr += sizeof w) { /* argv, then envp */
		if (word_at(&sr, addr, &w) < 0)
			return -1;
		if (w == 0)
			nulls++;
	}
	for (int guard = 0; guard < 256; guard++, addr += 2 * sizeof w) {
		unsigned long type, val;
		if (word_at(&sr, addr, &type) < 0 || word_at(&sr, addr + sizeof w, &val) < 0)
			return -1;
		if (type == AT_NULL)
			return 0;
		if (type == AT_SYSINFO_EHDR)
			pos->sysinfo_addr = addr + sizeof w, pos->sysinfo_val = val;
		else if (type == AT_RANDOM)
			pos->random_ptr = val;
		else if (type == AT_PHDR)
			pos->phdr = val;
		else if (type == AT_PHNUM)
			pos->phnum = val;
		else if (type == AT_BASE)
			pos->interp = val;
		else if (type == AT_FLAGS && val == 0)
			pos->flags_addr = addr;
		else if (type == AT_IGNORE && !pos->ignore_addr)
			pos->ignore_addr = addr;
	}
	return -1;
}

/* A Go program carries a PT_NOTE with owner "Go" (its build id). */
static bool is_go_program(pid_t tid, const struct auxv_pos *pos)
{
	if (!pos->phdr || !pos->phnum || pos->phnum > 64)
		return false;
	Elf64_Phdr ph[64];
	if (mem_read(tid, pos->phdr, ph, pos->phnum * sizeof ph[0]) < 0)
		return false;
	/* load bias: the PT_PHDR entry says where the headers were linked */
	unsigned long bias = 0;
	for (unsigned long i = 0; i < pos->phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = pos->phdr - ph[i].p_vaddr;
	for (unsigned long i = 0; i < pos->phnum; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096)
			continue;
		unsigned char notes[4096];
		if (mem_read(tid, bias + ph[i].p_vaddr, notes, ph[i].p_filesz) < 0)
			continue;
		for (size_t off = 0; off + 12 <= ph[i].p_filesz;) {
			uint32_t namesz, descsz;
			memcpy(&namesz, notes + off, 4);
			memcpy(&descsz, notes + off + 4, 4);
			if (namesz == 4 && off + 16 <= ph[i].p_filesz && memcmp(notes + off + 12, "Go\0\0", 4) == 0)
				return true;
			off += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
		}
	}
	return false;
}

/* The kernel's vDSO and its data pages in a program just exec'ed.  With ASLR
 * off the kernel puts them at the same place in every program (the same
 * stack limit), always together: once /proc/PID/maps has shown where for a
 * vDSO at `ehdr`, a later program with its vDSO there has them in the same
 * range, and its maps (~20 us to read here) are not read again. */
static bool kernel_vdso_at(pid_t tid, unsigned long ehdr, struct kernel_vdso *kv)
{
	static unsigned long known_ehdr;
	static struct kernel_vdso known;
	if (ehdr && ehdr == known_ehdr) {
		*kv = known;
		return true;
	}
	if (!kernel_vdso_find(tid, kv))
		return false;
	if (ehdr && kv->len && ehdr >= kv->start && ehdr < kv->start + kv->len) {
		known_ehdr = ehdr;
		known = *kv;
	}
	return true;
}

extern const unsigned char exec_stub[], exec_stub_addr[], exec_stub_end[];

/* Runs exec_stub in the stopped program: returns false if it could not run. */
static bool run_stub(struct thread *t, int fd, const struct user_regs_struct *saved, unsigned long flags,
		     const struct kernel_vdso *kv, struct user_regs_struct *out)
{
	size_t len = (size_t)(exec_stub_end - exec_stub);
	unsigned char code[1024], orig[1024];
	if (len > sizeof code)
		die("internal: exec stub too large");
	memcpy(code, exec_stub, len);
	tableserve_addr(code + (exec_stub_addr - exec_stub), (size_t)(exec_stub_end - exec_stub_addr));
	if (fd < 0)
		return false;
	bool ok = false;
	if (pread(fd, orig, len, (off_t)saved->rip) != (ssize_t)len || pwrite(fd, code, len, (off_t)saved->rip) != (ssize_t)len)
		goto out;
	struct user_regs_struct r = *saved;
	r.r12 = dt_table_len(nslots);
	r.r13 = flags;
	r.rbp = cfg.tsc_cookie;
	r.r14 = kv->start;
	r.r15 = kv->len;
	if (regs_set(t->tid, &r) < 0)
		goto restore;
	for (int guard = 0; guard < 32; guard++) {
		if (ptrace(PTRACE_CONT, t->tid, NULL, NULL) < 0)
			goto restore;
		int st;
		pid_t w;
		do
			w = waitpid(t->tid, &st, __WALL);
		while (w < 0 && errno == EINTR);
		if (w < 0 || !WIFSTOPPED(st))
			goto out; /* gone */
		if (WSTOPSIG(st) == SIGTRAP && (st >> 16) == 0) {
			ok = regs_get(t->tid, out) == 0;
			break;
		}
		if (WSTOPSIG(st) == SIGTRAP)
			continue; /* a seccomp stop of the stub's own calls (open trapping fallback) */
		if (log_verbose) {
			struct user_regs_struct x;
			regs_get(t->tid, &x);
			debug("exec stub of pid %d: signal %d at %llx (stub at %llx)", t->tid, WSTOPSIG(st), x.rip, saved->rip);
		}
		t->pend_sig = WSTOPSIG(st); /* a signal meanwhile: deliver it later */
	}
restore:
	if (pwrite(fd, orig, len, (off_t)saved->rip) != (ssize_t)len)
		die("cannot restore the entry point of pid %d: %m", t->tid);
out:
	return ok;
}

void on_exec(struct thread *t)
{
	unsigned long former = 0;
	ptrace(PTRACE_GETEVENTMSG, t->tid, NULL, &former);
	if ((pid_t)former != t->tid && former > 0) {
		/* a non-leader thread exec'ed: it takes over the leader's id */
		if (thread_get((pid_t)former)) {
			pid_t leader = t->tid; /* thread_move frees the leader's entry, t */
			thread_move((pid_t)former, leader);
			t = thread_get(leader);
		} else {
			/* its old id was already reported gone: the leader's
			 * entry stands for it, without what the leader had pending */
			t->pending = PEND_NONE;
			t->pend_argreg = t->pend_argreg2 = -1;
			t->pend_sig = 0;
			t->pend_rusage = 0;
		}
	}
	stats.execs++;
	procident_on_exec(t, (pid_t)former); /* counts the exec */

	struct user_regs_struct saved, res = { 0 };
	if (regs_get(t->tid, &saved) < 0)
		return;
	/* the program's memory, read-only pages included: the loader's rdtsc
	 * (ldtsc.c) and the exec stub are written through it */
	char mem[64];
	snprintf(mem, sizeof mem, "/proc/%d/mem", t->tid);
	int mem_fd = open(mem, O_RDWR | O_CLOEXEC);
	struct auxv_pos pos;
	bool found = find_auxv(t->tid, saved.rsp, &pos) == 0;
	if (!found)
		warnx_("cannot find the auxiliary vector of pid %d", t->tid);
	/* only a program the known loader starts: a static program may have
	 * mapped something else where that loader would be */
	unsigned long lo, hi;
	process_of(t->tgid)->loader = found && pos.interp && pos.interp == ldsite_loader_base();
	if (process_of(t->tgid)->loader)
		ldtsc_patch(t->tid, mem_fd);
	process_of(t->tgid)->go = found && is_go_program(t->tid, &pos);
	clock_share_rt(t->tid, 0);
	runtime_on_exec(t->tid);
	/* glibc probes cpuid ~70 times before any library or program code runs:
	 * CPUID faulting is armed when the C library sets up TLS
	 * (arch_prctl(ARCH_SET_FS): after those probes, before any constructor;
	 * the Go runtime does it first thing too).  rdtsc faulting, which execve
	 * keeps, stays on: the loader's TSC reads (~8, its own timing) fault in
	 * the first program and are replaced in the next ones (ldtsc.c), and the
	 * program stays in the supervisor's rdtsc mode (hostclock.h).  Only where
	 * the loader's place is unknown (no replacing) does the stub let it read
	 * the TSC until ARCH_SET_FS (bit 1), as before. */
	unsigned long flags = ldsite_loader_text(&lo, &hi) ? 0 : 2;
	bool mapped = false;
	/* the kernel's vDSO would read the real clock (and its data pages hold
	 * it): the stub unmaps them before mapping ours */
	struct kernel_vdso kv;
	if (!kernel_vdso_at(t->tid, found ? pos.sysinfo_val : 0, &kv))
		warnx_("the kernel's vDSO of pid %d is not in one piece: left mapped", t->tid);
	bool ran = run_stub(t, mem_fd, &saved, flags, &kv, &res);
	if (mem_fd >= 0)
		close(mem_fd);
	if (ran) {
		mapped = res.r14 == DT_VDSO_BASE && res.r15 == DT_VDSO_BASE + DT_TABLE_OFF;
		t->vdso_mapped = mapped;
		if (!mapped)
			warnx_("cannot map the substitute vDSO in pid %d (%lld, %lld): time reads fall back to traps",
			       t->tid, (long long)res.r14, (long long)res.r15);
		t->cpuid_pending = (long long)res.r13 == 0;
		if ((long long)res.r13 != 0)
			debug("PR_TSC_ENABLE refused in pid %d: %lld", t->tid, (long long)res.r13);
	}
	saved.rax = 0; /* what execve returned */
	if (clock_gs_tagged() && mapped)
		saved.gs_base = (unsigned long long)t->tid + 1; /* execve cleared it */
	regs_set(t->tid, &saved);
	if (!found)
		return;
	if (mapped) {
		unsigned long base = DT_VDSO_BASE;
		if (pos.sysinfo_addr) {
			mem_write(t->tid, pos.sysinfo_addr, &base, sizeof base);
		} else if (pos.ignore_addr || pos.flags_addr) {
			/* no kernel vDSO (vdso=0): announce ours in a spare entry */
			unsigned long pair[2] = { AT_SYSINFO_EHDR, base };
			mem_write(t->tid, pos.ignore_addr ? pos.ignore_addr : pos.flags_addr, pair, sizeof pair);
		}
	} else {
		stats.vdso_fallbacks++;
		if (pos.sysinfo_addr) {
			/* hide the real vDSO so every time read becomes a trapped syscall */
			unsigned long pair[2] = { AT_IGNORE, 0 };
			mem_write(t->tid, pos.sysinfo_addr - sizeof(unsigned long), pair, sizeof pair);
		}
	}
	if (pos.random_ptr) {
		uint8_t key[32], bytes[16];
		stream_derive(key, t->lineage, "at_random", t->nexecs);
		stream_fill(key, 0, bytes, sizeof bytes);
		mem_write(t->tid, pos.random_ptr, bytes, sizeof bytes);
	}
}

/* At a dynamic program's arch_prctl(ARCH_SET_FS), stopped by seccomp: set FS
 * ourselves, turn the call into prctl(PR_SET_TSC, PR_TSC_SIGSEGV), and at its
 * exit run arch_prctl(ARCH_SET_CPUID, 0) too (see on_exec). */
struct verdict arm_faulting_at_set_fs(struct thread *t, struct user_regs_struct *r)
{
	if (t->vdso_mapped) {
		/* one stop: skip the call, set FS, and let the thread arm its own
		 * faulting in dt_arm_faulting (vdso.c) on its way back */
		r->fs_base = r->rsi;
		r->orig_rax = (unsigned long long)-1;
		r->rax = 0;
		r->r11 = r->rip;
		r->rip = DT_VDSO_BASE + DT_ARM_FAULTING_OFF;
		regs_set(t->tid, r);
		return CONTINUE;
	}
	/* FS is set through the registers (SETREGS below writes fs_base too) */
	r->fs_base = r->rsi;
	t->pend_argreg = 0;
	t->pend_argval = r->rdi;
	t->pend_argreg2 = 1;
	t->pend_argval2 = r->rsi;
	r->orig_rax = SYS_prctl;
	r->rdi = PR_SET_TSC;
	r->rsi = PR_TSC_SIGSEGV;
	regs_set(t->tid, r);
	t->pending = PEND_ARM;
	return TO_EXIT;
}

void arm_cpuid_at_exit(struct thread *t, const struct user_regs_struct *r)
{
	long c = inject(t, r, r->rip - 2, SYS_arch_prctl, ARCH_SET_CPUID, 0, 0, 0, 0, 0);
	if (c < 0 && c != -ENODEV)
		debug("ARCH_SET_CPUID failed in pid %d: %ld", t->tid, c);
}
