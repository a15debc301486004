/* shmring._sync: atomics on aligned 32/64-bit words (ordering: see sync_module.c). */
#include "sync.h"

#include <limits.h>

/* ---------- atomics ------------------------------------------------------ */

#define DEFINE_LOAD(NAME, T)                                                     \
    PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
    {                                                                            \
        (void)m;                                                                 \
        Py_buffer view;                                                          \
        if (check_nargs(#NAME, nargs, 2, 2) < 0) return NULL;                    \
        T *p = word_at(args[0], args[1], sizeof(T), 0, &view);                   \
        if (!p) return NULL;                                                     \
        T v = __atomic_load_n(p, __ATOMIC_ACQUIRE);                              \
        PyBuffer_Release(&view);                                                 \
        return PyLong_FromUnsignedLongLong(v);                                   \
    }

#define DEFINE_STORE(NAME, T, BITS)                                              \
    PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
    {                                                                            \
        (void)m;                                                                 \
        Py_buffer view;                                                          \
        uint64_t v;                                                              \
        if (check_nargs(#NAME, nargs, 3, 3) < 0) return NULL;                    \
        if (as_word(args[2], BITS, "value", &v) < 0) return NULL;                \
        T *p = word_at(args[0], args[1], sizeof(T), 1, &view);                   \
        if (!p) return NULL;                                                     \
        __atomic_store_n(p, (T)v, __ATOMIC_RELEASE);                             \
        PyBuffer_Release(&view);                                                 \
        Py_RETURN_NONE;                                                          \
    }

/* Returns the value found; the exchange happened iff it equals `expected`. */
#define DEFINE_CAS(NAME, T, BITS)                                                \
    PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
    {                                                                            \
        (void)m;                                                                 \
        Py_buffer view;                                                          \
        uint64_t expected, desired;                                              \
        if (check_nargs(#NAME, nargs, 4, 4) < 0) return NULL;                    \
        if (as_word(args[2], BITS, "expected", &expected) < 0) return NULL;      \
        if (as_word(args[3], BITS, "desired", &desired) < 0) return NULL;        \
        T *p = word_at(args[0], args[1], sizeof(T), 1, &view);                   \
        if (!p) return NULL;                                                     \
        T found = (T)expected;                                                   \
        __atomic_compare_exchange_n(p, &found, (T)desired, 0, __ATOMIC_SEQ_CST,  \
                                    __ATOMIC_SEQ_CST);                           \
        PyBuffer_Release(&view);                                                 \
        return PyLong_FromUnsignedLongLong(found);                               \
    }

/* Adds a signed delta (wrapping modulo 2**BITS); returns the previous value. */
#define DEFINE_FETCH_ADD(NAME, T)                                                \
    PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
    {                                                                            \
        (void)m;                                                                 \
        Py_buffer view;                                                          \
        if (check_nargs(#NAME, nargs, 3, 3) < 0) return NULL;                    \
        long long delta;                                                         \
        if (as_integer(args[2], "delta", LLONG_MIN, LLONG_MAX, &delta) < 0)      \
            return NULL;                                                         \
        T *p = word_at(args[0], args[1], sizeof(T), 1, &view);                   \
        if (!p) return NULL;                                                     \
        T old = __atomic_fetch_add(p, (T)delta, __ATOMIC_SEQ_CST);               \
        PyBuffer_Release(&view);                                                 \
        return PyLong_FromUnsignedLongLong(old);                                 \
    }

DEFINE_LOAD(load32, uint32_t)
DEFINE_LOAD(load64, uint64_t)
DEFINE_STORE(store32, uint32_t, 32)
DEFINE_STORE(store64, uint64_t, 64)
DEFINE_CAS(cas32, uint32_t, 32)
DEFINE_CAS(cas64, uint64_t, 64)
DEFINE_FETCH_ADD(fetch_add32, uint32_t)
DEFINE_FETCH_ADD(fetch_add64, uint64_t)

PyObject *
fence(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}
