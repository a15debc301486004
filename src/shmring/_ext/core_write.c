/* shmring._core glue for writing: arguments in, docs/format.md "Write frame" steps 2-7 (protocol_write.c). */
#include "core.h"

/* Convert open_slot()/put() arguments; `dims` receives the shape. */
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
    Py_ssize_t ndim = PyTuple_Check(shape) ? PyTuple_GET_SIZE(shape) : -1;
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
    uint64_t seq, dims[SHM_MAX_DIMS];
    if (parse_seq(self, args[0], &seq) < 0)
        return NULL;
    unsigned long flags = PyLong_AsUnsignedLong(args[4]);
    if (flags == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    ShmFrameHead f;
    if (frame_head(self, (uint64_t)data.len, args[2], args[3], flags, args[5], dims, &f) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    size_t slot = shm_open_slot(core_base(self), &self->layout, seq, &f);
    /* docs/format.md, write step 4: the payload. */
    copy_maybe_nogil(self, core_base(self) + slot + self->layout.payload_offset, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    shm_commit_slot(core_base(self), &self->layout, seq);
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
    uint64_t seq, dims[SHM_MAX_DIMS], nbytes = PyLong_AsUnsignedLongLong(args[1]);
    unsigned long flags = PyLong_AsUnsignedLong(args[4]);
    if (PyErr_Occurred() || parse_seq(self, args[0], &seq) < 0)
        return NULL;
    ShmFrameHead f;
    if (frame_head(self, nbytes, args[2], args[3], flags, args[5], dims, &f) < 0)
        return NULL;
    size_t slot = shm_open_slot(core_base(self), &self->layout, seq, &f);
    return Py_BuildValue("Kn", (unsigned long long)seq, (Py_ssize_t)(slot + self->layout.payload_offset));
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
