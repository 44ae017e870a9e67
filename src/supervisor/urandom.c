/* Each open of /dev/urandom, /dev/random or /proc/sys/kernel/random/uuid gets
 * a FIFO of its own, fed by a supervisor thread with a stream derived from
 * the opening thread's identity and its count of such opens. */
#include "threads.h"
#include "supervisor.h"
#include "stream.h"
#include "verdict.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct feeder {
	char path[256];
	uint8_t key[32];
	bool uuid;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	int fd = open(f->path, O_WRONLY | O_CLOEXEC); /* waits for the build's open */
	unlink(f->path);
	if (fd >= 0) {
		if (f->uuid) {
			uint8_t b[16];
			stream_fill(f->key, 0, b, sizeof b);
			b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
			b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
			char s[40];
			snprintf(s, sizeof s,
				 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
				 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
				 b[13], b[14], b[15]);
			ssize_t ignored = write(fd, s, strlen(s));
			(void)ignored;
		} else {
			uint8_t buf[4096];
			for (uint64_t pos = 0;; pos += sizeof buf) {
				stream_fill(f->key, pos, buf, sizeof buf);
				size_t off = 0;
				while (off < sizeof buf) {
					ssize_t n = write(fd, buf + off, sizeof buf - off);
					if (n < 0 && errno == EINTR)
						continue;
					if (n <= 0)
						goto done; /* EPIPE: the reader closed it */
					off += (size_t)n;
				}
			}
		}
	done:
		close(fd);
	}
	free(f);
	return NULL;
}

static bool same_path(const char *a, const char *b)
{
	/* tolerate repeated slashes and "/./" in what the program passed */
	while (*a && *b) {
		if (*a == '/' && a[1] == '/') { a++; continue; }
		if (*a == '/' && a[1] == '.' && a[2] == '/') { a += 2; continue; }
		if (*a != *b)
			return false;
		a++;
		b++;
	}
	return *a == *b;
}

static const char *urandom_redirect(struct thread *t, const char *path)
{
	static char out[256];
	static uint64_t serial;
	bool uuid;
	if (path[0] != '/')
		return NULL;
	if (same_path(path, "/dev/urandom") || same_path(path, "/dev/random"))
		uuid = false;
	else if (same_path(path, "/proc/sys/kernel/random/uuid"))
		uuid = true;
	else
		return NULL;
	struct feeder *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	snprintf(f->path, sizeof f->path, "%s/rnd-%llu", cfg.state_dir, (unsigned long long)++serial);
	stream_derive(f->key, t->lineage, uuid ? "uuid" : "urandom", t->nopens++);
	f->uuid = uuid;
	if (mkfifo(f->path, 0666) < 0) {
		warnx_("cannot create %s: %m", f->path);
		free(f);
		return NULL;
	}
	snprintf(out, sizeof out, "%s", f->path);
	if (!thread_start(feed, f, 256 * 1024, false)) {
		unlink(f->path);
		free(f);
		return NULL;
	}
	return out;
}

/* open(2) and openat(2) at their entry stop; `arg` is the path argument.  The
 * path of an entropy file is replaced by its FIFO's, put back at the exit stop. */
struct verdict urandom_on_open(struct thread *t, struct user_regs_struct *r, int arg)
{
	char path[4096];
	unsigned long long *reg = regs_arg(r, arg);
	stats.opens++;
	if (mem_read_str(t->tid, *reg, path, sizeof path) < 0)
		return CONTINUE;
	const char *fifo = urandom_redirect(t, path);
	if (!fifo)
		return CONTINUE;
	size_t len = strlen(fifo) + 1;
	unsigned long at = scratch_addr(r, len);
	if (mem_write(t->tid, at, fifo, len) < 0)
		return CONTINUE;
	t->pend_argreg = arg;
	t->pend_argval = *reg;
	*reg = at;
	regs_set(t->tid, r);
	t->pending = PEND_OPEN;
	stats.opens_redirected++;
	return TO_EXIT;
}
