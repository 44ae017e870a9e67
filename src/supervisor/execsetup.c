/* What happens at every execve of a build process, before its first
 * instruction: map the substitute vDSO and the clock table, point
 * AT_SYSINFO_EHDR at it, replace the AT_RANDOM bytes, and re-arm CPUID
 * faulting (execve resets it). */
#include "supervisor.h"
#include "stream.h"

#include <asm/prctl.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

static bool run_to_syscall_exit(struct thread *t)
{
	for (int guard = 0; guard < 8; guard++) {
		if (ptrace(PTRACE_SYSCALL, t->tid, NULL, NULL) < 0)
			return false;
		int st;
		pid_t w;
		do
			w = waitpid(t->tid, &st, __WALL);
		while (w < 0 && errno == EINTR);
		if (w < 0 || !WIFSTOPPED(st))
			return false;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			struct ptrace_syscall_info info;
			if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof info, &info) >= 0 &&
			    info.op == PTRACE_SYSCALL_INFO_EXIT)
				return true;
		} else if (WSTOPSIG(st) != SIGTRAP) {
			t->pend_sig = WSTOPSIG(st);
		}
	}
	return false;
}

struct auxv_pos {
	unsigned long sysinfo_addr;  /* where the AT_SYSINFO_EHDR value sits on the stack */
	unsigned long random_ptr;    /* AT_RANDOM value: address of the 16 bytes */
	unsigned long ignore_addr;   /* an AT_IGNORE entry we could reuse */
	unsigned long interp_base;   /* AT_BASE: non-zero when ld.so is loaded */
	unsigned long phdr, phnum;   /* AT_PHDR, AT_PHNUM: the program's headers in memory */
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
			pos->sysinfo_addr = addr + sizeof w;
		else if (type == AT_RANDOM)
			pos->random_ptr = val;
		else if (type == AT_BASE)
			pos->interp_base = val;
		else if (type == AT_PHDR)
			pos->phdr = val;
		else if (type == AT_PHNUM)
			pos->phnum = val;
		else if (type == AT_IGNORE && !pos->ignore_addr)
			pos->ignore_addr = addr;
	}
	return -1;
}

static bool map_vdso(struct thread *t, const struct user_regs_struct *saved, unsigned long insn)
{
	char path[256];
	snprintf(path, sizeof path, "%s/state", cfg.state_dir);
	size_t plen = strlen(path) + 1;
	unsigned long spath = scratch_addr(saved, plen);
	if (mem_write(t->tid, spath, path, plen) < 0)
		return false;
	long fd = inject(t, saved, insn, SYS_openat, (unsigned long)AT_FDCWD, spath, O_RDWR | O_CLOEXEC, 0, 0, 0);
	if (fd < 0) {
		warnx_("cannot open %s in pid %d: %s", path, t->tid, strerror((int)-fd));
		return false;
	}
	long a = inject(t, saved, insn, SYS_mmap, DT_VDSO_BASE, DT_IMAGE_MAX, PROT_READ | PROT_EXEC,
			MAP_PRIVATE | MAP_FIXED_NOREPLACE, (unsigned long)fd, 0);
	size_t table_len = dt_table_len(nslots);
	long b = a == (long)DT_VDSO_BASE
		 ? inject(t, saved, insn, SYS_mmap, DT_VDSO_BASE + DT_TABLE_OFF, table_len,
			  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, (unsigned long)fd, DT_TABLE_OFF)
		 : -1;
	inject(t, saved, insn, SYS_close, (unsigned long)fd, 0, 0, 0, 0, 0);
	if (a != (long)DT_VDSO_BASE || b != (long)(DT_VDSO_BASE + DT_TABLE_OFF)) {
		warnx_("cannot map the substitute vDSO in pid %d (%ld, %ld): time reads fall back to traps", t->tid, a, b);
		if (a == (long)DT_VDSO_BASE)
			inject(t, saved, insn, SYS_munmap, DT_VDSO_BASE, DT_IMAGE_MAX, 0, 0, 0, 0);
		return false;
	}
	return true;
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

void on_exec(struct thread *t)
{
	unsigned long former = 0;
	ptrace(PTRACE_GETEVENTMSG, t->tid, NULL, &former);
	if ((pid_t)former != t->tid && former > 0) {
		/* a non-leader thread exec'ed: it takes over the leader's id */
		thread_move((pid_t)former, t->tid);
		t = thread_get(t->tid);
	}
	stats.execs++;
	t->nexecs++;

	/* the tracee is still inside execve: let it reach the syscall-exit stop
	 * so that the next stops belong to the calls we inject */
	if (!run_to_syscall_exit(t))
		return;
	struct user_regs_struct saved;
	if (regs_get(t->tid, &saved) < 0)
		return;
	/* borrow the entry point's first bytes for a `syscall` instruction */
	unsigned long insn = saved.rip;
	errno = 0;
	long orig = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)insn, NULL);
	if (errno)
		die("cannot read the entry point of pid %d: %m", t->tid);
	long patched = (orig & ~0xffffL) | 0x050f;
	if (ptrace(PTRACE_POKETEXT, t->tid, (void *)insn, (void *)patched) < 0)
		die("cannot patch the entry point of pid %d: %m", t->tid);

	bool mapped = map_vdso(t, &saved, insn);
	struct auxv_pos pos;
	bool found = find_auxv(t->tid, saved.rsp, &pos) == 0;
	proc_go[t->tgid] = found && is_go_program(t->tid, &pos);
	clock_share_rt(t->tid, 0);
	if (found && pos.interp_base) {
		/* dynamic program: ld.so probes cpuid ~70 times before any library
		 * code runs; arm CPUID faulting at its first trapped system call
		 * (ld.so opening a library), before any constructor runs */
		t->cpuid_pending = true;
	} else {
		long c = inject(t, &saved, insn, SYS_arch_prctl, ARCH_SET_CPUID, 0, 0, 0, 0, 0);
		if (c < 0 && c != -ENODEV)
			debug("ARCH_SET_CPUID failed in pid %d: %ld", t->tid, c);
	}

	ptrace(PTRACE_POKETEXT, t->tid, (void *)insn, (void *)orig);
	regs_set(t->tid, &saved);

	if (!found) {
		warnx_("cannot find the auxiliary vector of pid %d", t->tid);
		return;
	}
	if (mapped) {
		unsigned long base = DT_VDSO_BASE;
		if (pos.sysinfo_addr) {
			mem_write(t->tid, pos.sysinfo_addr, &base, sizeof base);
		} else if (pos.ignore_addr) {
			unsigned long pair[2] = { AT_SYSINFO_EHDR, base };
			mem_write(t->tid, pos.ignore_addr, pair, sizeof pair);
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

/* Arms CPUID faulting in a thread stopped at a seccomp stop: the pending
 * system call is skipped, arch_prctl runs in its place, and the original call
 * is restarted (it will stop here again and be handled as usual). */
void arm_cpuid_at_seccomp_stop(struct thread *t)
{
	struct user_regs_struct orig, r;
	if (regs_get(t->tid, &orig) < 0)
		return resume(t, 0);
	r = orig;
	r.orig_rax = (unsigned long long)-1;
	r.rax = (unsigned long long)-ENOSYS;
	regs_set(t->tid, &r);
	if (!run_to_syscall_exit(t)) /* runs to the skipped call's exit stop */
		return;
	long c = inject(t, &orig, orig.rip - 2, SYS_arch_prctl, ARCH_SET_CPUID, 0, 0, 0, 0, 0);
	if (c < 0 && c != -ENODEV)
		debug("ARCH_SET_CPUID failed in pid %d: %ld", t->tid, c);
	r = orig;
	r.rip -= 2;
	r.rax = orig.orig_rax;
	regs_set(t->tid, &r);
	resume(t, 0);
}
