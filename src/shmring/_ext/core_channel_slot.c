/*
 * shmring._core: the steps on one slot the caller owns (docs/format.md, "Channel
 * protocol"): a client's claim of the slot it holds the lease of (step 1), and
 * the copy of a plain-bytes message out of it (either side; the client's also
 * frees the slot, step 5).
 */
#include "core_channel.h"

/* A claim may start from these phases (nobody else owns the slot then): SERVING and
 * ABANDONED belong to the server, which frees them. */
static int
claimable(uint32_t state)
{
    uint32_t phase = state & CH_PHASE_MASK;
    return phase == CH_FREE || phase == CH_CLAIMED || phase == CH_REQUEST || phase == CH_REPLY;
}

/* channel_claim(buf, slot_off) -> claimed state | None. Step 1 in a slot whose lease we hold:
 * the next ticket, CLAIMED, and the waiter count reset (a client that died asleep left its
 * own). None while a server still owns the slot. */
PyObject *
channel_claim(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    size_t slot_off;
    Py_buffer view;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "channel_claim() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (ch_size_arg(args[1], "channel_claim", "slot offset", &slot_off) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0)
        return NULL;
    char *slot = (char *)view.buf + slot_off;
    if (slot_off > (size_t)view.len || (size_t)view.len - slot_off < CH_SLOT_HEADER || ((uintptr_t)slot & 7)) {
        PyErr_Format(PyExc_ValueError, "channel_claim: slot offset %zu is not an aligned slot of a %zd-byte mapping",
                     slot_off, view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    uint32_t *word = ch_u32(slot, CH_S_STATE);
    uint32_t state = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    /* The ticket (the upper 29 bits) grows by one and wraps, as u32 arithmetic does. */
    uint32_t claimed = (uint32_t)(((state >> CH_PHASE_BITS) + 1u) << CH_PHASE_BITS) | CH_CLAIMED;
    int ok = claimable(state) && ch_cas(word, state, claimed);
    if (ok)
        __atomic_store_n(ch_u32(slot, CH_S_WAITERS), 0, __ATOMIC_RELEASE);
    PyBuffer_Release(&view);
    if (!ok)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(claimed);
}

/* channel_read_bytes(buf, slot_off, payload_off, slot_bytes, state, finish) -> (id, bytes) | None.
 * The message in a slot we own that reads `state`, when it is plain bytes without metadata (the
 * common case); None otherwise, and the caller reads it the general way (which checks and names
 * every field). With `finish`, a message read also frees the slot (the client's last step). */
PyObject *
channel_read_bytes(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    ChSlot s;
    uint32_t expected;
    if (ch_nargs_is("channel_read_bytes", nargs, 6) < 0 || ch_slot_get(args, "channel_read_bytes", &s) < 0)
        return NULL;
    int finish = PyObject_IsTrue(args[5]);
    if (finish < 0 || ch_u32_arg(args[4], "channel_read_bytes", "state", &expected) < 0) {
        ch_slot_release(&s);
        return NULL;
    }
    char *slot = s.slot;
    uint32_t *state = ch_u32(slot, CH_S_STATE);
    PyObject *result = NULL;
    /* The fields are read after the state (acquire): the peer wrote them before its CAS. */
    if (__atomic_load_n(state, __ATOMIC_ACQUIRE) != expected) {
        ch_slot_release(&s);
        Py_RETURN_NONE;
    }
    uint64_t nbytes = *ch_u64(slot, CH_S_PAYLOAD_BYTES);
    if (*ch_u32(slot, CH_S_KIND) != CH_KIND_BYTES || *ch_u32(slot, CH_S_META_LEN) != 0 || nbytes > s.slot_bytes) {
        ch_slot_release(&s);
        Py_RETURN_NONE;
    }
    PyObject *data = PyBytes_FromStringAndSize(slot + s.payload_off, (Py_ssize_t)nbytes);
    if (data)
        result = Py_BuildValue("(KN)", (unsigned long long)*ch_u64(slot, CH_S_ID), data);
    if (result && finish)
        ch_cas(state, expected, ch_word(expected, CH_FREE));
    ch_slot_release(&s);
    return result;
}
