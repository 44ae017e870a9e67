/* The kernel maps its own vDSO into every new program, with the pages of
 * time data it reads ([vvar], [vvar_vclock]): calling it, or reading those
 * pages, gives the real clock.  execsetup.c unmaps them at every exec; this
 * finds where they are. */
#include "supervisor.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool is_kernel_time_mapping(const char *name)
{
	return strcmp(name, "[vdso]") == 0 || strncmp(name, "[vvar", 5) == 0;
}

void kernel_vdso_find(pid_t tid, struct kernel_vdso *kv)
{
	kv->start = kv->len = 0;
	char path[64], buf[16384];
	snprintf(path, sizeof path, "/proc/%d/maps", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
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
	if (broken) {
		warnx_("the kernel's vDSO of pid %d is not in one piece: left mapped", tid);
		return;
	}
	kv->start = lo;
	kv->len = hi - lo;
}
