/* shmring._sync: busy-polling a shared word, the bounded spin a waiter does before its futex sleep. */
#include "sync.h"

#include <sched.h>
#include <time.h>

static uint64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Poll until *p != value or `seconds` pass; the last value loaded. */
static uint32_t
spin_while(const uint32_t *p, uint32_t value, double seconds)
{
    uint64_t until = monotonic_ns() + (uint64_t)(seconds * 1e9);
    uint32_t now;
    for (unsigned i = 1;; i++) {
        now = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        if (now != value)
            return now;
        if ((i & 63) == 0) {
            if (monotonic_ns() >= until)
                return now;
            /* A peer on this core could not run while we poll: let it. With a
             * core of its own the peer is unaffected and the yield returns at once. */
            sched_yield();
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause(); /* spares a sibling hyperthread; no memory-order flush when the word moves */
#endif
    }
}

/* spin_while32(buf, offset, value, seconds) -> int
 *
 * Busy-polls (GIL released) the uint32 at `offset` while it reads `value`,
 * for up to `seconds`; returns the last value read (== value: time ran out). */
PyObject *
spin_while32(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    Py_buffer view;
    uint64_t value;
    if (check_nargs("spin_while32", nargs, 4, 4) < 0 || as_word(args[2], 32, "value", &value) < 0)
        return NULL;
    double seconds = PyFloat_AsDouble(args[3]);
    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0)) { /* also catches NaN */
        PyErr_Format(PyExc_ValueError, "spin must be >= 0 seconds, got %R", args[3]);
        return NULL;
    }
    if (seconds > 1e6)
        seconds = 1e6; /* keeps the deadline in range; nobody spins for 11 days */
    const uint32_t *p = word_at(args[0], args[1], 4, 0, &view);
    if (!p)
        return NULL;
    uint32_t now;
    Py_BEGIN_ALLOW_THREADS
    now = spin_while(p, (uint32_t)value, seconds);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(now);
}
