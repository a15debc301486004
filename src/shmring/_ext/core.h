/*
 * shmring._core glue shared by core_module.c, core_write.c and core_read.c:
 * the Core object (one mapped ring: its buffer and its ShmLayout) and the
 * helpers every call uses. The protocol steps themselves are plain C in
 * c/src/protocol_*.c (see c/src/protocol.h; setup.py puts c/src on the
 * include path), the one implementation, shared with libshmring.
 */
#ifndef SHMRING_CORE_H
#define SHMRING_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "protocol.h"

#define NOGIL_COPY_BYTES (256 * 1024) /* copies this large release the GIL */

enum { MODE_COPY = 0, MODE_VIEW = 1, MODE_INTO = 2 };

/* Bit 1 of what spin() and spin_room() return (bit 0: the wait was over): one of the
 * spin's yields gave the core to another thread for a time slice (SHM_YIELD_HELD_NS). */
#define SPIN_SHARED 2

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    int busy; /* calls in progress that let the GIL go while on the mapping; release() waits for them */
    ShmLayout layout;
    PyObject *name; /* the ring's name, for errors */
    /* The typestr of the last frame read, as the bytes object handed out: a
     * ring carries one or few dtypes, so reads reuse it (and its cached hash,
     * which the reader's dtype cache looks up) instead of making one per frame. */
    PyObject *typestr;
    char typestr_chars[SHM_TYPESTR_BYTES + 1];
    /* put_if_room(), open_slot_if_room(): frames below this seq are known to have room (write step 1).
     * Readers only ever move their release forward, so a bound once true stays
     * true; forget_room() drops it where the sequence jumps (a skip, a new writer). */
    uint64_t room_until;
} Core;

static inline char *
core_base(Core *self)
{
    return (char *)self->view.buf;
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

/* Which copy: out of the ring (memcpy), or a payload into its slot (write step 4:
 * shm_copy_payload, which streams frames too large to stay cached). */
enum { COPY_OUT, COPY_INTO_SLOT };

static inline void
copy_either(int into_slot, void *dst, const void *src, size_t n)
{
    if (into_slot)
        shm_copy_payload(dst, src, n);
    else
        memcpy(dst, src, n);
}

/* Large copies run without the GIL so other threads go on meanwhile. `busy`
 * is raised while they do: a release() from another thread (closing the
 * ring) then waits instead of letting the mapping go under the copy. */
static inline void
copy_maybe_nogil(Core *self, int into_slot, void *dst, const void *src, size_t n)
{
    if (n < NOGIL_COPY_BYTES) {
        copy_either(into_slot, dst, src, n);
        return;
    }
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    copy_either(into_slot, dst, src, n);
    Py_END_ALLOW_THREADS
    /* Lowered only with the GIL back: the rest of this call still reads the
     * mapping, and release() proceeds only when it holds the GIL and sees 0. */
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
}

/* Methods defined in core_write.c, core_read*.c and core_spin.c. */
#define CORE_METHOD(NAME) SHM_INTERNAL PyObject *NAME(Core *self, PyObject *const *args, Py_ssize_t nargs)
CORE_METHOD(Core_put);
CORE_METHOD(Core_put_if_room);
CORE_METHOD(Core_open_slot);
CORE_METHOD(Core_open_slot_if_room);
CORE_METHOD(Core_set_meta);
CORE_METHOD(Core_read);
CORE_METHOD(Core_read_queued);
CORE_METHOD(Core_read_many);
CORE_METHOD(Core_read_bytes);
CORE_METHOD(Core_put_many);
CORE_METHOD(Core_spin_room); /* core_spin.c */
SHM_INTERNAL PyObject *Core_commit(Core *self, PyObject *arg);
SHM_INTERNAL PyObject *Core_forget_room(Core *self, PyObject *unused);

/* core_read.c: the FrameRead type and the shmring errors C raises, made once at module init. */
SHM_INTERNAL int core_read_init(PyObject *module);

/* Read step 4 into Python objects: where a copy goes, and what the last copy made. */
typedef struct {
    Core *core;
    int mode;
    Py_buffer *into;
    PyObject *meta, *payload; /* of the last copy; owned */
} CopyTarget;

/* core_read.c, shared with core_read_many.c: the copy step, and turning a read into a result. */
SHM_INTERNAL int copy_frame(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload);
/* The FrameRead of a frame read; takes t's meta and payload. */
SHM_INTERNAL PyObject *frame_read(const ShmRead *r, CopyTarget *t);
/* The BrokenError of a corrupt slot (not raised). */
SHM_INTERNAL PyObject *corrupt_error(Core *self, const ShmRead *r);
/* FrameRead, None, skipped:int, or the error a status means (raised); clears t. */
SHM_INTERNAL PyObject *result_of(Core *self, ShmStatus status, const ShmRead *r, CopyTarget *t);

#endif /* SHMRING_CORE_H */
