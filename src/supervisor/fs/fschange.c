/* The filesystem view's times: calls that change files are let through and,
 * at their exit stop, stamp the logical time of the thread that made them. */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- changes: the times of what the build writes ---- */

enum stamp { S_NEW, S_MOD, S_META };

/* A change moves a time forward only: processes that change the same file or
 * directory concurrently (jobs creating files in one directory) leave it with
 * the latest of their times, whatever order they ran in. */
static void apply_stamp(struct ident *e, int64_t now, enum stamp what)
{
	if (what == S_NEW) {
		e->a = e->b = e->m = e->c = now;
		fspub_put(e);
		return;
	}
	if (what == S_MOD && now > e->m)
		e->m = now;
	if (now > e->c)
		e->c = now;
	fspub_put(e);
}

/* the change made at `now` to the file at our path: created, its contents, or its metadata */
static void stamp_path(const char *ours, bool nofollow, int64_t now, enum stamp what)
{
	struct kstatx x;
	if (do_statx(ours, nofollow ? AT_SYMLINK_NOFOLLOW : 0, &x) < 0)
		return;
	struct origin o = { .kind = O_PATH_, .path = ours, .nofollow = nofollow };
	struct ident *e = ident_get(real_dev(&x), x.ino, &o);
	track(e, &x);
	apply_stamp(e, now, what);
	fsstats.stamps++;
	debug("fs: stamp %s (%d) at %lld", ours, (int)what, (long long)now);
}

static void stamp_parent(const char *ours, int64_t now)
{
	char dir[4200];
	if (parent_of(ours, dir, sizeof dir))
		stamp_path(dir, false, now, S_MOD);
}

/* per process: the time every change of a multithreaded process carries */
static uint64_t *proc_change_rt;

void fs_on_threaded(struct thread *t)
{
	if (!cfg.fs_view)
		return;
	if (!proc_change_rt && !(proc_change_rt = calloc(nslots, sizeof *proc_change_rt)))
		die("out of memory");
	proc_change_rt[t->tgid] = clock_tick(t->tid, DT_C_RT);
}

uint64_t fs_change_time_of(pid_t tgid)
{
	return proc_change_rt && proc_change_rt[tgid] ? proc_change_rt[tgid] + cfg.rt_step : 0;
}

/* The logical time of a change made by the thread: its wall clock, one read.
 * In a process with several threads (Go, a JVM) how often each thread read
 * the clock before the change depends on scheduling, so all its changes carry
 * one time: its clock when it started its second thread.  Its parent, which
 * moves one step when it reaps it, is then never behind its files. */
static int64_t change_time(struct thread *t)
{
	if (process_of(t->tgid)->threaded && proc_change_rt)
		return (int64_t)proc_change_rt[t->tgid];
	return (int64_t)clock_tick(t->tid, DT_C_RT);
}

/* what an unlink or rename is about to remove: (dev, ino) if it is its last name */
static void note_victim(struct thread *t, const char *ours)
{
	struct stat st;
	t->fs_victim_dev = t->fs_victim_ino = 0;
	if (fstatat(AT_FDCWD, ours, &st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISDIR(st.st_mode) || st.st_nlink <= 1)) {
		t->fs_victim_dev = st.st_dev;
		t->fs_victim_ino = st.st_ino;
	}
}

static bool read_path(struct thread *t, unsigned long p, char *buf, size_t len)
{
	return p && mem_read_str(t->tid, p, buf, len) == 0;
}

#define UTIME_NOW_ ((1L << 30) - 1)
#define UTIME_OMIT_ ((1L << 30) - 2)

/* the times a utime-family call asks for, as (kind, ns): kind 0 explicit, 1 now, 2 omit */
static void read_utimes(struct thread *t, long nr, struct user_regs_struct *r)
{
	t->fs_tkind[0] = t->fs_tkind[1] = 1;
	unsigned long p = nr == SYS_utime || nr == SYS_utimes ? r->rsi : r->rdx;
	if (!p)
		return;
	if (nr == SYS_utime) {
		long v[2];
		if (mem_read(t->tid, p, v, sizeof v) < 0)
			return;
		for (int i = 0; i < 2; i++)
			t->fs_tkind[i] = 0, t->fs_tval[i] = v[i] * (int64_t)NS_PER_S;
	} else if (nr == SYS_utimensat) {
		long v[4];
		if (mem_read(t->tid, p, v, sizeof v) < 0)
			return;
		for (int i = 0; i < 2; i++) {
			long ns = v[2 * i + 1];
			t->fs_tkind[i] = ns == UTIME_NOW_ ? 1 : ns == UTIME_OMIT_ ? 2 : 0;
			t->fs_tval[i] = v[2 * i] * (int64_t)NS_PER_S + ns;
		}
	} else {
		long v[4]; /* two struct timeval */
		if (mem_read(t->tid, p, v, sizeof v) < 0)
			return;
		for (int i = 0; i < 2; i++)
			t->fs_tkind[i] = 0, t->fs_tval[i] = v[2 * i] * (int64_t)NS_PER_S + v[2 * i + 1] * 1000;
	}
}

/* The name a call would create, as (dirfd, path in the tracee); false for
 * calls that create none (an open without O_CREAT, unlink, utimes). */
static bool created_name(long nr, struct user_regs_struct *r, int *dirfd, unsigned long *pathp)
{
	*dirfd = AT_FDCWD;
	switch (nr) {
	case SYS_mkdir: case SYS_mknod: case SYS_creat: *pathp = r->rdi; return true;
	case SYS_mkdirat: case SYS_mknodat: *dirfd = (int)r->rdi, *pathp = r->rsi; return true;
	case SYS_symlink: case SYS_link: case SYS_rename: *pathp = r->rsi; return true;
	case SYS_symlinkat: *dirfd = (int)r->rsi, *pathp = r->rdx; return true;
	case SYS_linkat: case SYS_renameat: case SYS_renameat2: *dirfd = (int)r->rdx, *pathp = r->r10; return true;
	case SYS_open: *pathp = r->rdi; return (r->rsi & O_CREAT) != 0;
	case SYS_openat: *dirfd = (int)r->rdi, *pathp = r->rsi; return (r->rdx & O_CREAT) != 0;
	default: return false;
	}
}

/* a name longer than the view allows (fsdepth.c): refused as every file system would */
static bool creates_too_long(struct thread *t, long nr, struct user_regs_struct *r)
{
	int dirfd;
	unsigned long pathp;
	char path[4096];
	uint64_t how_flags = 0;
	if (nr == SYS_openat2 && mem_read(t->tid, r->rdx, &how_flags, sizeof how_flags) == 0 && (how_flags & O_CREAT))
		dirfd = (int)r->rdi, pathp = r->rsi;
	else if (!created_name(nr, r, &dirfd, &pathp))
		return false;
	if (process_of(t->tgid)->foreign)
		return false;
	if (!pathp || mem_read_str(t->tid, pathp, path, sizeof path) != 0)
		return false; /* EFAULT or longer than PATH_MAX: the kernel's own answer */
	return fs_path_too_long(t, dirfd, path);
}

/* At the entry of a call that changes the filesystem: remember what the exit
 * stop needs, then let the kernel run it. */
static struct verdict change_locked(struct thread *t, struct user_regs_struct *r)
{
	long nr = (long)r->orig_rax;
	if (creates_too_long(t, nr, r)) {
		fsstats.too_long++;
		return SKIP(-ENAMETOOLONG);
	}
	t->fs_nr = nr;
	t->fs_args[0] = r->rdi, t->fs_args[1] = r->rsi, t->fs_args[2] = r->rdx;
	t->fs_args[3] = r->r10, t->fs_args[4] = r->r8;
	t->fs_victim_dev = t->fs_victim_ino = 0;
	char path[4096], ours[4200];
	int dirfd = AT_FDCWD;
	unsigned long pathp = 0;
	switch (nr) {
	case SYS_unlink: case SYS_rmdir: pathp = r->rdi; break;
	case SYS_unlinkat: dirfd = (int)r->rdi, pathp = r->rsi; break;
	case SYS_rename: pathp = r->rsi; break;
	case SYS_renameat: case SYS_renameat2: dirfd = (int)r->rdx, pathp = r->r10; break;
	case SYS_utime: case SYS_utimes: case SYS_futimesat: case SYS_utimensat:
		read_utimes(t, nr, r);
		break;
	case SYS_chdir: case SYS_fchdir:
		fs_cwd_changing(true); /* the kept working directories are stale from now on */
		break;
	}
	if (pathp && !(nr == SYS_renameat2 && (r->r8 & 2 /* RENAME_EXCHANGE */)) && read_path(t, pathp, path, sizeof path) &&
	    our_path(t, dirfd, path, false, ours, sizeof ours))
		note_victim(t, ours);
	t->pending = PEND_FS;
	fsstats.changes++;
	return TO_EXIT;
}

struct verdict fs_on_change(struct thread *t, struct user_regs_struct *r)
{
	return fs_locked(change_locked, t, r);
}

/* stamps (dirfd, path argument) and, when it was created, its directory */
static void stamp_arg(struct thread *t, int dirfd, unsigned long pathp, bool nofollow, int64_t now, enum stamp what)
{
	char path[4096], ours[4200];
	if (!read_path(t, pathp, path, sizeof path) || !our_path(t, dirfd, path, false, ours, sizeof ours))
		return;
	stamp_path(ours, nofollow, now, what);
	if (what == S_NEW)
		stamp_parent(ours, now);
}

/* a name was added or removed: its directory changed */
static void dir_changed(struct thread *t, int dirfd, unsigned long pathp, int64_t now)
{
	char path[4096], ours[4200];
	if (read_path(t, pathp, path, sizeof path) && our_path(t, dirfd, path, false, ours, sizeof ours))
		stamp_parent(ours, now);
}

static void write_open_exit(struct thread *t, long fd, int flags)
{
	char ours[64];
	snprintf(ours, sizeof ours, "/proc/%d/fd/%ld", t->tid, fd);
	struct kstatx x;
	if (do_statx(ours, 0, &x) < 0 || !(S_ISREG(x.mode) || S_ISDIR(x.mode)))
		return; /* devices, FIFOs: no times of the build's own */
	struct origin o = { .kind = O_FD, .tid = t->tid, .fd = (int)fd };
	bool known = ident_find(real_dev(&x), x.ino) != NULL;
	struct ident *e = ident_get(real_dev(&x), x.ino, &o);
	bool created = (flags & O_CREAT) && !known && ts_ns(&x.ctime) >= (int64_t)cfg.start_real_ns;
	int64_t now = change_time(t);
	track(e, &x);
	apply_stamp(e, now, created ? S_NEW : S_MOD);
	fsstats.stamps++;
	if (created) {
		char path[4200];
		if (origin_path(&o, path, sizeof path) && path[0] == '/')
			stamp_parent(path, now);
	}
}

static void utimes_exit(struct thread *t, long nr)
{
	int dirfd = AT_FDCWD, nofollow = 0;
	unsigned long pathp = t->fs_args[0];
	if (nr == SYS_futimesat || nr == SYS_utimensat) {
		dirfd = (int)t->fs_args[0];
		pathp = t->fs_args[1];
	}
	if (nr == SYS_utimensat)
		nofollow = (t->fs_args[3] & AT_SYMLINK_NOFOLLOW) != 0;
	char path[4096] = "", ours[4200];
	if (pathp && !read_path(t, pathp, path, sizeof path))
		return;
	if (!our_path(t, dirfd, path, true, ours, sizeof ours))
		return;
	struct kstatx x;
	if (do_statx(ours, nofollow && path[0] ? AT_SYMLINK_NOFOLLOW : 0, &x) < 0)
		return;
	struct origin o = { .kind = path[0] ? O_PATH_ : O_FD, .tid = t->tid, .fd = dirfd, .path = ours,
			    .nofollow = nofollow && path[0] };
	struct ident *e = ident_get(real_dev(&x), x.ino, &o);
	int64_t now = change_time(t);
	track(e, &x);
	int64_t *field[2] = { &e->a, &e->m };
	for (int i = 0; i < 2; i++)
		if (t->fs_tkind[i] != 2)
			*field[i] = t->fs_tkind[i] == 1 ? now : t->fs_tval[i];
	e->c = now;
	fspub_put(e);
	fsstats.stamps++;
}

static void change_exit(struct thread *t, long ret)
{
	long nr = t->fs_nr;
	unsigned long long *a = t->fs_args;
	debug("fs: %d: change %ld -> %ld", t->tid, nr, ret);
	if (nr == SYS_chdir || nr == SYS_fchdir)
		return fs_cwd_changing(false);
	if (nr == SYS_open || nr == SYS_openat || nr == SYS_creat) {
		if (ret >= 0)
			write_open_exit(t, ret, nr == SYS_open ? (int)a[1] : nr == SYS_openat ? (int)a[2] : O_CREAT | O_WRONLY | O_TRUNC);
		return;
	}
	if (nr == SYS_openat2) {
		uint64_t how_flags = 0;
		if (ret >= 0 && mem_read(t->tid, a[2], &how_flags, sizeof how_flags) == 0 &&
		    (how_flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)))
			write_open_exit(t, ret, (int)how_flags);
		return;
	}
	if (ret != 0)
		return;
	int64_t now;
	switch (nr) {
	case SYS_mkdir: now = change_time(t); return stamp_arg(t, AT_FDCWD, a[0], true, now, S_NEW);
	case SYS_mkdirat: now = change_time(t); return stamp_arg(t, (int)a[0], a[1], true, now, S_NEW);
	case SYS_mknod: now = change_time(t); return stamp_arg(t, AT_FDCWD, a[0], true, now, S_NEW);
	case SYS_mknodat: now = change_time(t); return stamp_arg(t, (int)a[0], a[1], true, now, S_NEW);
	case SYS_symlink: now = change_time(t); return stamp_arg(t, AT_FDCWD, a[1], true, now, S_NEW);
	case SYS_symlinkat: now = change_time(t); return stamp_arg(t, (int)a[1], a[2], true, now, S_NEW);
	case SYS_link:
		now = change_time(t);
		stamp_arg(t, AT_FDCWD, a[1], true, now, S_META); /* the inode: ctime */
		return dir_changed(t, AT_FDCWD, a[1], now);      /* its new directory */
	case SYS_linkat:
		now = change_time(t);
		stamp_arg(t, (int)a[2], a[3], true, now, S_META);
		return dir_changed(t, (int)a[2], a[3], now);
	case SYS_unlink:
	case SYS_rmdir:
		now = change_time(t);
		dir_changed(t, AT_FDCWD, a[0], now);
		break;
	case SYS_unlinkat:
		now = change_time(t);
		dir_changed(t, (int)a[0], a[1], now);
		break;
	case SYS_rename:
		now = change_time(t);
		dir_changed(t, AT_FDCWD, a[0], now);
		stamp_arg(t, AT_FDCWD, a[1], true, now, S_META);
		dir_changed(t, AT_FDCWD, a[1], now);
		break;
	case SYS_renameat:
	case SYS_renameat2:
		now = change_time(t);
		dir_changed(t, (int)a[0], a[1], now);
		stamp_arg(t, (int)a[2], a[3], true, now, S_META);
		dir_changed(t, (int)a[2], a[3], now);
		if (nr == SYS_renameat2 && (a[4] & 2))
			stamp_arg(t, (int)a[0], a[1], true, now, S_META);
		break;
	case SYS_truncate: now = change_time(t); return stamp_arg(t, AT_FDCWD, a[0], false, now, S_MOD);
	case SYS_ftruncate: {
		char ours[64];
		snprintf(ours, sizeof ours, "/proc/%d/fd/%d", t->tid, (int)a[0]);
		now = change_time(t);
		return stamp_path(ours, false, now, S_MOD);
	}
	case SYS_utime: case SYS_utimes: case SYS_futimesat: case SYS_utimensat:
		return utimes_exit(t, nr);
	default:
		return;
	}
	if (t->fs_victim_dev || t->fs_victim_ino)
		ident_drop(t->fs_victim_dev, t->fs_victim_ino);
}

void fs_on_exit(struct thread *t, long ret)
{
	pthread_mutex_lock(&fs_lock);
	switch (t->fs_nr) {
	case SYS_stat: case SYS_lstat: case SYS_fstat: case SYS_newfstatat: case SYS_statx:
		stat_exit(t, ret);
		break;
	default:
		change_exit(t, ret);
	}
	pthread_mutex_unlock(&fs_lock);
}

/* A process that changes its root or mount namespace: from now on the kernel
 * resolves its paths (for it and its children). */
struct verdict fs_on_foreign(struct thread *t, struct user_regs_struct *r)
{
	process_of(t->tgid)->foreign = true;
	return CONTINUE;
}
