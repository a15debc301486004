/* shmring._sync: shared futex wait and wake (see sync_module.c for why shared). */
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------- futex -------------------------------------------------------- */

static long
sys_futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts, uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

/* Parse a timeout in seconds: None means forever (*forever = 1). */
static int
parse_timeout(PyObject *obj, double *seconds, int *forever)
{
    *forever = (obj == NULL || obj == Py_None);
    if (*forever)
        return 0;
    *seconds = PyFloat_AsDouble(obj);
    if (*seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (!(*seconds >= 0.0)) { /* also catches NaN */
        PyErr_Format(PyExc_ValueError, "timeout must be >= 0 seconds or None, got %R", obj);
        return -1;
    }
    return 0;
}

static void
deadline_after(double seconds, struct timespec *deadline)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    double whole = seconds > 1e9 ? 1e9 : seconds; /* ~31 years: as good as forever */
    time_t s = (time_t)whole;
    long ns = (long)((whole - (double)s) * 1e9);
    deadline->tv_sec += s;
    deadline->tv_nsec += ns;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec += 1;
        deadline->tv_nsec -= 1000000000L;
    }
}

/* futex_wait(buf, offset, expected, timeout=None) -> WOKEN | TIMED_OUT | VALUE_CHANGED
 *
 * Sleeps while the 32-bit word still equals `expected`. FUTEX_WAIT_BITSET
 * takes an absolute CLOCK_MONOTONIC deadline, so a wait interrupted by a
 * signal resumes with the same deadline instead of starting over. The GIL is
 * released while asleep; pending Python signal handlers (Ctrl-C) run between
 * interrupted waits. */
PyObject *
futex_wait(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    Py_buffer view;
    uint64_t expected;
    double seconds = 0.0;
    int forever;
    if (check_nargs("futex_wait", nargs, 3, 4) < 0)
        return NULL;
    if (as_word(args[2], 32, "expected", &expected) < 0)
        return NULL;
    if (parse_timeout(nargs > 3 ? args[3] : NULL, &seconds, &forever) < 0)
        return NULL;
    uint32_t *p = word_at(args[0], args[1], 4, 0, &view);
    if (!p)
        return NULL;
    int outcome;
    if (!forever && seconds == 0.0) {
        outcome = __atomic_load_n(p, __ATOMIC_ACQUIRE) == (uint32_t)expected ? WAIT_TIMED_OUT : WAIT_VALUE_CHANGED;
        PyBuffer_Release(&view);
        return PyLong_FromLong(outcome);
    }
    struct timespec deadline;
    if (!forever)
        deadline_after(seconds, &deadline);
    for (;;) {
        long rc;
        int err;
        Py_BEGIN_ALLOW_THREADS
        rc = sys_futex(p, FUTEX_WAIT_BITSET, (uint32_t)expected, forever ? NULL : &deadline, FUTEX_BITSET_MATCH_ANY);
        err = errno;
        Py_END_ALLOW_THREADS
        if (rc == 0) {
            outcome = WAIT_WOKEN;
            break;
        }
        if (err == ETIMEDOUT) {
            outcome = WAIT_TIMED_OUT;
            break;
        }
        if (err == EAGAIN) {
            outcome = WAIT_VALUE_CHANGED;
            break;
        }
        if (err == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                PyBuffer_Release(&view);
                return NULL;
            }
            continue;
        }
        PyBuffer_Release(&view);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyBuffer_Release(&view);
    return PyLong_FromLong(outcome);
}

/* futex_wake(buf, offset, n=all) -> number of waiters woken */
PyObject *
futex_wake(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    Py_buffer view;
    long n = INT_MAX;
    if (check_nargs("futex_wake", nargs, 2, 3) < 0)
        return NULL;
    if (nargs > 2 && args[2] != Py_None) {
        long long v;
        if (as_integer(args[2], "n (waiters to wake; None for all)", 1, INT_MAX, &v) < 0)
            return NULL;
        n = (long)v;
    }
    uint32_t *p = word_at(args[0], args[1], 4, 0, &view);
    if (!p)
        return NULL;
    long rc = sys_futex(p, FUTEX_WAKE, (uint32_t)n, NULL, 0);
    int err = errno;
    PyBuffer_Release(&view);
    if (rc < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(rc);
}
