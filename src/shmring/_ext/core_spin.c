/* shmring._core: a blocked writer's bounded spin for room, before it sleeps on the space word. */
#include "core.h"

#include <time.h>

/* Write step 1's test without liveness (no probe, no reaping: the sleeping path
 * reaps once it is stuck), the protocol's own (c/src/protocol_room.c). */
static int
has_room(char *base, const ShmLayout *L, uint64_t seq)
{
    return seq < shm_room_until(base, L, seq, -1, 0);
}

/* spin_room(seq, seconds) -> int: busy-wait (GIL released) until frame seq has
 * room (bit 0), or seconds pass; bit 1 (SPIN_SHARED): a yield ran another thread. Readers publish their release positions with a release
 * store; shm_pin_floor loads them with acquire, as the sleeping path does. */
PyObject *
Core_spin_room(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || require_open(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "spin_room(seq, seconds)");
        return NULL;
    }
    uint64_t seq = PyLong_AsUnsignedLongLong(args[0]);
    double seconds = PyFloat_AsDouble(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0)) {
        PyErr_Format(PyExc_ValueError, "spin_room: seconds must be >= 0, got %R", args[1]);
        return NULL;
    }
    if (seconds > 1e6)
        seconds = 1e6; /* keeps the deadline in range */
    char *base = core_base(self);
    int room, shared = 0;
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t until = now + (uint64_t)(seconds * 1e9);
    for (unsigned i = 1; !(room = has_room(base, &self->layout, seq)); i++) {
        if ((i & 15) == 0) { /* each look reads every reader entry: check the clock more often */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= until)
                break;
            shared |= shm_yield_ns() > SHM_YIELD_HELD_NS; /* a reader on this core gets to make room */
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    Py_END_ALLOW_THREADS
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
    return PyLong_FromLong(room | (shared ? SPIN_SHARED : 0));
}
