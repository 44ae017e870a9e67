/* The filesystem view's handles on the build's processes: per process, a
 * descriptor of its working directory and a pidfd, kept between its calls so
 * that a relative path or a descriptor argument costs the supervisor one
 * system call (statx at the kept directory, or pidfd_getfd) instead of a walk
 * through /proc/TID/cwd or /proc/TID/fd/N, which costs ~7 us more per stat
 * here (bench/README.md).
 *
 * A working directory changes only by chdir or fchdir, which stop in the
 * supervisor: their entry drops every kept directory and none is kept until
 * their exit (a process's threads share their working directory, and one made
 * with CLONE_FS shares it with its parent).  A process's handles are dropped
 * when a new process takes its id.  Processes in another root or mount
 * namespace are left to the kernel, as before (fsstat.c). */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct proc_handles {
	pid_t tgid;  /* 0: free */
	int cwd;     /* -1: not kept */
	int pidfd;   /* -1: not opened yet */
};

#define NPROC 128
static struct proc_handles handles[NPROC];
static int cwd_changes; /* chdir/fchdir calls between their entry and their exit */

static void drop(struct proc_handles *h)
{
	if (h->cwd >= 0)
		close(h->cwd);
	if (h->pidfd >= 0)
		close(h->pidfd);
	h->tgid = 0;
	h->cwd = h->pidfd = -1;
}

static struct proc_handles *handles_of(pid_t tgid)
{
	struct proc_handles *h = &handles[(unsigned)tgid % NPROC];
	if (h->tgid != tgid) {
		if (h->tgid)
			drop(h);
		h->tgid = tgid;
		h->cwd = h->pidfd = -1;
	}
	return h;
}

void fs_proc_new(pid_t tgid)
{
	pthread_mutex_lock(&fs_lock);
	struct proc_handles *h = &handles[(unsigned)tgid % NPROC];
	if (h->tgid == tgid)
		drop(h);
	pthread_mutex_unlock(&fs_lock);
}

void fs_cwd_changing(bool begins)
{
	if (begins) {
		cwd_changes++;
		for (size_t i = 0; i < NPROC; i++)
			if (handles[i].cwd >= 0) {
				close(handles[i].cwd);
				handles[i].cwd = -1;
			}
	} else if (cwd_changes > 0) {
		cwd_changes--;
	}
}

/* the working directory of thread tid: a kept descriptor (*owned false) or,
 * while a chdir is in flight, a fresh one (*owned true); -errno on failure */
static int cwd_of(pid_t tid, pid_t tgid, bool *owned)
{
	char p[64];
	struct proc_handles *h = handles_of(tgid);
	*owned = false;
	if (h->cwd >= 0)
		return h->cwd;
	snprintf(p, sizeof p, "/proc/%d/cwd", tid);
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (cwd_changes) {
		*owned = true;
		return fd;
	}
	return h->cwd = fd;
}

/* the tracee's descriptor n as one of ours (to be closed); -errno on failure (EBADF: it has none) */
int fs_tracee_fd(pid_t tgid, int n)
{
	struct proc_handles *h = handles_of(tgid);
	if (h->pidfd < 0) {
		h->pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
		if (h->pidfd < 0)
			return -errno;
	}
	int fd = (int)syscall(SYS_pidfd_getfd, h->pidfd, n, 0);
	return fd < 0 ? -errno : fd;
}

int fs_reach(pid_t tid, pid_t tgid, int dirfd, const char *path, bool empty_ok, struct reach *r)
{
	r->fd = AT_FDCWD;
	r->name = path;
	r->owned = false;
	if (!path[0] && !empty_ok)
		return 0;
	if (proc_foreign[tgid])
		return 0;
	if (path[0] == '/')
		return 1;
	int fd = dirfd == AT_FDCWD ? cwd_of(tid, tgid, &r->owned) : fs_tracee_fd(tgid, dirfd);
	if (fd < 0)
		return fd;
	if (dirfd != AT_FDCWD)
		r->owned = true;
	r->fd = fd;
	return 1;
}

void fs_reach_done(struct reach *r)
{
	if (r->owned && r->fd >= 0)
		close(r->fd);
	r->owned = false;
	r->fd = -1;
}

int do_statx_at(const struct reach *r, int flags, struct kstatx *x)
{
	if (!r->name[0])
		flags |= AT_EMPTY_PATH;
	long rc = syscall(SYS_statx, r->fd, r->name, flags, X_BASIC | X_BTIME, x);
	return rc < 0 ? -errno : 0;
}
