/* The supervisor's view of each traced thread and process: one table of
 * struct thread (by thread id) and one of struct process (by process id),
 * resuming a thread (its pending signal first), and the identity the entropy
 * file system's thread asks for.  See proctable.h. */
#include "supervisor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <stddef.h>

static struct thread **threads;
static struct process *procs;
/* what process_of() returns for an id out of range */
static struct process nowhere;
static uint64_t threads_live;
/* told when a thread id starts or stops being traced (waits.c keeps its own list) */
static void (*on_born)(pid_t), (*on_gone)(pid_t);
/* guards the thread table against the entropy file system's thread */
static pthread_mutex_t ident_lock = PTHREAD_MUTEX_INITIALIZER;

void proctable_init(void)
{
	threads = calloc(nslots, sizeof *threads);
	procs = calloc(nslots, sizeof *procs);
	if (!threads || !procs)
		die("out of memory");
}

uint64_t threads_count(void)
{
	return threads_live;
}

struct process *process_of(pid_t tgid)
{
	if (tgid <= 0 || (uint64_t)tgid >= nslots) {
		memset(&nowhere, 0, sizeof nowhere);
		return &nowhere;
	}
	return &procs[tgid];
}

void process_new(pid_t pid, pid_t parent, bool new_namespace)
{
	struct process *p = process_of(pid), *pp = process_of(parent);
	p->exit_rt = p->exit_mono = 0;
	p->threaded = false;
	/* a forked child runs the same program until it execs */
	p->go = pp->go;
	p->foreign = pp->foreign || new_namespace;
}

void process_thread_exited(pid_t tgid, uint64_t rt, uint64_t mono)
{
	struct process *p = process_of(tgid);
	if (rt > p->exit_rt)
		p->exit_rt = rt;
	if (mono > p->exit_mono)
		p->exit_mono = mono;
}

void threads_watch(void (*born)(pid_t tid), void (*gone)(pid_t tid))
{
	on_born = born;
	on_gone = gone;
}

struct thread *thread_get(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		return NULL;
	return threads[tid];
}

struct thread *thread_new(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		die("internal: thread id %d out of range", tid);
	pthread_mutex_lock(&ident_lock);
	struct thread *t = threads[tid];
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			die("out of memory");
		threads[tid] = t;
		threads_live++;
	}
	memset(t, 0, sizeof *t);
	t->tid = tid;
	t->tgid = tid;
	t->pend_argreg = -1;
	t->pend_argreg2 = -1;
	pthread_mutex_unlock(&ident_lock);
	if (on_born)
		on_born(tid);
	return t;
}

void thread_free(pid_t tid)
{
	pthread_mutex_lock(&ident_lock);
	struct thread *t = thread_get(tid);
	if (t) {
		free(t);
		threads[tid] = NULL;
		threads_live--;
	}
	pthread_mutex_unlock(&ident_lock);
	if (on_gone)
		on_gone(tid);
}

void thread_move(pid_t from, pid_t to)
{
	if (from == to)
		return;
	thread_free(to);
	pthread_mutex_lock(&ident_lock);
	struct thread *t = thread_get(from);
	threads[from] = NULL;
	threads[to] = t;
	if (t) {
		t->tid = to;
		t->tgid = to;
	}
	pthread_mutex_unlock(&ident_lock);
	clock_move(from, to);
	if (on_gone)
		on_gone(from);
	if (on_born)
		on_born(to);
}

void resume(struct thread *t, int sig)
{
	if (!sig && t->pend_sig) {
		sig = t->pend_sig;
		t->pend_sig = 0;
	}
	tracee_resume(t->tid, sig);
}

void resume_to_exit(struct thread *t)
{
	tracee_resume_to_exit(t->tid);
}

void thread_tag(pid_t tid)
{
	if (!clock_gs_tagged())
		return;
	ptrace(PTRACE_POKEUSER, tid, (void *)offsetof(struct user, regs.gs_base), (void *)(unsigned long)(tid + 1));
}

pid_t thread_tgid(pid_t tid)
{
	pthread_mutex_lock(&ident_lock);
	struct thread *t = thread_get(tid);
	pid_t tgid = t ? t->tgid : tid;
	pthread_mutex_unlock(&ident_lock);
	return tgid;
}

uint64_t identity_next_open(pid_t tid, uint8_t lineage[32])
{
	static uint64_t strangers;
	uint64_t n;
	pthread_mutex_lock(&ident_lock);
	struct thread *t = thread_get(tid);
	if (t) {
		memcpy(lineage, t->lineage, 32);
		n = t->nopens++;
	} else {
		/* not a traced thread (should not happen): one shared sequence */
		memcpy(lineage, cfg.seed, 32);
		n = strangers++;
	}
	pthread_mutex_unlock(&ident_lock);
	return n;
}

pid_t identity_tgid(pid_t tid)
{
	pthread_mutex_lock(&ident_lock);
	struct thread *t = thread_get(tid);
	pid_t tgid = t ? t->tgid : 0;
	pthread_mutex_unlock(&ident_lock);
	return tgid;
}
