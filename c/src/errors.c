/* Error codes, their names, and the calling thread's last failure in words. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last_message[512];

int shmring_fail(int code, const char *fmt, ...)
{
    int saved = errno; /* callers may report errno after this */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof(last_message), fmt, ap);
    va_end(ap);
    errno = saved;
    return code;
}

int shmring_fail_errno(int err, const char *what, const char *path)
{
    switch (err) {
    case ENOENT:
        return shmring_fail(SHMRING_ENOTFOUND, "no ring at %s", path);
    case EACCES:
    case EPERM:
        return shmring_fail(SHMRING_EPERM, "permission denied %s %s (%s)", what, path, strerror(err));
    case ELOOP:
        return shmring_fail(SHMRING_ELAYOUT, "%s is a symbolic link; rings must be regular files "
                            "(links are never followed)", path);
    case EISDIR:
        return shmring_fail(SHMRING_ELAYOUT, "%s is a directory, not a ring", path);
    case ENOSPC:
    case EFBIG:
        return shmring_fail(SHMRING_ENOSPC, "not enough memory %s %s (%s)", what, path, strerror(err));
    case ENOMEM:
        return shmring_fail(SHMRING_ENOMEM, "out of memory %s %s", what, path);
    default:
        errno = err;
        return shmring_fail(SHMRING_ESYS, "%s %s failed: %s", what, path, strerror(err));
    }
}

const char *shmring_strerror(int err)
{
    switch (err) {
    case SHMRING_OK: return "success";
    case SHMRING_ETIMEDOUT: return "timeout";
    case SHMRING_EWOULDBLOCK: return "would block";
    case SHMRING_ETOOLARGE: return "too large";
    case SHMRING_ELAYOUT: return "layout mismatch";
    case SHMRING_ENOTFOUND: return "not found";
    case SHMRING_EEXIST: return "already exists";
    case SHMRING_EPERM: return "permission denied";
    case SHMRING_EBROKEN: return "broken or replaced";
    case SHMRING_ENOSPC: return "no space";
    case SHMRING_EINVAL: return "invalid argument";
    case SHMRING_ESCHEMA: return "frame does not match the ring's schema";
    case SHMRING_EBUSY: return "reader table full";
    case SHMRING_ENOMEM: return "out of memory";
    case SHMRING_ESYS: return "system error";
    case SHMRING_ECLOSED: return "nothing reserved or held";
    default: return "unknown shmring error";
    }
}

const char *shmring_errmsg(void)
{
    return last_message;
}
