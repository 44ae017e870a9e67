/* The clock table shared with the substitute vDSO (layout: shared.h): the
 * logical clocks of every traced thread, by thread id. */
#ifndef DETBUILD_CLOCKTABLE_H
#define DETBUILD_CLOCKTABLE_H

#include "shared.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* thread ids are below this (pid_max + 1); set once by table_create */
extern uint64_t nslots;
/* makes the table (a sealed memfd, handed to new programs by tableserve.c) */
void table_create(void);

struct dt_slot *slot_of(pid_t tid);
/* the value the thread's last read returned (or would have) */
uint64_t clock_last(pid_t tid, int cls);
/* a read: the value, and the clock moves one step */
uint64_t clock_tick(pid_t tid, int cls);
void clock_advance(pid_t tid, uint64_t ns);
void clock_merge(pid_t into, uint64_t rt, uint64_t mono);
/* one step of each clock (a parent reaping a multithreaded child) */
void clock_step(pid_t tid);
/* makes tid read leader's wall clock (or its own, when leader == tid or 0) */
void clock_share_rt(pid_t tid, pid_t leader);
bool clock_rt_shared(pid_t tid);
/* the wall clock the thread reads now (its process leader's when shared) */
uint64_t clock_rt_now(pid_t tid);
/* thread `to` takes over the clocks of `from` (an exec by a non-leader thread) */
void clock_move(pid_t from, pid_t to);
/* whether GS base tags each thread for the vDSO (FSGSBASE) */
bool clock_gs_tagged(void);
/* the table's bytes at `off` (within its header page): where another part publishes what the build finds there (fs/fspub.c) */
void *clock_table_at(size_t off);
/* the spans of code whose monotonic reads do not step the clock (runtime.c) */
struct dt_span *clock_quiet_of(pid_t tid);

#endif
