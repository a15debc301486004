/*
 * shmring._core — the per-frame fast path of the native ring protocol.
 *
 * docs/format.md describes the protocol once; c/src/protocol_write.c performs its
 * write steps 2-7 and c/src/protocol_read.c its read steps 1-6 in plain C (the
 * one implementation, which libshmring compiles too), and the
 * glue here (core_*.c) makes each a single call from Python, so a put or a
 * get costs one trip instead of a dozen. This file makes the Core object and
 * the smaller calls. Policy (waiting for room, dropping, pins held by views,
 * schema checks) stays in Python.
 *
 * Core(buf, layout, name) takes everything it knows about the layout (offsets,
 * seqlock encoding, dtype rules) from the dict shmring._format.core_layout()
 * makes, so _format remains the single definition.
 */
#include "core.h"
#include "core_channel.h"

#include <sched.h>

/* ---------- construction: the layout from shmring._format -------------------- */

static int
get_int(PyObject *dict, const char *key, Py_ssize_t *out)
{
    PyObject *v = PyDict_GetItemString(dict, key);
    if (!v) {
        PyErr_Format(PyExc_KeyError, "Core layout lacks %s", key);
        return -1;
    }
    *out = PyLong_AsSsize_t(v);
    if (*out == -1 && PyErr_Occurred())
        return -1;
    if (*out < 0) {
        PyErr_Format(PyExc_ValueError, "Core layout: %s must be >= 0, got %zd", key, *out);
        return -1;
    }
    return 0;
}

static int
get_chars(PyObject *dict, const char *key, char *out)
{
    PyObject *v = PyDict_GetItemString(dict, key);
    const char *s = v ? PyUnicode_AsUTF8(v) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_KeyError, "Core layout lacks %s", key);
        return -1;
    }
    if (strlen(s) >= SHM_RULE_CHARS || !*s) {
        PyErr_Format(PyExc_ValueError, "Core layout: %s must have 1..%d characters, got %R", key,
                     SHM_RULE_CHARS - 1, v);
        return -1;
    }
    strcpy(out, s);
    return 0;
}

#define SIZE_FIELD(name) {#name, &o->name, NULL}
#define U64_FIELD(name) {#name, NULL, &o->name}

/* "typestr_size_masks": one int per kind character, in order. */
static int
get_size_masks(PyObject *dict, ShmLayout *o)
{
    PyObject *v = PyDict_GetItemString(dict, "typestr_size_masks"); /* borrowed */
    PyObject *seq = v ? PySequence_Fast(v, "Core layout: typestr_size_masks must be a sequence") : NULL;
    if (!seq) {
        if (!v)
            PyErr_SetString(PyExc_KeyError, "Core layout: typestr_size_masks missing");
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != (Py_ssize_t)strlen(o->typestr_kinds)) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "Core layout: typestr_size_masks needs one mask per kind");
        return -1;
    }
    memset(o->typestr_size_masks, 0, sizeof(o->typestr_size_masks));
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long mask = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (mask == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        o->typestr_size_masks[i] = (uint64_t)mask;
    }
    Py_DECREF(seq);
    return 0;
}

static int
load_layout(PyObject *dict, ShmLayout *o)
{
    struct { const char *key; size_t *size; uint64_t *u64; } fields[] = {
        SIZE_FIELD(write_seq), SIZE_FIELD(notify), SIZE_FIELD(notify_waiters), SIZE_FIELD(queue_seq),
        SIZE_FIELD(space), SIZE_FIELD(space_waiters), SIZE_FIELD(header_bytes), SIZE_FIELD(slot_stride),
        SIZE_FIELD(payload_offset), U64_FIELD(slots), U64_FIELD(slot_bytes), U64_FIELD(meta_bytes),
        SIZE_FIELD(s_seqlock), SIZE_FIELD(s_seq), SIZE_FIELD(s_payload_bytes), SIZE_FIELD(s_timestamp),
        SIZE_FIELD(s_monotonic), SIZE_FIELD(s_flags), SIZE_FIELD(s_meta_len), SIZE_FIELD(s_dtype),
        SIZE_FIELD(s_ndim), SIZE_FIELD(s_shape), SIZE_FIELD(s_meta), SIZE_FIELD(readers),
        SIZE_FIELD(reader_entry), SIZE_FIELD(r_cursor), SIZE_FIELD(r_release), SIZE_FIELD(r_active),
        SIZE_FIELD(r_lost), SIZE_FIELD(r_received), SIZE_FIELD(r_state), U64_FIELD(reader_count),
        U64_FIELD(state_queue),
        U64_FIELD(seqlock_stride), U64_FIELD(seqlock_writing), U64_FIELD(seqlock_committed),
        U64_FIELD(typestr_max_itemsize),
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        Py_ssize_t v;
        if (get_int(dict, fields[i].key, &v) < 0)
            return -1;
        if (fields[i].size)
            *fields[i].size = (size_t)v;
        else
            *fields[i].u64 = (uint64_t)v;
    }
    if (get_chars(dict, "typestr_byteorders", o->typestr_byteorders) < 0 ||
        get_chars(dict, "typestr_kinds", o->typestr_kinds) < 0 || get_size_masks(dict, o) < 0)
        return -1;
    if (o->slots < 1 || o->seqlock_stride < 2 || o->seqlock_writing == o->seqlock_committed) {
        PyErr_SetString(PyExc_ValueError, "Core layout: slots must be >= 1, the seqlock stride >= 2 and the "
                                          "writing and committed marks distinct");
        return -1;
    }
    return 0;
}

static int
Core_init(Core *self, PyObject *args, PyObject *kwds)
{
    PyObject *buf, *layout, *name;
    static char *kwlist[] = {"buf", "layout", "name", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!U", kwlist, &buf, &PyDict_Type, &layout, &name))
        return -1;
    if (load_layout(layout, &self->layout) < 0)
        return -1;
    self->room_until = 0;
    Py_INCREF(name);
    Py_XSETREF(self->name, name);
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    if (PyObject_GetBuffer(buf, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->has_view = 1;
    size_t end = self->layout.header_bytes + (size_t)self->layout.slots * self->layout.slot_stride;
    if ((size_t)self->view.len < end || ((uintptr_t)self->view.buf % 64) != 0) {
        PyErr_Format(PyExc_ValueError, "Core: buffer of %zd bytes cannot hold the %zu-byte ring (or is misaligned)",
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
    Py_XDECREF(self->name);
    Py_XDECREF(self->typestr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---------- the smaller calls -------------------------------------------------- */

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
    if (index < 0 || (uint64_t)index >= self->layout.reader_count) {
        PyErr_SetString(PyExc_ValueError, "reader index out of range");
        return NULL;
    }
    shm_set_release(core_base(self), &self->layout, (uint64_t)index, release);
    Py_RETURN_NONE;
}

/* The probe descriptor and reap flag of pin_floor() and room_until(), from args[first:first + 2]. */
static int
parse_probe(Core *self, PyObject *const *args, Py_ssize_t first, int *probe_fd, int *reap)
{
    if (require_open(self) < 0)
        return -1;
    long fd = PyLong_AsLong(args[first]);
    if (fd == -1 && PyErr_Occurred())
        return -1;
    if (fd < -1 || fd > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "probe_fd must be a file descriptor or -1, got %ld", fd);
        return -1;
    }
    *probe_fd = (int)fd;
    *reap = PyObject_IsTrue(args[first + 1]);
    return *reap < 0 ? -1 : 0;
}

/* pin_floor(probe_fd, reap) -> the oldest frame a reader still needs (2^64-1 if none);
 * with reap, entries of dead readers are freed. docs/format.md, write step 1. */
static PyObject *
Core_pin_floor(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    int probe_fd, reap;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pin_floor(probe_fd, reap)");
        return NULL;
    }
    if (parse_probe(self, args, 0, &probe_fd, &reap) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(shm_pin_floor(core_base(self), &self->layout, probe_fd, reap));
}

/* room_until(seq, probe_fd, reap) -> the first seq without room (write step 1); frame seq has room if below. */
static PyObject *
Core_room_until(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    int probe_fd, reap;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "room_until(seq, probe_fd, reap)");
        return NULL;
    }
    uint64_t seq = PyLong_AsUnsignedLongLong(args[0]);
    if ((seq == (uint64_t)-1 && PyErr_Occurred()) || parse_probe(self, args, 1, &probe_fd, &reap) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(shm_room_until(core_base(self), &self->layout, seq, probe_fd, reap));
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
    return PyBool_FromLong(shm_still_committed(core_base(self), &self->layout, seq));
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
    if (off < 0 || ((size_t)off != self->layout.write_seq && (size_t)off != self->layout.queue_seq)) {
        PyErr_SetString(PyExc_ValueError, "spin() watches write_seq or queue_seq only");
        return NULL;
    }
    int seen, shared = 0;
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    seen = shm_spin(core_base(self), (size_t)off, beyond, seconds, &shared);
    Py_END_ALLOW_THREADS
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
    return PyLong_FromLong(seen | (shared ? SPIN_SHARED : 0));
}

/* ---------- type and module ------------------------------------------------------ */

static PyMethodDef Core_methods[] = {
    {"put_if_room", (PyCFunction)(void (*)(void))Core_put_if_room, METH_FASTCALL,
     "put_if_room(data, typestr, shape, flags, meta) -> seq | None: a sole writer's put when there is room now."},
    {"open_slot_if_room", (PyCFunction)(void (*)(void))Core_open_slot_if_room, METH_FASTCALL,
     "open_slot_if_room(nbytes, typestr, shape, flags, meta) -> (seq, offset) | None: open_slot() with room now."},
    {"forget_room", (PyCFunction)Core_forget_room, METH_NOARGS,
     "forget_room(): drop the room put_if_room() knows of (the sequence jumped, or a new writer starts)."},
    {"put", (PyCFunction)(void (*)(void))Core_put, METH_FASTCALL,
     "put(seq|None, data, typestr, shape, flags, meta|None) -> seq: write and publish one frame."},
    {"open_slot", (PyCFunction)(void (*)(void))Core_open_slot, METH_FASTCALL,
     "open_slot(seq|None, nbytes, typestr, shape, flags, meta|None) -> (seq, payload offset)."},
    {"commit", (PyCFunction)Core_commit, METH_O, "commit(seq): publish a frame opened with open_slot()."},
    {"set_meta", (PyCFunction)(void (*)(void))Core_set_meta, METH_FASTCALL,
     "set_meta(seq, meta|None): replace an open frame's metadata before commit()."},
    {"read", (PyCFunction)(void (*)(void))Core_read, METH_FASTCALL,
     "read(index, cursor, mode, out, pin) -> FrameRead | None | skipped: broadcast read of the next frame."},
    {"read_queued", (PyCFunction)(void (*)(void))Core_read_queued, METH_FASTCALL,
     "read_queued(index, mode, out, pin) -> FrameRead | None | skipped: claim and read the next queued frame."},
    {"read_many", (PyCFunction)(void (*)(void))Core_read_many, METH_FASTCALL,
     "read_many(index, cursor|None, max_n, pin, payloads_only) -> (frames, lost_after, error|None)."},
    {"read_bytes", (PyCFunction)(void (*)(void))Core_read_bytes, METH_FASTCALL,
     "read_bytes(index, cursor|None, pin) -> bytes (frame cursor, none lost) | (seq, lost, bytes) | None | "
     "skipped: the payload only."},
    {"put_many", (PyCFunction)(void (*)(void))Core_put_many, METH_FASTCALL,
     "put_many(seq|None, items, start, count, typestr, shape, flags, metas) -> seq of the last: one wake."},
    {"set_release", (PyCFunction)(void (*)(void))Core_set_release, METH_FASTCALL,
     "set_release(index, release): publish a reader's release position, waking a blocked writer."},
    {"pin_floor", (PyCFunction)(void (*)(void))Core_pin_floor, METH_FASTCALL,
     "pin_floor(probe_fd, reap) -> oldest frame a reader still needs (2**64-1: none); reap frees dead readers."},
    {"room_until", (PyCFunction)(void (*)(void))Core_room_until, METH_FASTCALL,
     "room_until(seq, probe_fd, reap) -> the first seq the writer may not write now (write step 1)."},
    {"still_committed", (PyCFunction)Core_still_committed, METH_O, "still_committed(seq) -> bool."},
    {"spin", (PyCFunction)(void (*)(void))Core_spin, METH_FASTCALL,
     "spin(word_offset, beyond, seconds) -> int: busy-wait for the word to pass `beyond`; bit 0: it did, "
     "bit 1 (SPIN_SHARED): a yield ran another thread on this core."},
    {"spin_room", (PyCFunction)(void (*)(void))Core_spin_room, METH_FASTCALL,
     "spin_room(seq, seconds) -> bool: busy-wait until frame seq has room."},
    {"release", (PyCFunction)Core_release, METH_NOARGS, "release(): let go of the mapping's buffer."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmring._core.Core",
    .tp_doc = "Core(buf, layout, name): the per-frame protocol steps on one mapped ring.",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

#define CH_METHOD(NAME, DOC) {#NAME, (PyCFunction)(void (*)(void))NAME, METH_FASTCALL, DOC}
/* A channel exchange's steps (core_channel*.c): functions on the mapping, not Core methods. */
static PyMethodDef module_functions[] = {
    CH_METHOD(channel_claim, "channel_claim(buf, slot_off) -> claimed state | None: claim a leased slot (step 1)."),
    CH_METHOD(channel_post, "channel_post(buf, slot_off, payload_off, slot_bytes, claimed, id, kind, typestr, "
                            "shape, pid, meta, payload) -> posted state: fill, post and wake (step 2)."),
    CH_METHOD(channel_reply, "channel_reply(buf, slot_off, payload_off, slot_bytes, serving, id, kind, typestr, "
                             "shape, pid, meta, payload) -> bool: fill, reply and wake (step 4)."),
    CH_METHOD(channel_take, "channel_take(buf, slots, stride) -> (index, serving) | None: the oldest request."),
    CH_METHOD(channel_read_bytes, "channel_read_bytes(buf, slot_off, payload_off, slot_bytes, state, finish) -> "
                                  "(id, bytes) | None: a plain-bytes message without metadata."),
    CH_METHOD(channel_next, "channel_next(buf, slots, stride, seen, spin_s, sleep_s) -> ((index, serving) | None, "
                            "spun_s, caught): a server's wait for the next request."),
    CH_METHOD(channel_wait, "channel_wait(buf, slot_off, posted, spin_s, sleep_s) -> (state, spun_s, timed_out)."),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "shmring._core", "The per-frame fast path of the shmring ring protocol.", -1,
    module_functions, NULL, NULL, NULL, NULL,
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
        PyModule_AddIntConstant(mod, "MODE_INTO", MODE_INTO) < 0 || core_read_init(mod) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
