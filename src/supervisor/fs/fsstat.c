/* The build's view of the filesystem: what stat(2) reports.  Its other parts:
 * fsident.c (virtual device and inode numbers), fschange.c (the times of the
 * build's changes) and fslist.c (directory order).
 *
 * Every stat-family call of the build stops here once.  The supervisor runs
 * the same stat itself, through /proc/TID/{cwd,fd/N} so that relative paths
 * and descriptors mean what they mean to the tracee, rewrites the answer and
 * skips the real call:
 *
 *   st_dev    one number per mount, from the mount point's path
 *   st_ino    from the file's path when the build first saw it (so numbering
 *             does not depend on the host filesystem or on which of two
 *             concurrent processes looked first)
 *   times     files the build did not touch: mtime and atime clamped to the
 *             epoch (installed Python sources: their own, systimes.c), ctime
 *             and btime the epoch; files it wrote, created,
 *             truncated, renamed or stamped: the logical time of the thread
 *             that did it (explicit utimensat times are kept)
 *   sizes     st_blksize 4096, st_blocks from st_size, directories 4096 bytes
 *
 * Processes that changed their root or mount namespace get the real call
 * with the answer rewritten at its exit stop: resolving their paths from the
 * supervisor's root could be wrong. */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the view of one stat result ---- */

/* makes the identity's times its own (a tracked file), starting from what
 * the build was shown so far */
void track(struct ident *e, const struct kstatx *real)
{
	if (e->tracked)
		return;
	e->tracked = true;
	e->m = e->a = fs_shown_mtime(e->installed, real, fs_epoch_ns);
	e->c = e->b = fs_epoch_ns;
	fspub_put(e);
}

/* the rewrite itself is fsrewrite.h's, shared with the stat shim */
static void view(struct kstatx *x, const struct ident *e)
{
	struct fs_idview v = { e->vino, e->vdev, e->tracked, e->installed, e->a, e->m, e->c, e->b };
	fs_view_apply(x, &v, fs_epoch_ns);
}

int do_statx(const char *path, int flags, struct kstatx *x)
{
	long rc = syscall(SYS_statx, AT_FDCWD, path, flags, X_BASIC | X_BTIME, x);
	return rc < 0 ? -errno : 0;
}

/* ---- naming what the tracee names ---- */

/* Our path for (dirfd, path) as the tracee resolves it; false when only the
 * kernel can resolve it for the tracee (another root or mount namespace). */
bool our_path(struct thread *t, int dirfd, const char *path, bool empty_ok, char *out, size_t len)
{
	int n;
	if (!path[0]) {
		if (!empty_ok)
			return false;
		n = dirfd == AT_FDCWD ? snprintf(out, len, "/proc/%d/cwd", t->tid)
				      : snprintf(out, len, "/proc/%d/fd/%d", t->tid, dirfd);
	} else if (process_of(t->tgid)->foreign) {
		return false;
	} else if (path[0] == '/') {
		n = snprintf(out, len, "%s", path);
	} else if (dirfd == AT_FDCWD) {
		n = snprintf(out, len, "/proc/%d/cwd/%s", t->tid, path);
	} else {
		n = snprintf(out, len, "/proc/%d/fd/%d/%s", t->tid, dirfd, path);
	}
	return n > 0 && (size_t)n < len;
}

/* the directory holding the last component of an our_path() result */
bool parent_of(const char *p, char *out, size_t len)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	while (n > 0 && p[n - 1] != '/')
		n--;
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 0 || n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = 0;
	return true;
}

/* ---- stat, lstat, fstat, newfstatat, statx ---- */

/* writes the view of x (a real result) to the tracee's buffer */
static long deliver(pid_t tid, long nr, unsigned long buf, struct kstatx *x, const struct origin *o)
{
	struct ident *e = ident_get(real_dev(x), x->ino, o);
	view(x, e);
	if (nr == SYS_statx)
		return mem_write(tid, buf, x, sizeof *x) < 0 ? -EFAULT : 0;
	struct stat st;
	fs_to_stat(&st, x);
	return mem_write(tid, buf, &st, sizeof st) < 0 ? -EFAULT : 0;
}

static struct verdict stat_locked(struct thread *t, struct user_regs_struct *r)
{
	long nr = (long)r->orig_rax;
	int dirfd = AT_FDCWD, flags = 0;
	unsigned long pathp = 0, buf;
	bool by_fd = false;
	switch (nr) {
	case SYS_stat: pathp = r->rdi, buf = r->rsi; break;
	case SYS_lstat: pathp = r->rdi, buf = r->rsi, flags = AT_SYMLINK_NOFOLLOW; break;
	case SYS_fstat: dirfd = (int)r->rdi, buf = r->rsi, by_fd = true; break;
	case SYS_newfstatat: dirfd = (int)r->rdi, pathp = r->rsi, buf = r->rdx, flags = (int)r->r10; break;
	default: /* statx */ dirfd = (int)r->rdi, pathp = r->rsi, flags = (int)r->rdx, buf = r->r8; break;
	}
	fsstats.stats++;
	char path[4096];
	if (by_fd) {
		path[0] = 0;
		flags |= AT_EMPTY_PATH;
		if (dirfd < 0)
			return CONTINUE; /* EBADF from the kernel */
	} else if (!pathp && (flags & AT_EMPTY_PATH)) {
		path[0] = 0;
	} else if (!pathp || mem_read_str(t->tid, pathp, path, sizeof path) < 0) {
		goto at_exit; /* a bad pointer or an over-long path: the kernel says which */
	}
	bool fdlike = !path[0];
	struct reach at;
	int reached = fs_reach(t->tid, t->tgid, dirfd, path, (flags & AT_EMPTY_PATH) != 0, &at);
	if (reached == -EBADF || reached == -ENOENT)
		return CONTINUE; /* no such descriptor, or the process is going: the kernel says so */
	if (reached <= 0)
		goto at_exit;
	struct kstatx x;
	int kflags = (flags & (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | 0x6000 /* AT_STATX_SYNC_TYPE */));
	if (fdlike)
		kflags &= ~AT_SYMLINK_NOFOLLOW; /* the descriptor's file itself */
	int rc = do_statx_at(&at, kflags, &x);
	if (rc < 0) {
		fs_reach_done(&at);
		/* the kernel gives the error its own way (EBADF rather than ENOENT
		 * for a closed descriptor); an error leaks nothing to rewrite */
		if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP || rc == -ENAMETOOLONG)
			return CONTINUE;
		goto at_exit;
	}
	struct origin o = { .kind = O_AT, .tid = t->tid, .fd = at.fd, .path = at.name,
			    .nofollow = (kflags & AT_SYMLINK_NOFOLLOW) != 0 };
	long ret = deliver(t->tid, nr, buf, &x, &o);
	fs_reach_done(&at);
	return SKIP(ret);

at_exit:
	t->pending = PEND_FS;
	t->fs_nr = nr;
	t->fs_buf = buf;
	t->fs_dirfd = dirfd;
	t->fs_pathp = pathp;
	t->fs_args[0] = (unsigned long long)flags;
	fsstats.stats_at_exit++;
	return TO_EXIT;
}

struct verdict fs_on_stat(struct thread *t, struct user_regs_struct *r)
{
	return fs_locked(stat_locked, t, r);
}

/* The exit stop of a stat the kernel ran itself. */
void stat_exit(struct thread *t, long ret)
{
	if (ret != 0)
		return;
	struct kstatx x;
	if (t->fs_nr == SYS_statx) {
		if (mem_read(t->tid, t->fs_buf, &x, sizeof x) < 0)
			return;
	} else {
		struct stat st;
		if (mem_read(t->tid, t->fs_buf, &st, sizeof st) < 0)
			return;
		fs_from_stat(&x, &st);
	}
	/* the file's path, for its inode number if it is new: through the
	 * tracee's own root, cwd or descriptor, which also holds in another
	 * root or mount namespace */
	char path[4096], ours[4200];
	struct origin o = { .kind = O_PATH_, .tid = t->tid, .path = ours, .nofollow = (t->fs_args[0] & AT_SYMLINK_NOFOLLOW) != 0 };
	if (!t->fs_pathp || mem_read_str(t->tid, t->fs_pathp, path, sizeof path) < 0 || !path[0]) {
		o.kind = O_FD;
		o.fd = t->fs_dirfd;
	} else if (path[0] == '/') {
		snprintf(ours, sizeof ours, "/proc/%d/root%s", t->tid, path);
	} else if (t->fs_dirfd == AT_FDCWD) {
		snprintf(ours, sizeof ours, "/proc/%d/cwd/%s", t->tid, path);
	} else {
		snprintf(ours, sizeof ours, "/proc/%d/fd/%d/%s", t->tid, t->fs_dirfd, path);
	}
	deliver(t->tid, t->fs_nr, t->fs_buf, &x, &o);
}

/* ---- the same, as a seccomp user notification (fsnotify.c) ---- */

/* errors of the supervisor's own (descriptors, memory) rather than the
 * file's: the kernel might succeed where we failed, so the call is failed
 * rather than let through unanswered */
static bool own_error(int rc)
{
	return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EINTR || rc == -EAGAIN;
}

static void answer(struct seccomp_notif_resp *resp, long ret)
{
	resp->val = ret < 0 ? -1 : ret;
	resp->error = ret < 0 ? (int)ret : 0;
}

void fs_notify_stat(const struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
	pid_t tid = (pid_t)req->pid;
	long nr = req->data.nr;
	const __u64 *a = req->data.args;
	int dirfd = AT_FDCWD, flags = 0;
	unsigned long pathp = 0, buf;
	bool by_fd = false;
	switch (nr) {
	case SYS_stat: pathp = a[0], buf = a[1]; break;
	case SYS_lstat: pathp = a[0], buf = a[1], flags = AT_SYMLINK_NOFOLLOW; break;
	case SYS_fstat: dirfd = (int)a[0], buf = a[1], by_fd = true; break;
	case SYS_newfstatat: dirfd = (int)a[0], pathp = a[1], buf = a[2], flags = (int)a[3]; break;
	default: /* statx */ dirfd = (int)a[0], pathp = a[1], flags = (int)a[2], buf = a[4]; break;
	}
	/* unless answered below, the kernel runs the call: only where it fails
	 * (a bad pointer or descriptor, no such file), which leaks nothing */
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	char path[4096];
	if (by_fd) {
		path[0] = 0;
		flags |= AT_EMPTY_PATH;
		if (dirfd < 0)
			return;
	} else if (!pathp && (flags & AT_EMPTY_PATH)) {
		path[0] = 0;
	} else if (!pathp || mem_read_str(tid, pathp, path, sizeof path) < 0) {
		return;
	}
	bool fdlike = !path[0];
	int kflags = (flags & (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | 0x6000 /* AT_STATX_SYNC_TYPE */));
	if (fdlike)
		kflags &= ~AT_SYMLINK_NOFOLLOW; /* the descriptor's file itself */
	pid_t tgid = thread_tgid(tid);
	pthread_mutex_lock(&fs_lock);
	fsstats.stats++;
	struct kstatx x;
	struct reach at = { -1, "", false };
	char ours[4200];
	struct origin o = { .kind = O_AT, .tid = tid, .nofollow = (kflags & AT_SYMLINK_NOFOLLOW) != 0 };
	int rc = fs_reach(tid, tgid, dirfd, path, (flags & AT_EMPTY_PATH) != 0, &at);
	if (rc == 0 && (path[0] || (flags & AT_EMPTY_PATH))) {
		/* another root or mount namespace: resolved as the process sees it
		 * (fsresolve.c), named as the exit-stop rewrite names it */
		rc = foreign_statx(tid, dirfd, path, kflags, &x);
		if (rc == 0) {
			o.kind = O_PATH_;
			o.path = ours;
			if (!path[0]) {
				o.kind = O_FD;
				o.fd = dirfd;
			} else if (path[0] == '/') {
				snprintf(ours, sizeof ours, "/proc/%d/root%s", tid, path);
			} else if (dirfd == AT_FDCWD) {
				snprintf(ours, sizeof ours, "/proc/%d/cwd/%s", tid, path);
			} else {
				snprintf(ours, sizeof ours, "/proc/%d/fd/%d/%s", tid, dirfd, path);
			}
			answer(resp, deliver(tid, nr, buf, &x, &o));
			resp->flags = 0;
		} else if (own_error(rc)) {
			answer(resp, rc);
			resp->flags = 0;
		}
	} else if (rc == 1) {
		rc = do_statx_at(&at, kflags, &x);
		if (rc == 0) {
			o.fd = at.fd;
			o.path = at.name;
			answer(resp, deliver(tid, nr, buf, &x, &o));
			resp->flags = 0;
		} else if (own_error(rc)) {
			answer(resp, rc);
			resp->flags = 0;
		}
		fs_reach_done(&at);
	} else if (own_error(rc)) {
		answer(resp, rc);
		resp->flags = 0;
	}
	pthread_mutex_unlock(&fs_lock);
}

void fs_init(void)
{
	fs_epoch_ns = (int64_t)cfg.epoch_ns;
}
