/* put_buf / get_buf on the legacy queue (docs/format-legacy.md section 1 and 3).
 *
 * The originals take no lock, so the store order is what keeps them safe: a put
 * writes payload and BufHeader, then head (release), then count (atomic +1); a
 * get reads count (acquire), then the slot, then tail (release), then count
 * (atomic -1). Between shmring processes every put and get also holds the Locker. */
#include "legacy.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t slot_offset(const shmring_legacy *m, uint32_t index)
{
    return LEG_MEM_HEADER + (uint64_t)index * (LEG_BUF_HEADER + m->item_size);
}

/* The header must still have the geometry validated at open, cursors in range. */
static int live_header(const shmring_legacy *m)
{
    if (m->raw)
        return shmring_fail(SHMRING_ELAYOUT, "%s was opened raw (no MemHeader): open it as a queue", m->path);
    if (leg_load(m->base, LEG_OFF_SIGNATURE) != LEG_SIGNATURE) {
        uint32_t is, ia;
        return leg_validate(m->path, m->base, m->size, &is, &ia); /* names the signature */
    }
    uint32_t is = leg_load(m->base, LEG_OFF_ITEM_SIZE), ia = leg_load(m->base, LEG_OFF_ITEM_ALLOC);
    if (is != m->item_size)
        return shmring_fail(SHMRING_ELAYOUT, "%s header changed under us: item_size is %u, was %u at open", m->path, is,
                            m->item_size);
    if (ia != m->item_alloc)
        return shmring_fail(SHMRING_ELAYOUT, "%s header changed under us: item_alloc is %u, was %u at open", m->path,
                            ia, m->item_alloc);
    return leg_check_cursors(m->path, m->base, m->item_alloc);
}

/* Follow a re-created file (the C++ init() deletes and re-creates it): 1 moved, 0 not. */
static int reattach_if_replaced(shmring_legacy *m)
{
    struct stat st;
    if (lstat(m->path, &st) < 0 || (st.st_dev == m->dev && st.st_ino == m->ino))
        return 0;
    shmring_legacy fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.fd = -1;
    fresh.path = m->path;
    if (leg_map(m->path, m->writable, LEG_MEM_HEADER, &fresh) != SHMRING_OK)
        return 0; /* gone or being re-created right now: look again next time */
    if (leg_validate(m->path, fresh.base, fresh.size, &fresh.item_size, &fresh.item_alloc) != SHMRING_OK) {
        leg_unmap(&fresh); /* header not written yet (signature 0) */
        return 0;
    }
    leg_unmap(m);
    m->fd = fresh.fd;
    m->base = fresh.base;
    m->size = fresh.size;
    m->dev = fresh.dev;
    m->ino = fresh.ino;
    m->item_size = fresh.item_size;
    m->item_alloc = fresh.item_alloc;
    m->reattached++;
    return 1;
}

static int need_lock(shmring_legacy *m, const char *what)
{
    if (!m->writable)
        return shmring_fail(SHMRING_EPERM, "%s is open read-only: %s refused", m->path, what);
    if (!m->locker)
        return shmring_fail(SHMRING_EPERM, "%s: no Locker for %s", m->path, what);
    return shmring_locker_acquire(m->locker, LEG_LOCK_TIMEOUT_S);
}

static int put_locked(shmring_legacy *m, const void *data, uint32_t len, const uint32_t rec[4])
{
    int rc = live_header(m);
    if (rc)
        return rc;
    if (leg_load(m->base, LEG_OFF_COUNT) >= m->item_alloc)
        return 0;
    uint32_t n = len < m->item_size ? len : m->item_size;
    if (n == 0)
        n = m->item_size; /* buf_len 0 means item_size */
    uint32_t head = leg_load(m->base, LEG_OFF_HEAD);
    unsigned char *slot = m->base + slot_offset(m, head);
    uint32_t k = len < n ? len : n;
    memcpy(slot + LEG_BUF_HEADER, data, k);
    memset(slot + LEG_BUF_HEADER + k, 0, n - k);
    uint32_t bh[5] = {rec[0], n, rec[1], rec[2], rec[3]};
    memcpy(slot, bh, sizeof(bh)); /* little-endian hosts: the words as they lie */
    leg_store(m->base, LEG_OFF_HEAD, (head + 1) % m->item_alloc); /* release: the slot is complete */
    leg_add(m->base, LEG_OFF_COUNT, 1);
    return 1;
}

int shmring_legacy_put(shmring_legacy *m, const void *data, uint32_t len, uint32_t width, uint32_t height,
                       uint32_t flags)
{
    int rc = need_lock(m, "put");
    if (rc)
        return rc;
    m->put_counter++; /* every attempt, stored or dropped: readers see the gaps */
    const uint32_t rec[4] = {m->put_counter, width, height, flags};
    rc = put_locked(m, data, len, rec);
    /* Full may mean nobody drains this file any more: a restarted consumer re-created it. */
    if (rc == 0 && reattach_if_replaced(m))
        rc = put_locked(m, data, len, rec);
    shmring_locker_release(m->locker);
    if (rc == 1)
        leg_data_announce(m->locker);
    return rc;
}

static int get_locked(shmring_legacy *m, void *buf, uint64_t cap, uint32_t unit, shmring_legacy_buf *info)
{
    int rc = live_header(m);
    if (rc)
        return rc;
    if (leg_load(m->base, LEG_OFF_COUNT) == 0)
        return 0;
    uint32_t tail = leg_load(m->base, LEG_OFF_TAIL);
    const unsigned char *slot = m->base + slot_offset(m, tail);
    uint32_t bh[5];
    memcpy(bh, slot, sizeof(bh));
    if (bh[1] == 0 || bh[1] > m->item_size)
        return 0; /* not a valid buffer: it stays queued, as in the original */
    info->put_counter = bh[0];
    info->buf_len = bh[1];
    info->width = bh[2];
    info->height = bh[3];
    info->flags = bh[4];
    if (bh[1] % unit) /* stays queued: the caller asked for whole items of `unit` bytes */
        return shmring_fail(SHMRING_ESCHEMA, "buffer of %u bytes in %s is not a whole number of %u-byte items", bh[1],
                            m->path, unit);
    if (bh[1] > cap) /* stays queued: the caller may try again with room for it */
        return shmring_fail(SHMRING_ETOOLARGE, "buffer of %u bytes in %s does not fit the %llu bytes given", bh[1],
                            m->path, (unsigned long long)cap);
    memcpy(buf, slot + LEG_BUF_HEADER, bh[1]);
    leg_store(m->base, LEG_OFF_TAIL, (tail + 1) % m->item_alloc);
    leg_add(m->base, LEG_OFF_COUNT, -1);
    return 1;
}

static int get_once(shmring_legacy *m, void *buf, uint64_t cap, uint32_t unit, shmring_legacy_buf *info)
{
    int rc = need_lock(m, "get");
    if (rc)
        return rc;
    rc = get_locked(m, buf, cap, unit, info);
    /* Empty may mean the producer re-created the file: follow it. */
    if (rc == 0 && reattach_if_replaced(m))
        rc = get_locked(m, buf, cap, unit, info);
    shmring_locker_release(m->locker);
    return rc;
}

int shmring_legacy_get(shmring_legacy *m, void *buf, uint64_t cap, shmring_legacy_buf *info, double timeout_s,
                       double poll_s)
{
    return shmring_legacy_get_items(m, buf, cap, 1, info, timeout_s, poll_s);
}

int shmring_legacy_get_items(shmring_legacy *m, void *buf, uint64_t cap, uint32_t unit, shmring_legacy_buf *info,
                             double timeout_s, double poll_s)
{
    memset(info, 0, sizeof(*info));
    if (poll_s <= 0)
        return shmring_fail(SHMRING_EINVAL, "poll interval must be > 0 s, got %g", poll_s);
    if (unit < 1)
        return shmring_fail(SHMRING_EINVAL, "item size must be >= 1 byte, got %u", unit);
    double deadline = shmring_monotonic_s() + timeout_s;
    for (;;) {
        uint32_t seen = m->locker ? leg_data_seq(m->locker) : 0; /* before looking: a later put still wakes us */
        int rc = get_once(m, buf, cap, unit, info);
        if (rc != 0 || timeout_s == 0)
            return rc;
        double left = timeout_s < 0 ? poll_s : leg_remaining(deadline);
        if (left <= 0)
            return 0;
        /* Originals never touch the data word: look again every poll_s at least. */
        leg_data_sleep(m->locker, seen, left < poll_s ? left : poll_s);
    }
}

uint32_t shmring_legacy_pending(const shmring_legacy *m)
{
    return m->raw ? 0 : leg_load(m->base, LEG_OFF_COUNT);
}
