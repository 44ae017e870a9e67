/* The clock table shared with the substitute vDSO, and the supervisor's view
 * of each traced thread. */
#include "supervisor.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <stddef.h>
#include <unistd.h>

struct dt_header *table_hdr;
struct dt_slot *slots;
/* The table is mapped writable into every build process: the supervisor
 * reads clock values from it, never an index or a flag.  Those it keeps
 * here, and only mirrors them into the table for the vDSO. */
uint32_t *rt_index;
static uint32_t *rt_index_shared;
bool table_gs_tid;
uint64_t nslots;
uint64_t *proc_exit_rt, *proc_exit_mono;
uint8_t *proc_threaded;
uint8_t *proc_go;
static struct thread **threads;
uint64_t threads_live;
/* guards the thread table against the entropy file system's thread */
static pthread_mutex_t ident_lock = PTHREAD_MUTEX_INITIALIZER;

extern const unsigned char vdso_image[];
extern const unsigned char vdso_image_end[];

static uint64_t read_pid_max(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	unsigned long long v = 0;
	if (!f || fscanf(f, "%llu", &v) != 1)
		v = 4194304;
	if (f)
		fclose(f);
	return v + 1;
}

void table_create(void)
{
	nslots = read_pid_max();
	size_t image_len = (size_t)(vdso_image_end - vdso_image);
	if (image_len > DT_IMAGE_MAX)
		die("internal: vDSO image is %zu bytes, more than the %lu reserved", image_len, DT_IMAGE_MAX);
	size_t total = DT_TABLE_OFF + dt_table_len(nslots);
	/* no file the build could open, cut short or replace: a sealed memfd,
	 * handed to each new program by the supervisor itself (tableserve.c) */
	int fd = memfd_create("detbuild-clock-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		die("cannot create the clock table: %m (Hint: needs Linux 3.17 or later)");
	if (ftruncate(fd, (off_t)total) < 0)
		die("cannot size the clock table: %m");
	if (pwrite(fd, vdso_image, image_len, 0) != (ssize_t)image_len)
		die("cannot write the vDSO image: %m");
	void *p = mmap(NULL, total - DT_TABLE_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, fd, DT_TABLE_OFF);
	if (p == MAP_FAILED)
		die("cannot map the clock table: %m");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		die("cannot seal the clock table: %m");
	tableserve_init(fd);
	table_hdr = p;
	slots = (struct dt_slot *)((char *)p + 4096);
	rt_index_shared = (uint32_t *)(slots + nslots);
	rt_index = calloc(nslots, sizeof *rt_index);
	if (!rt_index)
		die("out of memory");
	table_hdr->magic = DT_MAGIC;
	table_hdr->rt_step = cfg.rt_step;
	table_hdr->mono_step = cfg.mono_step;
	table_hdr->cpu_step = cfg.cpu_step;
	table_hdr->nslots = nslots;
	table_gs_tid = (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
	table_hdr->gs_tid = table_gs_tid;
	threads = calloc(nslots, sizeof *threads);
	proc_exit_rt = calloc(nslots, sizeof *proc_exit_rt);
	proc_exit_mono = calloc(nslots, sizeof *proc_exit_mono);
	proc_threaded = calloc(nslots, sizeof *proc_threaded);
	proc_go = calloc(nslots, sizeof *proc_go);
	if (!threads || !proc_exit_rt || !proc_exit_mono || !proc_threaded || !proc_go)
		die("out of memory");
}

struct dt_slot *slot_of(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		return &slots[0];
	return &slots[tid];
}

static uint64_t *field(struct dt_slot *s, int cls, uint64_t *step)
{
	switch (cls) {
	case DT_C_RT:
		*step = cfg.rt_step;
		return &s->rt;
	case DT_C_MONO:
		*step = cfg.mono_step;
		return &s->mono;
	default:
		*step = cfg.cpu_step;
		return &s->cpu;
	}
}

/* the slot holding the thread's wall clock (its process leader's in a Go process) */
static struct dt_slot *rt_slot_of(pid_t tid)
{
	struct dt_slot *s = slot_of(tid);
	uint32_t shared = rt_index[s - slots];
	return shared && shared < nslots ? &slots[shared] : s;
}

static struct dt_slot *slot_for(pid_t tid, int cls)
{
	return cls == DT_C_RT ? rt_slot_of(tid) : slot_of(tid);
}

uint64_t clock_last(pid_t tid, int cls)
{
	uint64_t step;
	uint64_t *f = field(slot_for(tid, cls), cls, &step);
	return *f >= step ? *f - step : *f;
}

uint64_t clock_tick(pid_t tid, int cls)
{
	uint64_t step;
	uint64_t *f = field(slot_for(tid, cls), cls, &step);
	uint64_t v = *f;
	*f = v + step;
	return v;
}

void clock_advance(pid_t tid, uint64_t ns)
{
	struct dt_slot *s = slot_of(tid);
	s->mono += ns;
	/* a shared wall clock does not follow one thread's waits: in a Go
	 * process those are the runtime's, and their number depends on timing */
	if (!rt_index[s - slots])
		s->rt += ns;
}

void clock_merge(pid_t into, uint64_t rt, uint64_t mono)
{
	struct dt_slot *r = rt_slot_of(into), *s = slot_of(into);
	if (rt > r->rt)
		r->rt = rt;
	if (mono > s->mono)
		s->mono = mono;
}

void clock_step(pid_t tid)
{
	rt_slot_of(tid)->rt += cfg.rt_step;
	slot_of(tid)->mono += cfg.mono_step;
}

void clock_share_rt(pid_t tid, pid_t leader)
{
	if (tid > 0 && (uint64_t)tid < nslots)
		rt_index_shared[tid] = rt_index[tid] = leader > 0 && (uint64_t)leader < nslots && leader != tid ? (uint32_t)leader : 0;
}

bool clock_rt_shared(pid_t tid)
{
	return tid > 0 && (uint64_t)tid < nslots && rt_index[tid] != 0;
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
	waits_thread_new(tid);
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
	waits_thread_gone(tid);
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
	slots[to] = slots[from];
	rt_index_shared[to] = rt_index[to] = 0;
	waits_thread_gone(from);
	waits_thread_new(to);
}

void thread_tag(pid_t tid)
{
	if (!table_gs_tid)
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
