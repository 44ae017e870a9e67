/* The stat family without a ptrace stop: the seccomp filter sends stat,
 * lstat, fstat, newfstatat and statx to the supervisor as seccomp user
 * notifications (SECCOMP_RET_USER_NOTIF), which a thread of its own answers
 * with the same view as before (fsstat.c: fs_notify_stat).  The calling
 * thread still stops and the supervisor still runs, but there is no ptrace
 * round trip: no wait4, GETREGS, SETREGS or CONT, and no signal-delivery
 * bookkeeping.  Measured here: ~35% less CPU per answered stat
 * (bench/micro/notif_floor.c), and the two threads hand over synchronously
 * on one CPU (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6).
 *
 * The listener is created by the build's first process when it loads the
 * filter, and passed to the supervisor over a socket pair before that
 * process execs the build command.  Where the kernel or libseccomp lacks
 * user notifications, the stat family stops through ptrace as before. */
#include "../threads.h"
#include "../supervisor.h"
#include "fsview.h"
#include "../stops.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static bool wanted;            /* decided before the filter is built */
static int sock[2] = { -1, -1 }; /* [0] the supervisor's end, [1] the first process's */
static int listener = -1;

static bool kernel_has_notify(void)
{
	unsigned action = SECCOMP_RET_USER_NOTIF;
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0 && seccomp_api_get() >= 5;
}

void fsnotify_prepare(void)
{
	wanted = cfg.fs_view && !cfg.no_notify && kernel_has_notify() &&
		 socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) == 0;
	if (!wanted)
		debug("fs: stat calls stop through ptrace (no seccomp user notification here)");
}

bool fsnotify_is_stat(int nr)
{
	return nr == SCMP_SYS(stat) || nr == SCMP_SYS(lstat) || nr == SCMP_SYS(fstat) || nr == SCMP_SYS(newfstatat) ||
	       nr == SCMP_SYS(statx);
}

uint32_t fsnotify_action(int nr, uint32_t otherwise)
{
	return wanted && fsnotify_is_stat(nr) ? SCMP_ACT_NOTIFY : otherwise;
}

/* In the first process, after the filter is loaded: hands the listener over.
 * Without it every stat of the build would fail (ENOSYS), so failing here
 * fails the launch. */
void fsnotify_child_send(void *ctx)
{
	if (!wanted)
		return;
	fsnotify_child_send_fd(seccomp_notify_fd((scmp_filter_ctx)ctx));
}

bool fsnotify_wanted(void)
{
	return wanted;
}

void fsnotify_child_send_fd(int fd)
{
	if (!wanted)
		return;
	if (fd < 0)
		die("the seccomp filter has no notification listener (%s)", strerror(-fd));
	char c = 'n';
	struct iovec iov = { &c, 1 };
	char ctl[CMSG_SPACE(sizeof(int))];
	memset(ctl, 0, sizeof ctl);
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(sock[1], &m, 0) != 1)
		die("cannot hand the notification listener to the supervisor: %m");
	close(fd);
	close(sock[1]);
}

static void *serve(void *arg)
{
	(void)arg;
	struct seccomp_notif_sizes sizes;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		die("SECCOMP_GET_NOTIF_SIZES: %m");
	size_t req_len = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif : sizeof(struct seccomp_notif);
	size_t resp_len = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp
											    : sizeof(struct seccomp_notif_resp);
	struct seccomp_notif *req = malloc(req_len);
	struct seccomp_notif_resp *resp = malloc(resp_len);
	if (!req || !resp)
		die("out of memory");
	/* the caller and this thread share one CPU: hand it over directly */
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		debug("fs: no synchronous wake-ups for notifications (%m)");
	for (;;) {
		memset(req, 0, req_len);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue; /* the caller was interrupted or is gone */
			die("receiving a notification: %m");
		}
		memset(resp, 0, resp_len);
		resp->id = req->id;
		fs_notify_stat(req, resp);
		stops_notified(req->data.nr);
		/* ENOENT: the caller was interrupted (a signal) and will call again */
		ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
	return NULL;
}

void fsnotify_start(void)
{
	if (!wanted)
		return;
	close(sock[1]);
	char c;
	struct iovec iov = { &c, 1 };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	ssize_t n;
	do
		n = recvmsg(sock[0], &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	close(sock[0]);
	struct cmsghdr *cm = n == 1 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		/* the first process died before its exec: the main loop reports it */
		return;
	}
	memcpy(&listener, CMSG_DATA(cm), sizeof listener);
	if (!thread_start(serve, NULL, 256 * 1024, false))
		die("cannot start the thread that answers stat calls");
}
