/* shmring._core glue for reading: docs/format.md "Read frame k" and "Queue
 * readers" (c/src/protocol_read.c) with the copy step in Python objects, results as
 * FrameRead, problems as the errors shmring raises. */
#include "core.h"

static PyTypeObject *FrameReadType;  /* the struct sequence a frame read returns */
static PyObject *BrokenError;        /* shmring._errors.BrokenError */

static PyStructSequence_Field frame_read_fields[] = {
    {"seq", "the frame's sequence number"},
    {"lost", "frames this reader lost just before this one"},
    {"timestamp_ns", "CLOCK_REALTIME at commit (ns)"},
    {"monotonic_ns", "CLOCK_MONOTONIC at commit (ns)"},
    {"flags", "the writer's user flags (u32)"},
    {"typestr", "numpy typestr of the payload, bytes"},
    {"shape", "the payload's shape, a tuple"},
    {"meta", "the metadata bytes, or None when empty"},
    {"payload", "a bytearray (copy), None (copied into out) or the payload's offset (view)"},
    {NULL, NULL},
};

static PyStructSequence_Desc frame_read_desc = {
    "shmring._core.FrameRead", "One frame read from a ring by Core.read() or Core.read_queued().",
    frame_read_fields, 9,
};

int
core_read_init(PyObject *module)
{
    PyObject *errors = PyImport_ImportModule("shmring._errors");
    if (!errors)
        return -1;
    BrokenError = PyObject_GetAttrString(errors, "BrokenError");
    Py_DECREF(errors);
    if (!BrokenError)
        return -1;
    FrameReadType = PyStructSequence_NewType(&frame_read_desc);
    if (!FrameReadType)
        return -1;
    Py_INCREF(FrameReadType);
    return PyModule_AddObject(module, "FrameRead", (PyObject *)FrameReadType);
}

/* ---------- the copy step (read step 4) ------------------------------------ */

int
copy_frame(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload)
{
    CopyTarget *t = ctx;
    Py_CLEAR(t->meta); /* a copy of an earlier, lapped frame */
    Py_CLEAR(t->payload);
    if (t->mode == MODE_INTO && (uint64_t)t->into->len < h->nbytes)
        return 1; /* out too small: the frame stays unread */
    if (!payload)
        return 0; /* a queue reader's look before it claims the frame (ShmCopyStep) */
    t->meta = h->meta_len ? PyBytes_FromStringAndSize(meta, h->meta_len) : Py_NewRef(Py_None);
    if (t->mode == MODE_COPY) {
        t->payload = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)h->nbytes);
        if (t->payload)
            copy_maybe_nogil(t->core, COPY_OUT, PyByteArray_AS_STRING(t->payload), payload, h->nbytes);
    } else if (t->mode == MODE_INTO) {
        copy_maybe_nogil(t->core, COPY_OUT, t->into->buf, payload, h->nbytes);
        t->payload = Py_NewRef(Py_None);
    } else {
        t->payload = PyLong_FromSsize_t(payload - core_base(t->core));
    }
    return t->meta && t->payload ? 0 : -1;
}

/* ---------- results ----------------------------------------------------------- */

/* The typestr as bytes, the same object as last time when it is the same typestr. */
static PyObject *
typestr_object(Core *self, const char *typestr)
{
    if (!self->typestr || strcmp(self->typestr_chars, typestr) != 0) {
        PyObject *fresh = PyBytes_FromString(typestr);
        if (!fresh)
            return NULL;
        Py_XSETREF(self->typestr, fresh);
        strcpy(self->typestr_chars, typestr); /* both hold at most SHM_TYPESTR_BYTES + NUL */
    }
    return Py_NewRef(self->typestr);
}

PyObject *
frame_read(const ShmRead *r, CopyTarget *t)
{
    const ShmSlotHeader *h = &r->header;
    PyObject *shape = PyTuple_New(h->ndim), *fr = shape ? PyStructSequence_New(FrameReadType) : NULL;
    if (!fr) {
        Py_XDECREF(shape);
        return NULL;
    }
    for (uint32_t i = 0; i < h->ndim; i++)
        PyTuple_SET_ITEM(shape, i, PyLong_FromUnsignedLongLong(h->shape[i]));
    PyObject *items[] = {
        PyLong_FromUnsignedLongLong(r->seq), PyLong_FromUnsignedLongLong(r->lost),
        PyLong_FromUnsignedLongLong(h->timestamp), PyLong_FromUnsignedLongLong(h->monotonic),
        PyLong_FromUnsignedLong(h->flags), typestr_object(t->core, h->typestr), shape, t->meta, t->payload,
    };
    t->meta = t->payload = NULL; /* now the FrameRead's */
    for (Py_ssize_t i = 0; i < 9; i++)
        PyStructSequence_SET_ITEM(fr, i, items[i]);
    for (Py_ssize_t i = 0; i < 9; i++)
        if (!items[i]) {
            Py_DECREF(fr);
            return NULL;
        }
    return fr;
}

/* BrokenError(f"ring {name!r}: slot of frame {seq} is corrupt: {problem} (what its header reads)",
 * name=name): the header's dtype, dimensions and length, so the numbers that do not fit are named. */
PyObject *
corrupt_error(Core *self, const ShmRead *r)
{
    PyObject *dtype = PyBytes_FromString(r->header.typestr);
    PyObject *msg = dtype ? PyUnicode_FromFormat("ring %R: slot of frame %llu is corrupt: %s (dtype %R, ndim %u, "
                                                 "%llu payload bytes)", self->name, (unsigned long long)r->seq,
                                                 r->problem, dtype, (unsigned)r->header.ndim,
                                                 (unsigned long long)r->header.nbytes)
                          : NULL;
    Py_XDECREF(dtype);
    PyObject *args = msg ? PyTuple_Pack(1, msg) : NULL;
    PyObject *kwargs = args ? Py_BuildValue("{sO}", "name", self->name) : NULL;
    PyObject *err = kwargs ? PyObject_Call(BrokenError, args, kwargs) : NULL;
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(msg);
    return err;
}

static void
raise_corrupt(Core *self, const ShmRead *r)
{
    PyObject *err = corrupt_error(self, r);
    if (err)
        PyErr_SetObject(BrokenError, err);
    Py_XDECREF(err);
}

/* ValueError(f"out holds {len:,} bytes, the frame needs {needed:,}; the frame stays unread"). */
static void
raise_too_small(Py_buffer *into, uint64_t needed)
{
    PyObject *have = PyLong_FromSsize_t(into->len), *need = PyLong_FromUnsignedLongLong(needed);
    PyObject *spec = PyUnicode_FromString(",");
    PyObject *a = have && spec ? PyObject_Format(have, spec) : NULL;
    PyObject *b = need && spec ? PyObject_Format(need, spec) : NULL;
    if (a && b)
        PyErr_Format(PyExc_ValueError, "out holds %U bytes, the frame needs %U; the frame stays unread", a, b);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(spec);
    Py_XDECREF(have);
    Py_XDECREF(need);
}

/* FrameRead, None (nothing new), an int (frames skipped as lost, nothing to read now), or an error. */
PyObject *
result_of(Core *self, ShmStatus status, const ShmRead *r, CopyTarget *t)
{
    PyObject *result = NULL;
    switch (status) {
    case SHM_FRAME:
        result = frame_read(r, t); /* takes meta and payload, unless it failed */
        break;
    case SHM_NOTHING:
        result = Py_NewRef(Py_None);
        break;
    case SHM_SKIPPED:
        result = PyLong_FromUnsignedLongLong(r->lost);
        break;
    case SHM_CORRUPT:
        raise_corrupt(self, r);
        break;
    case SHM_REFUSED:
        raise_too_small(t->into, r->header.nbytes);
        break;
    case SHM_FAILED:
        break;
    }
    Py_CLEAR(t->meta);
    Py_CLEAR(t->payload);
    return result;
}

/* ---------- read() and read_queued() --------------------------------------------- */

static int
parse_read_args(Core *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, uint64_t *index,
                int *mode, Py_buffer *into, int *has_into, uint64_t *pin)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "expected %zd arguments", want);
        return -1;
    }
    if (require_open(self) < 0)
        return -1;
    Py_ssize_t i = PyLong_AsSsize_t(args[0]);
    *mode = (int)PyLong_AsLong(args[want - 3]);
    *pin = PyLong_AsUnsignedLongLong(args[want - 1]);
    if (PyErr_Occurred())
        return -1;
    if (i < 0 || (uint64_t)i >= self->layout.reader_count || *mode < MODE_COPY || *mode > MODE_INTO) {
        PyErr_SetString(PyExc_ValueError, "reader index or mode out of range");
        return -1;
    }
    *index = (uint64_t)i;
    *has_into = 0;
    if (*mode == MODE_INTO) {
        if (PyObject_GetBuffer(args[want - 2], into, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        *has_into = 1;
    }
    return 0;
}

/* read(index, cursor, mode, out|None, pin) -> FrameRead | None | skipped:int
 *
 * Broadcast read of the next frame at or after `cursor` (read steps 1-6).
 * An int: frames skipped as lost with nothing to read now. A corrupt slot
 * raises BrokenError; an `out` too small for the frame, ValueError. `pin` is
 * the oldest seq the caller's views still hold. */
PyObject *
Core_read(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t index, pin;
    int mode, has_into;
    Py_buffer into;
    if (parse_read_args(self, args, nargs, 5, &index, &mode, &into, &has_into, &pin) < 0)
        return NULL;
    PyObject *result = NULL;
    uint64_t k = PyLong_AsUnsignedLongLong(args[1]);
    if (!(k == (uint64_t)-1 && PyErr_Occurred())) {
        CopyTarget t = {self, mode, &into, NULL, NULL};
        ShmRead r = {0}; /* no dtype known yet (ShmRead.known_typestr) */
        ShmStatus status = shm_read_broadcast(core_base(self), &self->layout, index, k,
                                              mode == MODE_VIEW ? SHM_HOLD_VIEW : SHM_RELEASE_AFTER, pin,
                                              copy_frame, &t, &r);
        result = result_of(self, status, &r, &t);
    }
    if (has_into)
        PyBuffer_Release(&into);
    return result;
}

/* read_queued(index, mode, out|None, pin) -> like read(); claims frames from the shared queue. */
PyObject *
Core_read_queued(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t index, pin;
    int mode, has_into;
    Py_buffer into;
    if (parse_read_args(self, args, nargs, 4, &index, &mode, &into, &has_into, &pin) < 0)
        return NULL;
    CopyTarget t = {self, mode, &into, NULL, NULL};
    ShmRead r = {0}; /* no dtype known yet (ShmRead.known_typestr) */
    ShmStatus status = shm_read_queued(core_base(self), &self->layout, index,
                                       mode == MODE_VIEW ? SHM_HOLD_VIEW : SHM_RELEASE_AFTER, pin, copy_frame, &t,
                                       &r);
    PyObject *result = result_of(self, status, &r, &t);
    if (has_into)
        PyBuffer_Release(&into);
    return result;
}
