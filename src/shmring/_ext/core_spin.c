/* shmring._core: a blocked writer's bounded spin for room, before it sleeps on the space word. */
#include "core.h"

#include <sched.h>
#include <time.h>

/* Write step 1's test without liveness: frame seq has room when every reader entry
 * in use has released seq - slots (docs/format.md). UINT64_MAX: no reader pins anything. */
static int
has_room(char *base, const ShmLayout *L, uint32_t queue_state, uint64_t seq)
{
    uint64_t floor = shm_pin_floor(base, L, queue_state);
    return floor >= seq || seq - floor < L->slots;
}

/* spin_room(seq, queue_state, seconds) -> bool: busy-wait (GIL released) until frame
 * seq has room, or seconds pass. Readers publish their release positions with a
 * release store; shm_pin_floor loads them with acquire, as the sleeping path does. */
PyObject *
Core_spin_room(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || require_open(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "spin_room(seq, queue_state, seconds)");
        return NULL;
    }
    uint64_t seq = PyLong_AsUnsignedLongLong(args[0]);
    unsigned long queue_state = PyLong_AsUnsignedLong(args[1]);
    double seconds = PyFloat_AsDouble(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (queue_state > UINT32_MAX || !(seconds >= 0.0)) {
        PyErr_Format(PyExc_ValueError, "spin_room: queue_state must be a u32 and seconds >= 0, got %R, %R",
                     args[1], args[2]);
        return NULL;
    }
    if (seconds > 1e6)
        seconds = 1e6; /* keeps the deadline in range */
    char *base = core_base(self);
    int room;
    __atomic_fetch_add(&self->busy, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t until = now + (uint64_t)(seconds * 1e9);
    for (unsigned i = 1; !(room = has_room(base, &self->layout, (uint32_t)queue_state, seq)); i++) {
        if ((i & 15) == 0) { /* each look reads every reader entry: check the clock more often */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= until)
                break;
            sched_yield(); /* a reader sharing this core gets to make the room we wait for */
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    Py_END_ALLOW_THREADS
    __atomic_fetch_sub(&self->busy, 1, __ATOMIC_SEQ_CST);
    return PyBool_FromLong(room);
}
