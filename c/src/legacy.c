/* The legacy SharedMem queue for C and MATLAB: the original rules (docs/format-legacy.md
 * section 1) in shmring's store order, every header update under the file's Locker,
 * wake-ups through its data word, and re-attaching to a re-created file (section 3). */
#include "legacy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int new_handle(const char *name, shmring_legacy **out, char **path)
{
    char buf[4096];
    *out = NULL;
    int rc = shmring_legacy_path(name, buf, sizeof(buf));
    if (rc)
        return rc;
    shmring_legacy *m = calloc(1, sizeof(*m));
    if (!m || !(*path = strdup(buf))) {
        free(m);
        return shmring_fail(SHMRING_ENOMEM, "out of memory opening %s", buf);
    }
    m->fd = -1;
    m->path = *path;
    *out = m;
    return SHMRING_OK;
}

static int finish(shmring_legacy *m, int rc, shmring_legacy **out)
{
    if (rc == SHMRING_OK && !m->locker) {
        rc = shmring_locker_for_file(m->path, &m->locker);
        if (rc == SHMRING_EPERM && !m->writable)
            rc = SHMRING_OK; /* read-only: read() needs no lock, and learns of data by looking */
    }
    if (rc) {
        shmring_legacy_close(m);
        *out = NULL;
        return rc;
    }
    *out = m;
    return SHMRING_OK;
}

struct geometry { uint32_t item_size, item_alloc; };

static void init_queue(unsigned char *base, void *ctx)
{
    const struct geometry *g = ctx;
    leg_store(base, LEG_OFF_MEMSIZE, LEG_MEM_HEADER + (LEG_BUF_HEADER + g->item_size) * g->item_alloc);
    leg_store(base, LEG_OFF_ITEM_SIZE, g->item_size);
    leg_store(base, LEG_OFF_ITEM_ALLOC, g->item_alloc);
    leg_store(base, LEG_OFF_SIGNATURE, LEG_SIGNATURE); /* last: whoever sees it sees a whole header */
}

static int adopt(shmring_legacy *m, const struct geometry *g)
{
    int rc = leg_map(m->path, 1, LEG_MEM_HEADER, m);
    if (rc == SHMRING_OK)
        rc = shmring_locker_for_file(m->path, &m->locker);
    if (rc == SHMRING_OK)
        rc = shmring_locker_acquire(m->locker, LEG_LOCK_TIMEOUT_S);
    if (rc)
        return rc;
    uint64_t need = LEG_MEM_HEADER + ((uint64_t)LEG_BUF_HEADER + g->item_size) * g->item_alloc;
    if (leg_load(m->base, LEG_OFF_SIGNATURE) == 0 && m->size >= need)
        init_queue(m->base, (void *)g); /* a zero-filled file gets its header, as the original did */
    shmring_locker_release(m->locker);
    rc = leg_validate(m->path, m->base, m->size, &m->item_size, &m->item_alloc);
    if (rc == SHMRING_OK && (m->item_size != g->item_size || m->item_alloc != g->item_alloc))
        rc = shmring_fail(SHMRING_ELAYOUT, "%s exists with item_size %u and item_alloc %u, not %u and %u", m->path,
                          m->item_size, m->item_alloc, g->item_size, g->item_alloc);
    return rc;
}

int shmring_legacy_create(const char *name, uint32_t item_size, uint32_t item_alloc, uint32_t mode, int exist_ok,
                          shmring_legacy **out)
{
    if (item_size < 1 || item_alloc < 1)
        return shmring_fail(SHMRING_EINVAL, "item_size and item_alloc must be >= 1, got %u and %u", item_size, item_alloc);
    uint64_t size = LEG_MEM_HEADER + ((uint64_t)LEG_BUF_HEADER + item_size) * item_alloc;
    if (size > UINT32_MAX)
        return shmring_fail(SHMRING_EINVAL, "memsize 32 + (20 + item_size) * item_alloc must fit in 32 bits; "
                            "item_size=%u and item_alloc=%u give %llu", item_size, item_alloc, (unsigned long long)size);
    shmring_legacy *m;
    char *path;
    int rc = new_handle(name, &m, &path);
    if (rc)
        return rc;
    struct geometry g = {item_size, item_alloc};
    rc = leg_create_file(path, size, mode ? mode : 0600, init_queue, &g);
    if (rc == SHMRING_EEXIST && exist_ok)
        return finish(m, adopt(m, &g), out);
    if (rc == SHMRING_OK)
        rc = leg_map(path, 1, LEG_MEM_HEADER, m);
    if (rc == SHMRING_OK)
        rc = leg_validate(path, m->base, m->size, &m->item_size, &m->item_alloc);
    return finish(m, rc, out);
}

int shmring_legacy_open(const char *name, shmring_legacy **out)
{
    shmring_legacy *m;
    char *path;
    int rc = new_handle(name, &m, &path);
    if (rc)
        return rc;
    rc = leg_map(path, -1, LEG_MEM_HEADER, m);
    if (rc == SHMRING_OK)
        rc = leg_validate(path, m->base, m->size, &m->item_size, &m->item_alloc);
    return finish(m, rc, out);
}

int shmring_legacy_create_raw(const char *name, uint64_t size, uint32_t mode, int exist_ok, shmring_legacy **out)
{
    if (size < 1)
        return shmring_fail(SHMRING_EINVAL, "raw file size must be >= 1 byte, got %llu", (unsigned long long)size);
    shmring_legacy *m;
    char *path;
    int rc = new_handle(name, &m, &path);
    if (rc)
        return rc;
    m->raw = 1;
    rc = leg_create_file(path, size, mode ? mode : 0600, NULL, NULL);
    if (rc == SHMRING_EEXIST && exist_ok)
        rc = SHMRING_OK;
    if (rc == SHMRING_OK)
        rc = leg_map(path, -1, 1, m);
    return finish(m, rc, out);
}

int shmring_legacy_open_raw(const char *name, shmring_legacy **out)
{
    shmring_legacy *m;
    char *path;
    int rc = new_handle(name, &m, &path);
    if (rc)
        return rc;
    m->raw = 1;
    return finish(m, leg_map(path, -1, 1, m), out);
}

void shmring_legacy_close(shmring_legacy *m)
{
    if (!m)
        return;
    leg_unmap(m);
    shmring_locker_close(m->locker);
    free(m->path);
    free(m);
}

int shmring_legacy_delete(shmring_legacy *m)
{
    struct stat st;
    int rc = SHMRING_OK;
    /* Only if the name still names the file this handle mapped. */
    if (lstat(m->path, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino && unlink(m->path) < 0)
        rc = shmring_fail_errno(errno, "removing", m->path);
    shmring_legacy_close(m);
    return rc;
}

const char *shmring_legacy_file(const shmring_legacy *m) { return m->path; }
uint64_t shmring_legacy_size(const shmring_legacy *m) { return m->size; }
uint32_t shmring_legacy_reattached(const shmring_legacy *m) { return m->reattached; }
uint32_t shmring_legacy_put_counter(const shmring_legacy *m) { return m->put_counter; }

int shmring_legacy_read_header(const shmring_legacy *m, shmring_legacy_header *h)
{
    if (m->raw)
        return shmring_fail(SHMRING_ELAYOUT, "%s was opened raw (no MemHeader)", m->path);
    uint32_t *f = &h->signature;
    for (int i = 0; i < 8; i++)
        f[i] = leg_load(m->base, 4u * (uint32_t)i);
    return SHMRING_OK;
}

/* ---- raw bytes ---- */

static int check_range(const shmring_legacy *m, uint64_t pos, uint64_t n, const char *what)
{
    if (pos > m->size || n > m->size - pos)
        return shmring_fail(SHMRING_EINVAL, "%s of %llu bytes at %llu is outside %s (%llu bytes)", what,
                            (unsigned long long)n, (unsigned long long)pos, m->path, (unsigned long long)m->size);
    return SHMRING_OK;
}

int shmring_legacy_read(const shmring_legacy *m, uint64_t pos, void *buf, uint64_t n)
{
    int rc = check_range(m, pos, n, "read");
    if (rc == SHMRING_OK)
        memcpy(buf, m->base + pos, n);
    return rc;
}

int shmring_legacy_write(shmring_legacy *m, uint64_t pos, const void *data, uint64_t n)
{
    if (!m->writable)
        return shmring_fail(SHMRING_EPERM, "%s is open read-only: write refused", m->path);
    int rc = check_range(m, pos, n, "write");
    if (rc)
        return rc;
    memcpy(m->base + pos, data, n);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (m->locker)
        leg_data_announce(m->locker);
    return SHMRING_OK;
}

uint32_t shmring_legacy_data_seq(const shmring_legacy *m)
{
    return m->locker ? leg_data_seq(m->locker) : 0;
}

void shmring_legacy_wait(shmring_legacy *m, uint32_t seen, double timeout_s)
{
    if (m->locker)
        leg_data_sleep(m->locker, seen, timeout_s);
    else if (timeout_s > 0)
        usleep((useconds_t)(timeout_s * 1e6)); /* no lock file: only looking again is left */
}
