/* entropyfs: a tiny FUSE file system serving /dev/urandom, /dev/random and
 * /proc/sys/kernel/random/uuid to the build.  Every open gets a stream of its
 * own, keyed by the opening thread's identity and its count of such opens;
 * the kernel tells us which thread opens (fuse_in_header.pid), so no system
 * call of the build has to stop in the supervisor for this.  Mounted by the
 * supervisor (which holds CAP_SYS_ADMIN in the sandbox's user namespace) and
 * bound over the three paths; if FUSE is unavailable the supervisor falls
 * back to trapping open(2) (urandom.c). */
#include "threads.h"
#include "supervisor.h"
#include "fusedev.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NODE_ROOT = FUSE_ROOT_ID, NODE_URANDOM, NODE_RANDOM, NODE_UUID, NODE_COUNT };
static const char *const node_names[NODE_COUNT] = { NULL, NULL, "urandom", "random", "uuid" };

struct open_stream {
	bool used;
	bool uuid;
	uint64_t pos;
	uint8_t key[32];
};

static int fuse_fd = -1;
static struct open_stream *streams;
static size_t nstreams;
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static uid_t owner_uid;
static gid_t owner_gid;

static void fill_attr(struct fuse_attr *a, uint64_t node)
{
	memset(a, 0, sizeof *a);
	a->ino = node;
	a->mode = node == NODE_ROOT ? (S_IFDIR | 0555) : (S_IFREG | 0444);
	a->nlink = node == NODE_ROOT ? 2 : 1;
	a->uid = owner_uid;
	a->gid = owner_gid;
	a->blksize = 4096;
}

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	fuse_reply(fuse_fd, unique, error, data, len);
}

static long new_stream(pid_t tid, bool uuid)
{
	pthread_mutex_lock(&streams_lock);
	size_t i;
	for (i = 0; i < nstreams && streams[i].used; i++)
		;
	if (i == nstreams) {
		size_t n = nstreams ? nstreams * 2 : 64;
		struct open_stream *s = realloc(streams, n * sizeof *s);
		if (!s) {
			pthread_mutex_unlock(&streams_lock);
			return -ENOMEM;
		}
		memset(s + nstreams, 0, (n - nstreams) * sizeof *s);
		streams = s;
		nstreams = n;
	}
	struct open_stream *st = &streams[i];
	memset(st, 0, sizeof *st);
	st->used = true;
	st->uuid = uuid;
	uint8_t lineage[32];
	uint64_t n = identity_next_open(tid, lineage);
	stream_derive(st->key, lineage, uuid ? "uuid" : "urandom", n);
	pthread_mutex_unlock(&streams_lock);
	return (long)i;
}

static size_t uuid_line(const uint8_t key[32], char *out)
{
	uint8_t b[16];
	stream_fill(key, 0, b, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	return (size_t)sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", b[0], b[1],
			       b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void handle(const struct fuse_in_header *in, const char *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = (const void *)arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION, .minor = ii->minor < 31 ? ii->minor : 31,
					   .max_readahead = 0, .max_background = 16, .congestion_threshold = 12,
					   .max_write = 4096, .time_gran = 1 };
		reply(in->unique, 0, &o, sizeof o);
		return;
	}
	case FUSE_LOOKUP: {
		if (in->nodeid != NODE_ROOT)
			return reply(in->unique, ENOENT, NULL, 0);
		for (uint64_t n = NODE_URANDOM; n < NODE_COUNT; n++) {
			if (strcmp(arg, node_names[n]) == 0) {
				struct fuse_entry_out e = { .nodeid = n, .generation = 1, .entry_valid = 3600, .attr_valid = 3600 };
				fill_attr(&e.attr, n);
				return reply(in->unique, 0, &e, sizeof e);
			}
		}
		return reply(in->unique, ENOENT, NULL, 0);
	}
	case FUSE_GETATTR: {
		if (in->nodeid >= NODE_COUNT)
			return reply(in->unique, ENOENT, NULL, 0);
		struct fuse_attr_out a = { .attr_valid = 3600 };
		fill_attr(&a.attr, in->nodeid);
		return reply(in->unique, 0, &a, sizeof a);
	}
	case FUSE_OPEN: {
		if (in->nodeid < NODE_URANDOM || in->nodeid >= NODE_COUNT)
			return reply(in->unique, EISDIR, NULL, 0);
		long fh = new_stream((pid_t)in->pid, in->nodeid == NODE_UUID);
		if (fh < 0)
			return reply(in->unique, (int)-fh, NULL, 0);
		struct fuse_open_out o = { .fh = (uint64_t)fh, .open_flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE };
		stats.opens_redirected++;
		return reply(in->unique, 0, &o, sizeof o);
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = (const void *)arg;
		char data[8192];
		size_t size = r->size < sizeof data ? r->size : sizeof data;
		pthread_mutex_lock(&streams_lock);
		if (r->fh >= nstreams || !streams[r->fh].used) {
			pthread_mutex_unlock(&streams_lock);
			return reply(in->unique, EBADF, NULL, 0);
		}
		struct open_stream *st = &streams[r->fh];
		if (st->uuid) {
			char line[40];
			size_t len = uuid_line(st->key, line);
			size = st->pos >= len ? 0 : (len - st->pos < size ? len - st->pos : size);
			memcpy(data, line + st->pos, size);
		} else {
			stream_fill(st->key, st->pos, (uint8_t *)data, size);
		}
		st->pos += size;
		pthread_mutex_unlock(&streams_lock);
		return reply(in->unique, 0, data, size);
	}
	case FUSE_RELEASE: {
		const struct fuse_release_in *r = (const void *)arg;
		pthread_mutex_lock(&streams_lock);
		if (r->fh < nstreams)
			streams[r->fh].used = false;
		pthread_mutex_unlock(&streams_lock);
		return reply(in->unique, 0, NULL, 0);
	}
	case FUSE_OPENDIR:
		if (in->nodeid != NODE_ROOT)
			return reply(in->unique, ENOTDIR, NULL, 0);
		{
			struct fuse_open_out o = { 0 };
			return reply(in->unique, 0, &o, sizeof o);
		}
	case FUSE_READDIR: {
		const struct fuse_read_in *r = (const void *)arg;
		char data[1024];
		size_t used = 0;
		for (uint64_t n = NODE_URANDOM; n < NODE_COUNT; n++) {
			if (n - NODE_URANDOM < r->offset)
				continue;
			size_t nl = strlen(node_names[n]);
			size_t sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
			if (used + sz > r->size || used + sz > sizeof data)
				break;
			struct fuse_dirent *d = (struct fuse_dirent *)(data + used);
			memset(d, 0, sz);
			d->ino = n;
			d->off = n - NODE_URANDOM + 1;
			d->namelen = (uint32_t)nl;
			d->type = 8; /* DT_REG */
			memcpy(d->name, node_names[n], nl);
			used += sz;
		}
		return reply(in->unique, 0, data, used);
	}
	case FUSE_FLUSH:
	case FUSE_RELEASEDIR:
	case FUSE_FSYNC:
	case FUSE_ACCESS:
		return reply(in->unique, 0, NULL, 0);
	case FUSE_STATFS: {
		struct fuse_statfs_out s = { .st = { .bsize = 4096, .namelen = 255, .frsize = 4096 } };
		return reply(in->unique, 0, &s, sizeof s);
	}
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

static bool bind_over(const char *src, const char *dst)
{
	if (access(dst, F_OK) != 0)
		return true; /* nothing to replace */
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		warnx_("cannot bind %s over %s: %m", src, dst);
		return false;
	}
	return true;
}

bool entropyfs_start(void)
{
	char dir[256], opts[256], path[300];
	/* every mount below happens in a mount namespace of our own, so that
	 * nothing can reach the host's /dev/urandom, whoever runs us */
	if (unshare(CLONE_NEWNS) < 0) {
		debug("cannot create a mount namespace (%m): /dev/urandom is served by trapping open()");
		return false;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		debug("cannot make mounts private (%m): /dev/urandom is served by trapping open()");
		return false;
	}
	snprintf(dir, sizeof dir, "%s/entropy", cfg.state_dir);
	if (mkdir(dir, 0555) < 0 && errno != EEXIST)
		return false;
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		debug("no /dev/fuse (%m): /dev/urandom is served by trapping open()");
		return false;
	}
	owner_uid = getuid();
	owner_gid = getgid();
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40555,user_id=%u,group_id=%u", fuse_fd, owner_uid, owner_gid);
	if (mount("detbuild-entropy", dir, "fuse.detbuild-entropy", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
		debug("cannot mount the entropy file system (%m): /dev/urandom is served by trapping open()");
		close(fuse_fd);
		fuse_fd = -1;
		return false;
	}
	if (!thread_start(serve, NULL, 0, false)) {
		umount2(dir, MNT_DETACH);
		return false;
	}
	bool ok = true;
	snprintf(path, sizeof path, "%s/urandom", dir);
	ok &= bind_over(path, "/dev/urandom");
	snprintf(path, sizeof path, "%s/random", dir);
	ok &= bind_over(path, "/dev/random");
	snprintf(path, sizeof path, "%s/uuid", dir);
	ok &= bind_over(path, "/proc/sys/kernel/random/uuid");
	return ok;
}
