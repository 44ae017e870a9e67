/* Makes every dynamic program of the build load the stat shim (statshim.c):
 * /etc/ld.so.preload names it.  The host's /etc has no such file and is bound
 * read-only, so no file can be bound over it: /etc becomes a read-only
 * overlay of a directory of ours (holding only ld.so.preload) above the
 * host's /etc, and the files the sandbox had bound over parts of /etc
 * (hostview.ts: passwd, hostname, ...) are moved onto the overlay.  The
 * build cannot opt out: the file is on a read-only mount (a build that
 * empties its environment or runs a static program only gets slower, its
 * stats then stop in the supervisor as before). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

#define MAX_SUBMOUNTS 64

static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
			*o++ = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

/* the mount points below /etc, in the order they were mounted */
static int submounts(char mps[][512], int max)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		char mp[4096];
		if (sscanf(line, "%*u %*u %*u:%*u %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		if (strncmp(mp, "/etc/", 5) != 0 || strlen(mp) >= 512)
			continue;
		if (n == max) {
			n = -1;
			break;
		}
		snprintf(mps[n++], 512, "%s", mp);
	}
	fclose(f);
	return n;
}

void preload_setup(const char *shim)
{
	if (access(shim, R_OK) < 0) {
		warnx_("the stat shim %s is missing (%m): every stat stops in the supervisor", shim);
		return;
	}
	char dir[512], file[600];
	snprintf(dir, sizeof dir, "%s/etc-top", cfg.state_dir);
	snprintf(file, sizeof file, "%s/ld.so.preload", dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		warnx_("cannot make %s (%m): no stat shim", dir);
		return;
	}
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", shim) < 0 || close(fd) < 0) {
		warnx_("cannot write %s (%m): no stat shim", file);
		return;
	}
	static char mps[MAX_SUBMOUNTS][512];
	int tree[MAX_SUBMOUNTS];
	int n = submounts(mps, MAX_SUBMOUNTS);
	if (n < 0) {
		warnx_("cannot list the mounts below /etc: no stat shim");
		return;
	}
	for (int i = 0; i < n; i++) {
		tree[i] = (int)syscall(SYS_open_tree, AT_FDCWD, mps[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree[i] < 0) {
			warnx_("cannot take %s along (%m): no stat shim", mps[i]);
			while (i-- > 0)
				close(tree[i]);
			return;
		}
	}
	char opts[700];
	snprintf(opts, sizeof opts, "lowerdir=%s:/etc", dir);
	if (mount("overlay", "/etc", "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0) {
		warnx_("cannot put ld.so.preload into /etc (overlay: %m): every stat stops in the supervisor");
		for (int i = 0; i < n; i++)
			close(tree[i]);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (syscall(SYS_move_mount, tree[i], "", AT_FDCWD, mps[i], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
			/* the build would see the host's file there: back to the host's /etc */
			int e = errno;
			if (umount2("/etc", MNT_DETACH) < 0)
				die("cannot restore /etc after failing to keep %s: %m", mps[i]);
			errno = e;
			warnx_("cannot keep %s on the new /etc (%m): no stat shim", mps[i]);
			for (; i < n; i++)
				close(tree[i]);
			return;
		}
		close(tree[i]);
	}
	debug("fs: /etc/ld.so.preload names %s (%d mounts kept)", shim, n);
}
