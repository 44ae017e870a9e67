/* The filesystem view's rewrite of one stat result, in one place for the two
 * that apply it: the supervisor (fsstat.c) and the stat shim that answers in
 * the build's own process (statshim.c).  Header-only and free of the
 * supervisor's state: what it needs of a file's identity is a struct
 * fs_idview, and the epoch is an argument. */
#ifndef DETBUILD_FSREWRITE_H
#define DETBUILD_FSREWRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

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

#define FS_NS_PER_S 1000000000LL

static inline int64_t ts_ns(const struct kts64 *t) { return t->sec * FS_NS_PER_S + t->nsec; }
static inline struct kts64 ns_ts(int64_t ns)
{
	int64_t sec = ns / FS_NS_PER_S, rem = ns % FS_NS_PER_S;
	if (rem < 0) {
		sec--;
		rem += FS_NS_PER_S;
	}
	return (struct kts64){ sec, (uint32_t)rem, 0 };
}
static inline uint64_t real_dev(const struct kstatx *x) { return makedev(x->dev_major, x->dev_minor); }

/* What the rewrite needs of a file's identity (fsident.c: struct ident). */
struct fs_idview {
	uint64_t vino;
	uint32_t vdev;
	bool tracked;       /* the build changed it: a, m, c, b are its times */
	bool installed;     /* its mtime is shown as it is (systimes.c) */
	int64_t a, m, c, b;
};

static inline int64_t fs_clamp_epoch(int64_t t, int64_t epoch) { return t < epoch ? t : epoch; }

/* the mtime a file the build has not changed shows */
static inline int64_t fs_shown_mtime(bool installed, const struct kstatx *real, int64_t epoch)
{
	return installed ? ts_ns(&real->mtime) : fs_clamp_epoch(ts_ns(&real->mtime), epoch);
}

/* rewrites a real result x of the file with identity e (see fsstat.c) */
static inline void fs_view_apply(struct kstatx *x, const struct fs_idview *e, int64_t epoch)
{
	bool dir = S_ISDIR(x->mode), reg = S_ISREG(x->mode);
	int64_t a, m, c, b;
	if (e->tracked) {
		a = e->a, m = e->m, c = e->c, b = e->b;
	} else if (!dir && !reg && !S_ISLNK(x->mode)) {
		/* device nodes, FIFOs, sockets: their times are the host's boot or the last write */
		a = m = c = b = epoch;
	} else {
		m = a = fs_shown_mtime(e->installed, x, epoch);
		c = b = epoch;
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

/* a struct stat from a struct statx, and back (the fields struct stat has) */
static inline void fs_to_stat(struct stat *st, const struct kstatx *x)
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

static inline void fs_from_stat(struct kstatx *x, const struct stat *st)
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

#endif
