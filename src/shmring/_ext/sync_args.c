/* shmring._sync: the checks every call makes on its buffer, offset and integer arguments. */
#include "sync.h"

#include <limits.h>

/* ---------- buffer access ---------------------------------------------- */

/* obj as a Python int (anything with __index__, numpy scalars included), or a
 * TypeError naming the argument. New reference. */
PyObject *
index_of(PyObject *obj, const char *what)
{
    PyObject *index = PyNumber_Index(obj);
    if (!index && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %.100s", what, Py_TYPE(obj)->tp_name);
    }
    return index;
}

/* An integer argument (anything with __index__) in [lo, hi], named in errors:
 * a float is a TypeError, a value out of range (even beyond 64 bits) a ValueError. */
int
as_integer(PyObject *obj, const char *what, long long lo, long long hi, long long *out)
{
    PyObject *index = index_of(obj, what);
    if (!index)
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in %lld..%lld, got %R", what, lo, hi, obj);
        return -1;
    }
    *out = v;
    return 0;
}

/* Borrow obj's bytes. Every refusal of a read-only buffer is the same TypeError
 * (exporters disagree: mmap says BufferError, numpy ValueError); other
 * problems (a closed mmap, a strided array) keep the exporter's own error. */
int
get_buffer(PyObject *obj, Py_buffer *view, int writable)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) == 0)
        return 0;
    if (writable && !PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0) { /* readable: so it is read-only */
            PyBuffer_Release(view);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            PyErr_Format(PyExc_TypeError,
                         "buffer must be a writable contiguous buffer (mmap, bytearray, numpy array), "
                         "got a read-only %.100s", Py_TYPE(obj)->tp_name);
            return -1;
        }
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "buffer must be a %s contiguous buffer (mmap, bytearray, numpy array), got %.100s",
                     writable ? "writable" : "readable", Py_TYPE(obj)->tp_name);
    }
    return -1;
}

/* Get a pointer to the `width`-byte word at `offset` of `obj`.
 * On success the caller must PyBuffer_Release(view). */
void *
word_at(PyObject *obj, PyObject *offset_obj, Py_ssize_t width, int writable, Py_buffer *view)
{
    long long offset;
    if (as_integer(offset_obj, "offset", 0, PY_SSIZE_T_MAX, &offset) < 0)
        return NULL;
    if (get_buffer(obj, view, writable) < 0)
        return NULL;
    if (offset > view->len - width) {
        PyErr_Format(PyExc_ValueError, "offset %lld out of range for a %zd-byte word in a %zd-byte buffer",
                     offset, width, view->len);
        PyBuffer_Release(view);
        return NULL;
    }
    char *p = (char *)view->buf + offset;
    if (((uintptr_t)p) % (uintptr_t)width != 0) {
        PyErr_Format(PyExc_ValueError, "offset %lld is not %zd-byte aligned (address %p)", offset, width, (void *)p);
        PyBuffer_Release(view);
        return NULL;
    }
    return p;
}

int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi)
{
    if (nargs < lo || nargs > hi) {
        if (lo == hi)
            PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, lo, nargs);
        else
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, lo, hi, nargs);
        return -1;
    }
    return 0;
}

/* A value for a `bits`-wide unsigned word: 0 <= v < 2**bits. Accepts any
 * __index__ integer (numpy scalars included). */
int
as_word(PyObject *obj, int bits, const char *what, uint64_t *out)
{
    PyObject *index = index_of(obj, what);
    if (!index)
        return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if ((v == (unsigned long long)-1 && PyErr_Occurred()) || (bits == 32 && v > UINT32_MAX)) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be in 0..2**%d-1, got %R", what, bits, obj);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}
