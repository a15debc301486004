/*
 * shmring._core: a channel exchange's per-request steps (docs/format.md, "Channel
 * protocol"), shared by core_channel.c (write, post, reply, take),
 * core_channel_slot.c (claim, read), core_channel_wait.c (the client's spin and
 * sleep for its reply) and core_channel_serve.c (the server's, for a request).
 *
 * These are module functions on the mapping (any writable buffer), not methods
 * of an object holding it: each call takes the buffer for its own duration, so
 * a channel closing while a thread waits gets the BufferError it handles, as
 * with shmring._sync. The offsets are those of shmring._channel_format, the
 * only Python module that computes them; a test compares the two.
 */
#ifndef SHMRING_CORE_CHANNEL_H
#define SHMRING_CORE_CHANNEL_H

#include "core.h"

#include <sched.h>
#include <stdint.h>
#include <time.h>

/* docs/format.md, "Channel header page" and "Channel slots". */
enum {
    CH_HEADER_BYTES = 4096,
    CH_OFF_REQUESTS = 128, /* u32 posted (futex), u32 sleeping servers */
    CH_SLOT_HEADER = 128,
    CH_S_STATE = 0,
    CH_S_WAITERS = 4,
    CH_S_ID = 8,
    CH_S_PAYLOAD_BYTES = 16,
    CH_S_KIND = 24,
    CH_S_META_LEN = 28,
    CH_S_TYPESTR = 32,
    CH_S_NDIM = 40,
    CH_S_PID = 44,
    CH_S_SHAPE = 48,
    CH_S_POSTED_NS = 80,
    CH_TYPESTR_BYTES = 8,
    CH_MAX_DIMS = 4,
    CH_PHASE_BITS = 3,
    CH_PHASE_MASK = 7,
};

enum { CH_FREE = 0, CH_CLAIMED, CH_REQUEST, CH_SERVING, CH_REPLY, CH_ABANDONED };
enum { CH_KIND_BYTES = 0 };

static inline uint32_t
ch_word(uint32_t state, uint32_t phase)
{
    return (state & ~(uint32_t)CH_PHASE_MASK) | phase; /* the same ticket, another phase */
}

static inline uint32_t *
ch_u32(char *slot, size_t off)
{
    return (uint32_t *)(void *)(slot + off);
}

static inline uint64_t *
ch_u64(char *slot, size_t off)
{
    return (uint64_t *)(void *)(slot + off);
}

static inline uint64_t
ch_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A yield this long ran another thread on our core. A yield with nothing else runnable
 * returns in well under a microsecond; a switch to a peer and back takes several. */
#define CH_YIELD_RAN_OTHERS_NS 5000u

/* One spin step's yield: lets a peer on this core run. 1 if one did (the yield took long):
 * the peer shares our core, and what the spin then catches a futex sleep would have caught
 * as soon, without the spinning. The learned spin hears of it as a spin that caught nothing. */
static inline int
ch_yield(void)
{
    return shm_yield_ns() > CH_YIELD_RAN_OTHERS_NS;
}

/* The mapping and one slot in it, checked: slot_off + the slot header +
 * the payload area (payload_off + slot_bytes) lie inside the buffer. */
typedef struct {
    Py_buffer view;
    char *slot;
    size_t payload_off, slot_bytes;
} ChSlot;

/* Parse (buf, slot_off, payload_off, slot_bytes) from args[0..3]; release with ch_slot_release. */
SHM_INTERNAL int ch_slot_get(PyObject *const *args, const char *fn, ChSlot *s);
SHM_INTERNAL void ch_slot_release(ChSlot *s);
SHM_INTERNAL int ch_size_arg(PyObject *obj, const char *fn, const char *what, size_t *out);
SHM_INTERNAL int ch_nargs_is(const char *fn, Py_ssize_t nargs, Py_ssize_t n);
SHM_INTERNAL int ch_u32_arg(PyObject *obj, const char *fn, const char *what, uint32_t *out);
SHM_INTERNAL int ch_seconds_arg(PyObject *obj, const char *fn, const char *what, double *out);

SHM_INTERNAL int ch_cas(uint32_t *word, uint32_t expected, uint32_t desired);
/* Parse (buf, slots, stride) from args[0..2] and check they fit; release the view after. */
SHM_INTERNAL int ch_slots_get(PyObject *const *args, const char *fn, Py_buffer *view, size_t *slots, size_t *stride);
/* Step 3 on a mapping at `base`: 1 and the slot taken (now SERVING), or 0 when none is posted. */
SHM_INTERNAL int ch_take_in(char *base, size_t slots, size_t stride, size_t *index, uint32_t *serving);
/* (index, serving) or None, as channel_take returns it. */
SHM_INTERNAL PyObject *ch_taken(int took, size_t index, uint32_t serving);

#define CH_FUNCTION(NAME) SHM_INTERNAL PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
CH_FUNCTION(channel_post);
CH_FUNCTION(channel_reply);
CH_FUNCTION(channel_take);
CH_FUNCTION(channel_read_bytes); /* core_channel_slot.c */
CH_FUNCTION(channel_claim);      /* core_channel_slot.c */
CH_FUNCTION(channel_wait);
CH_FUNCTION(channel_next);

#endif /* SHMRING_CORE_CHANNEL_H */
