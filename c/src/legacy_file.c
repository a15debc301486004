/* Files of the legacy layout: naming, creating (atomically), mapping, validating
 * (docs/format-legacy.md section 1, "Validation"). */
#include "legacy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint32_t leg_load(const unsigned char *base, uint64_t off)
{
    return __atomic_load_n((const uint32_t *)(const void *)(base + off), __ATOMIC_ACQUIRE);
}

void leg_store(unsigned char *base, uint64_t off, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)(base + off), v, __ATOMIC_RELEASE);
}

uint32_t leg_add(unsigned char *base, uint64_t off, int32_t delta)
{
    /* Atomic, so a concurrent shmring peer's +1/-1 on count is never lost. */
    return __atomic_add_fetch((uint32_t *)(void *)(base + off), (uint32_t)delta, __ATOMIC_SEQ_CST);
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 200 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int shmring_legacy_path(const char *name, char *path, size_t cap)
{
    if (!name)
        return shmring_fail(SHMRING_EINVAL, "legacy name is NULL");
    int n;
    if (strchr(name, '/')) {
        n = snprintf(path, cap, "%s", name);
    } else {
        if (!valid_name(name))
            return shmring_fail(SHMRING_EINVAL, "legacy name \"%s\" must match [A-Za-z0-9_-][A-Za-z0-9._-]{0,199} "
                                "(or be a path containing '/')", name);
        n = snprintf(path, cap, "/tmp/smem_%s", name);
    }
    if (n < 0 || (size_t)n >= cap)
        return shmring_fail(SHMRING_EINVAL, "legacy path of \"%s\" does not fit %zu bytes", name, cap);
    return SHMRING_OK;
}

int leg_create_file(const char *path, uint64_t size, uint32_t mode, void (*init)(unsigned char *, void *), void *ctx)
{
    size_t len = strlen(path) + 40;
    char *tmp = malloc(len);
    if (!tmp)
        return shmring_fail(SHMRING_ENOMEM, "out of memory creating %s", path);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, len, "%s.%d.%ld.tmp", path, (int)getpid(), (long)ts.tv_nsec);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = SHMRING_OK;
    if (fd < 0) {
        rc = shmring_fail_errno(errno, "creating", path);
        free(tmp);
        return rc;
    }
    if (fchmod(fd, mode) < 0 || ftruncate(fd, (off_t)size) < 0) {
        rc = shmring_fail_errno(errno, "sizing", path);
    } else if (init) {
        unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            rc = shmring_fail_errno(errno, "mapping", path);
        } else {
            init(base, ctx);
            munmap(base, size);
        }
    }
    /* link() publishes the complete file and never replaces an existing name. */
    if (rc == SHMRING_OK && link(tmp, path) < 0)
        rc = errno == EEXIST ? shmring_fail(SHMRING_EEXIST, "%s exists already", path)
                             : shmring_fail_errno(errno, "publishing", path);
    unlink(tmp);
    close(fd);
    free(tmp);
    return rc;
}

int leg_map(const char *path, int writable, uint64_t min_size, shmring_legacy *m)
{
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && writable < 0 && (errno == EACCES || errno == EPERM)) {
        writable = 0;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    }
    if (fd < 0) {
        if (errno == ENOENT)
            return shmring_fail(SHMRING_ENOTFOUND, "no legacy SharedMem file at %s", path);
        return shmring_fail_errno(errno, "opening", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a regular file (file type: expected regular file)", path);
    }
    if ((uint64_t)st.st_size < min_size) {
        close(fd);
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a usable legacy SharedMem file: file size is too small "
                            "(expected >= %llu, found %lld)", path, (unsigned long long)min_size, (long long)st.st_size);
    }
    unsigned char *base = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int rc = shmring_fail_errno(errno, "mapping", path);
        close(fd);
        return rc;
    }
    m->fd = fd;
    m->base = base;
    m->size = (uint64_t)st.st_size;
    m->writable = writable != 0;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    return SHMRING_OK;
}

void leg_unmap(shmring_legacy *m)
{
    if (m->base)
        munmap(m->base, m->size);
    if (m->fd >= 0)
        close(m->fd);
    m->base = NULL;
    m->fd = -1;
}

static int refuse(const char *path, const char *field, const char *why, unsigned long long expected,
                  unsigned long long found)
{
    return shmring_fail(SHMRING_ELAYOUT, "%s is not a usable legacy SharedMem file: %s %s (expected %llu, found %llu)",
                        path, field, why, expected, found);
}

int leg_check_cursors(const char *path, const unsigned char *base, uint32_t item_alloc)
{
    uint32_t head = leg_load(base, LEG_OFF_HEAD), tail = leg_load(base, LEG_OFF_TAIL);
    uint32_t count = leg_load(base, LEG_OFF_COUNT);
    if (head >= item_alloc)
        return refuse(path, "head", "is out of range, < item_alloc", item_alloc, head);
    if (tail >= item_alloc)
        return refuse(path, "tail", "is out of range, < item_alloc", item_alloc, tail);
    if (count > item_alloc)
        return refuse(path, "count", "is out of range, <= item_alloc", item_alloc, count);
    return SHMRING_OK;
}

int leg_validate(const char *path, const unsigned char *base, uint64_t size, uint32_t *item_size,
                 uint32_t *item_alloc)
{
    uint32_t sig = leg_load(base, LEG_OFF_SIGNATURE);
    if (sig != LEG_SIGNATURE)
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a usable legacy SharedMem file: signature does not match "
                            "(not a SharedMem file, or not initialised yet) (expected 0x11031973, found 0x%08x)", path, sig);
    uint32_t is = leg_load(base, LEG_OFF_ITEM_SIZE), ia = leg_load(base, LEG_OFF_ITEM_ALLOC);
    uint32_t memsize = leg_load(base, LEG_OFF_MEMSIZE);
    if (is < 1)
        return refuse(path, "item_size", "is out of range, >=", 1, is);
    if (ia < 1)
        return refuse(path, "item_alloc", "is out of range, >=", 1, ia);
    uint64_t formula = LEG_MEM_HEADER + ((uint64_t)LEG_BUF_HEADER + is) * ia;
    if (memsize != formula)
        return refuse(path, "memsize", "disagrees with 32 + (20 + item_size) * item_alloc", formula, memsize);
    if (memsize > size)
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a usable legacy SharedMem file: memsize exceeds the file "
                            "(truncated?) (expected <= file size %llu, found %u)", path, (unsigned long long)size, memsize);
    *item_size = is;
    *item_alloc = ia;
    return leg_check_cursors(path, base, ia);
}
