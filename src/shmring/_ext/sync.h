/*
 * shmring._sync internals shared by its sources, one per mechanism:
 *   sync_args.c     buffer and argument checks every call makes first
 *   sync_atomics.c  load-acquire / store-release / compare-exchange / fetch-add
 *   sync_futex.c    shared futex wait and wake
 *   sync_spin.c     the bounded busy-poll before a futex wait
 *   sync_ofd.c      OFD (open file description) locks
 *   sync_module.c   the module: method table and constants
 */
#ifndef SHMRING_SYNC_H
#define SHMRING_SYNC_H

#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <stdint.h>

enum { WAIT_WOKEN = 0, WAIT_TIMED_OUT = 1, WAIT_VALUE_CHANGED = 2 };

/* Only PyInit__sync is exported from the shared object. */
#define SYNC_INTERNAL __attribute__((visibility("hidden")))

/* sync_args.c */
SYNC_INTERNAL PyObject *index_of(PyObject *obj, const char *what);
SYNC_INTERNAL int as_integer(PyObject *obj, const char *what, long long lo, long long hi, long long *out);
SYNC_INTERNAL int get_buffer(PyObject *obj, Py_buffer *view, int writable);
SYNC_INTERNAL void *word_at(PyObject *obj, PyObject *offset_obj, Py_ssize_t width, int writable, Py_buffer *view);
SYNC_INTERNAL int check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi);
SYNC_INTERNAL int as_word(PyObject *obj, int bits, const char *what, uint64_t *out);

/* The module's functions (METH_FASTCALL unless noted). */
#define SYNC_FASTCALL(NAME) SYNC_INTERNAL PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
SYNC_FASTCALL(load32);
SYNC_FASTCALL(load64);
SYNC_FASTCALL(store32);
SYNC_FASTCALL(store64);
SYNC_FASTCALL(cas32);
SYNC_FASTCALL(cas64);
SYNC_FASTCALL(fetch_add32);
SYNC_FASTCALL(fetch_add64);
SYNC_INTERNAL PyObject *fence(PyObject *m, PyObject *unused); /* METH_NOARGS */
SYNC_FASTCALL(futex_wait);
SYNC_FASTCALL(futex_wake);
SYNC_FASTCALL(spin_while32);
SYNC_FASTCALL(ofd_lock);
SYNC_FASTCALL(ofd_unlock);
SYNC_FASTCALL(ofd_held);

#endif /* SHMRING_SYNC_H */
