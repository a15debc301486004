/*
 * shmring._core internals shared by _core.c, _core_write.c and _core_read.c:
 * the Core object, the offsets it gets from shmring._format, and the small
 * helpers every protocol step uses. See _core.c for the design notes.
 */
#ifndef SHMRING_CORE_H
#define SHMRING_CORE_H

#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIMS 4
#define TYPESTR_BYTES 8
#define NO_PIN UINT64_MAX
#define NOGIL_COPY_BYTES (256 * 1024) /* copies this large release the GIL */

enum { MODE_COPY = 0, MODE_VIEW = 1, MODE_INTO = 2 };

typedef struct {
    /* header */
    Py_ssize_t write_seq, notify, notify_waiters, queue_seq, space, space_waiters;
    /* geometry */
    Py_ssize_t header_bytes, slot_stride, payload_offset;
    uint64_t slots, slot_bytes, meta_bytes;
    /* slot fields */
    Py_ssize_t s_seqlock, s_seq, s_payload_bytes, s_timestamp, s_monotonic, s_flags, s_meta_len, s_dtype, s_ndim,
        s_shape, s_meta;
    /* reader table */
    Py_ssize_t readers, reader_entry, r_cursor, r_release, r_active, r_lost, r_received, r_state;
    Py_ssize_t reader_count;
} Offsets;

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    int busy; /* calls in progress that let the GIL go while on the mapping; release() waits for them */
    Offsets o;
} Core;

/* ---------- small helpers ------------------------------------------------ */

#define AT(self, off) ((char *)(self)->view.buf + (off))
#define U64(self, off) ((uint64_t *)AT(self, off))
#define U32(self, off) ((uint32_t *)AT(self, off))

static inline uint64_t
now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline Py_ssize_t
slot_at(Core *self, uint64_t seq)
{
    return self->o.header_bytes + (Py_ssize_t)(seq % self->o.slots) * self->o.slot_stride;
}

static inline Py_ssize_t
entry_at(Core *self, Py_ssize_t index)
{
    return self->o.readers + index * self->o.reader_entry;
}

static inline void
wake_if_sleeping(Core *self, Py_ssize_t word, Py_ssize_t sleepers)
{
    if (__atomic_load_n(U32(self, sleepers), __ATOMIC_SEQ_CST)) {
        __atomic_fetch_add(U32(self, word), 1, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, U32(self, word), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

static inline int
require_open(Core *self)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the ring mapping was released");
        return -1;
    }
    return 0;
}

/* Large copies run without the GIL so other threads go on meanwhile. `busy`
 * is raised while they do: a release() from another thread (closing the
 * ring) then waits instead of letting the mapping go under the copy. */
static inline void
copy_maybe_nogil(Core *self, void *dst, const void *src, size_t n)
{
    if (n < NOGIL_COPY_BYTES) {
        memcpy(dst, src, n);
        return;
    }
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    memcpy(dst, src, n);
    Py_END_ALLOW_THREADS
    /* Lowered only with the GIL back: the rest of this call still reads the
     * mapping, and release() proceeds only when it holds the GIL and sees 0. */
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
}

static inline uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Methods defined in _core_write.c and _core_read.c (hidden: only PyInit__core is exported). */
#define CORE_INTERNAL __attribute__((visibility("hidden")))
CORE_INTERNAL PyObject *Core_put(Core *self, PyObject *const *args, Py_ssize_t nargs);
CORE_INTERNAL PyObject *Core_open_slot(Core *self, PyObject *const *args, Py_ssize_t nargs);
CORE_INTERNAL PyObject *Core_commit(Core *self, PyObject *arg);
CORE_INTERNAL PyObject *Core_set_meta(Core *self, PyObject *const *args, Py_ssize_t nargs);
CORE_INTERNAL PyObject *Core_read(Core *self, PyObject *const *args, Py_ssize_t nargs);
CORE_INTERNAL PyObject *Core_read_queued(Core *self, PyObject *const *args, Py_ssize_t nargs);

#endif /* SHMRING_CORE_H */
