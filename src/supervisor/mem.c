/* Reading and writing a stopped tracee's registers and memory. */
#include "supervisor.h"

#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

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
