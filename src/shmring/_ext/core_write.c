/* shmring._core glue for writing: arguments in, docs/format.md "Write frame" steps 2-7 (c/src/protocol_write.c). */
#include "core.h"

/* Convert open_slot()/put() arguments; `dims` receives the shape. A shape of
 * None is 1-D of nbytes items (bytes sent as uint8: no tuple made per frame). */
static int
frame_head(Core *self, uint64_t nbytes, PyObject *typestr, PyObject *shape, unsigned long flags, PyObject *meta,
           uint64_t *dims, ShmFrameHead *f)
{
    char *t, *m = NULL;
    Py_ssize_t tlen, mlen = 0;
    if (PyBytes_AsStringAndSize(typestr, &t, &tlen) < 0)
        return -1;
    if (meta != Py_None && PyBytes_AsStringAndSize(meta, &m, &mlen) < 0)
        return -1;
    Py_ssize_t ndim = shape == Py_None ? 1 : PyTuple_Check(shape) ? PyTuple_GET_SIZE(shape) : -1;
    if (ndim < 0 || flags > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "frame does not fit the ring (checked by the writer first): "
                                          "shape must be a tuple and flags a u32");
        return -1;
    }
    *f = (ShmFrameHead){nbytes, t, (size_t)tlen, dims, (uint32_t)ndim, (uint32_t)flags, m, (size_t)mlen};
    if (ndim > SHM_MAX_DIMS)
        f->ndim = SHM_MAX_DIMS + 1; /* refused below, shape not read */
    const char *problem = shm_frame_problem(&self->layout, f);
    if (problem) {
        PyErr_Format(PyExc_ValueError, "frame does not fit the ring (checked by the writer first): %s", problem);
        return -1;
    }
    if (shape == Py_None) {
        dims[0] = nbytes;
        return 0;
    }
    for (Py_ssize_t i = 0; i < ndim; i++) {
        dims[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(shape, i));
        if (dims[i] == (uint64_t)-1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static int
parse_seq(Core *self, PyObject *obj, uint64_t *seq)
{
    if (obj == Py_None) {
        *seq = shm_next_seq(core_base(self), &self->layout);
        return 0;
    }
    *seq = PyLong_AsUnsignedLongLong(obj);
    return (*seq == (uint64_t)-1 && PyErr_Occurred()) ? -1 : 0;
}

/* Write step 1 for a sole writer under block or drop, without waiting: whether
 * frame seq has room now. The answer is cached in room_until, so most frames
 * read no reader entry. No liveness probe: a dead reader that fills the ring is
 * reaped by the caller's waiting path, which looks again with the probe. */
static int
has_room_now(Core *self, uint64_t seq)
{
    if (seq < self->room_until)
        return 1;
    self->room_until = shm_room_until(core_base(self), &self->layout, seq, -1, 0);
    return seq < self->room_until;
}

/* The argument check and write step 1 of put_if_room() and open_slot_if_room():
 * 1 with *seq the next frame when it has room now, 0 when it has not, -1 on error. */
static int
next_seq_with_room(Core *self, Py_ssize_t nargs, const char *usage, uint64_t *seq)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (require_open(self) < 0)
        return -1;
    *seq = shm_next_seq(core_base(self), &self->layout);
    return has_room_now(self, *seq);
}

/* Write steps 2-7 of frame seq from args (data, typestr, shape, flags, meta) -> seq. */
static PyObject *
put_frame(Core *self, uint64_t seq, PyObject *const *args)
{
    uint64_t dims[SHM_MAX_DIMS];
    unsigned long flags = PyLong_AsUnsignedLong(args[3]);
    if (flags == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    ShmFrameHead f;
    if (frame_head(self, (uint64_t)data.len, args[1], args[2], flags, args[4], dims, &f) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    size_t slot = shm_open_slot(core_base(self), &self->layout, seq, &f);
    /* docs/format.md, write step 4: the payload. */
    copy_maybe_nogil(self, COPY_INTO_SLOT, core_base(self) + slot + self->layout.payload_offset, data.buf,
                     (size_t)data.len);
    PyBuffer_Release(&data);
    shm_commit_slot(core_base(self), &self->layout, seq);
    return PyLong_FromUnsignedLongLong(seq);
}

/* put(seq|None, data, typestr, shape|None, flags, meta|None) -> seq */
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
    return put_frame(self, seq, args + 1);
}

/* put_if_room(data, typestr, shape|None, flags, meta|None) -> seq | None: put() for
 * a sole writer under block or drop when the next frame has room now; None, with
 * nothing written, when it has not (the caller then waits, or drops, as its policy says). */
PyObject *
Core_put_if_room(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t seq;
    int room = next_seq_with_room(self, nargs, "put_if_room(data, typestr, shape, flags, meta)", &seq);
    if (room < 0)
        return NULL;
    return room ? put_frame(self, seq, args) : Py_NewRef(Py_None);
}

/* forget_room(): the sequence jumped (a skip) or a new writer starts: look at the readers again. */
PyObject *
Core_forget_room(Core *self, PyObject *unused)
{
    (void)unused;
    self->room_until = 0;
    Py_RETURN_NONE;
}

/* Write steps 2-3 of frame seq from args (nbytes, typestr, shape, flags, meta) -> (seq, payload offset). */
static PyObject *
open_frame(Core *self, uint64_t seq, PyObject *const *args)
{
    uint64_t dims[SHM_MAX_DIMS], nbytes = PyLong_AsUnsignedLongLong(args[0]);
    unsigned long flags = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
    ShmFrameHead f;
    if (frame_head(self, nbytes, args[1], args[2], flags, args[4], dims, &f) < 0)
        return NULL;
    size_t slot = shm_open_slot(core_base(self), &self->layout, seq, &f);
    return Py_BuildValue("Kn", (unsigned long long)seq, (Py_ssize_t)(slot + self->layout.payload_offset));
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
    uint64_t seq;
    if (parse_seq(self, args[0], &seq) < 0)
        return NULL;
    return open_frame(self, seq, args + 1);
}

/* open_slot_if_room(nbytes, typestr, shape, flags, meta|None) -> (seq, payload offset) | None:
 * open_slot() for a sole writer under block or drop when the next frame has room
 * now; None, with nothing written, when it has not. */
PyObject *
Core_open_slot_if_room(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t seq;
    int room = next_seq_with_room(self, nargs, "open_slot_if_room(nbytes, typestr, shape, flags, meta)", &seq);
    if (room < 0)
        return NULL;
    return room ? open_frame(self, seq, args) : Py_NewRef(Py_None);
}

/* commit(seq): publish a frame opened with open_slot() (write steps 5-7). */
PyObject *
Core_commit(Core *self, PyObject *arg)
{
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq = PyLong_AsUnsignedLongLong(arg);
    if (seq == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    shm_commit_slot(core_base(self), &self->layout, seq);
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
    if (shm_set_meta(core_base(self), &self->layout, seq, m, (size_t)mlen) < 0) {
        PyErr_SetString(PyExc_ValueError, "set_meta: metadata too large, or the frame is not open");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------- put_many(): a batch, one wake-up ---------------------------------------- */

/* Item i of a batch: a list/tuple element, or row i of one buffer. */
typedef struct {
    PyObject *items; /* a list or tuple, or NULL for rows */
    Py_buffer rows;
    Py_ssize_t row_bytes;
} Batch;

/* The payload of item i, its buffer held in *held (released by the caller) unless it is bytes. */
static int
batch_item(Batch *b, Py_ssize_t i, Py_buffer *held, int *holding, const char **data, Py_ssize_t *len)
{
    *holding = 0;
    if (!b->items) {
        *data = (const char *)b->rows.buf + i * b->row_bytes;
        *len = b->row_bytes;
        return 0;
    }
    PyObject *item = PySequence_Fast_GET_ITEM(b->items, i);
    if (PyBytes_CheckExact(item)) { /* the common case for messages: no buffer protocol round trip */
        *data = PyBytes_AS_STRING(item);
        *len = PyBytes_GET_SIZE(item);
        return 0;
    }
    if (PyObject_GetBuffer(item, held, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    *holding = 1;
    *data = held->buf;
    *len = held->len;
    return 0;
}

static PyObject *
per_item(PyObject *obj, Py_ssize_t i)
{
    return PyList_Check(obj) ? PyList_GET_ITEM(obj, i) : obj;
}

/* Write (not publish) item i as frame seq; shape None means 1-D of the item's length in bytes. */
static int
write_item(Core *self, Batch *b, Py_ssize_t i, uint64_t seq, PyObject *typestr, PyObject *shape,
           unsigned long flags, PyObject *metas)
{
    Py_buffer held;
    int holding;
    const char *data;
    Py_ssize_t len;
    if (batch_item(b, i, &held, &holding, &data, &len) < 0)
        return -1;
    uint64_t dims[SHM_MAX_DIMS];
    ShmFrameHead f;
    int failed = frame_head(self, (uint64_t)len, per_item(typestr, i), per_item(shape, i), flags,
                            metas == Py_None ? Py_None : PyList_GET_ITEM(metas, i), dims, &f) < 0;
    if (!failed) {
        size_t slot = shm_open_slot(core_base(self), &self->layout, seq, &f);
        copy_maybe_nogil(self, COPY_INTO_SLOT, core_base(self) + slot + self->layout.payload_offset, data,
                         (size_t)len);
        shm_publish_slot(core_base(self), &self->layout, seq); /* write steps 5-6; step 7 once per batch */
    }
    if (holding)
        PyBuffer_Release(&held);
    return failed ? -1 : 0;
}

static int
check_batch_args(Batch *b, Py_ssize_t start, Py_ssize_t count, PyObject *typestr, PyObject *shape, PyObject *metas)
{
    Py_ssize_t rows = b->items ? PySequence_Fast_GET_SIZE(b->items) : b->rows.ndim >= 1 ? b->rows.shape[0] : 0;
    int bad = start < 0 || count < 0 || start + count > rows;
    bad |= PyList_Check(typestr) && PyList_GET_SIZE(typestr) != rows;
    bad |= PyList_Check(shape) && PyList_GET_SIZE(shape) != rows;
    bad |= metas != Py_None && (!PyList_Check(metas) || PyList_GET_SIZE(metas) != rows);
    bad |= !b->items && (!PyTuple_Check(shape) || PyList_Check(typestr));
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "put_many: start/count out of range, or per-item lists of another length "
                                          "(checked by the writer first)");
        return -1;
    }
    b->row_bytes = rows ? b->rows.len / rows : 0;
    return 0;
}

/* put_many(seq|None, items, start, count, typestr, shape, flags, metas|None) -> seq of the last frame
 *
 * Writes items[start:start+count] as frames seq, seq+1, ... (write steps 2-6
 * each) and wakes sleeping readers once at the end (step 7). `items` is a list
 * or tuple of bytes-like objects, or one C-contiguous buffer of rows (then
 * `shape` is a row's shape). `typestr` and `shape` are one for all items or a
 * list with one per item; a shape of None is an item's length in bytes. `metas`
 * is None or a list of bytes|None per item. Room is the caller's (write step 1). */
PyObject *
Core_put_many(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "put_many(seq, items, start, count, typestr, shape, flags, metas)");
        return NULL;
    }
    if (require_open(self) < 0)
        return NULL;
    uint64_t seq;
    Py_ssize_t start = PyLong_AsSsize_t(args[2]), count = PyLong_AsSsize_t(args[3]);
    unsigned long flags = PyLong_AsUnsignedLong(args[6]);
    if (PyErr_Occurred() || parse_seq(self, args[0], &seq) < 0)
        return NULL;
    Batch b = {PyList_Check(args[1]) || PyTuple_Check(args[1]) ? args[1] : NULL, {0}, 0};
    if (!b.items && PyObject_GetBuffer(args[1], &b.rows, PyBUF_C_CONTIGUOUS | PyBUF_ND) < 0)
        return NULL;
    if (check_batch_args(&b, start, count, args[4], args[5], args[7]) < 0) {
        if (!b.items)
            PyBuffer_Release(&b.rows);
        return NULL;
    }
    Py_ssize_t done = 0;
    for (; done < count; done++)
        if (write_item(self, &b, start + done, seq + (uint64_t)done, args[4], args[5], flags, args[7]) < 0)
            break;
    if (done)
        shm_wake_readers(core_base(self), &self->layout); /* write step 7, once for the batch */
    if (!b.items)
        PyBuffer_Release(&b.rows);
    if (done < count)
        return NULL; /* frames before the bad one are published; the writer checks first, so this is misuse */
    return PyLong_FromUnsignedLongLong(seq + (uint64_t)count - 1);
}
