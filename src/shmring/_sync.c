/*
 * shmring._sync — the C core: atomics, futex wait/wake and OFD locks.
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
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { WAIT_WOKEN = 0, WAIT_TIMED_OUT = 1, WAIT_VALUE_CHANGED = 2 };

/* ---------- buffer access ---------------------------------------------- */

/* obj as a Python int (anything with __index__, numpy scalars included), or a
 * TypeError naming the argument. New reference. */
static PyObject *
index_of(PyObject *obj, const char *what)
{
    PyObject *index = PyNumber_Index(obj);
    if (!index && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %.100s", what, Py_TYPE(obj)->tp_name);
    }
    return index;
}

/* An integer argument (anything with __index__) in [lo, hi], named in errors:
 * a float is a TypeError, a value out of range (even beyond 64 bits) a ValueError. */
static int
as_integer(PyObject *obj, const char *what, long long lo, long long hi, long long *out)
{
    PyObject *index = index_of(obj, what);
    if (!index)
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in %lld..%lld, got %R", what, lo, hi, obj);
        return -1;
    }
    *out = v;
    return 0;
}

/* Borrow obj's bytes. Every refusal of a read-only buffer is the same TypeError
 * (exporters disagree: mmap says BufferError, numpy ValueError); other
 * problems (a closed mmap, a strided array) keep the exporter's own error. */
static int
get_buffer(PyObject *obj, Py_buffer *view, int writable)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) == 0)
        return 0;
    if (writable && !PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0) { /* readable: so it is read-only */
            PyBuffer_Release(view);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            PyErr_Format(PyExc_TypeError,
                         "buffer must be a writable contiguous buffer (mmap, bytearray, numpy array), "
                         "got a read-only %.100s", Py_TYPE(obj)->tp_name);
            return -1;
        }
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "buffer must be a %s contiguous buffer (mmap, bytearray, numpy array), got %.100s",
                     writable ? "writable" : "readable", Py_TYPE(obj)->tp_name);
    }
    return -1;
}

/* Get a pointer to the `width`-byte word at `offset` of `obj`.
 * On success the caller must PyBuffer_Release(view). */
static void *
word_at(PyObject *obj, PyObject *offset_obj, Py_ssize_t width, int writable, Py_buffer *view)
{
    long long offset;
    if (as_integer(offset_obj, "offset", 0, PY_SSIZE_T_MAX, &offset) < 0)
        return NULL;
    if (get_buffer(obj, view, writable) < 0)
        return NULL;
    if (offset > view->len - width) {
        PyErr_Format(PyExc_ValueError, "offset %lld out of range for a %zd-byte word in a %zd-byte buffer",
                     offset, width, view->len);
        PyBuffer_Release(view);
        return NULL;
    }
    char *p = (char *)view->buf + offset;
    if (((uintptr_t)p) % (uintptr_t)width != 0) {
        PyErr_Format(PyExc_ValueError, "offset %lld is not %zd-byte aligned (address %p)", offset, width, (void *)p);
        PyBuffer_Release(view);
        return NULL;
    }
    return p;
}

static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi)
{
    if (nargs < lo || nargs > hi) {
        if (lo == hi)
            PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, lo, nargs);
        else
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, lo, hi, nargs);
        return -1;
    }
    return 0;
}

/* A value for a `bits`-wide unsigned word: 0 <= v < 2**bits. Accepts any
 * __index__ integer (numpy scalars included). */
static int
as_word(PyObject *obj, int bits, const char *what, uint64_t *out)
{
    PyObject *index = index_of(obj, what);
    if (!index)
        return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if ((v == (unsigned long long)-1 && PyErr_Occurred()) || (bits == 32 && v > UINT32_MAX)) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be in 0..2**%d-1, got %R", what, bits, obj);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* ---------- atomics ------------------------------------------------------ */

#define DEFINE_LOAD(NAME, T)                                                     \
    static PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
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
    static PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
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
    static PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
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
    static PyObject *NAME(PyObject *m, PyObject *const *args, Py_ssize_t nargs)  \
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

static PyObject *
fence(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

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
static PyObject *
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
static PyObject *
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

/* ---------- OFD locks ---------------------------------------------------- */

static int
parse_range(PyObject *const *args, int *fd, off_t *start, off_t *length)
{
    *fd = PyObject_AsFileDescriptor(args[0]);
    if (*fd < 0)
        return -1;
    long long s, n;
    if (as_integer(args[1], "lock start", 0, LLONG_MAX, &s) < 0 ||
        as_integer(args[2], "lock length", 1, LLONG_MAX - s, &n) < 0)
        return -1;
    *start = (off_t)s;
    *length = (off_t)n;
    return 0;
}

static void
fill_flock(struct flock *fl, short type, off_t start, off_t length)
{
    memset(fl, 0, sizeof(*fl)); /* l_pid must be 0 for OFD locks */
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = start;
    fl->l_len = length;
}

/* ofd_lock(fd, start, length, exclusive=True, wait=False) -> bool
 *
 * True when the lock is now held through this open file description; False
 * when another holds a conflicting lock and wait is false. With wait, the
 * thread sleeps in the kernel (GIL released) until the lock is free. */
static PyObject *
ofd_lock(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    int fd;
    off_t start, length;
    if (check_nargs("ofd_lock", nargs, 3, 5) < 0 || parse_range(args, &fd, &start, &length) < 0)
        return NULL;
    int exclusive = nargs > 3 ? PyObject_IsTrue(args[3]) : 1;
    int wait = nargs > 4 ? PyObject_IsTrue(args[4]) : 0;
    if (exclusive < 0 || wait < 0)
        return NULL;
    struct flock fl;
    for (;;) {
        int rc, err;
        fill_flock(&fl, exclusive ? F_WRLCK : F_RDLCK, start, length);
        Py_BEGIN_ALLOW_THREADS
        rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
        err = errno;
        Py_END_ALLOW_THREADS
        if (rc == 0)
            Py_RETURN_TRUE;
        if (!wait && (err == EAGAIN || err == EACCES))
            Py_RETURN_FALSE;
        if (err == EBADF && fcntl(fd, F_GETFD) != -1) {
            /* The descriptor is open, so EBADF means its access mode does not allow the lock type. */
            PyErr_Format(PyExc_ValueError, "an %s lock needs a descriptor opened for %s; fd %d is not",
                         exclusive ? "exclusive" : "shared", exclusive ? "writing" : "reading", fd);
            return NULL;
        }
        if (err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return NULL;
            continue;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
}

/* ofd_unlock(fd, start, length) */
static PyObject *
ofd_unlock(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    int fd;
    off_t start, length;
    if (check_nargs("ofd_unlock", nargs, 3, 3) < 0 || parse_range(args, &fd, &start, &length) < 0)
        return NULL;
    struct flock fl;
    fill_flock(&fl, F_UNLCK, start, length);
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* ofd_held(fd, start, length) -> bool
 *
 * Whether any *other* open file description holds a lock overlapping the
 * range. Locks held through `fd` itself never count (the kernel does not
 * report a conflict with oneself), so callers probe through a descriptor of
 * their own. */
static PyObject *
ofd_held(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    int fd;
    off_t start, length;
    if (check_nargs("ofd_held", nargs, 3, 3) < 0 || parse_range(args, &fd, &start, &length) < 0)
        return NULL;
    struct flock fl;
    fill_flock(&fl, F_WRLCK, start, length);
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(fl.l_type != F_UNLCK);
}

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
