/* The build's view of the filesystem: what stat(2) and getdents(2) report.
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
 *             epoch, ctime and btime the epoch; files it wrote, created,
 *             truncated, renamed or stamped: the logical time of the thread
 *             that did it (explicit utimensat times are kept)
 *   sizes     st_blksize 4096, st_blocks from st_size, directories 4096 bytes
 *
 * getdents lists a directory sorted by name, from a snapshot taken when the
 * listing starts (position 0); the descriptor's offset is the index into it.
 *
 * Processes that changed their root or mount namespace get the real call
 * with the answer rewritten at its exit stop: resolving their paths from the
 * supervisor's root could be wrong. */
#include "supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- the kernel's struct statx (256 bytes, written whole by the kernel) ---- */
struct kts64 { int64_t sec; uint32_t nsec; int32_t pad; };
struct kstatx {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, pad1;
	uint64_t ino, size, blocks, attributes_mask;
	struct kts64 atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t mnt_id;
	uint32_t dio_mem_align, dio_offset_align;
	uint64_t spare[12];
};
_Static_assert(sizeof(struct kstatx) == 256, "struct statx is 256 bytes");

#define X_BASIC 0x7ffU   /* STATX_BASIC_STATS */
#define X_BTIME 0x800U
#define X_MNT_ID 0x1000U
#define X_REPORTED (X_BASIC | X_BTIME | X_MNT_ID)

struct fsview_stats fsstats;

static int64_t epoch_ns;

static int64_t ts_ns(const struct kts64 *t) { return t->sec * (int64_t)NS_PER_S + t->nsec; }
static struct kts64 ns_ts(int64_t ns)
{
	struct kts64 t = { ns / (int64_t)NS_PER_S, (uint32_t)(ns % (int64_t)NS_PER_S), 0 };
	if (ns < 0 && t.nsec) {
		t.sec--;
		t.nsec = (uint32_t)((int64_t)t.nsec + (int64_t)NS_PER_S);
	}
	return t;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return mix64(h);
}

/* ---- virtual devices: one per mount, numbered from the mount point ---- */

struct vdev { uint64_t real; uint32_t minor; };
static struct vdev vdevs[256];
static size_t nvdevs;
static uint32_t next_anon_minor = 0x10;

static bool minor_used(uint32_t m)
{
	for (size_t i = 0; i < nvdevs; i++)
		if (vdevs[i].minor == m)
			return true;
	return false;
}

/* undoes mountinfo's octal escapes in place */
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

/* the lexically first mount point of the real device, or false */
static bool mount_point_of(uint64_t dev, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[8192];
	bool found = false;
	while (fgets(line, sizeof line, f)) {
		unsigned maj, mnr;
		char mp[4096];
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &mnr, mp) != 3)
			continue;
		if (makedev(maj, mnr) != dev)
			continue;
		unescape(mp);
		if (!found || strcmp(mp, out) < 0) {
			snprintf(out, len, "%s", mp);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static uint32_t vdev_of(uint64_t real)
{
	for (size_t i = 0; i < nvdevs; i++)
		if (vdevs[i].real == real)
			return vdevs[i].minor;
	char mp[4096];
	uint32_t minor;
	if (mount_point_of(real, mp, sizeof mp)) {
		minor = 0x100 + (uint32_t)(hash_str(mp) % 0xf00);
		while (minor_used(minor))
			minor = minor == 0xfff ? 0x100 : minor + 1;
	} else {
		/* pipes, sockets, other namespaces' mounts: in order of first sight */
		do
			minor = next_anon_minor++;
		while (minor_used(minor));
	}
	if (nvdevs < sizeof vdevs / sizeof vdevs[0])
		vdevs[nvdevs++] = (struct vdev){ real, minor };
	return minor;
}

/* ---- identities: real (dev, ino) -> virtual inode number and times ---- */

struct ident {
	uint64_t dev, ino;  /* real; dev == 0 && ino == 0: free slot */
	uint64_t vino;
	uint32_t vdev;
	bool tracked, dead;
	int64_t a, m, c, b; /* when tracked */
};
static struct ident *itab;
static size_t icap, ilive, iused;

/* virtual inode numbers handed out, per device: (vdev << 48 | vino) */
static uint64_t *vtab;
static size_t vcap, vcount;

#define VINO_MASK ((1ULL << 48) - 1)

static size_t islot(uint64_t dev, uint64_t ino, size_t cap)
{
	return (size_t)(mix64(dev * 0x9e3779b97f4a7c15ULL ^ ino) & (cap - 1));
}

static void itab_grow(void)
{
	size_t ncap = icap ? icap * 2 : 1 << 14;
	struct ident *n = calloc(ncap, sizeof *n);
	if (!n)
		die("out of memory (inode table)");
	for (size_t i = 0; i < icap; i++) {
		struct ident *e = &itab[i];
		if ((e->dev || e->ino) && !e->dead) {
			size_t j = islot(e->dev, e->ino, ncap);
			while (n[j].dev || n[j].ino)
				j = (j + 1) & (ncap - 1);
			n[j] = *e;
		}
	}
	free(itab);
	itab = n;
	icap = ncap;
	iused = ilive;
}

static struct ident *ident_find(uint64_t dev, uint64_t ino)
{
	if (!icap)
		return NULL;
	if (!dev && !ino)
		ino = ~0ULL;
	for (size_t j = islot(dev, ino, icap);; j = (j + 1) & (icap - 1)) {
		struct ident *e = &itab[j];
		if (!e->dev && !e->ino)
			return NULL;
		if (e->dev == dev && e->ino == ino && !e->dead)
			return e;
	}
}

static bool vino_taken(uint64_t key)
{
	if (!vcap)
		return false;
	for (size_t j = (size_t)(mix64(key) & (vcap - 1));; j = (j + 1) & (vcap - 1)) {
		if (!vtab[j])
			return false;
		if (vtab[j] == key)
			return true;
	}
}

static void vino_take(uint64_t key)
{
	if ((vcount + 1) * 10 >= vcap * 7) {
		size_t ncap = vcap ? vcap * 2 : 1 << 14;
		uint64_t *n = calloc(ncap, sizeof *n);
		if (!n)
			die("out of memory (inode numbers)");
		for (size_t i = 0; i < vcap; i++)
			if (vtab[i]) {
				size_t j = (size_t)(mix64(vtab[i]) & (ncap - 1));
				while (n[j])
					j = (j + 1) & (ncap - 1);
				n[j] = vtab[i];
			}
		free(vtab);
		vtab = n;
		vcap = ncap;
	}
	size_t j = (size_t)(mix64(key) & (vcap - 1));
	while (vtab[j])
		j = (j + 1) & (vcap - 1);
	vtab[j] = key;
	vcount++;
}

/* How to learn a file's path the first time it is seen. */
struct origin {
	enum { O_FD, O_PATH_, O_NAME } kind;
	pid_t tid;
	int fd;
	const char *path; /* O_PATH_: our path to it; O_NAME: its directory */
	const char *name; /* O_NAME */
	bool nofollow;
};

static bool origin_path(const struct origin *o, char *out, size_t len)
{
	char link[64];
	ssize_t n = -1;
	switch (o->kind) {
	case O_FD:
		snprintf(link, sizeof link, "/proc/%d/fd/%d", o->tid, o->fd);
		n = readlink(link, out, len - 1);
		break;
	case O_PATH_: {
		int fd = open(o->path, O_PATH | O_CLOEXEC | (o->nofollow ? O_NOFOLLOW : 0));
		if (fd < 0)
			return false;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, out, len - 1);
		close(fd);
		break;
	}
	case O_NAME:
		return (size_t)snprintf(out, len, "%s/%s", strcmp(o->path, "/") ? o->path : "", o->name) < len;
	}
	if (n < 0)
		return false;
	out[n] = 0;
	return true;
}

static struct ident *ident_get(uint64_t dev, uint64_t ino, const struct origin *o)
{
	struct ident *e = ident_find(dev, ino);
	if (e)
		return e;
	if ((iused + 1) * 10 >= icap * 7)
		itab_grow();
	uint64_t kdev = dev, kino = ino;
	if (!kdev && !kino)
		kino = ~0ULL;
	size_t j = islot(kdev, kino, icap);
	while (itab[j].dev || itab[j].ino)
		j = (j + 1) & (icap - 1);
	e = &itab[j];
	memset(e, 0, sizeof *e);
	e->dev = kdev;
	e->ino = kino;
	e->vdev = vdev_of(dev);
	char path[4200];
	uint64_t h;
	/* anonymous objects ("pipe:[1234]") carry a host number: count them instead */
	if (o && origin_path(o, path, sizeof path) && path[0] == '/') {
		h = hash_str(path);
	} else {
		static uint64_t anon;
		h = mix64(++anon ^ 0x616e6f6eULL);
	}
	uint64_t vino = (h & VINO_MASK) | 0x1000;
	while (vino_taken((uint64_t)e->vdev << 48 | vino))
		vino = (mix64(vino) & VINO_MASK) | 0x1000;
	vino_take((uint64_t)e->vdev << 48 | vino);
	e->vino = vino;
	ilive++;
	iused++;
	fsstats.inodes++;
	return e;
}

/* The file is gone (its last name was removed): a later file that gets the
 * same real inode number is another file. */
static void ident_drop(uint64_t dev, uint64_t ino)
{
	struct ident *e = ident_find(dev, ino);
	if (e) {
		e->dead = true;
		ilive--;
	}
}

/* ---- the view of one stat result ---- */

static int64_t clamp_epoch(int64_t t) { return t < epoch_ns ? t : epoch_ns; }

/* makes the identity's times its own (a tracked file), starting from what
 * the build was shown so far */
static void track(struct ident *e, const struct kstatx *real)
{
	if (e->tracked)
		return;
	e->tracked = true;
	e->m = e->a = clamp_epoch(ts_ns(&real->mtime));
	e->c = e->b = epoch_ns;
}

static void view(struct kstatx *x, const struct ident *e)
{
	bool dir = S_ISDIR(x->mode), reg = S_ISREG(x->mode);
	int64_t a, m, c, b;
	if (e->tracked) {
		a = e->a, m = e->m, c = e->c, b = e->b;
	} else if (!dir && !reg && !S_ISLNK(x->mode)) {
		/* device nodes, FIFOs, sockets: their times are the host's boot or the last write */
		a = m = c = b = epoch_ns;
	} else {
		m = a = clamp_epoch(ts_ns(&x->mtime));
		c = b = epoch_ns;
	}
	x->mask = X_REPORTED;
	x->blksize = 4096;
	x->ino = e->vino;
	x->dev_major = 0;
	x->dev_minor = e->vdev;
	x->mnt_id = e->vdev;
	if (dir)
		x->size = 4096;
	x->blocks = reg || dir ? (x->size + 4095) / 4096 * 8 : 0;
	x->atime = ns_ts(a);
	x->mtime = ns_ts(m);
	x->ctime = ns_ts(c);
	x->btime = ns_ts(b);
	x->dio_mem_align = x->dio_offset_align = 0;
	memset(x->spare, 0, sizeof x->spare);
}

static void to_stat(struct stat *st, const struct kstatx *x)
{
	memset(st, 0, sizeof *st);
	st->st_dev = makedev(x->dev_major, x->dev_minor);
	st->st_ino = x->ino;
	st->st_nlink = x->nlink;
	st->st_mode = x->mode;
	st->st_uid = x->uid;
	st->st_gid = x->gid;
	st->st_rdev = makedev(x->rdev_major, x->rdev_minor);
	st->st_size = (off_t)x->size;
	st->st_blksize = x->blksize;
	st->st_blocks = (blkcnt_t)x->blocks;
	st->st_atim.tv_sec = x->atime.sec, st->st_atim.tv_nsec = x->atime.nsec;
	st->st_mtim.tv_sec = x->mtime.sec, st->st_mtim.tv_nsec = x->mtime.nsec;
	st->st_ctim.tv_sec = x->ctime.sec, st->st_ctim.tv_nsec = x->ctime.nsec;
}

static void from_stat(struct kstatx *x, const struct stat *st)
{
	memset(x, 0, sizeof *x);
	x->nlink = (uint32_t)st->st_nlink;
	x->uid = st->st_uid;
	x->gid = st->st_gid;
	x->mode = (uint16_t)st->st_mode;
	x->ino = st->st_ino;
	x->size = (uint64_t)st->st_size;
	x->rdev_major = major(st->st_rdev), x->rdev_minor = minor(st->st_rdev);
	x->dev_major = major(st->st_dev), x->dev_minor = minor(st->st_dev);
	x->atime = (struct kts64){ st->st_atim.tv_sec, (uint32_t)st->st_atim.tv_nsec, 0 };
	x->mtime = (struct kts64){ st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec, 0 };
	x->ctime = (struct kts64){ st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec, 0 };
}

static uint64_t real_dev(const struct kstatx *x) { return makedev(x->dev_major, x->dev_minor); }

static int do_statx(const char *path, int flags, struct kstatx *x)
{
	long rc = syscall(SYS_statx, AT_FDCWD, path, flags, X_BASIC | X_BTIME, x);
	return rc < 0 ? -errno : 0;
}

/* ---- naming what the tracee names ---- */

/* per process: it changed its root or mount namespace */
uint8_t *proc_foreign;

/* Our path for (dirfd, path) as the tracee resolves it; false when only the
 * kernel can resolve it for the tracee (another root or mount namespace). */
static bool our_path(struct thread *t, int dirfd, const char *path, bool empty_ok, char *out, size_t len)
{
	int n;
	if (!path[0]) {
		if (!empty_ok)
			return false;
		n = dirfd == AT_FDCWD ? snprintf(out, len, "/proc/%d/cwd", t->tid)
				      : snprintf(out, len, "/proc/%d/fd/%d", t->tid, dirfd);
	} else if (proc_foreign[t->tgid]) {
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
static bool parent_of(const char *p, char *out, size_t len)
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
static long deliver(struct thread *t, long nr, unsigned long buf, struct kstatx *x, const struct origin *o)
{
	struct ident *e = ident_get(real_dev(x), x->ino, o);
	view(x, e);
	if (nr == SYS_statx)
		return mem_write(t->tid, buf, x, sizeof *x) < 0 ? -EFAULT : 0;
	struct stat st;
	to_stat(&st, x);
	return mem_write(t->tid, buf, &st, sizeof st) < 0 ? -EFAULT : 0;
}

void fs_on_stat(struct thread *t, struct user_regs_struct *r)
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
	char path[4096], ours[4200];
	if (by_fd) {
		path[0] = 0;
		flags |= AT_EMPTY_PATH;
		if (dirfd < 0)
			return resume(t, 0); /* EBADF from the kernel */
	} else if (!pathp && (flags & AT_EMPTY_PATH)) {
		path[0] = 0;
	} else if (!pathp || mem_read_str(t->tid, pathp, path, sizeof path) < 0) {
		goto at_exit; /* a bad pointer or an over-long path: the kernel says which */
	}
	bool fdlike = !path[0];
	if (!our_path(t, dirfd, path, (flags & AT_EMPTY_PATH) != 0, ours, sizeof ours))
		goto at_exit;
	struct kstatx x;
	int kflags = (flags & (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | 0x6000 /* AT_STATX_SYNC_TYPE */));
	if (fdlike)
		kflags &= ~AT_SYMLINK_NOFOLLOW; /* the magic link leads to the file itself */
	int rc = do_statx(ours, kflags, &x);
	if (rc < 0) {
		/* the kernel gives the error its own way (EBADF rather than ENOENT
		 * for a closed descriptor); an error leaks nothing to rewrite */
		if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP || rc == -ENAMETOOLONG)
			return resume(t, 0);
		goto at_exit;
	}
	struct origin o = { .tid = t->tid, .nofollow = (kflags & AT_SYMLINK_NOFOLLOW) != 0 };
	if (fdlike && dirfd != AT_FDCWD) {
		o.kind = O_FD;
		o.fd = dirfd;
	} else {
		o.kind = O_PATH_;
		o.path = ours;
	}
	return syscall_skip(t, r, deliver(t, nr, buf, &x, &o));

at_exit:
	t->pending = PEND_FS;
	t->fs_nr = nr;
	t->fs_buf = buf;
	t->fs_dirfd = dirfd;
	t->fs_pathp = pathp;
	t->fs_args[0] = (unsigned long long)flags;
	fsstats.stats_at_exit++;
	resume_to_exit(t);
}

/* The exit stop of a stat the kernel ran itself. */
static void stat_exit(struct thread *t, long ret)
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
		from_stat(&x, &st);
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
	deliver(t, t->fs_nr, t->fs_buf, &x, &o);
}

/* ---- changes: the times of what the build writes ---- */

enum stamp { S_NEW, S_MOD, S_META };

/* A change moves a time forward only: processes that change the same file or
 * directory concurrently (jobs creating files in one directory) leave it with
 * the latest of their times, whatever order they ran in. */
static void apply_stamp(struct ident *e, int64_t now, enum stamp what)
{
	if (what == S_NEW) {
		e->a = e->b = e->m = e->c = now;
		return;
	}
	if (what == S_MOD && now > e->m)
		e->m = now;
	if (now > e->c)
		e->c = now;
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

/* the logical time of a change made by the thread */
static int64_t change_time(struct thread *t)
{
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

/* At the entry of a call that changes the filesystem: remember what the exit
 * stop needs, then let the kernel run it. */
void fs_on_change(struct thread *t, struct user_regs_struct *r)
{
	long nr = (long)r->orig_rax;
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
	}
	if (pathp && !(nr == SYS_renameat2 && (r->r8 & 2 /* RENAME_EXCHANGE */)) && read_path(t, pathp, path, sizeof path) &&
	    our_path(t, dirfd, path, false, ours, sizeof ours))
		note_victim(t, ours);
	t->pending = PEND_FS;
	fsstats.changes++;
	resume_to_exit(t);
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
	fsstats.stamps++;
}

static void change_exit(struct thread *t, long ret)
{
	long nr = t->fs_nr;
	unsigned long long *a = t->fs_args;
	debug("fs: %d: change %ld -> %ld", t->tid, nr, ret);
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
	switch (t->fs_nr) {
	case SYS_stat: case SYS_lstat: case SYS_fstat: case SYS_newfstatat: case SYS_statx:
		return stat_exit(t, ret);
	default:
		return change_exit(t, ret);
	}
}

/* A process that changes its root or mount namespace: from now on the kernel
 * resolves its paths (for it and its children). */
void fs_on_foreign(struct thread *t, struct user_regs_struct *r)
{
	proc_foreign[t->tgid] = 1;
	resume(t, 0);
}

/* ---- getdents: directories in name order ---- */

struct dentry_ { uint64_t ino; unsigned char type; char *name; };
struct listing {
	pid_t tgid;
	int fd;
	uint64_t dev, ino; /* the directory */
	size_t n;
	struct dentry_ *ents; /* sorted */
	uint64_t *vinos;
	char *names;
};
#define NLISTINGS 64
static struct listing listings[NLISTINGS];
static unsigned next_listing;

static void listing_free(struct listing *l)
{
	free(l->ents);
	free(l->vinos);
	free(l->names);
	memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
	const struct dentry_ *x = a, *y = b;
	/* "." and ".." first, as every filesystem lists them */
	int dx = !strcmp(x->name, ".") ? 0 : !strcmp(x->name, "..") ? 1 : 2;
	int dy = !strcmp(y->name, ".") ? 0 : !strcmp(y->name, "..") ? 1 : 2;
	if (dx != dy)
		return dx - dy;
	return strcmp(x->name, y->name);
}

/* reads the whole directory open as `dfd` (its own file description) */
static int listing_take(struct listing *l, int dfd, const char *dirpath, uint64_t dev)
{
	size_t cap = 64, nb = 0, nbcap = 4096;
	l->ents = malloc(cap * sizeof *l->ents);
	l->names = malloc(nbcap);
	if (!l->ents || !l->names)
		return -ENOMEM;
	char buf[32768];
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			size_t len = strlen(d->d_name) + 1;
			if (l->n == cap) {
				cap *= 2;
				struct dentry_ *ne = realloc(l->ents, cap * sizeof *ne);
				if (!ne)
					return -ENOMEM;
				l->ents = ne;
			}
			if (nb + len > nbcap) {
				while (nb + len > nbcap)
					nbcap *= 2;
				char *nn = realloc(l->names, nbcap);
				if (!nn)
					return -ENOMEM;
				l->names = nn;
			}
			memcpy(l->names + nb, d->d_name, len);
			l->ents[l->n++] = (struct dentry_){ d->d_ino, d->d_type, (char *)(uintptr_t)nb };
			nb += len;
			off += d->d_reclen;
		}
	}
	for (size_t i = 0; i < l->n; i++)
		l->ents[i].name = l->names + (uintptr_t)l->ents[i].name;
	qsort(l->ents, l->n, sizeof *l->ents, by_name);
	l->vinos = malloc((l->n ? l->n : 1) * sizeof *l->vinos);
	if (!l->vinos)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		struct origin o = { .kind = O_NAME, .path = dirpath, .name = l->ents[i].name };
		l->vinos[i] = ident_get(dev, l->ents[i].ino, &o)->vino;
	}
	return 0;
}

static struct listing *listing_for(pid_t tgid, int fd, uint64_t dev, uint64_t ino, bool fresh)
{
	struct listing *l = NULL;
	for (int i = 0; i < NLISTINGS; i++)
		if (listings[i].ents && listings[i].tgid == tgid && listings[i].fd == fd) {
			l = &listings[i];
			break;
		}
	if (l && !fresh && l->dev == dev && l->ino == ino)
		return l;
	if (l)
		listing_free(l);
	else
		l = &listings[next_listing++ % NLISTINGS];
	listing_free(l);
	return l;
}

/* one entry in the tracee's format; 0 if it does not fit */
static size_t put_entry(char *out, size_t room, bool is64, uint64_t ino, uint64_t next, unsigned char type, const char *name)
{
	size_t nlen = strlen(name);
	if (is64) {
		size_t reclen = (19 + nlen + 1 + 7) & ~(size_t)7;
		if (reclen > room)
			return 0;
		memset(out, 0, reclen);
		memcpy(out, &ino, 8);
		memcpy(out + 8, &next, 8);
		uint16_t rl = (uint16_t)reclen;
		memcpy(out + 16, &rl, 2);
		out[18] = (char)type;
		memcpy(out + 19, name, nlen);
		return reclen;
	}
	/* struct linux_dirent: ino, off, reclen, name, NUL, pad, type at the end */
	size_t reclen = (18 + nlen + 2 + 7) & ~(size_t)7;
	if (reclen > room)
		return 0;
	memset(out, 0, reclen);
	memcpy(out, &ino, 8);
	memcpy(out + 8, &next, 8);
	uint16_t rl = (uint16_t)reclen;
	memcpy(out + 16, &rl, 2);
	memcpy(out + 18, name, nlen);
	out[reclen - 1] = (char)type;
	return reclen;
}

void fs_on_getdents(struct thread *t, struct user_regs_struct *r)
{
	int fd = (int)r->rdi;
	unsigned long bufp = r->rsi;
	size_t count = (size_t)r->rdx;
	bool is64 = (long)r->orig_rax == SYS_getdents64;
	fsstats.listings++;
	/* the tracee's own open file (its offset is the listing's cursor): through
	 * the process, since pidfd_open() refuses threads other than the leader */
	int pidfd = (int)syscall(SYS_pidfd_open, t->tgid, 0);
	if (pidfd < 0) {
		warnx_("getdents of %d: pidfd_open: %m", t->tid);
		fsstats.listings_real++;
		return resume(t, 0);
	}
	int ofd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (ofd < 0) {
		fsstats.listings_real++;
		return resume(t, 0); /* EBADF and friends from the kernel */
	}
	struct stat st;
	off_t pos = lseek(ofd, 0, SEEK_CUR);
	if (fstat(ofd, &st) < 0 || !S_ISDIR(st.st_mode) || pos < 0) {
		close(ofd);
		fsstats.listings_real++;
		return resume(t, 0); /* ENOTDIR, EBADF: the kernel's answer */
	}
	struct listing *l = listing_for(t->tgid, fd, st.st_dev, st.st_ino, pos == 0);
	if (!l->ents) {
		char link[64], dirpath[4096];
		snprintf(link, sizeof link, "/proc/self/fd/%d", ofd);
		ssize_t n = readlink(link, dirpath, sizeof dirpath - 1);
		int dfd = open(link, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = n < 0 || dfd < 0 ? -EIO : 0;
		if (n >= 0)
			dirpath[n] = 0;
		if (rc == 0)
			rc = listing_take(l, dfd, dirpath, st.st_dev);
		if (dfd >= 0)
			close(dfd);
		if (rc < 0) {
			warnx_("getdents of %d: cannot read %s: %s", t->tid, dirpath, strerror(-rc));
			listing_free(l);
			close(ofd);
			fsstats.listings_real++;
			return resume(t, 0);
		}
		l->tgid = t->tgid;
		l->fd = fd;
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	char *out = malloc(count < 65536 ? count : 65536);
	size_t used = 0, room = count < 65536 ? count : 65536;
	size_t i = (size_t)pos;
	long ret = 0;
	if (!out) {
		ret = -ENOMEM;
	} else {
		for (; i < l->n; i++) {
			size_t w = put_entry(out + used, room - used, is64, l->vinos[i], i + 1, l->ents[i].type, l->ents[i].name);
			if (!w)
				break;
			used += w;
		}
		if (!used && i < l->n)
			ret = -EINVAL; /* the buffer is too small for one entry */
		else if (used && mem_write(t->tid, bufp, out, used) < 0)
			ret = -EFAULT;
		else
			ret = (long)used;
	}
	free(out);
	if (ret >= 0 && lseek(ofd, (off_t)i, SEEK_SET) < 0)
		ret = -EIO;
	debug("fs: getdents %d fd %d entries %lld-%zu of %zu: %ld", t->tid, fd, (long long)pos, i, l->n, ret);
	close(ofd);
	syscall_skip(t, r, ret);
}

void fs_init(void)
{
	epoch_ns = (int64_t)cfg.epoch_ns;
	proc_foreign = calloc(nslots, 1);
	if (!proc_foreign)
		die("out of memory");
}
