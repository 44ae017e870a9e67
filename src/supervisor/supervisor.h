/* Internal interfaces of the detbuild supervisor. */
#ifndef DETBUILD_SUPERVISOR_H
#define DETBUILD_SUPERVISOR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shared.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define NS_PER_S 1000000000ULL

/* ---- configuration (main.c) ---- */
struct config {
	uint64_t epoch_ns;      /* start of the logical wall clock */
	uint64_t rt_step;       /* ns per wall-clock read */
	uint64_t mono_step;     /* ns per monotonic read */
	uint64_t cpu_step;      /* ns per CPU-clock read */
	uint64_t tsc_step;      /* cycles per rdtsc */
	uint64_t mono_start;    /* initial CLOCK_MONOTONIC value */
	uint8_t seed[32];       /* sha256 of the seed given on the command line */
	const char *state_dir;  /* tmpfs directory visible to the build, e.g. /run/detbuild */
	int status_fd;          /* where the final JSON status goes, or -1 */
	int verbose;
	char release[65];       /* uname -r the build sees */
	uint64_t tsc_cookie;
	bool pin_pids;
	int build_cpu;          /* the one CPU the build runs on */
	uint64_t fsize;         /* RLIMIT_FSIZE of the build (0: unchanged) */
	bool trap_opens;        /* no entropy file system: opens are trapped for /dev/urandom */
	bool fs_view;           /* stat, getdents and file times go through fsview.c */
	uint64_t start_real_ns; /* the real wall clock when the supervisor started */
	bool plain;             /* --plain: only the sandbox's init (no engine) */
	uint64_t max_procs;     /* processes and threads of the build at once (0: no limit) */
	uint64_t max_memory;    /* bytes of memory the build may hold (0: no limit) */          /* --pin-pids: we own the PID namespace (never the host's) */    /* only PR_TSC_ENABLE calls with this argument pass the filter */
};
extern struct config cfg;

/* ---- counters reported in the final status ---- */
struct counters {
	uint64_t execs, forks, threads, time_traps, random_traps, random_bytes, opens_redirected;
	uint64_t waits_timed, waits_timedout, reaps, rdtsc, cpuid, vdso_fallbacks, identity_traps, opens;
};
extern struct counters stats;

/* ---- logging (main.c) ---- */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define debug(...) do { if (cfg.verbose) warnx_(__VA_ARGS__); } while (0)

/* ---- the clock table (threads.c) ---- */
extern struct dt_header *table_hdr;
extern struct dt_slot *slots;
extern uint32_t *rt_index;   /* the supervisor's own; the table holds a copy for the vDSO */
extern bool table_gs_tid;    /* GS base tags each thread (the table holds a copy) */
extern uint64_t nslots;
void table_create(void);

/* ---- handing the clock table to new programs (tableserve.c) ---- */
/* takes the table's sealed memfd; listens on the socket the exec stub asks */
void tableserve_init(int table_fd);
/* the listening socket (poll it), and the answer to whatever connected */
int tableserve_fd(void);
void tableserve_answer(void);
/* the socket's address as the exec stub needs it: length, then sockaddr_un */
size_t tableserve_addr(unsigned char *buf, size_t max);
struct dt_slot *slot_of(pid_t tid);
/* the value the thread's last read returned (or would have) */
uint64_t clock_last(pid_t tid, int cls);
uint64_t clock_tick(pid_t tid, int cls);
void clock_advance(pid_t tid, uint64_t ns);
void clock_merge(pid_t into, uint64_t rt, uint64_t mono);
/* one step of each clock (a parent reaping a multithreaded child) */
void clock_step(pid_t tid);
/* makes tid read leader's wall clock (or its own, when leader == tid or 0) */
void clock_share_rt(pid_t tid, pid_t leader);
bool clock_rt_shared(pid_t tid);
/* whether a process runs a Go program (its threads share one wall clock) */
extern uint8_t *proc_go;

/* ---- traced threads (threads.c) ---- */
enum pending_kind {
	PEND_NONE,
	PEND_TIMED_WAIT,   /* a timed wait in logical time (waits.c) */
	PEND_REAP,         /* wait4/waitid: merge the reaped child's clock */
	PEND_OPEN,         /* restore the path argument */
	PEND_CLONE,        /* a fork/clone whose PID was pinned */
	PEND_ARM,          /* arch_prctl(ARCH_SET_FS) turned into arming TSC/CPUID faulting */
	PEND_FS,           /* a stat run by the kernel, or a change to the filesystem (fsview.c) */
};

struct thread {
	pid_t tid, tgid;
	bool attached;       /* its first stop has been seen */
	bool ready;          /* its clock slot and identity are set up */
	uint8_t lineage[32]; /* deterministic identity: derived from the parent's */
	uint64_t nchildren, nexecs, nopens, rand_pos;
	/* work to do at the syscall-exit stop */
	enum pending_kind pending;
	long pend_nr;
	uint64_t pend_ns;
	int pend_timeout_ret;   /* return value that means "timed out" */
	int pend_argreg;        /* argument register to restore, -1 none */
	unsigned long long pend_argval;
	int pend_argreg2;
	unsigned long long pend_argval2;
	unsigned long long pend_ptr;
	int pend_sig;           /* signal to deliver on the next resume */
	unsigned long long pend_rusage; /* wait4/waitid: where the caller wants the child's rusage */
	bool cpuid_pending;     /* TSC and CPUID faulting still to be armed (at ARCH_SET_FS) */
	bool vdso_mapped;       /* the substitute vDSO is mapped in its process */
	/* fsview.c: the call in flight and what its exit stop needs */
	long fs_nr;
	unsigned long long fs_args[5];
	unsigned long fs_buf, fs_pathp;
	int fs_dirfd;
	uint64_t fs_victim_dev, fs_victim_ino;
	int fs_tkind[2];        /* utime family: 0 explicit, 1 now, 2 omit */
	int64_t fs_tval[2];
};
struct thread *thread_get(pid_t tid);
struct thread *thread_new(pid_t tid);
/* how many traced threads exist */
extern uint64_t threads_live;
void thread_free(pid_t tid);
void thread_move(pid_t from, pid_t to);
/* tags a stopped thread's GS base with its id for the vDSO (see shared.h) */
void thread_tag(pid_t tid);
/* highest clocks of the threads of a process that already exited */
extern uint64_t *proc_exit_rt, *proc_exit_mono;
/* whether a process ever had more than one thread (indexed by its pid) */
extern uint8_t *proc_threaded;

/* ---- tracee memory (mem.c) ---- */
int mem_read(pid_t tid, unsigned long addr, void *buf, size_t len);
int mem_write(pid_t tid, unsigned long addr, const void *buf, size_t len);
/* reads a NUL-terminated string of at most max-1 bytes; -1 on fault or overflow */
int mem_read_str(pid_t tid, unsigned long addr, char *buf, size_t max);
int regs_get(pid_t tid, struct user_regs_struct *r);
int regs_set(pid_t tid, const struct user_regs_struct *r);
unsigned long long *regs_arg(struct user_regs_struct *r, int i);
/* scratch space below the red zone of the thread's stack */
unsigned long scratch_addr(const struct user_regs_struct *r, size_t len);

/* ---- resuming (main.c) ---- */
void resume(struct thread *t, int sig);
void resume_to_exit(struct thread *t);
/* answers the system call at its entry stop with `ret` instead of running it (handlers.c) */
void syscall_skip(struct thread *t, struct user_regs_struct *r, long ret);

/* ---- the kernel's own vDSO in a new program (kvdso.c) ---- */
struct kernel_vdso { unsigned long start, len; };
/* where [vvar], [vvar_vclock] and [vdso] lie, as one range (len 0: none) */
void kernel_vdso_find(pid_t tid, struct kernel_vdso *kv);

/* ---- exec set-up (execsetup.c) ---- */
void on_exec(struct thread *t);
long inject(struct thread *t, const struct user_regs_struct *base, unsigned long insn, long nr,
	    unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
void arm_faulting_at_set_fs(struct thread *t, struct user_regs_struct *r);
void arm_cpuid_at_exit(struct thread *t, const struct user_regs_struct *r);

/* ---- syscalls (handlers.c) ---- */
void on_seccomp(struct thread *t);
void on_syscall_exit(struct thread *t);

/* ---- the filesystem view (fsview.c) ---- */
struct fsview_stats { uint64_t stats, stats_at_exit, listings, listings_real, changes, stamps, inodes; };
extern struct fsview_stats fsstats;
/* per process: it changed its root or mount namespace (inherited by children) */
extern uint8_t *proc_foreign;
void fs_init(void);
void fs_on_stat(struct thread *t, struct user_regs_struct *r);
void fs_on_getdents(struct thread *t, struct user_regs_struct *r);
void fs_on_change(struct thread *t, struct user_regs_struct *r);
void fs_on_foreign(struct thread *t, struct user_regs_struct *r);
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

/* ---- thread identity, shared with the entropy file system's thread (threads.c) ---- */
/* the process of a thread, for another thread of the supervisor (its own id when unknown) */
pid_t thread_tgid(pid_t tid);
/* copies the thread's lineage and returns (then increments) its count of entropy opens */
uint64_t identity_next_open(pid_t tid, uint8_t lineage[32]);
/* the thread's thread group, 0 if it is not traced */
pid_t identity_tgid(pid_t tid);

/* ---- /dev/urandom and friends through FUSE (entropyfs.c) ---- */
bool entropyfs_start(void);

/* ---- the build's /proc: per-process accounting files made deterministic (procview.c) ---- */
/* mounts the file system where it waits for the build (in the supervisor's mount namespace) */
bool procview_start(void);
/* in the build's first process, before exec: its own mount namespace with the view at /proc */
void procview_enter(void);

/* ---- /dev/urandom and friends by trapping open(2), the fallback (urandom.c) ---- */
/* returns the path of a FIFO serving a fresh stream for this open, or NULL */
const char *urandom_redirect(struct thread *t, const char *path);

/* ---- CPU accounting: getrusage() and the wait calls' rusage (rusage.c) ---- */
void rusage_on_getrusage(struct thread *t, struct user_regs_struct *r);
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
void pids_on_clone_entry(struct thread *t);
bool pids_is_busy(pid_t tid);
void pids_on_clone_done(pid_t tid);
void pids_on_clone_exit(pid_t tid); /* its exit stop, no child made: the id is given again */

/* ---- managed runtimes whose own monotonic reads do not advance the clock (runtime.c) ---- */
void runtime_init(void);
void runtime_on_new(pid_t parent, pid_t child, bool thread);
void runtime_on_exec(pid_t tid);

/* ---- timed waits in logical time (waits.c) ---- */
void waits_on_entry(struct thread *t, struct user_regs_struct *r);
void waits_on_exit(struct thread *t, struct user_regs_struct *r);
void waits_thread_new(pid_t tid);
void waits_thread_gone(pid_t tid);
/* a SIGSTOP the supervisor sent to end a wait: swallow it */
bool waits_absorb(pid_t tid, int sig);

/* ---- seccomp (filter.c) ---- */
void filter_install(bool trap_opens);

/* ---- the sandbox's pid 1 (init.c) ---- */
/* kills every other process of the PID namespace; false when not its pid 1 */
bool init_kill_all(void);
/* not dumpable, first to go when memory runs out */
void init_harden(void);
/* plain mode: runs the command untraced, reaps everything, ends the tree */
void init_run_plain(char **argv, bool merge_output, int *code, int *sig);
/* in a build process before its exec: descriptors closed, limits, no core dumps */
void init_enter_build(bool merge_output);

/* ---- limits on what a build takes (limits.c) ---- */
void limits_watch_fs(const char *path);
/* starts the thread that watches the limits and serves the clock table */
void limits_start(void);
/* in the build's first process, before exec */
void limits_apply_child(void);
/* at a fork/clone entry stop: true (the call refused) when over the process limit */
bool limits_refuse_clone(struct thread *t, struct user_regs_struct *r);
/* a last look at the watched file systems when the build ends */
void limits_final(void);
/* the status fields: ,"limit":...,"fullFs":[...] */
void limits_json(char *buf, size_t len);

/* ---- keeping the build inside the engine (guards.c) ---- */
/* personality(): ADDR_NO_RANDOMIZE stays set */
void guard_personality(struct thread *t, struct user_regs_struct *r);

/* ---- the stat family as seccomp user notifications (fsnotify.c) ---- */
/* --no-notify: the stat family stops through ptrace (benchmarks) */
extern bool fsnotify_disabled;
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

/* ---- the stat shim: answers in the build's processes (fspub.c, ipfilter.c, preload.c, statshim.c) ---- */
extern bool fspub_disabled; /* --no-stat-answers */
void fspub_init(void);
int fspub_fd(void);        /* the socket the watch thread answers (-1: none) */
void fspub_answer(void);
bool fspub_active(void);
int ipfilter_load(void *ctx, bool listener);
/* /etc/ld.so.preload in the sandbox names the shim (--stat-shim PATH) */
void preload_setup(const char *shim);

#endif
