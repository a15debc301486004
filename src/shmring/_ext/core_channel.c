/*
 * shmring._core: a channel exchange's steps, one call each (docs/format.md,
 * "Channel protocol"): fill a slot and post it (client, step 2), take the
 * oldest posted request (server, step 3), fill a slot and reply (server,
 * step 4); core_channel_slot.c claims and reads a slot. Policy --
 * leases, timeouts, liveness, the learned spin, metadata and arrays -- stays
 * in Python (_channel_client.py, _channel_server.py); these only move bytes
 * and state words, as _channel_slots.SlotTable does, byte for byte.
 */
#include "core_channel.h"

/* ---------- arguments ------------------------------------------------------------ */

int
ch_size_arg(PyObject *obj, const char *fn, const char *what, size_t *out)
{
    Py_ssize_t v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: %s must be an int, got %.100s", fn, what, Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (v < 0) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be >= 0, got %zd", fn, what, v);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int
ch_u32_arg(PyObject *obj, const char *fn, const char *what, uint32_t *out)
{
    size_t v;
    if (ch_size_arg(obj, fn, what, &v) < 0)
        return -1;
    if (v > UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be in 0..2**32-1, got %zu", fn, what, v);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int
ch_seconds_arg(PyObject *obj, const char *fn, const char *what, double *out)
{
    double v = PyFloat_AsDouble(obj);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    if (!(v >= 0.0)) { /* also catches NaN */
        PyErr_Format(PyExc_ValueError, "%s: %s must be >= 0 seconds, got %R", fn, what, obj);
        return -1;
    }
    *out = v > 1e6 ? 1e6 : v; /* keeps deadlines in range */
    return 0;
}

int
ch_slot_get(PyObject *const *args, const char *fn, ChSlot *s)
{
    size_t slot_off;
    if (ch_size_arg(args[1], fn, "slot offset", &slot_off) < 0 ||
        ch_size_arg(args[2], fn, "payload offset", &s->payload_off) < 0 ||
        ch_size_arg(args[3], fn, "slot_bytes", &s->slot_bytes) < 0)
        return -1;
    if (PyObject_GetBuffer(args[0], &s->view, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: the mapping must be a writable buffer, got %.100s", fn,
                     Py_TYPE(args[0])->tp_name);
        return -1;
    }
    size_t len = (size_t)s->view.len;
    s->slot = (char *)s->view.buf + slot_off;
    if (s->payload_off < CH_SLOT_HEADER || slot_off > len || s->payload_off > len - slot_off ||
        s->slot_bytes > len - slot_off - s->payload_off || ((uintptr_t)s->slot & 7) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: a slot at offset %zu with its payload at +%zu (%zu bytes) does not fit an aligned "
                     "%zu-byte mapping",
                     fn, slot_off, s->payload_off, s->slot_bytes, len);
        PyBuffer_Release(&s->view);
        return -1;
    }
    return 0;
}

void
ch_slot_release(ChSlot *s)
{
    PyBuffer_Release(&s->view);
}

int
ch_nargs_is(const char *fn, Py_ssize_t nargs, Py_ssize_t n)
{
    if (nargs == n)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fn, n, nargs);
    return -1;
}

/* ---------- writing a message ------------------------------------------------------ */

/* The typestr field: "" or up to 8 ASCII characters, NUL padded. */
static int
typestr_arg(PyObject *obj, const char *fn, char out[CH_TYPESTR_BYTES])
{
    Py_ssize_t n;
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8AndSize(obj, &n) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s: typestr must be a str, got %.100s", fn, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (n > CH_TYPESTR_BYTES || (size_t)n != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s: typestr must have at most %d characters, got %R", fn,
                     CH_TYPESTR_BYTES, obj);
        return -1;
    }
    memset(out, 0, CH_TYPESTR_BYTES);
    memcpy(out, s, (size_t)n);
    return 0;
}

static int
shape_arg(PyObject *obj, const char *fn, uint64_t out[CH_MAX_DIMS], uint32_t *ndim)
{
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) > CH_MAX_DIMS) {
        PyErr_Format(PyExc_TypeError, "%s: shape must be a tuple of at most %d ints, got %R", fn, CH_MAX_DIMS, obj);
        return -1;
    }
    *ndim = (uint32_t)PyTuple_GET_SIZE(obj);
    memset(out, 0, CH_MAX_DIMS * sizeof(uint64_t));
    for (uint32_t i = 0; i < *ndim; i++) {
        size_t n;
        if (ch_size_arg(PyTuple_GET_ITEM(obj, i), fn, "a shape entry", &n) < 0)
            return -1;
        out[i] = n;
    }
    return 0;
}

/* args[4..11] of post and reply: state, id, kind, typestr, shape, pid, meta, payload. Fills the
 * slot's fields but the state word (plain stores: the caller's sequentially consistent CAS
 * publishes them). Returns 0, or -1 with an error set and nothing written. */
static int
write_message(ChSlot *s, PyObject *const *args, const char *fn, uint32_t *state)
{
    uint64_t ident, shape[CH_MAX_DIMS];
    uint32_t kind, ndim, pid;
    char typestr[CH_TYPESTR_BYTES];
    if (ch_u32_arg(args[4], fn, "state", state) < 0)
        return -1;
    ident = PyLong_AsUnsignedLongLong(args[5]);
    if (ident == (uint64_t)-1 && PyErr_Occurred())
        return -1;
    if (ch_u32_arg(args[6], fn, "kind", &kind) < 0 || typestr_arg(args[7], fn, typestr) < 0 ||
        shape_arg(args[8], fn, shape, &ndim) < 0 || ch_u32_arg(args[9], fn, "pid", &pid) < 0)
        return -1;
    Py_buffer meta, payload;
    if (PyObject_GetBuffer(args[10], &meta, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(args[11], &payload, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&meta);
        return -1;
    }
    int rc = -1;
    if ((size_t)meta.len > s->payload_off - CH_SLOT_HEADER)
        PyErr_Format(PyExc_ValueError, "%s: metadata of %zd bytes does not fit the %zu-byte area", fn, meta.len,
                     s->payload_off - CH_SLOT_HEADER);
    else if ((size_t)payload.len > s->slot_bytes)
        PyErr_Format(PyExc_ValueError, "%s: a payload of %zd bytes does not fit a %zu-byte slot", fn, payload.len,
                     s->slot_bytes);
    else {
        char *slot = s->slot;
        *ch_u64(slot, CH_S_ID) = ident;
        *ch_u64(slot, CH_S_PAYLOAD_BYTES) = (uint64_t)payload.len;
        *ch_u32(slot, CH_S_KIND) = kind;
        *ch_u32(slot, CH_S_META_LEN) = (uint32_t)meta.len;
        memcpy(slot + CH_S_TYPESTR, typestr, CH_TYPESTR_BYTES);
        *ch_u32(slot, CH_S_NDIM) = ndim;
        *ch_u32(slot, CH_S_PID) = pid;
        memcpy(slot + CH_S_SHAPE, shape, sizeof(shape));
        *ch_u64(slot, CH_S_POSTED_NS) = ch_now_ns();
        memcpy(slot + CH_SLOT_HEADER, meta.buf, (size_t)meta.len);
        memcpy(slot + s->payload_off, payload.buf, (size_t)payload.len);
        rc = 0;
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&meta);
    return rc;
}

int
ch_cas(uint32_t *word, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* channel_post(buf, slot_off, payload_off, slot_bytes, claimed, id, kind, typestr, shape, pid, meta,
 * payload) -> the REQUEST state word. Step 2: fill a CLAIMED slot (ours: we hold its lease), move it
 * to REQUEST, bump `posted` (a spinning server watches it) and wake a sleeping server. */
PyObject *
channel_post(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    ChSlot s;
    uint32_t claimed;
    if (ch_nargs_is("channel_post", nargs, 12) < 0 || ch_slot_get(args, "channel_post", &s) < 0)
        return NULL;
    if (write_message(&s, args, "channel_post", &claimed) < 0) {
        ch_slot_release(&s);
        return NULL;
    }
    uint32_t posted = ch_word(claimed, CH_REQUEST);
    ch_cas(ch_u32(s.slot, CH_S_STATE), claimed, posted); /* nobody else moves a CLAIMED slot */
    /* The bump is an RMW after our CAS, the sleeper count is read after it: a server that
     * counted itself in before looking either sees the request or is woken. */
    uint32_t *requests = (uint32_t *)(void *)((char *)s.view.buf + CH_OFF_REQUESTS);
    __atomic_fetch_add(requests, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(requests + 1, __ATOMIC_SEQ_CST))
        shm_futex_wake_all(requests);
    ch_slot_release(&s);
    return PyLong_FromUnsignedLong(posted);
}

/* channel_reply(buf, slot_off, payload_off, slot_bytes, serving, id, kind, typestr, shape, pid, meta,
 * payload) -> bool. Step 4: fill a SERVING slot and move it to REPLY, waking its client if it counted
 * itself asleep. False: the client abandoned it meanwhile (the caller frees it). */
PyObject *
channel_reply(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    ChSlot s;
    uint32_t serving;
    if (ch_nargs_is("channel_reply", nargs, 12) < 0 || ch_slot_get(args, "channel_reply", &s) < 0)
        return NULL;
    if (write_message(&s, args, "channel_reply", &serving) < 0) {
        ch_slot_release(&s);
        return NULL;
    }
    uint32_t *state = ch_u32(s.slot, CH_S_STATE);
    int replied = ch_cas(state, serving, ch_word(serving, CH_REPLY));
    /* The waiter count is read after the CAS; a client counts itself in before the kernel
     * compares the state: either we see it, or it sees REPLY and does not sleep. */
    if (replied && __atomic_load_n(ch_u32(s.slot, CH_S_WAITERS), __ATOMIC_SEQ_CST))
        shm_futex_wake_all(state);
    ch_slot_release(&s);
    return PyBool_FromLong(replied);
}

/* ---------- taking and reading ------------------------------------------------------------ */

int
ch_slots_get(PyObject *const *args, const char *fn, Py_buffer *view, size_t *slots, size_t *stride)
{
    if (ch_size_arg(args[1], fn, "slots", slots) < 0 || ch_size_arg(args[2], fn, "stride", stride) < 0)
        return -1;
    if (PyObject_GetBuffer(args[0], view, PyBUF_WRITABLE) < 0)
        return -1;
    if ((size_t)view->len < CH_HEADER_BYTES || *stride < CH_SLOT_HEADER || *stride % 8 ||
        *slots > ((size_t)view->len - CH_HEADER_BYTES) / *stride || ((uintptr_t)view->buf & 7) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zu slots of %zu bytes do not fit the %zd-byte mapping", fn, *slots,
                     *stride, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

int
ch_take_in(char *base, size_t slots, size_t stride, size_t *index, uint32_t *serving)
{
    char *first = base + CH_HEADER_BYTES;
    for (;;) {
        size_t best = slots;
        uint32_t best_state = 0;
        uint64_t best_id = 0;
        for (size_t i = 0; i < slots; i++) {
            char *slot = first + i * stride;
            uint32_t state = __atomic_load_n(ch_u32(slot, CH_S_STATE), __ATOMIC_ACQUIRE);
            if ((state & CH_PHASE_MASK) != CH_REQUEST)
                continue;
            uint64_t ident = __atomic_load_n(ch_u64(slot, CH_S_ID), __ATOMIC_ACQUIRE);
            if (best == slots || ident < best_id) {
                best = i;
                best_id = ident;
                best_state = state;
            }
        }
        if (best == slots)
            return 0;
        *serving = ch_word(best_state, CH_SERVING);
        if (ch_cas(ch_u32(first + best * stride, CH_S_STATE), best_state, *serving)) {
            *index = best;
            return 1;
        }
        /* Withdrawn or taken over meanwhile: look again. */
    }
}

PyObject *
ch_taken(int took, size_t index, uint32_t serving)
{
    if (!took)
        Py_RETURN_NONE;
    return Py_BuildValue("(nk)", (Py_ssize_t)index, (unsigned long)serving);
}

/* channel_take(buf, slots, stride) -> (index, serving) | None. Step 3: move the posted request
 * with the lowest id to SERVING; None when none is posted. */
PyObject *
channel_take(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    size_t slots, stride, index = 0;
    uint32_t serving = 0;
    Py_buffer view;
    if (ch_nargs_is("channel_take", nargs, 3) < 0 || ch_slots_get(args, "channel_take", &view, &slots, &stride) < 0)
        return NULL;
    int took = ch_take_in((char *)view.buf, slots, stride, &index, &serving);
    PyBuffer_Release(&view);
    return ch_taken(took, index, serving);
}
