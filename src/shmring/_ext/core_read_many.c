/* shmring._core glue for the lighter reads: batches (read_many) and payloads
 * only (read_bytes), over the same protocol steps as read() (c/src/protocol_read.c). */
#include "core.h"

/* ---------- the copy step for payloads only (read step 4) ---------------------------- */

static int
copy_bytes(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload)
{
    (void)meta;
    if (!payload)
        return 0; /* a queue reader's look before it claims the frame (ShmCopyStep) */
    CopyTarget *t = ctx;
    Py_CLEAR(t->payload); /* a copy of an earlier, lapped frame */
    t->payload = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)h->nbytes);
    if (!t->payload)
        return -1;
    copy_maybe_nogil(t->core, COPY_OUT, PyBytes_AS_STRING(t->payload), payload, h->nbytes);
    return 0;
}

/* ---------- batches: read_many() ------------------------------------------------------ */

typedef struct {
    CopyTarget target;
    PyObject *frames; /* list of FrameRead, or of bytes (payloads only) */
    uint64_t lost;    /* payloads only: frames lost before those taken (no FrameRead carries it) */
} BatchTarget;

static int
take_frame(void *ctx, const ShmRead *r)
{
    BatchTarget *b = ctx;
    PyObject *fr = frame_read(r, &b->target);
    if (!fr)
        return -1;
    int failed = PyList_Append(b->frames, fr);
    Py_DECREF(fr);
    return failed;
}

static int
take_bytes(void *ctx, const ShmRead *r)
{
    BatchTarget *b = ctx;
    b->lost += r->lost;
    int failed = PyList_Append(b->frames, b->target.payload);
    Py_CLEAR(b->target.payload);
    return failed;
}

/* (frames, lost after the last, error|None): a problem met after some frames is handed
 * back as an exception object for the caller to raise on its next read. */
static PyObject *
batch_result(Core *self, ShmStatus status, const ShmRead *r, BatchTarget *b)
{
    Py_CLEAR(b->target.meta);
    Py_CLEAR(b->target.payload);
    PyObject *error = NULL;
    if (status == SHM_FAILED) {
        if (PyList_GET_SIZE(b->frames) == 0) { /* nothing taken: the failure is the answer */
            Py_DECREF(b->frames);
            return NULL;
        }
        PyErr_Clear(); /* the frame it failed on stays unread (broadcast) or counts lost (queue) */
    } else if (status == SHM_CORRUPT) {
        error = corrupt_error(self, r);
        if (!error) {
            Py_DECREF(b->frames);
            return NULL;
        }
    }
    /* r->lost: frames lost after the last taken (recorded already; 0 when max_n were taken);
     * b->lost: those lost before frames that carry no count of their own. */
    return Py_BuildValue("(NKN)", b->frames, (unsigned long long)(b->lost + r->lost),
                         error ? error : Py_NewRef(Py_None));
}

static int
parse_many_args(Core *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, uint64_t *index,
                uint64_t *max_n, uint64_t *pin)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "expected %zd arguments", want);
        return -1;
    }
    if (require_open(self) < 0)
        return -1;
    Py_ssize_t i = PyLong_AsSsize_t(args[0]);
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    *pin = PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred())
        return -1;
    if (i < 0 || (uint64_t)i >= self->layout.reader_count || n < 1) {
        PyErr_SetString(PyExc_ValueError, "reader index out of range, or max_n below 1");
        return -1;
    }
    *index = (uint64_t)i;
    *max_n = (uint64_t)n;
    return 0;
}

/* read_many(index, cursor|None, max_n, pin, payloads_only) -> (frames, lost_after, error|None)
 *
 * Up to max_n copies in one call, with one record of progress (read step 6)
 * for the batch: broadcast from `cursor`, or claimed from the shared queue
 * (cursor None). The frames are FrameReads, or with payloads_only true just
 * the payloads as bytes. */
PyObject *
Core_read_many(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t index, max_n, pin, got;
    if (parse_many_args(self, args, nargs, 5, &index, &max_n, &pin) < 0)
        return NULL;
    int queued = args[1] == Py_None, payloads_only = PyObject_IsTrue(args[4]);
    uint64_t k = queued ? 0 : PyLong_AsUnsignedLongLong(args[1]);
    if (payloads_only < 0 || (k == (uint64_t)-1 && PyErr_Occurred()))
        return NULL;
    BatchTarget b = {{self, MODE_COPY, NULL, NULL, NULL}, PyList_New(0), 0};
    if (!b.frames)
        return NULL;
    ShmCopyStep copy = payloads_only ? copy_bytes : copy_frame;
    ShmTakeStep take = payloads_only ? take_bytes : take_frame;
    ShmRead r = {0}; /* no dtype known yet (ShmRead.known_typestr) */
    ShmStatus status = queued ? shm_read_queued_many(core_base(self), &self->layout, index, pin, max_n, copy, take,
                                                     &b, &r, &got)
                              : shm_read_broadcast_many(core_base(self), &self->layout, index, k, pin, max_n, copy,
                                                        take, &b, &r, &got);
    return batch_result(self, status, &r, &b);
}

/* ---------- read_bytes() ------------------------------------------------------------- */

/* read_bytes(index, cursor|None, pin) -> payload: bytes (frame `cursor`, none lost) |
 * (seq, lost, payload: bytes) | None | skipped:int
 *
 * read() (cursor given) or read_queued() (None) with the payload copied into bytes and
 * nothing else built: no metadata, dtype or shape. */
PyObject *
Core_read_bytes(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "read_bytes(index, cursor|None, pin)");
        return NULL;
    }
    if (require_open(self) < 0)
        return NULL;
    Py_ssize_t i = PyLong_AsSsize_t(args[0]);
    uint64_t pin = PyLong_AsUnsignedLongLong(args[2]);
    uint64_t k = args[1] == Py_None ? 0 : PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (i < 0 || (uint64_t)i >= self->layout.reader_count) {
        PyErr_SetString(PyExc_ValueError, "reader index out of range");
        return NULL;
    }
    CopyTarget t = {self, MODE_COPY, NULL, NULL, NULL};
    ShmRead r = {0}; /* no dtype known yet (ShmRead.known_typestr) */
    ShmStatus status = args[1] == Py_None
                           ? shm_read_queued(core_base(self), &self->layout, (uint64_t)i, SHM_RELEASE_AFTER, pin,
                                             copy_bytes, &t, &r)
                           : shm_read_broadcast(core_base(self), &self->layout, (uint64_t)i, k, SHM_RELEASE_AFTER,
                                                pin, copy_bytes, &t, &r);
    if (status != SHM_FRAME)
        return result_of(self, status, &r, &t);
    PyObject *payload = t.payload;
    t.payload = NULL;
    if (args[1] != Py_None && r.seq == k && r.lost == 0)
        return payload; /* the frame the cursor named, nothing lost: the bytes alone, no tuple */
    return Py_BuildValue("(KKN)", (unsigned long long)r.seq, (unsigned long long)r.lost, payload);
}
