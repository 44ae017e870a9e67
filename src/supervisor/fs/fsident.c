/* The filesystem view's identities: which virtual device and inode number a
 * real file gets, and the times the build gave it (see fsstat.c). */
#include "fsview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int64_t fs_epoch_ns;
struct fsview_stats fsstats;
/* guards the view's state (identities, kept handles, counters) between the
 * main thread and the thread answering notifications (fsnotify.c) */
pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;

struct verdict fs_locked(struct verdict (*handler)(struct thread *t, struct user_regs_struct *r), struct thread *t,
			 struct user_regs_struct *r)
{
	pthread_mutex_lock(&fs_lock);
	struct verdict v = handler(t, r);
	pthread_mutex_unlock(&fs_lock);
	return v;
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

struct ident *ident_find(uint64_t dev, uint64_t ino)
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


bool origin_path(const struct origin *o, char *out, size_t len)
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
	case O_AT: {
		int fd = o->path[0] ? openat(o->fd, o->path, O_PATH | O_CLOEXEC | (o->nofollow ? O_NOFOLLOW : 0)) : o->fd;
		if (fd < 0)
			return false;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, out, len - 1);
		if (fd != o->fd)
			close(fd);
		break;
	}
	}
	if (n < 0)
		return false;
	out[n] = 0;
	return true;
}

struct ident *ident_get(uint64_t dev, uint64_t ino, const struct origin *o)
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
		e->installed = fs_time_as_installed(path);
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
	fspub_put(e);
	return e;
}

/* The file is gone (its last name was removed): a later file that gets the
 * same real inode number is another file. */
void ident_drop(uint64_t dev, uint64_t ino)
{
	struct ident *e = ident_find(dev, ino);
	if (e) {
		fspub_drop(e);
		e->dead = true;
		ilive--;
	}
}
