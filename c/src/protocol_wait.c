/* Wake-ups, the spin wait and clocks of the ring protocol (plain C; see protocol.h). */
#define _GNU_SOURCE
#include "protocol.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
shm_realtime_ns(void)
{
    return now_ns(CLOCK_REALTIME);
}

uint64_t
shm_monotonic_ns(void)
{
    return now_ns(CLOCK_MONOTONIC);
}

uint64_t
shm_coarse_realtime_ns(void)
{
    return now_ns(CLOCK_REALTIME_COARSE);
}

/* The sleeper count is read after the caller's seq_cst publication, so either
 * we see a sleeper and wake it, or the sleeper's re-check sees what we published
 * (docs/format.md, "Waiting for a frame"). Shared futex: peers map the file at
 * other addresses. */
void
shm_wake_if_sleeping(char *base, size_t word, size_t sleepers)
{
    if (__atomic_load_n(shm_u32(base, sleepers), __ATOMIC_SEQ_CST)) {
        __atomic_fetch_add(shm_u32(base, word), 1, __ATOMIC_SEQ_CST);
        shm_futex_wake_all(shm_u32(base, word));
    }
}

void
shm_futex_wake_all(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint64_t
shm_yield_ns(void)
{
    uint64_t before = shm_monotonic_ns();
    sched_yield();
    return shm_monotonic_ns() - before;
}

int
shm_spin(char *base, size_t word, uint64_t beyond, double seconds, int *shared)
{
    uint64_t *w = shm_u64(base, word), until = shm_monotonic_ns() + (uint64_t)(seconds * 1e9);
    for (unsigned i = 0;; i++) {
        if (__atomic_load_n(w, __ATOMIC_ACQUIRE) > beyond)
            return 1;
        if ((i & 63) == 0) {
            if (shm_monotonic_ns() >= until)
                return 0;
            /* Let a peer that shares this core run: spinning here would only
             * delay the very write we wait for. With a core of its own the
             * peer is unaffected, and the yield returns at once. */
            *shared |= shm_yield_ns() > SHM_YIELD_HELD_NS;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}
