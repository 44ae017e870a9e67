/* The stat shim: a library every dynamic program of the build loads
 * (/etc/ld.so.preload, preload.c) that answers stat, lstat, fstat, fstatat,
 * statx and the old __xstat family in the process itself, without a stop in
 * the supervisor, whenever the answer is already determined:
 *
 *   1. the real call runs from the vDSO's dt_fs_syscall, the one address the
 *      seccomp filter lets the stat family run from untrapped (ipfilter.c);
 *   2. an error is returned as the kernel gave it (the supervisor lets the
 *      kernel fail these calls too);
 *   3. the file's real (dev, ino) is looked up in the view's published
 *      identities (fspub.h); when found, the answer is rewritten with the
 *      supervisor's own rule (fsrewrite.h) and returned;
 *   4. anything else -- a file the view has not seen yet, an entry being
 *      written, a path the supervisor resolves its own way (through /proc's
 *      self links, /dev's links to them, a result on procfs, a device, FIFO
 *      or socket reached by name), unusual flags, no table -- is made again
 *      from an ordinary `syscall` instruction, which stops in the supervisor
 *      as before; it records the file and answers.
 *
 * The shim has no state of its own beyond the read-only table mapping, made
 * at the first stat of a process: the supervisor hands the table's memfd
 * out over a socket whose address it wrote into the clock table's header. */
#include "fs/fsrewrite.h"
#include "fs/fspub.h"
#include "shared.h"
#include "vdso_syms.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#define EXPORT __attribute__((visibility("default")))

static long raw6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static long raw(long nr, long a0, long a1, long a2, long a3, long a4)
{
	return raw6(nr, a0, a1, a2, a3, a4, 0);
}

typedef long (*gadget_fn)(long nr, long a0, long a1, long a2, long a3, long a4);

enum { S_NEW, S_BUSY, S_READY, S_NONE };
static int state = S_NEW;
static const struct fspub_header *thdr;
static const struct fspub_entry *tents;
static uint64_t proc_dev = ~0ULL;

#define GADGET ((gadget_fn)(DT_VDSO_BASE + DT_FS_SYSCALL_OFF))

static const struct fspub_header *fetch_table(void)
{
	const unsigned char *at = (const unsigned char *)(DT_VDSO_BASE + DT_TABLE_OFF + FSPUB_ADDR_OFF);
	uint32_t len = __atomic_load_n((const uint32_t *)at, __ATOMIC_ACQUIRE);
	if (!len || len > sizeof(struct sockaddr_un))
		return NULL;
	struct sockaddr_un addr;
	memcpy(&addr, at + 8, len);
	long s = raw(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0);
	if (s < 0)
		return NULL;
	const struct fspub_header *h = NULL;
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	long r;
	if (raw(SYS_connect, s, (long)&addr, len, 0, 0) < 0)
		goto out;
	do
		r = raw(SYS_recvmsg, s, (long)&msg, MSG_CMSG_CLOEXEC, 0, 0);
	while (r == -EINTR);
	struct cmsghdr *c = r == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		goto out;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	long p = raw6(SYS_mmap, (long)FSPUB_MAP_ADDR, (long)FSPUB_LEN, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	raw(SYS_close, fd, 0, 0, 0, 0);
	if (p < 0 && p > -4096)
		goto out;
	if (p != (long)FSPUB_MAP_ADDR) { /* a kernel without MAP_FIXED_NOREPLACE put it elsewhere */
		raw(SYS_munmap, p, (long)FSPUB_LEN, 0, 0, 0);
		goto out;
	}
	h = (const struct fspub_header *)p;
	if (h->magic != FSPUB_MAGIC || h->nslots != FSPUB_SLOTS) {
		raw(SYS_munmap, p, (long)FSPUB_LEN, 0, 0, 0);
		h = NULL;
	}
out:
	raw(SYS_close, s, 0, 0, 0, 0);
	return h;
}

static bool ready(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	if (s == S_READY)
		return true;
	if (s != S_NEW)
		return false;
	int expect = S_NEW;
	if (!__atomic_compare_exchange_n(&state, &expect, S_BUSY, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false; /* another thread is setting up: this call goes to the supervisor */
	int next = S_NONE;
	/* the supervisor's vDSO (and so the one allowed instruction) is mapped here */
	if (getauxval(AT_SYSINFO_EHDR) == DT_VDSO_BASE) {
		thdr = fetch_table();
		if (thdr) {
			tents = (const struct fspub_entry *)((const char *)thdr + FSPUB_HDR_LEN);
			struct kstatx x;
			if (GADGET(SYS_statx, AT_FDCWD, (long)"/proc", 0, X_BASIC, (long)&x) == 0)
				proc_dev = real_dev(&x);
			next = S_READY;
		}
	}
	__atomic_store_n(&state, next, __ATOMIC_RELEASE);
	return next == S_READY;
}

/* the published identity of (dev, ino): false when there is none to use */
static bool lookup(uint64_t dev, uint64_t ino, struct fs_idview *v)
{
	if (!dev && !ino)
		ino = ~0ULL;
	uint64_t j = fspub_slot(dev, ino);
	for (unsigned probes = 0; probes < 4096; probes++, j = (j + 1) & (FSPUB_SLOTS - 1)) {
		const struct fspub_entry *s = &tents[j];
		uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (s1 == 0 || (s1 & 1))
			return false;
		struct fspub_entry e;
		e.flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
		e.dev = __atomic_load_n(&s->dev, __ATOMIC_RELAXED);
		e.ino = __atomic_load_n(&s->ino, __ATOMIC_RELAXED);
		e.vino = __atomic_load_n(&s->vino, __ATOMIC_RELAXED);
		e.vdev = __atomic_load_n(&s->vdev, __ATOMIC_RELAXED);
		e.a = __atomic_load_n(&s->a, __ATOMIC_RELAXED);
		e.m = __atomic_load_n(&s->m, __ATOMIC_RELAXED);
		e.c = __atomic_load_n(&s->c, __ATOMIC_RELAXED);
		e.b = __atomic_load_n(&s->b, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != s1)
			return false;
		if (e.dev != dev || e.ino != ino || (e.flags & FSPUB_DEAD))
			continue;
		v->vino = e.vino;
		v->vdev = e.vdev;
		v->tracked = (e.flags & FSPUB_TRACKED) != 0;
		v->installed = (e.flags & FSPUB_INSTALLED) != 0;
		v->a = e.a, v->m = e.m, v->c = e.c, v->b = e.b;
		return true;
	}
	return false;
}

static bool component_is(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);
	return n == k && memcmp(p, w, k) == 0;
}

/* a path the supervisor resolves differently from the process: its own
 * /proc/self, or /dev's links into it */
static bool resolved_apart(const char *path)
{
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *q = p;
		while (*q && *q != '/')
			q++;
		size_t n = (size_t)(q - p);
		if (component_is(p, n, "self") || component_is(p, n, "thread-self") || component_is(p, n, "dev") ||
		    component_is(p, n, "proc"))
			return true;
		p = q;
	}
	return false;
}

static int fail(long rc)
{
	errno = (int)-rc;
	return -1;
}

/* One stat-family call: nr with its arguments a0..a3; the file is named by
 * (path, flags) or is the descriptor (path NULL); buf is a struct stat, or
 * a struct statx (nr == SYS_statx, whose mask argument a3 is replaced). */
static int answer(long nr, long a0, long a1, long a2, long a3, const char *path, int flags, void *buf)
{
	int allowed = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | (nr == SYS_statx ? 0x6000 : 0);
	bool by_name = path && path[0];
	if (!ready() || (flags & ~allowed) || (nr != SYS_fstat && !path) || (by_name && resolved_apart(path)))
		goto trapped;
	long rc = GADGET(nr, a0, a1, a2, nr == SYS_statx ? (long)(X_BASIC | X_BTIME) : a3, nr == SYS_statx ? (long)buf : 0);
	if (rc < 0)
		return fail(rc); /* the kernel's error, as the supervisor lets it give it */
	struct kstatx x;
	if (nr == SYS_statx)
		memcpy(&x, buf, sizeof x);
	else
		fs_from_stat(&x, buf);
	if (by_name && (real_dev(&x) == proc_dev || !(S_ISREG(x.mode) || S_ISDIR(x.mode) || S_ISLNK(x.mode))))
		goto trapped;
	struct fs_idview v;
	if (!lookup(real_dev(&x), x.ino, &v))
		goto trapped;
	fs_view_apply(&x, &v, thdr->epoch_ns);
	if (nr == SYS_statx)
		memcpy(buf, &x, sizeof x);
	else
		fs_to_stat(buf, &x);
	return 0;
trapped:
	rc = raw(nr, a0, a1, a2, a3, nr == SYS_statx ? (long)buf : 0);
	return rc < 0 ? fail(rc) : (int)rc;
}

/* The entry points call these, never each other: an exported name called
 * from here would go through the symbol table, and a library preloaded
 * before this one (fakeroot's, whose stat calls the next __xstat, which is
 * ours) would get the call back, round and round until the stack ends. */
static int do_stat(const char *path, struct stat *st)
{
	return answer(SYS_stat, (long)path, (long)st, 0, 0, path, 0, st);
}

static int do_lstat(const char *path, struct stat *st)
{
	return answer(SYS_lstat, (long)path, (long)st, 0, 0, path, AT_SYMLINK_NOFOLLOW, st);
}

static int do_fstat(int fd, struct stat *st)
{
	return answer(SYS_fstat, fd, (long)st, 0, 0, NULL, 0, st);
}

static int do_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return answer(SYS_newfstatat, dirfd, (long)path, (long)st, flags, path, flags, st);
}

EXPORT int stat(const char *path, struct stat *st) { return do_stat(path, st); }
EXPORT int lstat(const char *path, struct stat *st) { return do_lstat(path, st); }
EXPORT int fstat(int fd, struct stat *st) { return do_fstat(fd, st); }
EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags) { return do_fstatat(dirfd, path, st, flags); }

EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
{
	(void)mask; /* the view reports the basic fields and the birth time whatever was asked */
	return answer(SYS_statx, dirfd, (long)path, flags, mask, path, flags, buf);
}

EXPORT int stat64(const char *path, struct stat64 *st) { return do_stat(path, (struct stat *)st); }
EXPORT int lstat64(const char *path, struct stat64 *st) { return do_lstat(path, (struct stat *)st); }
EXPORT int fstat64(int fd, struct stat64 *st) { return do_fstat(fd, (struct stat *)st); }
EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return do_fstatat(dirfd, path, (struct stat *)st, flags);
}

/* the C library's entry points before glibc 2.33, still called by programs
 * linked against them (and by fakeroot's wrappers): version 0 or 1 is the
 * kernel's struct stat here */
#define VER_OK(v) ((v) == 0 || (v) == 1)
EXPORT int __xstat(int v, const char *p, struct stat *st) { return VER_OK(v) ? do_stat(p, st) : fail(-EINVAL); }
EXPORT int __lxstat(int v, const char *p, struct stat *st) { return VER_OK(v) ? do_lstat(p, st) : fail(-EINVAL); }
EXPORT int __fxstat(int v, int fd, struct stat *st) { return VER_OK(v) ? do_fstat(fd, st) : fail(-EINVAL); }
EXPORT int __fxstatat(int v, int d, const char *p, struct stat *st, int f)
{
	return VER_OK(v) ? do_fstatat(d, p, st, f) : fail(-EINVAL);
}
EXPORT int __xstat64(int v, const char *p, struct stat64 *st) { return VER_OK(v) ? do_stat(p, (struct stat *)st) : fail(-EINVAL); }
EXPORT int __lxstat64(int v, const char *p, struct stat64 *st) { return VER_OK(v) ? do_lstat(p, (struct stat *)st) : fail(-EINVAL); }
EXPORT int __fxstat64(int v, int fd, struct stat64 *st) { return VER_OK(v) ? do_fstat(fd, (struct stat *)st) : fail(-EINVAL); }
EXPORT int __fxstatat64(int v, int d, const char *p, struct stat64 *st, int f)
{
	return VER_OK(v) ? do_fstatat(d, p, (struct stat *)st, f) : fail(-EINVAL);
}
