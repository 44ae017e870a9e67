/* What the build learns about the machine through system calls: the kernel
 * and host name (uname), memory and uptime (sysinfo), the CPUs it may run on
 * and the one it runs on.  The same answer on every machine. */
#include "supervisor.h"
#include "verdict.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

struct verdict identity_on_uname(struct thread *t, struct user_regs_struct *r)
{
	struct utsname u;
	memset(&u, 0, sizeof u);
	strcpy(u.sysname, "Linux");
	strcpy(u.nodename, "detbuild");
	snprintf(u.release, sizeof u.release, "%s", cfg.release);
	strcpy(u.version, "#1 SMP PREEMPT_DYNAMIC detbuild");
	strcpy(u.machine, "x86_64");
	strcpy(u.domainname, "(none)");
	stats.identity_traps++;
	return SKIP(tracee_put(t->tid, r->rdi, &u, sizeof u));
}

struct verdict identity_on_sysinfo(struct thread *t, struct user_regs_struct *r)
{
	struct sysinfo si;
	memset(&si, 0, sizeof si);
	si.uptime = (long)(clock_last(t->tid, DT_C_MONO) / NS_PER_S);
	si.totalram = 8ULL << 30;
	si.freeram = 4ULL << 30;
	si.procs = 1;
	si.mem_unit = 1;
	stats.identity_traps++;
	return SKIP(tracee_put(t->tid, r->rdi, &si, sizeof si));
}

struct verdict identity_on_sched_getaffinity(struct thread *t, struct user_regs_struct *r)
{
	size_t len = (size_t)r->rsi;
	if (len < sizeof(unsigned long) || len % sizeof(unsigned long))
		return SKIP(-EINVAL);
	unsigned long mask = 1;
	stats.identity_traps++;
	long ret = tracee_put(t->tid, r->rdx, &mask, sizeof mask);
	return SKIP(ret < 0 ? ret : (long)sizeof mask);
}

struct verdict identity_on_getcpu(struct thread *t, struct user_regs_struct *r)
{
	unsigned zero = 0;
	if (r->rdi)
		tracee_put(t->tid, r->rdi, &zero, sizeof zero);
	if (r->rsi)
		tracee_put(t->tid, r->rsi, &zero, sizeof zero);
	return SKIP(0);
}
