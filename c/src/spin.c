/* The learned spin of a C reader: how long it busy-polls before it sleeps on the
 * futex, the same policy as Python's readers (src/shmring/_spin.py, docs/ring.md
 * "Spinning"). Waking a sleeper costs a futex syscall on one side and a trip
 * through the scheduler on the other (tens of microseconds on a virtual machine);
 * a frame that comes within that is caught cheaper by polling. A spin that runs out
 * halves the budget down to none, so an idle reader costs no CPU; one wait in
 * SPIN_PROBE_EVERY spins the maximum again; spins whose yields gave the core to a
 * busy process for a time slice (SHM_YIELD_HELD_NS) only wait out its slices:
 * SPIN_SHARED_IN_A_ROW of them one after another turn spinning off (one alone may be
 * the host pausing a virtual CPU). A peer on the same core that answers quickly is no
 * such sign: handing it the core at each yield is the cheapest hand-off there. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>

#define SPIN_DEFAULT_MAX_S 50e-6
#define SPIN_PROBE_EVERY 16u
#define SPIN_MAX_PROBE_EVERY 4096u
#define SPIN_SHARED_IN_A_ROW 2u

/* SHMRING_SPIN_US from the environment (microseconds, 0 turns the learned spin
 * off), read once; a value that is no number in 0..1e6 is ignored. */
static double max_spin_s(void)
{
    static double cached = -1;
    if (cached < 0) {
        const char *raw = getenv("SHMRING_SPIN_US");
        char *end = NULL;
        double us = raw && *raw ? strtod(raw, &end) : -1;
        cached = end && *end == '\0' && us >= 0 && us <= 1e6 ? us * 1e-6 : SPIN_DEFAULT_MAX_S;
    }
    return cached;
}

void shmring_spin_init(shmring_learned_spin *s)
{
    s->budget = max_spin_s();
    s->waits = 0;
    s->probe_every = SPIN_PROBE_EVERY;
    s->shared_in_a_row = 0;
}

double shmring_spin_seconds(shmring_learned_spin *s)
{
    double most = max_spin_s();
    s->waits++;
    if (s->budget < most && s->waits % s->probe_every == 0)
        return most;
    return s->budget;
}

void shmring_spin_learn(shmring_learned_spin *s, double spun, int caught, int shared)
{
    double most = max_spin_s();
    if (spun <= 0)
        return;
    s->shared_in_a_row = shared ? s->shared_in_a_row + 1 : 0;
    if (s->shared_in_a_row >= SPIN_SHARED_IN_A_ROW) { /* another process wants this core: spinning costs more */
        s->budget = 0;
        s->probe_every = s->probe_every * 2 < SPIN_MAX_PROBE_EVERY ? s->probe_every * 2 : SPIN_MAX_PROBE_EVERY;
        return;
    }
    if (caught) {
        s->probe_every = SPIN_PROBE_EVERY;
        double grown = s->budget * 2 > spun ? s->budget * 2 : spun;
        s->budget = grown < most ? grown : most;
    } else {
        double half = s->budget / 2;
        s->budget = half >= most / 32 ? half : 0;
    }
}
