/*
 * shmring._core: a client's wait for its reply, in one call with the GIL
 * released: busy-poll the slot's state word a while (the learned spin of
 * _spin.py decides how long), then sleep on it as a counted waiter (the
 * no-lost-wake-up rule of docs/format.md, "Channel protocol"). The caller
 * keeps the policy: it asks again after a slice that timed out, checking
 * the server's lease and its deadline in between.
 */
#include "core_channel.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Not replied yet. Any other value (a server's recovery moving the slot, a corrupt file) is
 * waited on like a pending one: the caller looks at the server and its deadline after a slice. */
static inline int
pending(uint32_t state, uint32_t posted)
{
    return state != ch_word(posted, CH_REPLY);
}

/* Poll until the reply is in or `until` (ns) passes; the last state read. *shared: a yield
 * ran another thread (ch_yield). */
static uint32_t
spin(const uint32_t *word, uint32_t posted, uint64_t until, int *shared)
{
    uint32_t state;
    for (unsigned i = 1; pending(state = __atomic_load_n(word, __ATOMIC_ACQUIRE), posted); i++) {
        if ((i & 63) == 0) {
            if (ch_now_ns() >= until)
                break;
            *shared |= ch_yield(); /* a server on this core gets to run */
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    return state;
}

/* channel_wait(buf, slot_off, posted, spin_s, sleep_s) -> (state, spun_s, caught, timed_out).
 *
 * Spins up to spin_s while the reply to the request posted as `posted` is not in, then, if it
 * still is not, sleeps up to sleep_s on the state word. Returns the state read last, the wall
 * time the spin took and whether it caught the reply on its own, without a yield that ran
 * another thread on our core (for the learned spin), and whether the
 * wait ended without reply or wake-up (time to look at the server and the deadline). */
PyObject *
channel_wait(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    const char *fn = "channel_wait";
    uint32_t posted;
    size_t slot_off;
    double spin_s, sleep_s;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 5 arguments (%zd given)", fn, nargs);
        return NULL;
    }
    if (ch_size_arg(args[1], fn, "slot offset", &slot_off) < 0 || ch_u32_arg(args[2], fn, "posted", &posted) < 0 ||
        ch_seconds_arg(args[3], fn, "spin", &spin_s) < 0 || ch_seconds_arg(args[4], fn, "sleep", &sleep_s) < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0)
        return NULL;
    if ((size_t)slot_off + 8 > (size_t)view.len || slot_off % 8) {
        PyErr_Format(PyExc_ValueError, "%s: slot offset %zu is not an aligned slot of a %zd-byte mapping", fn,
                     slot_off, view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    char *slot = (char *)view.buf + slot_off;
    uint32_t *word = ch_u32(slot, CH_S_STATE), *waiters = ch_u32(slot, CH_S_WAITERS);
    uint32_t state = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    double spun = 0.0;
    int caught = 0, shared = 0, timed_out = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t start = ch_now_ns();
    if (spin_s > 0 && pending(state, posted)) {
        state = spin(word, posted, start + (uint64_t)(spin_s * 1e9), &shared);
        spun = (double)(ch_now_ns() - start) * 1e-9;
        caught = !pending(state, posted) && !shared;
    }
    if (sleep_s <= 0 && pending(state, posted))
        timed_out = 1; /* no time to sleep: as a slice that ran out */
    if (sleep_s > 0 && pending(state, posted)) {
        uint64_t until = ch_now_ns() + (uint64_t)(sleep_s * 1e9);
        struct timespec deadline = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
        /* Counted in (an RMW) before the kernel compares the word with `state`; the server moves
         * the word (a CAS) before it reads the count: it wakes us, or we do not sleep. */
        __atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
        for (;;) {
            long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, state, &deadline, NULL, FUTEX_BITSET_MATCH_ANY);
            int err = errno;
            if (rc == 0)
                break; /* a wake-up: the reply, or a cancel the caller looks at */
            if (err == EAGAIN) {
                /* The word moved before we slept: most often REQUEST -> SERVING, which wakes
                 * nobody. Sleep on again on its new value, up to the same deadline. */
                state = __atomic_load_n(word, __ATOMIC_ACQUIRE);
                if (!pending(state, posted))
                    break;
                continue;
            }
            if (err == ETIMEDOUT) {
                timed_out = 1;
                break;
            }
            if (err != EINTR) {
                failed = err;
                break;
            }
            /* A signal: its Python handler runs (and may raise) with the GIL. */
            Py_BLOCK_THREADS
            int raised = PyErr_CheckSignals() < 0;
            Py_UNBLOCK_THREADS
            if (raised) {
                failed = -1;
                break;
            }
        }
        __atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
        state = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failed > 0) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (failed < 0)
        return NULL;
    return Py_BuildValue("(kdOO)", (unsigned long)state, spun, caught ? Py_True : Py_False,
                         timed_out ? Py_True : Py_False);
}
