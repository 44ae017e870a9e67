/* Internal interfaces of the detbuild supervisor. */
#ifndef DETBUILD_SUPERVISOR_H
#define DETBUILD_SUPERVISOR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shared.h"
#include "config.h"
#include "exitcodes.h"
#include "log.h"
#include "tracee.h"
#include "clocktable.h"
#include "tableserve.h"
#include "proctable.h"
#include "verdict.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* ---- exec set-up (execsetup.c) ---- */
void on_exec(struct thread *t);
long inject(struct thread *t, const struct user_regs_struct *base, unsigned long insn, long nr,
	    unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
struct verdict arm_faulting_at_set_fs(struct thread *t, struct user_regs_struct *r);
void arm_cpuid_at_exit(struct thread *t, const struct user_regs_struct *r);

/* ---- the dispatcher: a system-call stop to the module that answers it (dispatch.c) ---- */
void on_seccomp(struct thread *t);
void on_syscall_exit(struct thread *t);
/* a traced thread stopped with waitpid status `st` */
void dispatch_stop(pid_t tid, int st);

/* ---- threads and processes begin and end (lifecycle.c) ---- */
struct verdict lifecycle_on_new_child(struct thread *parent, int event);
void lifecycle_on_thread_gone(pid_t tid);
/* the build's first process, stopped before its exec */
void lifecycle_first(pid_t pid);
void lifecycle_kill_tracees(void);

/* ---- the final status line (status.c) ---- */
void status_report(int fd, int code, int sig);

/* ---- time reads that missed the vDSO (timecalls.c) ---- */
struct verdict time_on_clock_gettime(struct thread *t, struct user_regs_struct *r);
struct verdict time_on_gettimeofday(struct thread *t, struct user_regs_struct *r);
struct verdict time_on_time(struct thread *t, struct user_regs_struct *r);
struct verdict time_on_times(struct thread *t, struct user_regs_struct *r);

/* ---- getrandom (randomness.c) ---- */
struct verdict random_on_getrandom(struct thread *t, struct user_regs_struct *r);

/* ---- the machine as the build sees it (identity.c) ---- */
struct verdict identity_on_uname(struct thread *t, struct user_regs_struct *r);
struct verdict identity_on_sysinfo(struct thread *t, struct user_regs_struct *r);
struct verdict identity_on_sched_getaffinity(struct thread *t, struct user_regs_struct *r);
struct verdict identity_on_getcpu(struct thread *t, struct user_regs_struct *r);

/* ---- reaping: wait4/waitid merge the child's clocks (reap.c) ---- */
struct verdict reap_on_wait_entry(struct thread *t, struct user_regs_struct *r);
void reap_on_wait_exit(struct thread *t, long ret);

/* ---- the filesystem view (fs/) ---- */
struct fsview_stats { uint64_t stats, stats_at_exit, listings, listings_real, changes, stamps, inodes, too_long; };
extern struct fsview_stats fsstats;
void fs_init(void);
struct verdict fs_on_stat(struct thread *t, struct user_regs_struct *r);
struct verdict fs_on_getdents(struct thread *t, struct user_regs_struct *r);
struct verdict fs_on_change(struct thread *t, struct user_regs_struct *r);
struct verdict fs_on_foreign(struct thread *t, struct user_regs_struct *r);
void fs_on_exit(struct thread *t, long ret);
/* a new process took this id: what the view kept for a previous one is gone (fsproc.c) */
void fs_proc_new(pid_t tgid);
/* the process of `t` starts its second thread: from now on its changes carry one time */
void fs_on_threaded(struct thread *t);
/* the clock a reaping parent must reach for the files of a multithreaded process (0: none) */
uint64_t fs_change_time_of(pid_t tgid);

/* ---- faults (faults.c) ---- */
bool emulate_fault(struct thread *t);
void cpuid_prepare(void);

/* ---- /dev/urandom and friends through FUSE (entropyfs.c) ---- */
bool entropyfs_start(void);

/* ---- the build's /proc: per-process accounting files made deterministic (procview.c) ---- */
/* mounts the file system where it waits for the build (in the supervisor's mount namespace) */
bool procview_start(void);
/* in the build's first process, before exec: its own mount namespace with the view at /proc */
void procview_enter(void);

/* ---- /dev/urandom and friends by trapping open(2), the fallback (urandom.c) ---- */
/* an open(2)/openat(2) (path in argument `arg`): an entropy file's path becomes a FIFO's */
struct verdict urandom_on_open(struct thread *t, struct user_regs_struct *r, int arg);

/* ---- CPU accounting: getrusage() and the wait calls' rusage (rusage.c) ---- */
struct verdict rusage_on_getrusage(struct thread *t, struct user_regs_struct *r);
void rusage_on_wait_entry(struct thread *t, const struct user_regs_struct *r);
void rusage_on_wait_exit(struct thread *t, long ret);

/* ---- a process's identity and its children's clocks, whichever thread acts (procident.c) ---- */
void procident_on_fork(struct thread *parent, struct thread *child);
void procident_on_thread(struct thread *creator);
/* counts the exec; `former` is the exec'ing thread's id before the exec */
void procident_on_exec(struct thread *t, pid_t former);
/* t reaped `child`, whose clocks ended at rt, mono */
void procident_on_reap(struct thread *t, pid_t child, uint64_t rt, uint64_t mono);

/* ---- deterministic PIDs (pids.c) ---- */
void pids_init(pid_t first);
bool pids_pinned(void);
struct verdict pids_on_clone_entry(struct thread *t);
bool pids_is_busy(pid_t tid);
void pids_on_clone_done(pid_t tid);
/* the clone of tid returned an error (or restarts): its id is not used */
void pids_on_clone_failed(pid_t tid);

/* ---- managed runtimes whose own monotonic reads do not advance the clock (runtime.c) ---- */
void runtime_init(void);
void runtime_on_new(pid_t parent, pid_t child, bool thread);
void runtime_on_exec(pid_t tid);

/* ---- timed waits in logical time (waits.c) ---- */
struct verdict waits_on_entry(struct thread *t, struct user_regs_struct *r);
void waits_on_exit(struct thread *t, struct user_regs_struct *r);
/* before the first thread is traced: follows the threads (threads_watch) */
void waits_init(void);
/* a SIGSTOP the supervisor sent to end a wait: swallow it */
bool waits_absorb(pid_t tid, int sig);
/* descriptors (the supervisor's own) whose readiness ends a barrier early:
 * when `need` of them are ready */
#define QUIET_WATCH_MAX 16
struct quiet_watch {
	int n, need;
	int fd[QUIET_WATCH_MAX];
	short events[QUIET_WATCH_MAX];
};
/* parks the call (rewritten to wait for a signal only) until the build is
 * quiescent, or `watch` (may be NULL; its descriptors are taken over) says
 * the awaited event came, or a real-time bound passed; at its exit stop it
 * returns 0 then, or the code of a real signal */
struct verdict waits_until_quiet(struct thread *t, struct user_regs_struct *r, const struct quiet_watch *watch);

/* ---- answers that depend on scheduling, given at a quiescent moment (settle.c) ---- */
/* a poll, select or wait for children: `call` answers it as before; a partial
 * answer is then checked at the exit stop */
struct verdict settle_on_entry(struct thread *t, struct user_regs_struct *r,
			       struct verdict (*call)(struct thread *, struct user_regs_struct *));
/* at the exit stop, after the call's own exit work: whether r was changed */
bool settle_on_exit(struct thread *t, struct user_regs_struct *r);

/* ---- seccomp (filter.c) ---- */
void filter_install(bool trap_opens);

/* ---- the sandbox's pid 1 (init.c) ---- */
/* not dumpable, first to go when memory runs out */
void init_harden(void);
/* plain mode: runs the command untraced, reaps everything, ends the tree */
void init_run_plain(char **argv, bool merge_output, int *code, int *sig);
/* in a build process before its exec: descriptors closed, limits, no core dumps */
void init_enter_build(bool merge_output);

/* ---- limits on what a build takes (limits.c) ---- */
void limits_watch_fs(const char *path);
/* starts the thread that watches the limits */
void limits_start(void);
/* handout.c: the thread that gives new programs the clock and identity tables */
void handout_start(void);
/* in the build's first process, before exec */
void limits_apply_child(void);
/* at a fork/clone entry stop: true (refuse it: EAGAIN) when over the process limit */
bool limits_refuse_clone(void);
/* a last look at the watched file systems when the build ends */
void limits_final(void);
/* the status fields: ,"limit":...,"fullFs":[...] */
void limits_json(char *buf, size_t len);

/* ---- keeping the build inside the engine (guards.c) ---- */
/* personality(): ADDR_NO_RANDOMIZE stays set */
struct verdict guard_personality(struct thread *t, struct user_regs_struct *r);

/* ---- the stat family as seccomp user notifications (fs/fsnotify.c) ---- */
/* before the first process is made: whether notifications will be used */
void fsnotify_prepare(void);
/* the filter's action for system call nr: SCMP_ACT_NOTIFY for the stat family, or `otherwise` */
uint32_t fsnotify_action(int nr, uint32_t otherwise);
/* in the first process, after the filter is loaded (ctx: its scmp_filter_ctx) */
void fsnotify_child_send(void *ctx);
/* in the supervisor, once the first process runs: receives the listener and starts answering */
void fsnotify_start(void);
bool fsnotify_wanted(void);
void fsnotify_child_send_fd(int fd);

/* ---- the stat shim: answers in the build's processes (fs/fspub.c, ipfilter.c, preload.c, statshim.c) ---- */
void fspub_init(void);
int fspub_fd(void);        /* the socket the hand-out thread answers (-1: none) */
void fspub_answer(void);
bool fspub_active(void);
int ipfilter_load(void *ctx, bool listener);
/* the address after the dynamic loader's fstat `syscall` in the build's processes, or 0 (ldsite.c) */
unsigned long ldsite_fstat_ip(void);
/* the loader's executable segment in the build's processes, once ldsite_fstat_ip found it (ldsite.c) */
bool ldsite_loader_text(unsigned long *lo, unsigned long *hi);
unsigned long ldsite_loader_base(void); /* where that loader starts (AT_BASE), or 0 */
/* the loader's rdtsc instructions: remembered at an emulation, replaced at later execs (ldtsc.c) */
void ldtsc_learn(pid_t tid, unsigned long rip);
void ldtsc_patch(pid_t tid, int mem_fd);
/* /etc/ld.so.preload in the sandbox names the shim (--stat-shim PATH) */
void preload_setup(const char *shim);

#endif
