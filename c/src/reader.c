/* Readers: the lease and table entry, waiting (spin, then futex), copies and views. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t entry_off(uint32_t index)
{
    return SHMRING_OFF_READERS + (uint64_t)index * SHMRING_READER_ENTRY;
}

static void store64(unsigned char *b, uint64_t off, uint64_t value)
{
    __atomic_store_n((uint64_t *)(void *)(b + off), value, __ATOMIC_SEQ_CST);
}

static void store32(unsigned char *b, uint64_t off, uint32_t value)
{
    __atomic_store_n((uint32_t *)(void *)(b + off), value, __ATOMIC_SEQ_CST);
}

/* A writer waiting for room may be waiting on this reader: wake it. */
static void wake_writers(shmring_ring *r)
{
    shm_wake_if_sleeping(shmring_base(r), r->L.space, r->L.space_waiters);
}

/* Lease the first entry nobody holds (one description tries each byte:
 * a refused F_OFD_SETLK leaves nothing held). */
static int claim_entry(shmring_reader *rd)
{
    shmring_ring *r = rd->ring;
    rd->lease_fd = shmring_reopen(r->fd);
    if (rd->lease_fd < 0)
        return shmring_fail_errno(errno, "reopening", r->path);
    for (uint32_t i = 0; i < SHMRING_READER_ENTRIES; i++) {
        int got = shmring_ofd_lock(rd->lease_fd, entry_off(i), 1, 0);
        if (got < 0)
            return shmring_fail_errno(errno, "locking", r->path);
        if (got) {
            rd->index = i;
            return SHMRING_OK;
        }
    }
    return shmring_fail(SHMRING_EBUSY, "ring %s has %d live readers already; close one first", r->path,
                        SHMRING_READER_ENTRIES);
}

/* Fill the claimed entry; the state goes last so a scan never sees half an entry. */
static void init_entry(shmring_reader *rd, const char *name, uint64_t release)
{
    unsigned char *b = rd->ring->base;
    uint64_t e = entry_off(rd->index);
    char raw[SHMRING_NAME_BYTES] = {0};
    if (name)
        memcpy(raw, name, strnlen(name, SHMRING_NAME_BYTES));
    store32(b, e + SHMRING_R_STATE, SHMRING_STATE_FREE);
    store64(b, e + SHMRING_R_CURSOR, rd->cursor);
    store64(b, e + SHMRING_R_RELEASE, release);
    store64(b, e + SHMRING_R_LOST, 0);
    store64(b, e + SHMRING_R_RECEIVED, 0);
    store64(b, e + SHMRING_R_ATTACHED_NS, shm_realtime_ns());
    store64(b, e + SHMRING_R_ACTIVE_NS, 0);
    store32(b, e + SHMRING_R_PID, (uint32_t)getpid());
    memcpy(b + e + SHMRING_R_NAME, raw, sizeof(raw));
    store32(b, e + SHMRING_R_STATE, rd->queue ? SHMRING_STATE_QUEUE : SHMRING_STATE_BROADCAST);
}

int shmring_reader_open_at(shmring_ring *ring, const char *name, int queue, int start, shmring_reader **out)
{
    if (!ring || !out)
        return shmring_fail(SHMRING_EINVAL, "ring and out must not be NULL");
    *out = NULL;
    if (start < SHMRING_START_NEXT || start > SHMRING_START_LATEST)
        return shmring_fail(SHMRING_EINVAL, "start must be SHMRING_START_NEXT, _OLDEST or _LATEST, got %d", start);
    shmring_reader *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    rd->ring = ring;
    rd->lease_fd = -1;
    rd->queue = queue != 0;
    rd->spin_s = SHMRING_SPIN_LEARNED;
    shmring_spin_init(&rd->learned);
    rd->meta = malloc(ring->g.meta_bytes ? ring->g.meta_bytes : 1);
    int rc = rd->meta ? claim_entry(rd) : shmring_fail(SHMRING_ENOMEM, "out of memory");
    if (rc != SHMRING_OK) {
        if (rd->lease_fd >= 0)
            close(rd->lease_fd);
        free(rd->meta);
        free(rd);
        return rc;
    }
    uint64_t written = shmring_write_seq(ring);
    if (start == SHMRING_START_NEXT)
        rd->cursor = written;
    else if (start == SHMRING_START_LATEST)
        rd->cursor = written ? written - 1 : 0;
    else
        rd->cursor = written > ring->g.slots ? written - ring->g.slots : 0;
    init_entry(rd, name, rd->queue ? SHMRING_NO_PIN : rd->cursor);
    *out = rd;
    return SHMRING_OK;
}

int shmring_reader_open(shmring_ring *ring, const char *name, int queue, shmring_reader **out)
{
    return shmring_reader_open_at(ring, name, queue, SHMRING_START_NEXT, out);
}

void shmring_reader_set_spin(shmring_reader *r, double spin_s)
{
    r->spin_s = spin_s < 0 ? SHMRING_SPIN_LEARNED : spin_s;
}

uint64_t shmring_reader_lost(const shmring_reader *r) { return r->lost; }
uint64_t shmring_reader_received(const shmring_reader *r) { return r->received; }

/* ---------- views ------------------------------------------------------ */

void shmring_release(shmring_reader *rd)
{
    if (!rd || !rd->has_view)
        return;
    rd->has_view = 0;
    shm_set_release(shmring_base(rd->ring), &rd->ring->L, rd->index, rd->queue ? SHMRING_NO_PIN : rd->cursor);
}

int shmring_view_valid(const shmring_reader *rd)
{
    return rd->has_view && shm_still_committed(shmring_base(rd->ring), &rd->ring->L, rd->view_seq);
}

/* ---------- one attempt -------------------------------------------------- */

static void fill_info(shmring_reader *rd, const ShmSlotHeader *h, uint64_t seq, uint64_t lost,
                      shmring_frame_info *info)
{
    info->seq = seq; /* every field is set: no memset first */
    info->lost = lost;
    info->timestamp_ns = h->timestamp;
    info->nbytes = h->nbytes;
    memcpy(info->dtype, h->typestr, sizeof(info->dtype));
    info->ndim = h->ndim;
    memcpy(info->shape, h->shape, sizeof(info->shape));
    info->flags = h->flags;
    info->meta = rd->meta;
    info->meta_len = h->meta_len;
}

/* Where read step 4 puts a frame: the caller's buffer (NULL for a view) and the reader's metadata buffer. */
typedef struct {
    void *dst;
    uint64_t cap;
    char *meta;
} copy_target;

/* Read step 4 (see ShmCopyStep): refuse a frame larger than the buffer, so it stays unread. */
static int copy_frame(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload)
{
    const copy_target *t = ctx;
    if (t->dst && h->nbytes > t->cap)
        return 1;
    if (!payload) /* a queue reader's look before it claims the frame */
        return 0;
    if (h->meta_len)
        memcpy(t->meta, meta, h->meta_len);
    if (t->dst && h->nbytes)
        memcpy(t->dst, payload, h->nbytes);
    return 0;
}

/* Read steps 1-6 (or queue steps 1-3) once; frames skipped as lost are added to the
 * reader's counts, and a skip with nothing behind it is looked past at once. */
static ShmStatus read_once(shmring_reader *rd, void *dst, uint64_t cap, int view, ShmRead *got)
{
    shmring_ring *r = rd->ring;
    copy_target t = {dst, cap, rd->meta};
    int hold = view ? SHM_HOLD_VIEW : SHM_RELEASE_AFTER;
    ShmStatus status;
    do {
        status = rd->queue ? shm_read_queued(shmring_base(r), &r->L, rd->index, hold, SHM_NO_PIN, copy_frame, &t, got)
                           : shm_read_broadcast(shmring_base(r), &r->L, rd->index, rd->cursor, hold, SHM_NO_PIN,
                                                copy_frame, &t, got);
        rd->lost += got->lost;
        rd->pending_lost += got->lost;
        if (!rd->queue) /* every frame skipped moved the cursor: lost frames, then the one read */
            rd->cursor += got->lost + (status == SHM_FRAME);
    } while (status == SHM_SKIPPED);
    return status;
}

/* One try: SHMRING_OK with a frame, 1 when there is none yet, or an error. */
static int take(shmring_reader *rd, void *dst, uint64_t cap, int view, shmring_frame_info *info)
{
    ShmRead *got = &rd->got;
    switch (read_once(rd, dst, cap, view, got)) {
    case SHM_FRAME:
        rd->received += 1;
        fill_info(rd, &got->header, got->seq, rd->pending_lost, info);
        rd->pending_lost = 0;
        if (view) {
            rd->has_view = 1;
            rd->view_seq = got->seq;
        }
        return SHMRING_OK;
    case SHM_NOTHING:
        return 1;
    case SHM_REFUSED:
        memset(info, 0, sizeof(*info));
        info->nbytes = got->header.nbytes;
        return shmring_fail(SHMRING_ETOOLARGE, "the next frame of ring %s is %" PRIu64 " bytes, the buffer holds %"
                            PRIu64 "; the frame stays unread", rd->ring->path, got->header.nbytes, cap);
    default: /* SHM_CORRUPT: the copy step never fails */
        return shmring_fail(SHMRING_EBROKEN, "ring %s: slot of frame %" PRIu64 " is corrupt: %s (dtype '%s', "
                            "ndim %" PRIu32 ", %" PRIu64 " payload bytes)", rd->ring->path, got->seq, got->problem,
                            got->header.typestr, got->header.ndim, got->header.nbytes);
    }
}

/* ---------- waiting ------------------------------------------------------ */

static int spin(shmring_reader *rd, double seconds, int *shared)
{
    shmring_ring *r = rd->ring;
    uint64_t beyond = rd->queue ? __atomic_load_n(shm_u64(shmring_base(r), r->L.queue_seq), __ATOMIC_SEQ_CST)
                                : rd->cursor;
    return shm_spin(shmring_base(r), r->L.write_seq, beyond, seconds, shared);
}

/* Register on notify, re-check, sleep one slice, unregister (no lost wake-up). */
static int sleep_once(shmring_reader *rd, void *dst, uint64_t cap, int view, shmring_frame_info *info,
                      double deadline, double timeout_s)
{
    shmring_ring *r = rd->ring;
    uint32_t *notify = (uint32_t *)(void *)(r->base + SHMRING_OFF_NOTIFY);
    uint32_t *sleepers = (uint32_t *)(void *)(r->base + SHMRING_OFF_NOTIFY_WAITERS);
    uint32_t seen = __atomic_load_n(notify, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
    int rc = take(rd, dst, cap, view, info);
    if (rc == 1) {
        double remaining = deadline - shmring_monotonic_s();
        if (timeout_s >= 0 && remaining <= 0)
            rc = shmring_fail(SHMRING_ETIMEDOUT, "no frame on ring %s within %g s (last frame %" PRId64 ")",
                              r->path, timeout_s, (int64_t)(shmring_write_seq(r) - 1));
        else
            shmring_futex_wait(notify, seen, timeout_s < 0 || remaining > SHMRING_RECHECK_S ? SHMRING_RECHECK_S
                                                                                            : remaining);
    }
    __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
    if (rc != 1)
        return rc;
    rc = take(rd, dst, cap, view, info);
    if (rc == 1 && shmring_replaced(r))
        return shmring_fail(SHMRING_EBROKEN, "ring %s was removed or re-created under the same name; this handle "
                            "still maps the old file (open it again)", r->path);
    return rc;
}

static int wait_frame(shmring_reader *rd, void *dst, uint64_t cap, int view, shmring_frame_info *info,
                      double timeout_s)
{
    if (!rd || !info || (!view && !dst && cap))
        return shmring_fail(SHMRING_EINVAL, "reader and info must not be NULL, nor buf when cap > 0");
    shmring_release(rd); /* one view per reader: a new get lets the last one go */
    int rc = take(rd, dst, cap, view, info);
    if (rc != 1)
        return rc; /* the common case under load: no clock read at all */
    double deadline = shmring_monotonic_s() + (timeout_s > 0 ? timeout_s : 0);
    double spun = rd->spin_s >= 0 ? rd->spin_s : shmring_spin_seconds(&rd->learned);
    if (timeout_s >= 0 && timeout_s < spun)
        spun = timeout_s;
    if (spun > 0) {
        int shared = 0, caught = spin(rd, spun, &shared);
        if (rd->spin_s < 0)
            shmring_spin_learn(&rd->learned, spun, caught, shared);
        if (caught)
            rc = take(rd, dst, cap, view, info);
    }
    while (rc == 1)
        rc = sleep_once(rd, dst, cap, view, info, deadline, timeout_s);
    return rc;
}

int shmring_get(shmring_reader *rd, void *buf, uint64_t cap, shmring_frame_info *info, double timeout_s)
{
    return wait_frame(rd, buf, cap, 0, info, timeout_s);
}

int shmring_get_view(shmring_reader *rd, const void **payload, shmring_frame_info *info, double timeout_s)
{
    if (!payload)
        return shmring_fail(SHMRING_EINVAL, "payload must not be NULL");
    int rc = wait_frame(rd, NULL, 0, 1, info, timeout_s);
    if (rc == SHMRING_OK)
        *payload = shmring_base(rd->ring) + shm_slot_at(&rd->ring->L, info->seq) + rd->ring->L.payload_offset;
    return rc;
}

int shmring_latest(shmring_reader *rd, void *buf, uint64_t cap, shmring_frame_info *info, double timeout_s)
{
    if (rd && !rd->queue) {
        uint64_t written = shmring_write_seq(rd->ring);
        if (written && written - 1 > rd->cursor) { /* skip the backlog, counted as lost */
            uint64_t n = written - 1 - rd->cursor;
            rd->lost += n;
            rd->pending_lost += n;
            rd->cursor += n;
            shmring_release(rd);
            shm_record_skip(shmring_base(rd->ring), &rd->ring->L, rd->index, rd->cursor, rd->cursor, n);
        }
    }
    return shmring_get(rd, buf, cap, info, timeout_s);
}

void shmring_reader_close(shmring_reader *rd)
{
    if (!rd)
        return;
    store32(rd->ring->base, entry_off(rd->index) + SHMRING_R_STATE, SHMRING_STATE_FREE);
    wake_writers(rd->ring);
    close(rd->lease_fd);
    free(rd->meta);
    free(rd);
}
