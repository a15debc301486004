/*
 * shmring._core — the per-frame fast path of the native ring protocol.
 *
 * docs/format.md describes the protocol once; this file performs its write
 * steps 2-7 and read steps 1-6 in one call each, so a put or a get costs one
 * trip from Python instead of a dozen. Policy (waiting for room, dropping,
 * pins held by views, schema checks) stays in Python.
 *
 * The C code computes no layout of its own: every offset comes from
 * shmring._format through the dict given to Core(), so _format remains the
 * single source of truth.
 *
 * Memory ordering (the seqlock):
 *   writer: seqlock := odd; full fence; fields, metadata, payload;
 *           seqlock := even (release); write_seq += 1 (seq_cst RMW);
 *           notify only if a reader registered as sleeping.
 *   reader: seqlock (acquire); copy; acquire fence; seqlock again; equal
 *           values mean the copy is one whole frame.
 */
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

static uint64_t
now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static Py_ssize_t
slot_at(Core *self, uint64_t seq)
{
    return self->o.header_bytes + (Py_ssize_t)(seq % self->o.slots) * self->o.slot_stride;
}

static Py_ssize_t
entry_at(Core *self, Py_ssize_t index)
{
    return self->o.readers + index * self->o.reader_entry;
}

static void
wake_if_sleeping(Core *self, Py_ssize_t word, Py_ssize_t sleepers)
{
    if (__atomic_load_n(U32(self, sleepers), __ATOMIC_SEQ_CST)) {
        __atomic_fetch_add(U32(self, word), 1, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, U32(self, word), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

static int
require_open(Core *self)
{
    if (!self->has_view) {
        PyErr_SetString(PyExc_ValueError, "the ring mapping was released");
        return -1;
    }
    return 0;
}

/* Item size from a numpy typestr such as "<u2" (0 if malformed). */
static uint64_t
typestr_itemsize(const char *t, size_t n)
{
    if (n < 3 || !strchr("<>|=", t[0]) || !strchr("biufc", t[1]))
        return 0;
    uint64_t size = 0;
    for (size_t i = 2; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
        size = size * 10 + (uint64_t)(t[i] - '0');
        if (size > 32)
            return 0;
    }
    return size;
}

/* Large copies run without the GIL so other threads go on meanwhile. `busy`
 * is raised while they do: a release() from another thread (closing the
 * ring) then waits instead of letting the mapping go under the copy. */
static void
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

/* ---------- construction -------------------------------------------------- */

static int
get_offset(PyObject *dict, const char *key, Py_ssize_t *out)
{
    PyObject *v = PyDict_GetItemString(dict, key);
    if (!v) {
        PyErr_Format(PyExc_KeyError, "Core offsets lack %s", key);
        return -1;
    }
    *out = PyLong_AsSsize_t(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
Core_init(Core *self, PyObject *args, PyObject *kwds)
{
    PyObject *buf, *offsets;
    static char *kwlist[] = {"buf", "offsets", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!", kwlist, &buf, &PyDict_Type, &offsets))
        return -1;
    Offsets *o = &self->o;
    Py_ssize_t slots, slot_bytes, meta_bytes;
    struct { const char *key; Py_ssize_t *dst; } fields[] = {
        {"write_seq", &o->write_seq}, {"notify", &o->notify}, {"notify_waiters", &o->notify_waiters},
        {"queue_seq", &o->queue_seq}, {"space", &o->space}, {"space_waiters", &o->space_waiters},
        {"header_bytes", &o->header_bytes}, {"slot_stride", &o->slot_stride},
        {"payload_offset", &o->payload_offset}, {"slots", &slots}, {"slot_bytes", &slot_bytes},
        {"meta_bytes", &meta_bytes}, {"s_seqlock", &o->s_seqlock}, {"s_seq", &o->s_seq},
        {"s_payload_bytes", &o->s_payload_bytes}, {"s_timestamp", &o->s_timestamp},
        {"s_monotonic", &o->s_monotonic}, {"s_flags", &o->s_flags}, {"s_meta_len", &o->s_meta_len},
        {"s_dtype", &o->s_dtype}, {"s_ndim", &o->s_ndim}, {"s_shape", &o->s_shape}, {"s_meta", &o->s_meta},
        {"readers", &o->readers}, {"reader_entry", &o->reader_entry}, {"r_cursor", &o->r_cursor},
        {"r_release", &o->r_release}, {"r_active", &o->r_active}, {"r_lost", &o->r_lost},
        {"r_received", &o->r_received}, {"r_state", &o->r_state}, {"reader_count", &o->reader_count},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (get_offset(offsets, fields[i].key, fields[i].dst) < 0)
            return -1;
    if (slots < 1 || slot_bytes < 0 || meta_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "Core: slots must be >= 1 and sizes >= 0");
        return -1;
    }
    o->slots = (uint64_t)slots;
    o->slot_bytes = (uint64_t)slot_bytes;
    o->meta_bytes = (uint64_t)meta_bytes;
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    if (PyObject_GetBuffer(buf, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->has_view = 1;
    Py_ssize_t end = o->header_bytes + (Py_ssize_t)o->slots * o->slot_stride;
    if (self->view.len < end || ((uintptr_t)self->view.buf % 64) != 0) {
        PyErr_Format(PyExc_ValueError, "Core: buffer of %zd bytes cannot hold the %zd-byte ring (or is misaligned)",
                     self->view.len, end);
        PyBuffer_Release(&self->view);
        self->has_view = 0;
        return -1;
    }
    return 0;
}

static PyObject *
Core_release(Core *self, PyObject *unused)
{
    (void)unused;
    while (__atomic_load_n(&self->busy, __ATOMIC_SEQ_CST) > 0) {
        Py_BEGIN_ALLOW_THREADS /* a copy or spin in another thread is still on the mapping */
        sched_yield();
        Py_END_ALLOW_THREADS
    }
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_RETURN_NONE;
}

static void
Core_dealloc(Core *self)
{
    if (self->has_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---------- writing ------------------------------------------------------- */

/* Steps 2-4 of "Write frame": odd mark, fence, header and metadata. */
static int
open_slot(Core *self, uint64_t seq, uint64_t nbytes, PyObject *typestr, PyObject *shape, unsigned long flags,
          PyObject *meta, Py_ssize_t *slot_out)
{
    char *t;
    Py_ssize_t tlen, mlen = 0;
    char *m = NULL;
    if (PyBytes_AsStringAndSize(typestr, &t, &tlen) < 0)
        return -1;
    if (meta != Py_None && PyBytes_AsStringAndSize(meta, &m, &mlen) < 0)
        return -1;
    Py_ssize_t ndim = PyTuple_Check(shape) ? PyTuple_GET_SIZE(shape) : -1;
    if (ndim < 0 || ndim > MAX_DIMS || tlen > TYPESTR_BYTES || nbytes > self->o.slot_bytes ||
        (uint64_t)mlen > self->o.meta_bytes || flags > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "frame does not fit the ring (checked by the writer first)");
        return -1;
    }
    uint64_t dims[MAX_DIMS] = {0};
    for (Py_ssize_t i = 0; i < ndim; i++) {
        dims[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(shape, i));
        if (dims[i] == (uint64_t)-1 && PyErr_Occurred())
            return -1;
    }
    Py_ssize_t slot = slot_at(self, seq);
    __atomic_store_n(U64(self, slot + self->o.s_seqlock), 2 * seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* no byte of the frame before the odd mark */
    *U64(self, slot + self->o.s_seq) = seq;
    *U64(self, slot + self->o.s_payload_bytes) = nbytes;
    *U32(self, slot + self->o.s_flags) = (uint32_t)flags;
    *U32(self, slot + self->o.s_meta_len) = (uint32_t)mlen;
    memset(AT(self, slot + self->o.s_dtype), 0, TYPESTR_BYTES);
    memcpy(AT(self, slot + self->o.s_dtype), t, (size_t)tlen);
    *U32(self, slot + self->o.s_ndim) = (uint32_t)ndim;
    memcpy(AT(self, slot + self->o.s_shape), dims, sizeof(dims));
    if (mlen)
        memcpy(AT(self, slot + self->o.s_meta), m, (size_t)mlen);
    *slot_out = slot;
    return 0;
}

/* Steps 5-7: stamp, even mark (release), publish, wake sleepers. The time is
 * taken at commit, so a frame filled in place reports when it was published. */
static void
commit_slot(Core *self, uint64_t seq)
{
    Py_ssize_t slot = slot_at(self, seq);
    *U64(self, slot + self->o.s_timestamp) = now_ns(CLOCK_REALTIME);
    *U64(self, slot + self->o.s_monotonic) = now_ns(CLOCK_MONOTONIC);
    __atomic_store_n(U64(self, slot + self->o.s_seqlock), 2 * seq + 2, __ATOMIC_RELEASE);
    __atomic_fetch_add(U64(self, self->o.write_seq), 1, __ATOMIC_SEQ_CST);
    wake_if_sleeping(self, self->o.notify, self->o.notify_waiters);
}

static int
parse_seq(Core *self, PyObject *obj, uint64_t *seq)
{
    if (obj == Py_None) {
        *seq = __atomic_load_n(U64(self, self->o.write_seq), __ATOMIC_ACQUIRE);
        return 0;
    }
    *seq = PyLong_AsUnsignedLongLong(obj);
    return (*seq == (uint64_t)-1 && PyErr_Occurred()) ? -1 : 0;
}

/* put(seq|None, data, typestr, shape, flags, meta|None) -> seq */
static PyObject *
Core_put(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "put(seq, data, typestr, shape, flags, meta)");
        return NULL;
    }
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq;
    if (parse_seq(self, args[0], &seq) < 0)
        return NULL;
    unsigned long flags = PyLong_AsUnsignedLong(args[4]);
    if (flags == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    Py_ssize_t slot;
    if (open_slot(self, seq, (uint64_t)data.len, args[2], args[3], flags, args[5], &slot) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    copy_maybe_nogil(self, AT(self, slot + self->o.payload_offset), data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    commit_slot(self, seq);
    return PyLong_FromUnsignedLongLong(seq);
}

/* open_slot(seq|None, nbytes, typestr, shape, flags, meta|None) -> (seq, payload offset) */
static PyObject *
Core_open_slot(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "open_slot(seq, nbytes, typestr, shape, flags, meta)");
        return NULL;
    }
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq, nbytes = PyLong_AsUnsignedLongLong(args[1]);
    unsigned long flags = PyLong_AsUnsignedLong(args[4]);
    if (PyErr_Occurred() || parse_seq(self, args[0], &seq) < 0)
        return NULL;
    Py_ssize_t slot;
    if (open_slot(self, seq, nbytes, args[2], args[3], flags, args[5], &slot) < 0)
        return NULL;
    return Py_BuildValue("Kn", (unsigned long long)seq, slot + self->o.payload_offset);
}

static PyObject *
Core_commit(Core *self, PyObject *arg)
{
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq = PyLong_AsUnsignedLongLong(arg);
    if (seq == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    commit_slot(self, seq);
    Py_RETURN_NONE;
}

/* set_meta(seq, meta|None): replace the metadata of a frame opened with open_slot(), before commit. */
static PyObject *
Core_set_meta(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || require_open(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "set_meta(seq, meta)");
        return NULL;
    }
    uint64_t seq = PyLong_AsUnsignedLongLong(args[0]);
    if (seq == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    char *m = NULL;
    Py_ssize_t mlen = 0;
    if (args[1] != Py_None && PyBytes_AsStringAndSize(args[1], &m, &mlen) < 0)
        return NULL;
    Py_ssize_t slot = slot_at(self, seq);
    if ((uint64_t)mlen > self->o.meta_bytes ||
        __atomic_load_n(U64(self, slot + self->o.s_seqlock), __ATOMIC_RELAXED) != 2 * seq + 1) {
        PyErr_SetString(PyExc_ValueError, "set_meta: metadata too large, or the frame is not open");
        return NULL;
    }
    *U32(self, slot + self->o.s_meta_len) = (uint32_t)mlen;
    if (mlen)
        memcpy(AT(self, slot + self->o.s_meta), m, (size_t)mlen);
    Py_RETURN_NONE;
}

/* ---------- reading ------------------------------------------------------- */

typedef struct {
    uint64_t seq, nbytes, timestamp, monotonic;
    uint32_t flags, meta_len, ndim;
    char typestr[TYPESTR_BYTES + 1];
    uint64_t shape[MAX_DIMS];
} SlotHeader;

static const char *
header_problem(Core *self, const SlotHeader *h, uint64_t k)
{
    if (h->seq != k)
        return "its sequence number is not the frame's";
    if (h->nbytes > self->o.slot_bytes || h->meta_len > self->o.meta_bytes || h->ndim > MAX_DIMS)
        return "its sizes exceed the ring's";
    uint64_t size = typestr_itemsize(h->typestr, strlen(h->typestr));
    if (!size)
        return "its dtype is not a bool/int/uint/float/complex typestr";
    for (uint32_t i = 0; i < h->ndim; i++) {
        if (h->shape[i] && size > UINT64_MAX / h->shape[i])
            return "its shape overflows";
        size *= h->shape[i];
    }
    return size == h->nbytes ? NULL : "its shape and dtype do not make its payload length";
}

static void
load_header(Core *self, Py_ssize_t slot, SlotHeader *h)
{
    h->seq = *U64(self, slot + self->o.s_seq);
    h->nbytes = *U64(self, slot + self->o.s_payload_bytes);
    h->timestamp = *U64(self, slot + self->o.s_timestamp);
    h->monotonic = *U64(self, slot + self->o.s_monotonic);
    h->flags = *U32(self, slot + self->o.s_flags);
    h->meta_len = *U32(self, slot + self->o.s_meta_len);
    h->ndim = *U32(self, slot + self->o.s_ndim);
    memcpy(h->typestr, AT(self, slot + self->o.s_dtype), TYPESTR_BYTES);
    h->typestr[TYPESTR_BYTES] = 0;
    memcpy(h->shape, AT(self, slot + self->o.s_shape), sizeof(h->shape));
}

/* Copy frame k out of its slot. Returns 1 with *result set (a tuple, or a
 * str naming the corruption), 0 if the writer lapped us (retry), -1 on error. */
static int
read_slot(Core *self, uint64_t k, int mode, Py_buffer *into, PyObject **result)
{
    Py_ssize_t slot = slot_at(self, k);
    uint64_t mark = __atomic_load_n(U64(self, slot + self->o.s_seqlock), __ATOMIC_ACQUIRE);
    if (mark != 2 * k + 2)
        return 0;
    SlotHeader h;
    load_header(self, slot, &h);
    const char *problem = header_problem(self, &h, k);
    PyObject *meta = NULL, *payload = NULL;
    if (!problem) {
        meta = h.meta_len ? PyBytes_FromStringAndSize(AT(self, slot + self->o.s_meta), h.meta_len)
                          : (Py_INCREF(Py_None), Py_None);
        const char *src = AT(self, slot + self->o.payload_offset);
        if (mode == MODE_COPY) {
            payload = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)h.nbytes);
            if (payload)
                copy_maybe_nogil(self, PyByteArray_AS_STRING(payload), src, h.nbytes);
        } else if (mode == MODE_INTO) {
            if ((uint64_t)into->len < h.nbytes) {
                problem = "";  /* reported below as a size mismatch */
                payload = PyLong_FromUnsignedLongLong(h.nbytes);
            } else {
                copy_maybe_nogil(self, into->buf, src, h.nbytes);
                payload = (Py_INCREF(Py_None), Py_None);
            }
        } else {
            payload = PyLong_FromSsize_t(slot + self->o.payload_offset);
        }
        if (!meta || !payload) {
            Py_XDECREF(meta);
            Py_XDECREF(payload);
            return -1;
        }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* all reads above complete before the second look */
    if (__atomic_load_n(U64(self, slot + self->o.s_seqlock), __ATOMIC_RELAXED) != mark) {
        Py_XDECREF(meta);
        Py_XDECREF(payload);
        return 0;
    }
    if (problem && !*problem) { /* `out` too small: (None, needed bytes) */
        *result = Py_BuildValue("(ON)", Py_None, payload);
        Py_DECREF(meta);
        return *result ? 1 : -1;
    }
    if (problem) {
        *result = PyUnicode_FromFormat("slot of frame %llu is corrupt: %s", (unsigned long long)k, problem);
        return *result ? 1 : -1;
    }
    PyObject *shape = PyTuple_New(h.ndim);
    if (!shape) {
        Py_DECREF(meta);
        Py_DECREF(payload);
        return -1;
    }
    for (uint32_t i = 0; i < h.ndim; i++)
        PyTuple_SET_ITEM(shape, i, PyLong_FromUnsignedLongLong(h.shape[i]));
    *result = Py_BuildValue("(KKKKIyNNN)", (unsigned long long)k, 0ull, (unsigned long long)h.timestamp,
                            (unsigned long long)h.monotonic, (unsigned int)h.flags, h.typestr, shape, meta, payload);
    return *result ? 1 : -1;
}

/* Publish a reader's progress in its table entry; wake a writer waiting for room. */
static void
record(Core *self, Py_ssize_t index, uint64_t cursor, uint64_t release, uint64_t got, uint64_t lost)
{
    Py_ssize_t e = entry_at(self, index);
    __atomic_store_n(U64(self, e + self->o.r_cursor), cursor, __ATOMIC_RELEASE);
    __atomic_store_n(U64(self, e + self->o.r_release), release, __ATOMIC_SEQ_CST);
    if (got) {
        __atomic_fetch_add(U64(self, e + self->o.r_received), got, __ATOMIC_RELAXED);
        __atomic_store_n(U64(self, e + self->o.r_active), now_ns(CLOCK_REALTIME), __ATOMIC_RELAXED);
    }
    if (lost)
        __atomic_fetch_add(U64(self, e + self->o.r_lost), lost, __ATOMIC_RELAXED);
    wake_if_sleeping(self, self->o.space, self->o.space_waiters);
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Patch the "lost before this frame" field (index 1) of a result tuple. */
static void
set_lost(PyObject *result, uint64_t lost)
{
    if (PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 9 && lost) {
        PyObject *old = PyTuple_GET_ITEM(result, 1);
        PyTuple_SET_ITEM(result, 1, PyLong_FromUnsignedLongLong(lost));
        Py_DECREF(old);
    }
}

static int
parse_read_args(Core *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, Py_ssize_t *index,
                int *mode, Py_buffer *into, int *has_into, uint64_t *pin)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "expected %zd arguments", want);
        return -1;
    }
    if (require_open(self) < 0)
        return -1;
    *index = PyLong_AsSsize_t(args[0]);
    *mode = (int)PyLong_AsLong(args[want - 3]);
    *pin = PyLong_AsUnsignedLongLong(args[want - 1]);
    if (PyErr_Occurred())
        return -1;
    if (*index < 0 || *index >= self->o.reader_count || *mode < MODE_COPY || *mode > MODE_INTO) {
        PyErr_SetString(PyExc_ValueError, "reader index or mode out of range");
        return -1;
    }
    *has_into = 0;
    if (*mode == MODE_INTO) {
        if (PyObject_GetBuffer(args[want - 2], into, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        *has_into = 1;
    }
    return 0;
}

/* The answer when there is nothing to read: frames skipped as lost (an int), or None. */
static PyObject *
nothing_new(Core *self, Py_ssize_t index, uint64_t cursor, uint64_t release, uint64_t skipped)
{
    if (!skipped)
        Py_RETURN_NONE;
    record(self, index, cursor, release, 0, skipped);
    return PyLong_FromUnsignedLongLong(skipped);
}

static int
is_frame(PyObject *result)
{
    return PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 9;
}

/* Steps 1-6 of "Read frame k" for a broadcast reader at `k`; see Core_read. */
static PyObject *
read_next(Core *self, Py_ssize_t index, uint64_t k, int mode, Py_buffer *into, uint64_t pin)
{
    uint64_t skipped = 0;
    for (;;) {
        uint64_t written = __atomic_load_n(U64(self, self->o.write_seq), __ATOMIC_SEQ_CST);
        if (k >= written)
            return nothing_new(self, index, k, min_u64(pin, k), skipped);
        if (written - k > self->o.slots) { /* overwritten before we got to it */
            skipped += written - self->o.slots - k;
            k = written - self->o.slots;
            continue;
        }
        PyObject *result = NULL;
        int rc = read_slot(self, k, mode, into, &result);
        if (rc < 0)
            return NULL;
        if (rc == 0) { /* lapped while reading: resume where the writer cannot be */
            written = __atomic_load_n(U64(self, self->o.write_seq), __ATOMIC_SEQ_CST);
            uint64_t next = written > self->o.slots ? written - self->o.slots + 1 : 0;
            next = next > k + 1 ? next : k + 1;
            skipped += next - k;
            k = next;
            continue;
        }
        if (!is_frame(result) && skipped) { /* report the skip first; the problem shows next time */
            Py_DECREF(result);
            return nothing_new(self, index, k, min_u64(pin, k), skipped);
        }
        if (is_frame(result)) {
            set_lost(result, skipped);
            record(self, index, k + 1, min_u64(pin, mode == MODE_VIEW ? k : k + 1), 1, skipped);
        }
        return result;
    }
}

/* Claim and read the next queued frame; see Core_read_queued. */
static PyObject *
read_claimed(Core *self, Py_ssize_t index, int mode, Py_buffer *into, uint64_t pin)
{
    uint64_t *queue = U64(self, self->o.queue_seq);
    uint64_t *release = U64(self, entry_at(self, index) + self->o.r_release);
    uint64_t skipped = 0;
    for (;;) {
        uint64_t q = __atomic_load_n(queue, __ATOMIC_SEQ_CST);
        uint64_t written = __atomic_load_n(U64(self, self->o.write_seq), __ATOMIC_SEQ_CST);
        if (q >= written) {
            uint64_t cursor = __atomic_load_n(U64(self, entry_at(self, index) + self->o.r_cursor), __ATOMIC_RELAXED);
            if (skipped)
                return nothing_new(self, index, cursor, pin, skipped);
            record(self, index, cursor, pin, 0, 0); /* drop a pin left by a lost claim race */
            Py_RETURN_NONE;
        }
        if (written - q > self->o.slots) {
            uint64_t expected = q;
            if (__atomic_compare_exchange_n(queue, &expected, written - self->o.slots, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
                skipped += written - self->o.slots - q;
            continue;
        }
        /* Pin before claiming, so a blocked writer cannot reuse the slot in between. */
        __atomic_store_n(release, min_u64(pin, q), __ATOMIC_SEQ_CST);
        uint64_t expected = q;
        if (!__atomic_compare_exchange_n(queue, &expected, q + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        PyObject *result = NULL;
        int rc = read_slot(self, q, mode, into, &result);
        if (rc < 0)
            return NULL;
        if (rc == 0) {
            skipped += 1;
            continue;
        }
        if (is_frame(result))
            set_lost(result, skipped);
        record(self, index, q + 1, is_frame(result) && mode == MODE_VIEW ? min_u64(pin, q) : pin,
               is_frame(result), skipped);
        return result;
    }
}

/* read(index, cursor, mode, out|None, pin) -> None | skipped:int | str | tuple
 *
 * Broadcast read of the next frame at or after `cursor` (steps 1-6 of
 * "Read frame k"). A tuple is (seq, lost_before, timestamp_ns, monotonic_ns,
 * flags, typestr, shape, meta bytes|None, payload) where payload is a
 * bytearray (copy), None (copied into out) or the payload's offset (view).
 * An int: frames skipped as lost with nothing to read now. A str: the slot
 * is corrupt. `pin` is the oldest seq the caller's views still hold. */
static PyObject *
Core_read(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t index;
    int mode, has_into;
    uint64_t pin;
    Py_buffer into;
    if (parse_read_args(self, args, nargs, 5, &index, &mode, &into, &has_into, &pin) < 0)
        return NULL;
    PyObject *result = NULL;
    uint64_t k = PyLong_AsUnsignedLongLong(args[1]);
    if (!(k == (uint64_t)-1 && PyErr_Occurred()))
        result = read_next(self, index, k, mode, &into, pin);
    if (has_into)
        PyBuffer_Release(&into);
    return result;
}

/* read_queued(index, mode, out|None, pin) -> like read(); claims frames from the shared queue. */
static PyObject *
Core_read_queued(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t index;
    int mode, has_into;
    uint64_t pin;
    Py_buffer into;
    if (parse_read_args(self, args, nargs, 4, &index, &mode, &into, &has_into, &pin) < 0)
        return NULL;
    PyObject *result = read_claimed(self, index, mode, &into, pin);
    if (has_into)
        PyBuffer_Release(&into);
    return result;
}

/* set_release(index, release): publish a reader's release position; wake a writer waiting for room. */
static PyObject *
Core_set_release(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || require_open(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "set_release(index, release)");
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[0]);
    uint64_t release = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (index < 0 || index >= self->o.reader_count) {
        PyErr_SetString(PyExc_ValueError, "reader index out of range");
        return NULL;
    }
    __atomic_store_n(U64(self, entry_at(self, index) + self->o.r_release), release, __ATOMIC_SEQ_CST);
    wake_if_sleeping(self, self->o.space, self->o.space_waiters);
    Py_RETURN_NONE;
}

/* pin_floor(queue_state) -> the oldest frame a reader entry in use still needs (2^64-1 if none).
 *
 * The writer's room check ("Write frame", step 1) without its liveness part:
 * entries of dead readers count until the Python side reaps them. Unclaimed
 * queue frames (queue_seq) count while an entry has state `queue_state`. */
static PyObject *
Core_pin_floor(Core *self, PyObject *arg)
{
    if (require_open(self) < 0)
        return NULL;
    long queue_state = PyLong_AsLong(arg);
    if (queue_state == -1 && PyErr_Occurred())
        return NULL;
    uint64_t floor = NO_PIN;
    int queued = 0;
    for (Py_ssize_t i = 0; i < self->o.reader_count; i++) {
        Py_ssize_t e = entry_at(self, i);
        uint32_t state = __atomic_load_n(U32(self, e + self->o.r_state), __ATOMIC_SEQ_CST);
        if (!state)
            continue;
        floor = min_u64(floor, __atomic_load_n(U64(self, e + self->o.r_release), __ATOMIC_SEQ_CST));
        queued |= (long)state == queue_state;
    }
    if (queued)
        floor = min_u64(floor, __atomic_load_n(U64(self, self->o.queue_seq), __ATOMIC_SEQ_CST));
    return PyLong_FromUnsignedLongLong(floor);
}

/* still_committed(seq) -> bool: does frame seq's slot still hold it? */
static PyObject *
Core_still_committed(Core *self, PyObject *arg)
{
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq = PyLong_AsUnsignedLongLong(arg);
    if (seq == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    uint64_t mark = __atomic_load_n(U64(self, slot_at(self, seq) + self->o.s_seqlock), __ATOMIC_ACQUIRE);
    return PyBool_FromLong(mark == 2 * seq + 2);
}

/* spin(word_offset, beyond, seconds) -> bool: busy-wait (GIL released) until the
 * u64 at word_offset exceeds `beyond`, or seconds pass. */
static PyObject *
Core_spin(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || require_open(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "spin(word_offset, beyond, seconds)");
        return NULL;
    }
    Py_ssize_t off = PyLong_AsSsize_t(args[0]);
    uint64_t beyond = PyLong_AsUnsignedLongLong(args[1]);
    double seconds = PyFloat_AsDouble(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (off != self->o.write_seq && off != self->o.queue_seq) {
        PyErr_SetString(PyExc_ValueError, "spin() watches write_seq or queue_seq only");
        return NULL;
    }
    uint64_t *word = U64(self, off), until = now_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9);
    int seen = 0;
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    for (unsigned i = 0;; i++) {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) > beyond) {
            seen = 1;
            break;
        }
        if ((i & 63) == 0) {
            if (now_ns(CLOCK_MONOTONIC) >= until)
                break;
            /* Let a peer that shares this core run: spinning here would only
             * delay the very write we wait for. With a core of its own the
             * peer is unaffected, and the yield returns at once. */
            sched_yield();
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    Py_END_ALLOW_THREADS
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
    return PyBool_FromLong(seen);
}

static PyMethodDef Core_methods[] = {
    {"put", (PyCFunction)(void (*)(void))Core_put, METH_FASTCALL,
     "put(seq|None, data, typestr, shape, flags, meta|None) -> seq: write and publish one frame."},
    {"open_slot", (PyCFunction)(void (*)(void))Core_open_slot, METH_FASTCALL,
     "open_slot(seq|None, nbytes, typestr, shape, flags, meta|None) -> (seq, payload offset)."},
    {"commit", (PyCFunction)Core_commit, METH_O, "commit(seq): publish a frame opened with open_slot()."},
    {"set_meta", (PyCFunction)(void (*)(void))Core_set_meta, METH_FASTCALL,
     "set_meta(seq, meta|None): replace an open frame's metadata before commit()."},
    {"read", (PyCFunction)(void (*)(void))Core_read, METH_FASTCALL,
     "read(index, cursor, mode, out, pin): broadcast read of the next frame."},
    {"read_queued", (PyCFunction)(void (*)(void))Core_read_queued, METH_FASTCALL,
     "read_queued(index, mode, out, pin): claim and read the next queued frame."},
    {"set_release", (PyCFunction)(void (*)(void))Core_set_release, METH_FASTCALL,
     "set_release(index, release): publish a reader's release position, waking a blocked writer."},
    {"pin_floor", (PyCFunction)Core_pin_floor, METH_O,
     "pin_floor(queue_state) -> oldest frame still needed by a reader entry in use (2**64-1: none)."},
    {"still_committed", (PyCFunction)Core_still_committed, METH_O, "still_committed(seq) -> bool."},
    {"spin", (PyCFunction)(void (*)(void))Core_spin, METH_FASTCALL,
     "spin(word_offset, beyond, seconds) -> bool: busy-wait for the word to pass `beyond`."},
    {"release", (PyCFunction)Core_release, METH_NOARGS, "release(): let go of the mapping's buffer."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmring._core.Core",
    .tp_doc = "Core(buf, offsets): the per-frame protocol steps on one mapped ring.",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "shmring._core", "The per-frame fast path of the shmring ring protocol.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *mod = PyModule_Create(&core_module);
    if (!mod)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(mod, "Core", (PyObject *)&CoreType) < 0 ||
        PyModule_AddIntConstant(mod, "MODE_COPY", MODE_COPY) < 0 ||
        PyModule_AddIntConstant(mod, "MODE_VIEW", MODE_VIEW) < 0 ||
        PyModule_AddIntConstant(mod, "MODE_INTO", MODE_INTO) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
