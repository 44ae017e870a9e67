/* The filesystem view's directory order: getdents served sorted by name from
 * a snapshot of the directory, the descriptor's offset as the index. */
#include "fsview.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
	if (!l)
		l = &listings[next_listing++ % NLISTINGS];
	listing_free(l);
	return l;
}

/* one entry in the tracee's format; 0 if it does not fit.  getdents64:
 * ino, off, reclen, type, name, NUL; getdents: ino, off, reclen, name, NUL,
 * padding, type in the last byte */
static size_t put_entry(char *out, size_t room, bool is64, uint64_t ino, uint64_t next, unsigned char type, const char *name)
{
	size_t nlen = strlen(name);
	size_t name_at = is64 ? 19 : 18;
	size_t reclen = (name_at + nlen + (is64 ? 1 : 2) + 7) & ~(size_t)7;
	if (reclen > room)
		return 0;
	memset(out, 0, reclen);
	memcpy(out, &ino, 8);
	memcpy(out + 8, &next, 8);
	uint16_t rl = (uint16_t)reclen;
	memcpy(out + 16, &rl, 2);
	memcpy(out + name_at, name, nlen);
	out[is64 ? 18 : reclen - 1] = (char)type;
	return reclen;
}

static void getdents_locked(struct thread *t, struct user_regs_struct *r);

void fs_on_getdents(struct thread *t, struct user_regs_struct *r)
{
	pthread_mutex_lock(&fs_lock);
	getdents_locked(t, r);
	pthread_mutex_unlock(&fs_lock);
}

static void getdents_locked(struct thread *t, struct user_regs_struct *r)
{
	int fd = (int)r->rdi;
	unsigned long bufp = r->rsi;
	size_t count = (size_t)r->rdx;
	bool is64 = (long)r->orig_rax == SYS_getdents64;
	fsstats.listings++;
	/* the tracee's own open file (its offset is the listing's cursor): through
	 * the process's pidfd (kept, fsproc.c), since pidfd_open() refuses threads
	 * other than the leader */
	int ofd = fs_tracee_fd(t->tgid, fd);
	if (ofd < 0) {
		if (ofd != -EBADF)
			warnx_("getdents of %d: cannot reach its descriptor %d: %s", t->tid, fd, strerror(-ofd));
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
