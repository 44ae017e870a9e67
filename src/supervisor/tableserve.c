/* The clock table reaches each new program through a socket, not a path: the
 * exec stub connects to the supervisor's abstract unix socket (in the
 * sandbox's own network namespace) and receives the table's memfd, sealed
 * against shrinking and growing.  A build that connects too gets the same
 * descriptor: it may write its own clocks (it can anyway), but no file of the
 * table exists that it could cut short, fill or replace under the supervisor. */
#include "tableserve.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int table_fd = -1, listen_fd = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;

void tableserve_init(int fd)
{
	table_fd = fd;
	uint64_t nonce;
	if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
		die("getrandom: %m");
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	/* abstract (leading NUL): nothing on any file system */
	int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "detbuild-clock-table-%016llx", (unsigned long long)nonce);
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, addr_len) < 0 || listen(listen_fd, 64) < 0)
		die("cannot listen for the exec stub: %m");
}

int tableserve_fd(void)
{
	return listen_fd;
}

static void send_table(int conn)
{
	char byte = 'T';
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
		debug("cannot hand the clock table over: %m");
}

void tableserve_answer(void)
{
	for (;;) {
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: nobody else waiting */
		}
		send_table(conn);
		close(conn);
	}
}

size_t tableserve_addr(unsigned char *buf, size_t max)
{
	uint32_t len = addr_len;
	if (max < 8 + (size_t)addr_len)
		die("internal: exec stub has no room for the socket address");
	memcpy(buf, &len, sizeof len);
	memcpy(buf + 8, &addr, addr_len);
	return 8 + addr_len;
}
