/* How long a path the build may create.  Every file system has its own
 * answer: ext4, XFS and tmpfs none (a tree can nest far beyond PATH_MAX
 * through relative paths), a FUSE file system such as disorderfs or sshfs
 * refuses once the path below its mount point is longer than PATH_MAX, and
 * that path includes the directory the workspace sits in.  Configure tests
 * (gnulib's getcwd checks) nest directories until the kernel refuses, so
 * how deep they go, and how many files they create, follow the caller's
 * file system and directory.  The view gives one answer everywhere: a name
 * whose path, as the build sees it, would be longer than FS_PATH_LONGEST is
 * refused with ENAMETOOLONG before the kernel is asked.  The margin under
 * PATH_MAX leaves room for a workspace's real directory of up to about 1000
 * characters on a path-based file system. */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FS_PATH_LONGEST 3072

/* the length of `dir`/`path` once `.` and `..` are folded (symbolic links are not followed) */
static size_t folded_length(const char *dir, const char *path)
{
	char buf[2 * PATH_MAX + 2];
	size_t n = (size_t)snprintf(buf, sizeof buf, "%s/%s", path[0] == '/' ? "" : dir, path);
	if (n >= sizeof buf)
		return SIZE_MAX;
	size_t len = 0; /* the folded path so far: "/a/b" as the lengths of its components */
	size_t comp[PATH_MAX];
	size_t depth = 0;
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (depth)
				len -= comp[--depth] + 1;
			continue;
		}
		if (depth == PATH_MAX)
			return SIZE_MAX;
		comp[depth++] = strlen(c);
		len += strlen(c) + 1;
	}
	return len ? len : 1;
}

bool fs_path_too_long(struct thread *t, int dirfd, const char *path)
{
	if (!path[0])
		return false;
	char dir[PATH_MAX + 1] = "";
	if (path[0] != '/') {
		char link[64];
		if (dirfd == AT_FDCWD)
			snprintf(link, sizeof link, "/proc/%d/cwd", t->tid);
		else
			snprintf(link, sizeof link, "/proc/%d/fd/%d", t->tid, dirfd);
		ssize_t n = readlink(link, dir, sizeof dir - 1);
		if (n < 0)
			return errno == ENAMETOOLONG; /* deeper than the kernel can name: too long */
		dir[n] = 0;
		if (dir[0] != '/')
			return false; /* not a directory in the tree (a pipe, a socket): the kernel answers */
	}
	return folded_length(dir, path) > FS_PATH_LONGEST;
}
