/* shmring._sync: OFD locks, released by the kernel with the open file (see sync_module.c). */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

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
PyObject *
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
PyObject *
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
PyObject *
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
