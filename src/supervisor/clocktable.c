/* The clock table shared with the substitute vDSO: one slot of clocks per
 * thread id, the wall-clock sharing of Go processes, the quiet spans of
 * managed runtimes (runtime.c).  See shared.h for its layout. */
#include "clocktable.h"
#include "config.h"
#include "log.h"
#include "tableserve.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

static struct dt_header *table_hdr;
static struct dt_slot *slots;
/* The table is mapped writable into every build process: the supervisor
 * reads clock values from it, never an index or a flag.  Those it keeps
 * here, and only mirrors them into the table for the vDSO. */
static uint32_t *rt_index;
static uint32_t *rt_index_shared;
static bool gs_tid;
uint64_t nslots;

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
	gs_tid = (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
	table_hdr->gs_tid = gs_tid;
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

uint64_t clock_rt_now(pid_t tid)
{
	return rt_slot_of(tid)->rt;
}

void clock_move(pid_t from, pid_t to)
{
	slots[to] = slots[from];
	rt_index_shared[to] = rt_index[to] = 0;
}

bool clock_gs_tagged(void)
{
	return gs_tid;
}

struct dt_span *clock_quiet_of(pid_t tid)
{
	if (tid <= 0 || (uint64_t)tid >= nslots)
		return NULL;
	return (struct dt_span *)((char *)table_hdr + dt_quiet_off(nslots)) + tid;
}

void *clock_table_at(size_t off)
{
	return (char *)table_hdr + off;
}
