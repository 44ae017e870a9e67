/* Internals shared by the filesystem view's parts in this folder (fsident.c,
 * fsresolve.c, fsproc.c, fsstat.c, fslist.c, fschange.c, systimes.c,
 * fsnotify.c); the supervisor's interface to the view is in ../supervisor.h. */
#ifndef DETBUILD_FSVIEW_H
#define DETBUILD_FSVIEW_H

#include "../supervisor.h"

#include "fsrewrite.h"

/* SOURCE_DATE_EPOCH in ns: the times of files the build has not changed */
extern int64_t fs_epoch_ns;

/* ---- identities (fsident.c): real (dev, ino) -> virtual numbers and times ---- */
struct ident {
	uint64_t dev, ino;  /* real; dev == 0 && ino == 0: free slot */
	uint64_t vino;
	uint32_t vdev;
	bool tracked, dead;
	bool installed;     /* its mtime is shown as it is (systimes.c) */
	int64_t a, m, c, b; /* when tracked */
};

/* How to learn a file's path the first time it is seen. */
struct origin {
	enum { O_FD, O_PATH_, O_NAME, O_AT } kind;
	pid_t tid;
	int fd;           /* O_FD: the tracee's descriptor; O_AT: our descriptor the path is relative to */
	const char *path; /* O_PATH_: our path to it; O_NAME: its directory; O_AT: the name at fd ("": fd itself) */
	const char *name; /* O_NAME */
	bool nofollow;
};

struct ident *ident_find(uint64_t dev, uint64_t ino);
/* the identity of a real file, made on first sight (its inode number from the path `o` names) */
struct ident *ident_get(uint64_t dev, uint64_t ino, const struct origin *o);
void ident_drop(uint64_t dev, uint64_t ino);
bool origin_path(const struct origin *o, char *out, size_t len);

/* ---- the identities as published for the stat shim (fspub.c) ---- */
/* after any change of an identity: its new state; before it is dropped */
void fspub_put(const struct ident *e);
void fspub_drop(const struct ident *e);

/* ---- installed files that keep their mtime (systimes.c) ---- */
bool fs_time_as_installed(const char *path);

/* ---- stat (fsstat.c) ---- */
/* makes an identity's times its own (the build changed the file) */
void track(struct ident *e, const struct kstatx *real);
/* statx of one of our paths: 0 or -errno */
int do_statx(const char *path, int flags, struct kstatx *x);
/* our path for (dirfd, path) as the tracee resolves it; false when only the kernel can */
bool our_path(struct thread *t, int dirfd, const char *path, bool empty_ok, char *out, size_t len);
/* the directory holding the last component of an our_path() result */
bool parent_of(const char *p, char *out, size_t len);
/* the exit stop of a stat the kernel ran itself: rewrites its answer */
void stat_exit(struct thread *t, long ret);

/* ---- the longest path the build may create (fsdepth.c) ---- */
/* whether (dirfd, path) names a path longer than the view allows */
bool fs_path_too_long(struct thread *t, int dirfd, const char *path);

/* ---- the main thread and the thread answering notifications share the view ---- */
#include <pthread.h>
extern pthread_mutex_t fs_lock;
/* a handler at a ptrace stop, run under fs_lock */
struct verdict fs_locked(struct verdict (*handler)(struct thread *t, struct user_regs_struct *r), struct thread *t,
			 struct user_regs_struct *r);
struct seccomp_notif;
struct seccomp_notif_resp;
/* answers a stat-family notification (fsstat.c): the view, or lets the kernel run it where it fails */
void fs_notify_stat(const struct seccomp_notif *req, struct seccomp_notif_resp *resp);
/* statx of (dirfd, path) as a process in another root or mount namespace resolves it (fsresolve.c): 0 or -errno */
int foreign_statx(pid_t tid, int dirfd, const char *path, int flags, struct kstatx *x);

/* ---- handles on the build's processes (fsproc.c) ---- */
/* where a tracee's (dirfd, path) leads from here: statx/openat at fd with name */
struct reach { int fd; const char *name; bool owned; };
/* 1: *r is set (release it with fs_reach_done); 0: only the kernel can resolve it
 * (another root or mount namespace); -errno: the kernel will fail the call itself */
int fs_reach(pid_t tid, pid_t tgid, int dirfd, const char *path, bool empty_ok, struct reach *r);
void fs_reach_done(struct reach *r);
/* statx at a reach: 0 or -errno */
int do_statx_at(const struct reach *r, int flags, struct kstatx *x);
/* descriptor n of process tgid as one of ours (close it), through its kept pidfd; -errno */
int fs_tracee_fd(pid_t tgid, int n);
/* a chdir or fchdir begins (true) or ended (false) */
void fs_cwd_changing(bool begins);

#endif
