/* shmring._core: reading a frame (steps 1-6 of "Read frame k", and queue readers, in docs/format.md). */
#include "_core.h"

/* ---------- reading ------------------------------------------------------- */

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
PyObject *
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
PyObject *
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

