/* Publishes the filesystem view's identities (fsident.c) for the stat shim
 * (statshim.c, fspub.h): every change of an identity -- a new one, its times
 * once the build changes the file, its end -- is written to a shared table
 * while the supervisor makes it, before the process that caused it runs on.
 *
 * The table is a memfd sealed against growing, shrinking and any new
 * writable mapping (F_SEAL_FUTURE_WRITE): the supervisor's own mapping is the
 * only writable one, a build process can map it read-only and nothing else.
 * A process gets the descriptor from a socket of the supervisor's, in the
 * sandbox's own network namespace, whose abstract address is written into the
 * clock table's header page; the watch thread (limits.c) hands it out, as it
 * hands out the clock table: a thread of its own would take a PID of the
 * sandbox's and move every PID of the build. */
#include "fsview.h"
#include "fspub.h"
#include "../clocktable.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static struct fspub_header *hdr;
static struct fspub_entry *ents;
static size_t live;
static int table_fd = -1, listen_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool fspub_active(void)
{
	return ents != NULL;
}

static void send_fd(int conn)
{
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &table_fd, sizeof(int));
	if (sendmsg(conn, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		debug("fs: cannot hand the identity table over: %m");
}

int fspub_fd(void)
{
	return listen_fd;
}

void fspub_answer(void)
{
	for (;;) {
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: nobody else waiting */
		}
		send_fd(conn);
		close(conn);
	}
}

void fspub_init(void)
{
	if (!cfg.fs_view || cfg.no_stat_answers)
		return;
	int fd = memfd_create("detbuild-fs-view", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)FSPUB_LEN) < 0) {
		warnx_("no identity table for the stat shim (%m): every stat stops in the supervisor");
		if (fd >= 0)
			close(fd);
		return;
	}
	void *p = mmap(NULL, FSPUB_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("cannot map the identity table: %m");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		warnx_("cannot seal the identity table (%m): every stat stops in the supervisor");
		munmap(p, FSPUB_LEN);
		close(fd);
		return;
	}
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	uint64_t nonce;
	if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
		die("getrandom: %m");
	int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "detbuild-fs-view-%016llx", (unsigned long long)nonce);
	socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, addr_len) < 0 || listen(listen_fd, 64) < 0)
		die("cannot listen for the stat shim: %m");
	table_fd = fd;
	hdr = p;
	hdr->magic = FSPUB_MAGIC;
	hdr->nslots = FSPUB_SLOTS;
	hdr->epoch_ns = (int64_t)cfg.epoch_ns; /* as fs_epoch_ns (fsstat.c) */
	ents = (struct fspub_entry *)((char *)p + FSPUB_HDR_LEN);
	/* last: a shim that finds the address finds a ready table */
	unsigned char *at = clock_table_at(FSPUB_ADDR_OFF);
	memcpy(at + 8, &addr, addr_len);
	uint32_t len = addr_len;
	__atomic_store_n((uint32_t *)at, len, __ATOMIC_RELEASE);
}

/* the entry of a live identity, or where a new one goes (NULL: the table is full) */
static struct fspub_entry *slot_for(uint64_t dev, uint64_t ino, bool *fresh)
{
	*fresh = false;
	for (uint64_t j = fspub_slot(dev, ino), probes = 0; probes < FSPUB_SLOTS; j = (j + 1) & (FSPUB_SLOTS - 1), probes++) {
		struct fspub_entry *s = &ents[j];
		if (!s->seq) {
			if (live >= FSPUB_MAX_LIVE)
				return NULL;
			*fresh = true;
			return s;
		}
		if (s->dev == dev && s->ino == ino && !(s->flags & FSPUB_DEAD))
			return s;
	}
	return NULL;
}

static void write_entry(struct fspub_entry *s, const struct ident *e, uint32_t flags)
{
	uint32_t seq = s->seq;
	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->flags = flags;
	s->dev = e->dev;
	s->ino = e->ino;
	s->vino = e->vino;
	s->vdev = e->vdev;
	s->a = e->a;
	s->m = e->m;
	s->c = e->c;
	s->b = e->b;
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

void fspub_put(const struct ident *e)
{
	if (!ents || e->dead)
		return;
	pthread_mutex_lock(&lock);
	bool fresh;
	struct fspub_entry *s = slot_for(e->dev, e->ino, &fresh);
	if (s) {
		if (fresh)
			live++;
		write_entry(s, e, (e->tracked ? FSPUB_TRACKED : 0) | (e->installed ? FSPUB_INSTALLED : 0));
	}
	pthread_mutex_unlock(&lock);
}

void fspub_drop(const struct ident *e)
{
	if (!ents)
		return;
	pthread_mutex_lock(&lock);
	bool fresh;
	struct fspub_entry *s = slot_for(e->dev, e->ino, &fresh);
	if (s && !fresh)
		write_entry(s, e, FSPUB_DEAD);
	pthread_mutex_unlock(&lock);
}
