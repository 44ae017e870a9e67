/* Reading and writing a stopped tracee's registers and memory, resuming it,
 * and finding the kernel's vDSO in it: see tracee.h. */
#include "tracee.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>
int mem_read(pid_t tid, unsigned long addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -1;
}

int mem_write(pid_t tid, unsigned long addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	/* not writable through the VM (e.g. read-only page): poke word by word */
	const unsigned char *p = buf;
	size_t done = n > 0 ? (size_t)n : 0;
	while (done < len) {
		unsigned long a = addr + done;
		unsigned long base = a & ~7UL;
		size_t off = a - base;
		errno = 0;
		long word = ptrace(PTRACE_PEEKDATA, tid, (void *)base, NULL);
		if (errno)
			return -1;
		size_t take = 8 - off < len - done ? 8 - off : len - done;
		memcpy((char *)&word + off, p + done, take);
		if (ptrace(PTRACE_POKEDATA, tid, (void *)base, (void *)word) < 0)
			return -1;
		done += take;
	}
	return 0;
}

long tracee_put(pid_t tid, unsigned long addr, const void *buf, size_t len)
{
	if (!addr)
		return -EFAULT;
	return mem_write(tid, addr, buf, len) < 0 ? -EFAULT : 0;
}

int mem_read_str(pid_t tid, unsigned long addr, char *buf, size_t max)
{
	size_t got = 0;
	while (got < max) {
		/* never read across a page boundary in one go: the next page may be
		 * unmapped; and most paths are short: try 256 bytes first */
		size_t room = 4096 - ((addr + got) & 4095);
		if (got == 0 && room > 256)
			room = 256;
		size_t take = room < max - got ? room : max - got;
		if (mem_read(tid, addr + got, buf + got, take) < 0)
			return -1;
		void *nul = memchr(buf + got, 0, take);
		if (nul)
			return 0;
		got += take;
	}
	return -1;
}

int regs_get(pid_t tid, struct user_regs_struct *r)
{
	return (int)ptrace(PTRACE_GETREGS, tid, NULL, r);
}

int regs_set(pid_t tid, const struct user_regs_struct *r)
{
	return (int)ptrace(PTRACE_SETREGS, tid, NULL, r);
}

unsigned long long *regs_arg(struct user_regs_struct *r, int i)
{
	switch (i) {
	case 0: return &r->rdi;
	case 1: return &r->rsi;
	case 2: return &r->rdx;
	case 3: return &r->r10;
	case 4: return &r->r8;
	default: return &r->r9;
	}
}

unsigned long scratch_addr(const struct user_regs_struct *r, size_t len)
{
	/* below the 128-byte red zone, 16-byte aligned */
	return ((unsigned long)r->rsp - 256 - len) & ~15UL;
}

bool tracee_kill_all(void)
{
	/* kill(-1) reaches every process of our namespace but ourselves; never
	 * call it elsewhere (outside a namespace it would reach the machine) */
	if (getpid() != 1)
		return false;
	kill(-1, SIGKILL);
	return true;
}

void tracee_resume(pid_t tid, int sig)
{
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

void tracee_resume_to_exit(pid_t tid)
{
	ptrace(PTRACE_SYSCALL, tid, NULL, NULL);
}

int tracee_skip(pid_t tid, struct user_regs_struct *r, long ret)
{
	r->orig_rax = (unsigned long long)-1;
	r->rax = (unsigned long long)ret;
	return regs_set(tid, r);
}

/* ---- the kernel's vDSO: execsetup.c unmaps it at every exec ---- */

static bool is_kernel_time_mapping(const char *name)
{
	return strcmp(name, "[vdso]") == 0 || strncmp(name, "[vvar", 5) == 0;
}

bool kernel_vdso_find(pid_t tid, struct kernel_vdso *kv)
{
	kv->start = kv->len = 0;
	char path[64], buf[16384];
	snprintf(path, sizeof path, "/proc/%d/maps", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = 0;
	/* the kernel places them next to each other: one range, or nothing if
	 * anything else lies between them (then they stay, and a warning says so) */
	unsigned long lo = 0, hi = 0;
	bool broken = false;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		unsigned long a, b;
		char name[64] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %63s", &a, &b, name) < 2)
			continue;
		if (!is_kernel_time_mapping(name)) {
			if (hi && a < hi)
				broken = true;
			continue;
		}
		if (hi && a != hi)
			broken = true;
		if (!lo)
			lo = a;
		hi = b;
	}
	if (broken)
		return false;
	kv->start = lo;
	kv->len = hi - lo;
	return true;
}
