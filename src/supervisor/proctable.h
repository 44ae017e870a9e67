/* The supervisor's view of each traced thread and process (proctable.c):
 * one struct thread per thread id, one struct process per process id. */
#ifndef DETBUILD_PROCTABLE_H
#define DETBUILD_PROCTABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* before the first thread is traced (after table_create: it needs nslots) */
void proctable_init(void);

/* ---- processes ---- */
struct process {
	uint64_t exit_rt, exit_mono; /* highest clocks of its threads that already exited */
	bool threaded;               /* it ever had more than one thread */
	bool go;                     /* it runs a Go program: its threads share one wall clock */
	bool loader;                 /* its program was started by the dynamic loader ldsite.c found (ldtsc.c) */
	bool foreign;                /* it or an ancestor changed its root or mount namespace */
};
/* the process with this id (ids out of range: an empty entry, never NULL) */
struct process *process_of(pid_t tgid);
/* a new process forked by `parent`: its program and namespace carried over */
void process_new(pid_t pid, pid_t parent, bool new_namespace);
/* a thread of process tgid ended with its clocks at rt, mono */
void process_thread_exited(pid_t tgid, uint64_t rt, uint64_t mono);

/* ---- threads ---- */
/* the highest select() descriptor count whose answer settle.c checks */
#define SETTLE_MAX_FDS 1024

enum pending_kind {
	PEND_NONE,
	PEND_TIMED_WAIT,   /* a timed wait in logical time (waits.c) */
	PEND_REAP,         /* wait4/waitid: merge the reaped child's clock */
	PEND_OPEN,         /* restore the path argument */
	PEND_CLONE,        /* a fork/clone whose PID was pinned */
	PEND_ARM,          /* arch_prctl(ARCH_SET_FS) turned into arming TSC/CPUID faulting */
	PEND_FS,           /* a stat run by the kernel, or a change to the filesystem (fs/) */
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
	/* the view (fs/): the call in flight and what its exit stop needs */
	long fs_nr;
	unsigned long long fs_args[5];
	unsigned long fs_buf, fs_pathp;
	int fs_dirfd;
	uint64_t fs_victim_dev, fs_victim_ino;
	int fs_tkind[2];        /* utime family: 0 explicit, 1 now, 2 omit */
	int64_t fs_tval[2];
	/* an answer that depends on scheduling, settled at a quiescent moment (settle.c) */
	int settle;
	int settle_sources;     /* the descriptors the call watches */
	bool settle_nowait;     /* the call does not wait (zero timeout, WNOHANG) */
	unsigned long settle_at; /* the barrier's timespec in the thread's memory */
	struct user_regs_struct settle_regs; /* the call, as it ran the first time */
	uint64_t settle_sets[3][SETTLE_MAX_FDS / 64]; /* a select's fd sets as the call gave them */
	size_t settle_set_bytes;
};
struct thread *thread_get(pid_t tid);
struct thread *thread_new(pid_t tid);
/* how many traced threads exist */
uint64_t threads_count(void);
void thread_free(pid_t tid);
void thread_move(pid_t from, pid_t to);
/* `born` and `gone` are told when a thread id starts or stops being traced */
void threads_watch(void (*born)(pid_t tid), void (*gone)(pid_t tid));
/* tags a stopped thread's GS base with its id for the vDSO (see shared.h) */
void thread_tag(pid_t tid);

/* resumes a stopped thread: its pending signal first, when sig is 0 */
void resume(struct thread *t, int sig);
void resume_to_exit(struct thread *t);

/* ---- for the entropy file system's thread (under the table's lock) ---- */
/* the process of a thread, for another thread of the supervisor (its own id when unknown) */
pid_t thread_tgid(pid_t tid);
/* copies the thread's lineage and returns (then increments) its count of entropy opens */
uint64_t identity_next_open(pid_t tid, uint8_t lineage[32]);
/* the thread's thread group, 0 if it is not traced */
pid_t identity_tgid(pid_t tid);

#endif
