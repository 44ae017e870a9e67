/* procview: the build's /proc, a FUSE file system in front of the real one.
 *
 * Each process's accounting files are the host's: CPU times, start time,
 * page faults, context switches, resident sizes, I/O counters and the CPU it
 * runs on change with load, the CPU and the page cache.  They are per
 * process, under /proc/PID, and /proc/self means another directory for each
 * reader, so no fixed file can be bound over them (hostview.ts does that for
 * the machine-wide files).  Instead the build's mount namespace has this file
 * system at /proc:
 *
 *   /proc/self, /proc/thread-self   symlinks to the reader's PID (and TID),
 *                                   answered per request (FUSE names the
 *                                   thread behind each one)
 *   /proc/PID, /proc/PID/task/TID   directories of ours holding
 *       stat status statm schedstat sched io
 *                                   made here from the real file, with every
 *                                   host-dependent value replaced (below)
 *       autogroup sessionid loginuid
 *                                   fixed (the caller's login session)
 *       exe cwd root                symlinks to what the real ones name
 *       anything else               a symlink to the real entry
 *   anything else                   a symlink to the real entry
 *
 * The real /proc stays mounted at STATE_DIR/proc in the build's namespace, so
 * the symlinks lead to the kernel's own files: /proc/self/fd/N (and so
 * /dev/stdin) are still the kernel's magic links, the files bound over
 * /proc/cpuinfo and friends are still there, writes to /proc/sys still work.
 * The supervisor keeps the real /proc at /proc in its own namespace: its
 * /proc/TID paths never pass through here.
 *
 * What the synthetic files say (see synth_*): user time from the logical
 * CPU-time clock (as getrusage, rusage.c), system and children's times zero,
 * start time the logical clock's start, fault, switch and I/O counts zero,
 * memory sizes fixed, the CPU and the allowed CPUs 0. */
#include "threads.h"
#include "supervisor.h"
#include "fusedev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- nodes: kind, pid, tid and a name, packed into the FUSE node id ---- */

enum kind { K_ROOT = 1, K_SELF, K_THREAD_SELF, K_TOP_LINK, K_PID_DIR, K_TASK_DIR, K_TID_DIR, K_FILE, K_LINK };

#define PID_BITS 23
#define NAME_BITS 10
#define MAX_NAMES (1u << NAME_BITS)

static uint64_t node(enum kind k, pid_t pid, pid_t tid, unsigned name)
{
	if (k == K_ROOT)
		return FUSE_ROOT_ID;
	return ((uint64_t)k << 56) | ((uint64_t)pid << (PID_BITS + NAME_BITS)) | ((uint64_t)tid << NAME_BITS) | name;
}

static enum kind kind_of(uint64_t n)
{
	return n == FUSE_ROOT_ID ? K_ROOT : (enum kind)(n >> 56);
}
static pid_t pid_of(uint64_t n) { return (pid_t)((n >> (PID_BITS + NAME_BITS)) & ((1u << PID_BITS) - 1)); }
static pid_t tid_of(uint64_t n) { return (pid_t)((n >> NAME_BITS) & ((1u << PID_BITS) - 1)); }
static unsigned name_of(uint64_t n) { return (unsigned)(n & (MAX_NAMES - 1)); }

/* names of entries, interned (only the serving thread touches them) */
static char *names[MAX_NAMES];
static unsigned nnames = 1; /* 0: none */

static unsigned intern(const char *s)
{
	for (unsigned i = 1; i < nnames; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	if (nnames == MAX_NAMES || !(names[nnames] = strdup(s)))
		return 0;
	return nnames++;
}

/* the files made here, by name */
enum synth { SY_NONE, SY_STAT, SY_STATUS, SY_STATM, SY_SCHEDSTAT, SY_SCHED, SY_IO, SY_AUTOGROUP, SY_SESSIONID,
	     SY_LOGINUID };
static enum synth synth_of(const char *name)
{
	static const char *const s[] = { NULL, "stat", "status", "statm", "schedstat", "sched", "io", "autogroup",
					 "sessionid", "loginuid" };
	for (int i = 1; i < (int)(sizeof s / sizeof s[0]); i++)
		if (strcmp(name, s[i]) == 0)
			return (enum synth)i;
	return SY_NONE;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ---- paths ---- */

static char real_root[256]; /* where the build sees the real /proc */

/* the real directory of a process or thread node, as the supervisor sees it (its /proc is real) */
static void real_dir(pid_t pid, pid_t tid, char *out, size_t len)
{
	if (tid)
		snprintf(out, len, "/proc/%d/task/%d", pid, tid);
	else
		snprintf(out, len, "/proc/%d", pid);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- the synthetic files ---- */

#define CLK_TCK 100
#define FIXED_VSIZE (128ULL << 20)
#define FIXED_RSS_PAGES 1024

struct buf { char *p; size_t len, cap; };

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void printf_(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static char *read_real(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 8192, n = 0;
	char *p = malloc(cap);
	for (;;) {
		if (!p) {
			close(fd);
			return NULL;
		}
		ssize_t r = read(fd, p + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n + 1 == cap)
			p = realloc(p, cap *= 2);
	}
	close(fd);
	p[n] = 0;
	*len = n;
	return p;
}

/* the logical CPU time of a process (its leader's clock) or a thread, in ns */
static uint64_t cpu_ns(pid_t pid, pid_t tid)
{
	return slot_of(tid ? tid : pid)->cpu;
}

/* /proc/PID/stat: fields numbered as in proc(5), from 3 (state) on */
static void synth_stat(struct buf *out, char *real, pid_t pid, pid_t tid)
{
	char *close_paren = strrchr(real, ')');
	if (!close_paren) {
		puts_(out, real);
		return;
	}
	put(out, real, (size_t)(close_paren + 1 - real));
	char *save = NULL;
	int field = 3;
	for (char *tok = strtok_r(close_paren + 1, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
		char v[32];
		const char *val = tok;
		switch (field) {
		case 10: case 11: case 12: case 13:   /* minflt cminflt majflt cmajflt */
		case 15: case 16: case 17:            /* stime cutime cstime */
		case 21:                              /* itrealvalue */
		case 30: case 31: case 35:            /* kstkesp kstkeip wchan */
		case 36: case 37:                     /* nswap cnswap */
		case 39:                              /* processor */
		case 42: case 43: case 44:            /* delayacct_blkio_ticks guest_time cguest_time */
			val = "0";
			break;
		case 14:                              /* utime */
			snprintf(v, sizeof v, "%llu", (unsigned long long)(cpu_ns(pid, tid) / (NS_PER_S / CLK_TCK)));
			val = v;
			break;
		case 22:                              /* starttime: when the logical clocks start */
			snprintf(v, sizeof v, "%llu", (unsigned long long)(cfg.mono_start / (NS_PER_S / CLK_TCK)));
			val = v;
			break;
		case 23:                              /* vsize */
			snprintf(v, sizeof v, "%llu", (unsigned long long)FIXED_VSIZE);
			val = v;
			break;
		case 24:                              /* rss */
			snprintf(v, sizeof v, "%d", FIXED_RSS_PAGES);
			val = v;
			break;
		default:
			break;
		}
		printf_(out, " %s", val);
	}
	puts_(out, "\n");
}

/* /proc/PID/status: by key */
static void synth_status(struct buf *out, char *real)
{
	static const struct { const char *key, *value; } fixed[] = {
		{ "VmPeak", "  131072 kB" }, { "VmSize", "  131072 kB" }, { "VmLck", "       0 kB" },
		{ "VmPin", "       0 kB" }, { "VmHWM", "    4096 kB" }, { "VmRSS", "    4096 kB" },
		{ "RssAnon", "    2048 kB" }, { "RssFile", "    2048 kB" }, { "RssShmem", "       0 kB" },
		{ "VmData", "   65536 kB" }, { "VmPTE", "      48 kB" }, { "VmSwap", "       0 kB" },
		{ "HugetlbPages", "       0 kB" }, { "voluntary_ctxt_switches", "0" },
		{ "nonvoluntary_ctxt_switches", "0" }, { "Cpus_allowed_list", "0" },
	};
	char *save = NULL;
	for (char *line = strtok_r(real, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		const char *value = NULL;
		char tmp[256];
		if (colon) {
			*colon = 0;
			for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
				if (strcmp(line, fixed[i].key) == 0)
					value = fixed[i].value;
			const char *rest = colon + 1 + strspn(colon + 1, "\t ");
			if (strcmp(line, "SigQ") == 0) {
				/* queued signals of the user, host-wide: 0 (the limit stays, getrlimit says it too) */
				const char *slash = strchr(rest, '/');
				snprintf(tmp, sizeof tmp, "0%s", slash ? slash : "");
				value = tmp;
			} else if (strcmp(line, "Cpus_allowed") == 0) {
				/* CPU 0 only, in the kernel's format (its width depends on the CPU count) */
				snprintf(tmp, sizeof tmp, "%s", rest);
				size_t n = strlen(tmp);
				for (size_t i = 0; i < n; i++)
					if (tmp[i] != ',')
						tmp[i] = '0';
				if (n)
					tmp[n - 1] = '1';
				value = tmp;
			}
			if (value)
				printf_(out, "%s:\t%s\n", line, value);
			else
				printf_(out, "%s:%s\n", line, colon + 1);
		} else {
			printf_(out, "%s\n", line);
		}
	}
}

/* /proc/PID/statm, in pages: size resident shared text lib data dt (text is the program's own) */
static void synth_statm(struct buf *out, char *real)
{
	unsigned long v[7] = { 0 };
	sscanf(real, "%lu %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
	printf_(out, "%llu %d %d %lu 0 %d 0\n", (unsigned long long)(FIXED_VSIZE / 4096), FIXED_RSS_PAGES,
		FIXED_RSS_PAGES / 2, v[3], 16384);
}

/* /proc/PID/sched: the scheduler's statistics, all zero but the policy and weight */
static void synth_sched(struct buf *out, char *real)
{
	char *save = NULL;
	int n = 0;
	for (char *line = strtok_r(real, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		char *colon = strchr(line, ':');
		if (n < 2 || line[0] == '-') {
			printf_(out, "%s\n", line); /* "comm (pid, #threads: n)" and the rule */
		} else if (colon) {
			size_t klen = (size_t)(colon - line);
			char key[128];
			snprintf(key, sizeof key, "%.*s", (int)klen, line);
			char *end = key + strlen(key);
			while (end > key && end[-1] == ' ')
				*--end = 0;
			bool keep = strcmp(key, "policy") == 0 || strcmp(key, "prio") == 0 ||
				    strcmp(key, "se.load.weight") == 0;
			if (keep)
				printf_(out, "%s\n", line);
			else
				printf_(out, "%-45s:%21s\n", key, "0");
		} else {
			/* "key=value, key=value" lines: every number zero */
			for (const char *p = line; *p;) {
				if (*p == '=') {
					put(out, "=0", 2);
					p++;
					while (*p && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
						p++;
				} else {
					put(out, p++, 1);
				}
			}
			puts_(out, "\n");
		}
	}
}

/* the content of a synthetic file, or -errno */
static int synth(enum synth which, pid_t pid, pid_t tid, struct buf *out)
{
	char dir[64], path[96];
	real_dir(pid, tid, dir, sizeof dir);
	if (which == SY_IO) {
		/* bytes and calls through read/write depend on pipe timing, block I/O on the page cache */
		snprintf(path, sizeof path, "%s/io", dir);
		if (!exists(path))
			return -ENOENT;
		puts_(out, "rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\n"
			   "cancelled_write_bytes: 0\n");
		return 0;
	}
	if (which >= SY_AUTOGROUP) {
		/* the host's session: its scheduler autogroup, its audit session and login uid (unset) */
		static const char *const fixed[] = { [SY_AUTOGROUP] = "/autogroup-1 nice 0\n",
						     [SY_SESSIONID] = "4294967295", [SY_LOGINUID] = "4294967295" };
		static const char *const file[] = { [SY_AUTOGROUP] = "autogroup", [SY_SESSIONID] = "sessionid",
						    [SY_LOGINUID] = "loginuid" };
		snprintf(path, sizeof path, "%s/%s", dir, file[which]);
		if (!exists(path))
			return -ENOENT;
		puts_(out, fixed[which]);
		return 0;
	}
	if (which == SY_SCHEDSTAT) {
		snprintf(path, sizeof path, "%s/schedstat", dir);
		if (!exists(path))
			return -ENOENT;
		printf_(out, "%llu 0 0\n", (unsigned long long)cpu_ns(pid, tid));
		return 0;
	}
	static const char *const file[] = { [SY_STAT] = "stat", [SY_STATUS] = "status", [SY_STATM] = "statm",
					    [SY_SCHED] = "sched" };
	snprintf(path, sizeof path, "%s/%s", dir, file[which]);
	size_t len;
	char *real = read_real(path, &len);
	if (!real)
		return -errno;
	switch (which) {
	case SY_STAT: synth_stat(out, real, pid, tid); break;
	case SY_STATUS: synth_status(out, real); break;
	case SY_STATM: synth_statm(out, real); break;
	case SY_SCHED: synth_sched(out, real); break;
	default: break;
	}
	free(real);
	return 0;
}

/* ---- FUSE ---- */

static int fuse_fd = -1;
static uid_t owner_uid;
static gid_t owner_gid;

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	fuse_reply(fuse_fd, unique, error, data, len);
}

static void fill_attr(struct fuse_attr *a, uint64_t n)
{
	memset(a, 0, sizeof *a);
	a->ino = n;
	a->uid = owner_uid;
	a->gid = owner_gid;
	a->blksize = 4096;
	switch (kind_of(n)) {
	case K_ROOT: case K_PID_DIR: case K_TASK_DIR: case K_TID_DIR:
		a->mode = S_IFDIR | 0555;
		a->nlink = 2;
		break;
	case K_FILE:
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		break;
	default:
		a->mode = S_IFLNK | 0777;
		a->nlink = 1;
		break;
	}
}

static void reply_entry(uint64_t unique, uint64_t n)
{
	struct fuse_entry_out e = { .nodeid = n, .generation = 1, .entry_valid = 60, .attr_valid = 60 };
	fill_attr(&e.attr, n);
	reply(unique, 0, &e, sizeof e);
}

/* an entry `name` of the real directory of (pid, tid): our node for it, or 0 */
static uint64_t lookup_in_process(pid_t pid, pid_t tid, const char *name)
{
	char dir[64], path[4200];
	real_dir(pid, tid, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!exists(path))
		return 0;
	if (!tid && strcmp(name, "task") == 0)
		return node(K_TASK_DIR, pid, 0, 0);
	unsigned nm = intern(name);
	if (!nm)
		return 0;
	return node(synth_of(name) ? K_FILE : K_LINK, pid, tid, nm);
}

static uint64_t lookup(uint64_t parent, const char *name)
{
	char path[4200];
	switch (kind_of(parent)) {
	case K_ROOT:
		if (strcmp(name, "self") == 0)
			return node(K_SELF, 0, 0, 0);
		if (strcmp(name, "thread-self") == 0)
			return node(K_THREAD_SELF, 0, 0, 0);
		snprintf(path, sizeof path, "/proc/%s", name);
		if (!exists(path))
			return 0;
		if (all_digits(name) && strlen(name) < 9 && atol(name) < (1L << PID_BITS))
			return node(K_PID_DIR, (pid_t)atol(name), 0, 0);
		{
			unsigned nm = intern(name);
			return nm ? node(K_TOP_LINK, 0, 0, nm) : 0;
		}
	case K_PID_DIR:
		return lookup_in_process(pid_of(parent), 0, name);
	case K_TASK_DIR:
		if (!all_digits(name) || strlen(name) >= 9 || atol(name) >= (1L << PID_BITS))
			return 0;
		snprintf(path, sizeof path, "/proc/%d/task/%s", pid_of(parent), name);
		return exists(path) ? node(K_TID_DIR, pid_of(parent), (pid_t)atol(name), 0) : 0;
	case K_TID_DIR:
		return lookup_in_process(pid_of(parent), tid_of(parent), name);
	default:
		return 0;
	}
}

/* the reader's thread group, from the supervisor's table (or the kernel's, for a stranger) */
static pid_t tgid_of(pid_t tid)
{
	pid_t tgid = identity_tgid(tid);
	if (tgid > 0)
		return tgid;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", tid);
	size_t len;
	char *s = read_real(path, &len);
	const char *t = s ? strstr(s, "\nTgid:") : NULL;
	tgid = t ? (pid_t)atol(t + 6) : tid;
	free(s);
	return tgid;
}

static int readlink_target(uint64_t n, pid_t reader, char *out, size_t len)
{
	char real[4200];
	switch (kind_of(n)) {
	case K_SELF:
		snprintf(out, len, "%d", tgid_of(reader));
		return 0;
	case K_THREAD_SELF:
		snprintf(out, len, "%d/task/%d", tgid_of(reader), reader);
		return 0;
	case K_TOP_LINK:
		snprintf(out, len, "%s/%s", real_root, names[name_of(n)]);
		return 0;
	case K_LINK: {
		const char *nm = names[name_of(n)];
		pid_t pid = pid_of(n), tid = tid_of(n);
		if (strcmp(nm, "exe") == 0 || strcmp(nm, "cwd") == 0 || strcmp(nm, "root") == 0) {
			/* what they name, as a plain path (readlink must give the program's path) */
			char dir[64];
			real_dir(pid, tid, dir, sizeof dir);
			snprintf(real, sizeof real, "%s/%s", dir, nm);
			ssize_t r = readlink(real, out, len - 1);
			if (r < 0)
				return -errno;
			out[r] = 0;
			return 0;
		}
		if (tid)
			snprintf(out, len, "%s/%d/task/%d/%s", real_root, pid, tid, nm);
		else
			snprintf(out, len, "%s/%d/%s", real_root, pid, nm);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* ---- open files and directories ---- */

struct handle {
	bool used;
	struct buf data;   /* a file's content, or a directory's fuse_dirents */
};
static struct handle *handles;
static size_t nhandles;

static long handle_new(void)
{
	size_t i;
	for (i = 0; i < nhandles && handles[i].used; i++)
		;
	if (i == nhandles) {
		size_t n = nhandles ? nhandles * 2 : 64;
		struct handle *h = realloc(handles, n * sizeof *h);
		if (!h)
			return -ENOMEM;
		memset(h + nhandles, 0, (n - nhandles) * sizeof *h);
		handles = h;
		nhandles = n;
	}
	memset(&handles[i], 0, sizeof handles[i]);
	handles[i].used = true;
	return (long)i;
}

static void handle_free(uint64_t fh)
{
	if (fh < nhandles && handles[fh].used) {
		free(handles[fh].data.p);
		memset(&handles[fh], 0, sizeof handles[fh]);
	}
}

static void add_dirent(struct buf *b, uint64_t ino, const char *name, unsigned type)
{
	size_t nl = strlen(name), sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
	char tmp[FUSE_NAME_OFFSET + 256 + 8];
	if (nl > 255)
		return;
	memset(tmp, 0, sz);
	struct fuse_dirent *d = (struct fuse_dirent *)tmp;
	d->ino = ino;
	d->off = 0; /* set when served */
	d->namelen = (uint32_t)nl;
	d->type = type;
	memcpy(d->name, name, nl);
	put(b, tmp, sz);
}

/* a directory's entries: the real directory's, with our kinds */
static int list_dir(uint64_t n, struct buf *out)
{
	char dir[64];
	pid_t pid = pid_of(n), tid = tid_of(n);
	switch (kind_of(n)) {
	case K_ROOT: snprintf(dir, sizeof dir, "/proc"); break;
	case K_PID_DIR: real_dir(pid, 0, dir, sizeof dir); break;
	case K_TASK_DIR: snprintf(dir, sizeof dir, "/proc/%d/task", pid); break;
	case K_TID_DIR: real_dir(pid, tid, dir, sizeof dir); break;
	default: return -ENOTDIR;
	}
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		uint64_t ino;
		unsigned type = DT_LNK;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			ino = n;
			type = DT_DIR;
		} else if (kind_of(n) == K_ROOT && (strcmp(name, "self") == 0 || strcmp(name, "thread-self") == 0)) {
			ino = node(name[0] == 's' ? K_SELF : K_THREAD_SELF, 0, 0, 0);
		} else if ((ino = lookup(n, name)) == 0) {
			continue;
		}
		enum kind k = kind_of(ino);
		if (k == K_PID_DIR || k == K_TASK_DIR || k == K_TID_DIR)
			type = DT_DIR;
		else if (k == K_FILE)
			type = DT_REG;
		add_dirent(out, ino, name, type);
	}
	closedir(d);
	return 0;
}

static void serve_read(uint64_t unique, const struct fuse_read_in *r, bool dir)
{
	if (r->fh >= nhandles || !handles[r->fh].used)
		return reply(unique, EBADF, NULL, 0);
	struct buf *b = &handles[r->fh].data;
	if (!dir) {
		size_t off = r->offset < b->len ? (size_t)r->offset : b->len;
		size_t n = b->len - off < r->size ? b->len - off : r->size;
		return reply(unique, 0, b->p + off, n);
	}
	/* directories: r->offset counts entries */
	static char out[65536];
	size_t used = 0, pos = 0;
	uint64_t index = 0;
	while (pos < b->len) {
		struct fuse_dirent *d = (struct fuse_dirent *)(b->p + pos);
		size_t sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d->namelen);
		if (index++ >= r->offset) {
			if (used + sz > r->size || used + sz > sizeof out)
				break;
			memcpy(out + used, d, sz);
			((struct fuse_dirent *)(out + used))->off = index;
			used += sz;
		}
		pos += sz;
	}
	reply(unique, 0, out, used);
}

static void handle(const struct fuse_in_header *in, const char *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = (const void *)arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION, .minor = ii->minor < 31 ? ii->minor : 31,
					   .max_readahead = 0, .max_background = 16, .congestion_threshold = 12,
					   .max_write = 4096, .time_gran = 1 };
		return reply(in->unique, 0, &o, sizeof o);
	}
	case FUSE_LOOKUP: {
		uint64_t n = lookup(in->nodeid, arg);
		return n ? reply_entry(in->unique, n) : reply(in->unique, ENOENT, NULL, 0);
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out a = { .attr_valid = 60 };
		fill_attr(&a.attr, in->nodeid);
		return reply(in->unique, 0, &a, sizeof a);
	}
	case FUSE_READLINK: {
		char target[4200];
		int rc = readlink_target(in->nodeid, (pid_t)in->pid, target, sizeof target);
		return rc < 0 ? reply(in->unique, -rc, NULL, 0) : reply(in->unique, 0, target, strlen(target));
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *oi = (const void *)arg;
		if (kind_of(in->nodeid) != K_FILE)
			return reply(in->unique, EISDIR, NULL, 0);
		if ((oi->flags & O_ACCMODE) != O_RDONLY)
			return reply(in->unique, EACCES, NULL, 0);
		long fh = handle_new();
		if (fh < 0)
			return reply(in->unique, (int)-fh, NULL, 0);
		int rc = synth(synth_of(names[name_of(in->nodeid)]), pid_of(in->nodeid), tid_of(in->nodeid),
			       &handles[fh].data);
		if (rc < 0) {
			handle_free((uint64_t)fh);
			return reply(in->unique, -rc, NULL, 0);
		}
		struct fuse_open_out o = { .fh = (uint64_t)fh, .open_flags = FOPEN_DIRECT_IO };
		return reply(in->unique, 0, &o, sizeof o);
	}
	case FUSE_READ:
		return serve_read(in->unique, (const void *)arg, false);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		handle_free(((const struct fuse_release_in *)arg)->fh);
		return reply(in->unique, 0, NULL, 0);
	case FUSE_OPENDIR: {
		long fh = handle_new();
		if (fh < 0)
			return reply(in->unique, (int)-fh, NULL, 0);
		int rc = list_dir(in->nodeid, &handles[fh].data);
		if (rc < 0) {
			handle_free((uint64_t)fh);
			return reply(in->unique, -rc, NULL, 0);
		}
		struct fuse_open_out o = { .fh = (uint64_t)fh };
		return reply(in->unique, 0, &o, sizeof o);
	}
	case FUSE_READDIR:
		return serve_read(in->unique, (const void *)arg, true);
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_ACCESS:
		return reply(in->unique, 0, NULL, 0);
	case FUSE_STATFS: {
		struct fuse_statfs_out s = { .st = { .bsize = 4096, .namelen = 255, .frsize = 4096 } };
		return reply(in->unique, 0, &s, sizeof s);
	}
	case FUSE_SETATTR:
	case FUSE_WRITE:
	case FUSE_CREATE:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_SYMLINK:
	case FUSE_LINK:
		return reply(in->unique, EACCES, NULL, 0);
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return; /* no reply */
	case FUSE_DESTROY:
		return reply(in->unique, 0, NULL, 0);
	default:
		return reply(in->unique, ENOSYS, NULL, 0);
	}
}

static void *serve(void *unused)
{
	(void)unused;
	fuse_serve(fuse_fd, handle);
	return NULL;
}

/* ---- set-up ---- */

static char staged[256]; /* where our file system waits, in the supervisor's namespace */
static bool ready;

bool procview_start(void)
{
	char opts[256];
	snprintf(staged, sizeof staged, "%s/procview", cfg.state_dir);
	snprintf(real_root, sizeof real_root, "%s/proc", cfg.state_dir);
	if ((mkdir(staged, 0555) < 0 && errno != EEXIST) || (mkdir(real_root, 0555) < 0 && errno != EEXIST)) {
		debug("procview: cannot create its directories (%m): /proc/PID stays the kernel's");
		return false;
	}
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		debug("procview: no /dev/fuse (%m): /proc/PID stays the kernel's");
		return false;
	}
	owner_uid = getuid();
	owner_gid = getgid();
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40555,user_id=%u,group_id=%u", fuse_fd, owner_uid, owner_gid);
	if (mount("detbuild-proc", staged, "fuse.detbuild-proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
		debug("procview: cannot mount (%m): /proc/PID stays the kernel's");
		close(fuse_fd);
		fuse_fd = -1;
		return false;
	}
	if (!thread_start(serve, NULL, 0, false)) {
		umount2(staged, MNT_DETACH);
		return false;
	}
	ready = true;
	return true;
}

void procview_enter(void)
{
	if (!ready)
		return;
	if (unshare(CLONE_NEWNS) < 0) {
		warnx_("procview: cannot create the build's mount namespace: %m");
		return;
	}
	if (mount("/proc", real_root, NULL, MS_BIND | MS_REC, NULL) < 0) {
		warnx_("procview: cannot bind /proc at %s: %m", real_root);
		return;
	}
	if (mount(staged, "/proc", NULL, MS_MOVE, NULL) < 0)
		warnx_("procview: cannot mount over /proc: %m");
}
