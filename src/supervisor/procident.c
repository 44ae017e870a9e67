/* A process's identity and the clocks its children start with, whichever of
 * its threads creates them.
 *
 * A thread's identity (its lineage) and clocks follow the thread: right for a
 * single-threaded program, wrong for a multithreaded one that spawns
 * processes (the go command, cargo, a JVM, any driver with worker threads):
 * which of its threads runs a fork or an exec depends on scheduling (Go moves
 * goroutines between threads), and so would the child's random streams, its
 * AT_RANDOM bytes and its clocks.  A process therefore has an identity of its
 * own, and its children take theirs from it and from their rank among its
 * children (spawn order within the process, not within the thread).  Once a
 * process runs several threads, the clocks its children start with come from
 * a spawn clock of the process: its clocks when it started its second thread
 * (the only thread then, so a deterministic point), one step per child, never
 * behind the children it reaped.  Not its threads' own clocks, not even the
 * wall clock the threads of a Go process share: how often a multithreaded
 * runtime reads them depends on scheduling (measured: the go command's shared
 * wall clock at a spawn varied by up to 6 reads between two runs under load). */
#include "supervisor.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>

struct proc {
	uint8_t lineage[32];  /* the process's identity, whichever thread asks */
	uint64_t nspawns;     /* processes it created so far */
	uint64_t nexecs;      /* programs it ran so far */
	bool spawn_clock;     /* it runs (or ran) several threads: children take the clocks below */
	uint64_t rt, mono, tsc;
};

static struct proc **procs;

static struct proc *proc_slot(pid_t tgid, bool reset)
{
	if (tgid <= 0 || (uint64_t)tgid >= nslots)
		die("internal: process id %d out of range", tgid);
	if (!procs && !(procs = calloc(nslots, sizeof *procs)))
		die("out of memory");
	struct proc *p = procs[tgid];
	if (!p) {
		if (!(p = calloc(1, sizeof *p)))
			die("out of memory");
		procs[tgid] = p;
		reset = false;
	}
	if (reset)
		memset(p, 0, sizeof *p);
	return p;
}

/* the process of `t`; the first process takes its thread's identity */
static struct proc *proc_of(struct thread *t)
{
	bool fresh = !procs || !procs[t->tgid];
	struct proc *p = proc_slot(t->tgid, false);
	if (fresh) {
		memcpy(p->lineage, t->lineage, 32);
		p->nexecs = t->nexecs;
	}
	return p;
}

/* the wall clock the thread reads (its process leader's in a Go process) */
static uint64_t rt_of(pid_t tid)
{
	return clock_rt_now(tid);
}

void procident_on_thread(struct thread *creator)
{
	struct proc *p = proc_of(creator);
	if (p->spawn_clock)
		return;
	/* the first thread creation: the creator is still the process's only thread */
	struct dt_slot *s = slot_of(creator->tid);
	p->spawn_clock = true;
	p->rt = rt_of(creator->tid);
	p->mono = s->mono;
	p->tsc = s->tsc;
}

static void spawn_clock_step(struct proc *p)
{
	p->rt += cfg.rt_step;
	p->mono += cfg.mono_step;
	p->tsc += cfg.tsc_step;
}

void procident_on_fork(struct thread *parent, struct thread *child)
{
	struct proc *pp = proc_of(parent);
	struct proc *cp = proc_slot(child->tid, true);
	stream_derive(cp->lineage, pp->lineage, "process", pp->nspawns++);
	memcpy(child->lineage, cp->lineage, 32);
	debug("procident: %d (thread %d) spawns %d as its child %llu%s", parent->tgid, parent->tid, child->tid,
	      (unsigned long long)pp->nspawns - 1, pp->spawn_clock ? ", from its spawn clock" : "");
	if (!pp->spawn_clock)
		return; /* single-threaded: the child starts with its parent's clocks (lifecycle.c) */
	spawn_clock_step(pp);
	struct dt_slot *cs = slot_of(child->tid);
	debug("procident: child %d starts at rt %llu mono %llu", child->tid, (unsigned long long)pp->rt,
	      (unsigned long long)pp->mono);
	cs->rt = pp->rt;
	cs->mono = pp->mono;
	cs->tsc = pp->tsc;
}

void procident_on_exec(struct thread *t, pid_t former)
{
	struct proc *p = proc_of(t);
	p->nexecs++;
	if (former > 0 && former != t->tid) {
		/* a thread other than the leader ran the exec: the new program
		 * is the process's, not that thread's; its streams start at an
		 * offset of their own (the leader's positions are lost) */
		memcpy(t->lineage, p->lineage, 32);
		t->nchildren = 0;
		t->rand_pos = p->nexecs << 40;
		t->nopens = p->nexecs << 32;
	}
	t->nexecs = p->nexecs;
	if (!p->spawn_clock)
		return;
	/* a multithreaded program exec'd: whichever thread it was, the new
	 * program starts from the spawn clock and is single-threaded again */
	spawn_clock_step(p);
	struct dt_slot *s = slot_of(t->tid);
	s->rt = p->rt;
	s->mono = p->mono;
	s->tsc = p->tsc;
	p->spawn_clock = false;
}

void procident_on_reap(struct thread *t, pid_t child, uint64_t rt, uint64_t mono)
{
	if (!procs)
		return;
	/* a multithreaded child's spawn clock is past every child it had:
	 * time does not go backwards along sh -> go -> compile -> sh */
	struct proc *c = child > 0 && (uint64_t)child < nslots ? procs[child] : NULL;
	if (c && process_of(child)->threaded && c->rt) {
		clock_merge(t->tid, c->rt, c->mono);
		if (c->rt > rt)
			rt = c->rt;
		if (c->mono > mono)
			mono = c->mono;
	}
	struct proc *p = procs[t->tgid];
	if (!p || !p->spawn_clock)
		return;
	debug("procident: %d reaped %d at rt %llu mono %llu", t->tgid, child, (unsigned long long)rt, (unsigned long long)mono);
	if (rt > p->rt)
		p->rt = rt;
	if (mono > p->mono)
		p->mono = mono;
}
