/*
 * shmring._core — the per-frame fast path of the native ring protocol.
 *
 * docs/format.md describes the protocol once; _core_write.c performs its
 * write steps 2-7 and _core_read.c its read steps 1-6, one call each, so a put
 * or a get costs one trip from Python instead of a dozen. This file makes the
 * Core object and the smaller calls. Policy (waiting for room, dropping, pins
 * held by views, schema checks) stays in Python.
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
#include "_core.h"

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
