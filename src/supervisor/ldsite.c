/* Where the dynamic loader makes its fstat calls in the build's processes.
 *
 * At every exec, before any preloaded library can answer, the loader
 * (ld-linux-x86-64.so.2) fstats each file it maps: /etc/ld.so.preload, the
 * stat shim, ld.so.cache, every library; 4 to 17 calls per program, each a
 * round trip to the supervisor.  It only compares the answers among
 * themselves (is this library already loaded: device and inode) and maps
 * ld.so.cache by its size; nothing of them reaches the program or its
 * output.  So ipfilter.c lets those calls run in the kernel, recognised by
 * the address of the loader's one `newfstatat` instruction and the
 * AT_EMPTY_PATH flag of an fstat; stat by path and every other caller still
 * go to the view.
 *
 * The address: with ASLR off the kernel maps the loader at the same place in
 * every process that has the same stack limit.  A probe child with the
 * build's personality execs a dynamic program and stops at once; its maps
 * give the loader's base, and the loader's executable segment holds exactly
 * one `mov $SYS_newfstatat,%eax; syscall`.  Anything unexpected (another
 * loader, no or several such sequences) leaves the address 0 and every call
 * goes to the view as before; a process whose loader lies elsewhere (a
 * changed stack limit) simply does not match. */
#include "supervisor.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_PROGRAM "/bin/true"

/* mov $SYS_newfstatat,%eax; syscall */
static const unsigned char fstat_site[] = { 0xb8, SYS_newfstatat & 0xff, SYS_newfstatat >> 8, 0x00, 0x00, 0x0f, 0x05 };

/* the interpreter a program names (PT_INTERP), resolved */
static bool interpreter_of(const char *prog, char *out)
{
	int fd = open(prog, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Ehdr eh;
	bool ok = false;
	if (pread(fd, &eh, sizeof eh, 0) == sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_phentsize == sizeof(Elf64_Phdr)) {
		for (int i = 0; i < eh.e_phnum && !ok; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != sizeof ph)
				break;
			char path[PATH_MAX];
			if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz >= sizeof path)
				continue;
			if (pread(fd, path, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
				break;
			path[ph.p_filesz - 1] = 0;
			ok = realpath(path, out) != NULL;
		}
	}
	close(fd);
	return ok;
}

/* the loader's base address in a process of the build's personality; the
 * probe's PID is given back (ns_last_pid, when the supervisor may write it)
 * so that the build's PIDs do not move */
static unsigned long probe_base(const char *loader)
{
	char last[32] = "";
	int lfd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	if (lfd >= 0) {
		ssize_t n = read(lfd, last, sizeof last - 1);
		last[n > 0 ? n : 0] = 0;
		close(lfd);
	}
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		personality(ADDR_NO_RANDOMIZE);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			execl(PROBE_PROGRAM, PROBE_PROGRAM, (char *)NULL);
		_exit(127);
	}
	unsigned long base = 0;
	int st;
	if (waitpid(pid, &st, 0) == pid && WIFSTOPPED(st)) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/maps", pid);
		FILE *f = fopen(path, "re");
		char line[PATH_MAX + 128];
		while (f && fgets(line, sizeof line, f)) {
			unsigned long start, off;
			char name[PATH_MAX] = "";
			if (sscanf(line, "%lx-%*x %*s %lx %*s %*s %4095s", &start, &off, name) == 3 && off == 0 && !strcmp(name, loader)) {
				base = start;
				break;
			}
		}
		if (f)
			fclose(f);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (last[0] && (lfd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(lfd, last, strlen(last)) < 0)
			debug("ldsite: cannot give the probe's PID back: %m");
		close(lfd);
	}
	return base;
}

/* the loader's executable segment, as linked (ldsite_loader_text adds the base) */
static unsigned long text_vaddr, text_len;

/* the offset of the instruction after the loader's one fstat `syscall`, or 0 */
static unsigned long site_offset(const char *loader)
{
	int fd = open(loader, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	unsigned long found = 0;
	int matches = 0;
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_type != ET_DYN ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		goto out; /* a loader linked at an address of its own: its base is not where it is mapped */
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != sizeof ph)
			goto out;
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || ph.p_filesz > (16u << 20))
			continue;
		unsigned char *text = malloc(ph.p_filesz);
		if (!text || pread(fd, text, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz) {
			free(text);
			goto out;
		}
		if (!text_len) {
			text_vaddr = ph.p_vaddr;
			text_len = ph.p_filesz;
		}
		for (size_t k = 0; k + sizeof fstat_site <= ph.p_filesz; k++)
			if (text[k] == fstat_site[0] && !memcmp(text + k, fstat_site, sizeof fstat_site)) {
				matches++;
				found = ph.p_vaddr + k + sizeof fstat_site;
			}
		free(text);
	}
out:
	close(fd);
	return matches == 1 ? found : 0;
}

static unsigned long loader_base;

unsigned long ldsite_loader_base(void)
{
	return loader_base;
}

bool ldsite_loader_text(unsigned long *lo, unsigned long *hi)
{
	if (!loader_base || !text_len)
		return false;
	*lo = loader_base + text_vaddr;
	*hi = *lo + text_len;
	return true;
}

unsigned long ldsite_fstat_ip(void)
{
	static bool done;
	static unsigned long ip;
	if (done)
		return ip;
	done = true;
	char loader[PATH_MAX];
	if (!interpreter_of(PROBE_PROGRAM, loader)) {
		debug("ldsite: %s names no loader: the loader's fstat calls stop", PROBE_PROGRAM);
		return 0;
	}
	unsigned long off = site_offset(loader);
	unsigned long base = off ? probe_base(loader) : 0;
	if (!off || !base) {
		debug("ldsite: %s: no single fstat site (%#lx) or no base (%#lx): the loader's fstat calls stop", loader, off, base);
		return 0;
	}
	ip = base + off;
	loader_base = base;
	debug("ldsite: %s makes its fstat calls at %#lx", loader, ip);
	return ip;
}
