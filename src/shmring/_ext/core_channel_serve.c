/*
 * shmring._core: a server's wait for the next request, in one call with the
 * GIL released: take one if posted, else busy-poll the `posted` word a while
 * (the learned spin of _spin.py decides how long) and take, else sleep on it
 * as a counted sleeper and take after the wake-up (docs/format.md, "Channel
 * protocol", steps 2-3). The caller keeps the policy: its stop flag, its
 * deadline, and how long to spin.
 */
#include "core_channel.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Poll the posted counter while it reads `seen`, until `until` (ns); 1 if it moved. *shared:
 * a yield ran another thread (ch_yield). */
static int
spin_past(const uint32_t *posted, uint32_t seen, uint64_t until, int *shared)
{
    for (unsigned i = 1; __atomic_load_n(posted, __ATOMIC_ACQUIRE) == seen; i++) {
        if ((i & 63) == 0) {
            if (ch_now_ns() >= until)
                return 0;
            *shared |= ch_yield(); /* a client on this core gets to post */
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    return 1;
}

/* Sleep on the posted counter while it reads `seen`, up to `seconds`. 0, or -1 with the GIL
 * held and a Python error set (a signal handler raised), or errno of a futex failure. Called
 * without the GIL; `ts` is the thread state to take it back with for a signal. */
static int
sleep_on(uint32_t *posted, uint32_t seen, double seconds, PyThreadState **ts)
{
    uint64_t until = ch_now_ns() + (uint64_t)(seconds * 1e9);
    struct timespec deadline = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
    for (;;) {
        long rc = syscall(SYS_futex, posted, FUTEX_WAIT_BITSET, seen, &deadline, NULL, FUTEX_BITSET_MATCH_ANY);
        int err = errno;
        if (rc == 0 || err == EAGAIN || err == ETIMEDOUT)
            return 0;
        if (err != EINTR)
            return err;
        PyEval_RestoreThread(*ts); /* a signal: its Python handler runs (and may raise) with the GIL */
        int raised = PyErr_CheckSignals() < 0;
        *ts = PyEval_SaveThread();
        if (raised)
            return -1;
    }
}

/* channel_next(buf, slots, stride, seen, spin_s, sleep_s) -> ((index, serving) | None, spun_s, caught).
 *
 * `seen` is the posted counter as the caller read it before it last looked at its stop flag: a
 * stop() (which bumps the counter) after that look ends the sleep. Takes the oldest posted
 * request, spinning up to spin_s and then sleeping up to sleep_s for one; returns it (None: none
 * came, or a wake-up without one), the time the spin took and whether it caught a request on its own (without a
 * yield that ran another thread on our core). */
PyObject *
channel_next(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    const char *fn = "channel_next";
    size_t slots, stride, index = 0;
    uint32_t seen, serving = 0;
    double spin_s, sleep_s;
    Py_buffer view;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 6 arguments (%zd given)", fn, nargs);
        return NULL;
    }
    if (ch_u32_arg(args[3], fn, "seen", &seen) < 0 || ch_seconds_arg(args[4], fn, "spin", &spin_s) < 0 ||
        ch_seconds_arg(args[5], fn, "sleep", &sleep_s) < 0 || ch_slots_get(args, fn, &view, &slots, &stride) < 0)
        return NULL;
    char *base = (char *)view.buf;
    uint32_t *posted = (uint32_t *)(void *)(base + CH_OFF_REQUESTS), *sleepers = posted + 1;
    int took = ch_take_in(base, slots, stride, &index, &serving), caught = 0, shared = 0, failed = 0;
    double spun = 0.0;
    if (!took && (spin_s > 0 || sleep_s > 0)) {
        PyThreadState *ts = PyEval_SaveThread();
        if (spin_s > 0) {
            uint64_t start = ch_now_ns();
            if (spin_past(posted, seen, start + (uint64_t)(spin_s * 1e9), &shared))
                took = ch_take_in(base, slots, stride, &index, &serving);
            caught = took && !shared;
            spun = (double)(ch_now_ns() - start) * 1e-9;
        }
        if (!took && sleep_s > 0) {
            /* Counted in (an RMW) before the last look; a client bumps `posted` after its post
             * and reads the count after that: it wakes us, or the kernel sees the bump. */
            __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
            took = ch_take_in(base, slots, stride, &index, &serving);
            if (!took)
                failed = sleep_on(posted, seen, sleep_s, &ts);
            __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
            if (!took && !failed)
                took = ch_take_in(base, slots, stride, &index, &serving);
        }
        PyEval_RestoreThread(ts);
    }
    PyBuffer_Release(&view);
    if (failed > 0) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (failed < 0)
        return NULL;
    PyObject *got = ch_taken(took, index, serving);
    return got ? Py_BuildValue("(NdO)", got, spun, caught ? Py_True : Py_False) : NULL;
}
