/* shmring._core: writing a frame (steps 2-7 of "Write frame" in docs/format.md). */
#include "_core.h"

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
PyObject *
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
PyObject *
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

PyObject *
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
PyObject *
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

