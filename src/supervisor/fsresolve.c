/* Paths of a process that changed its root or mount namespace (chroot,
 * unshare, setns, pivot_root), resolved as that process resolves them, for
 * the stats answered without a ptrace stop (fsnotify.c): the walk starts at
 * its own root (/proc/TID/root, which leads into its mount namespace), its
 * working directory or its descriptor; ".." stops at its root and absolute
 * symbolic links start again from it.  Absolute paths use the kernel's own
 * walk (openat2 RESOLVE_IN_ROOT); relative ones too when they stay beneath
 * their start (RESOLVE_BENEATH), and otherwise one component at a time. */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_PATH | O_CLOEXEC), .resolve = resolve };
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	return fd < 0 ? -errno : fd;
}

static int open_proc(pid_t tid, const char *what)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/%s", tid, what);
	int fd = open(p, O_PATH | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* the start of a relative walk: the working directory or descriptor n */
static int start_of(pid_t tid, int dirfd)
{
	if (dirfd == AT_FDCWD)
		return open_proc(tid, "cwd");
	char p[32];
	snprintf(p, sizeof p, "fd/%d", dirfd);
	int fd = open_proc(tid, p);
	return fd == -ENOENT ? -EBADF : fd;
}

static bool same_dir(int a, int b)
{
	struct kstatx x, y;
	if (syscall(SYS_statx, a, "", AT_EMPTY_PATH, X_MNT_ID | X_BASIC, &x) < 0 ||
	    syscall(SYS_statx, b, "", AT_EMPTY_PATH, X_MNT_ID | X_BASIC, &y) < 0)
		return false;
	return x.ino == y.ino && x.dev_major == y.dev_major && x.dev_minor == y.dev_minor && x.mnt_id == y.mnt_id;
}

/* one component at a time from `start` (taken over), with `root` as the root */
static int walk(int root, int start, const char *path, bool follow_last)
{
	char buf[8192];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		close(start);
		return -ENAMETOOLONG;
	}
	bool dir_wanted = buf[0] && buf[strlen(buf) - 1] == '/';
	int cur = start, links = 0;
	char *rest = buf;
	for (;;) {
		while (*rest == '/')
			rest++;
		if (!*rest)
			break;
		char *slash = strchr(rest, '/');
		char comp[256];
		size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
		if (len >= sizeof comp) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, rest, len);
		comp[len] = 0;
		rest += len;
		bool last = !rest[strspn(rest, "/")];
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (same_dir(cur, root))
				continue;
			int up = openat2_(cur, "..", O_DIRECTORY, 0);
			close(cur);
			if (up < 0)
				return up;
			cur = up;
			continue;
		}
		int next = openat2_(cur, comp, O_NOFOLLOW, 0);
		if (next < 0) {
			close(cur);
			return next;
		}
		struct kstatx x;
		if (syscall(SYS_statx, next, "", AT_EMPTY_PATH, X_BASIC, &x) < 0) {
			int e = -errno;
			close(next);
			close(cur);
			return e;
		}
		if ((x.mode & 0170000) == 0120000 && (!last || follow_last || dir_wanted)) {
			char target[4096];
			ssize_t n = readlinkat(next, "", target, sizeof target - 1);
			close(next);
			if (n < 0 || ++links > 40) {
				close(cur);
				return n < 0 ? -errno : -ELOOP;
			}
			target[n] = 0;
			char joined[8192];
			if (snprintf(joined, sizeof joined, "%s%s", target, rest) >= (int)sizeof joined) {
				close(cur);
				return -ENAMETOOLONG;
			}
			memcpy(buf, joined, strlen(joined) + 1);
			rest = buf;
			if (target[0] == '/') {
				close(cur);
				cur = dup(root);
				if (cur < 0)
					return -errno;
			}
			continue;
		}
		close(cur);
		cur = next;
	}
	struct kstatx x;
	if (dir_wanted && (syscall(SYS_statx, cur, "", AT_EMPTY_PATH, X_BASIC, &x) < 0 || (x.mode & 0170000) != 0040000)) {
		close(cur);
		return -ENOTDIR;
	}
	return cur;
}

int foreign_statx(pid_t tid, int dirfd, const char *path, int flags, struct kstatx *x)
{
	bool nofollow = (flags & AT_SYMLINK_NOFOLLOW) != 0;
	int sync = flags & (AT_NO_AUTOMOUNT | 0x6000);
	int fd;
	if (!path[0]) {
		fd = start_of(tid, dirfd);
	} else if (path[0] == '/') {
		int root = open_proc(tid, "root");
		if (root < 0)
			return root;
		fd = openat2_(root, path, nofollow ? O_NOFOLLOW : 0, RESOLVE_IN_ROOT);
		close(root);
	} else {
		int start = start_of(tid, dirfd);
		if (start < 0)
			return start;
		fd = openat2_(start, path, nofollow ? O_NOFOLLOW : 0, RESOLVE_BENEATH);
		if (fd == -EXDEV) {
			/* it leaves its start (".." or an absolute symbolic link): the root matters */
			int root = open_proc(tid, "root");
			if (root < 0) {
				close(start);
				return root;
			}
			fd = walk(root, start, path, !nofollow);
			start = -1;
			close(root);
		}
		if (start >= 0)
			close(start);
	}
	if (fd < 0)
		return fd;
	long rc = syscall(SYS_statx, fd, "", AT_EMPTY_PATH | sync, X_BASIC | X_BTIME, x);
	int e = rc < 0 ? -errno : 0;
	close(fd);
	return e;
}
