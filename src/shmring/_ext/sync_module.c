/*
 * shmring._sync — the C core: atomics, futex wait/wake and OFD locks.
 *
 * This file is the module (method table, constants); sync.h lists the
 * source of each mechanism.
 *
 * Everything here works on a word of *any* buffer-protocol object (mmap,
 * bytearray, numpy array), addressed by a byte offset. Offsets are checked
 * against the buffer and for natural alignment before anything is touched:
 * a bad offset is a ValueError, never a crash.
 *
 * Memory ordering: loads are acquire, stores are release, read-modify-write
 * operations are sequentially consistent. That is exactly what a seqlock and
 * a publish/subscribe counter need (see docs/format.md).
 *
 * Futexes are *shared* (no FUTEX_PRIVATE_FLAG): the kernel keys them on the
 * backing file page, so waiters and wakers may be different processes that
 * mapped the same file at different addresses.
 *
 * OFD ("open file description") locks belong to the open file, not to the
 * process: they are released by the kernel when the last descriptor of that
 * open file is closed, including when the process is killed. They do not
 * conflict with other locks taken through the *same* open file description.
 */
#include "sync.h"

/* ---------- module ------------------------------------------------------- */

static PyMethodDef sync_methods[] = {
    {"load32", (PyCFunction)(void (*)(void))load32, METH_FASTCALL, "load32(buf, offset) -> int: atomic load-acquire of a uint32."},
    {"load64", (PyCFunction)(void (*)(void))load64, METH_FASTCALL, "load64(buf, offset) -> int: atomic load-acquire of a uint64."},
    {"store32", (PyCFunction)(void (*)(void))store32, METH_FASTCALL, "store32(buf, offset, value): atomic store-release of a uint32."},
    {"store64", (PyCFunction)(void (*)(void))store64, METH_FASTCALL, "store64(buf, offset, value): atomic store-release of a uint64."},
    {"cas32", (PyCFunction)(void (*)(void))cas32, METH_FASTCALL,
     "cas32(buf, offset, expected, desired) -> found: compare-exchange; swapped iff found == expected."},
    {"cas64", (PyCFunction)(void (*)(void))cas64, METH_FASTCALL,
     "cas64(buf, offset, expected, desired) -> found: compare-exchange; swapped iff found == expected."},
    {"fetch_add32", (PyCFunction)(void (*)(void))fetch_add32, METH_FASTCALL,
     "fetch_add32(buf, offset, delta) -> previous value (wraps modulo 2**32)."},
    {"fetch_add64", (PyCFunction)(void (*)(void))fetch_add64, METH_FASTCALL,
     "fetch_add64(buf, offset, delta) -> previous value (wraps modulo 2**64)."},
    {"fence", fence, METH_NOARGS, "fence(): full (sequentially consistent) memory fence."},
    {"futex_wait", (PyCFunction)(void (*)(void))futex_wait, METH_FASTCALL,
     "futex_wait(buf, offset, expected, timeout=None) -> WOKEN | TIMED_OUT | VALUE_CHANGED.\n\n"
     "Sleep while the uint32 at offset equals expected; timeout in seconds, None = forever."},
    {"futex_wake", (PyCFunction)(void (*)(void))futex_wake, METH_FASTCALL,
     "futex_wake(buf, offset, n=None) -> number woken; n=None wakes all."},
    {"spin_while32", (PyCFunction)(void (*)(void))spin_while32, METH_FASTCALL,
     "spin_while32(buf, offset, value, seconds) -> last value: busy-poll (GIL released) while the uint32 reads value."},
    {"ofd_lock", (PyCFunction)(void (*)(void))ofd_lock, METH_FASTCALL,
     "ofd_lock(fd, start, length, exclusive=True, wait=False) -> bool: take an OFD lock."},
    {"ofd_unlock", (PyCFunction)(void (*)(void))ofd_unlock, METH_FASTCALL, "ofd_unlock(fd, start, length): release an OFD lock."},
    {"ofd_held", (PyCFunction)(void (*)(void))ofd_held, METH_FASTCALL,
     "ofd_held(fd, start, length) -> bool: is the range locked through another open file description?"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sync_module = {
    PyModuleDef_HEAD_INIT, "shmring._sync",
    "Atomics, shared futexes and OFD locks on words of any writable buffer (the C core of shmring).", -1, sync_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__sync(void)
{
    PyObject *mod = PyModule_Create(&sync_module);
    if (!mod)
        return NULL;
    if (PyModule_AddIntConstant(mod, "WOKEN", WAIT_WOKEN) < 0 ||
        PyModule_AddIntConstant(mod, "TIMED_OUT", WAIT_TIMED_OUT) < 0 ||
        PyModule_AddIntConstant(mod, "VALUE_CHANGED", WAIT_VALUE_CHANGED) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
