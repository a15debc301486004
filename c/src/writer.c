/* Writers: presence lease, shared-writer put lock, room under block/drop, put, reserve/commit/abandon. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A shared writer waiting for the put lock re-tries at least this often:
 * a holder that dies wakes nobody (docs/locks.md). */
#define DEATH_RECHECK_S 0.02

static int writer_open(shmring_ring *ring, int shared, shmring_writer **out)
{
    if (!ring || !out)
        return shmring_fail(SHMRING_EINVAL, "ring and out must not be NULL");
    *out = NULL;
    shmring_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    w->ring = ring;
    w->put_fd = -1;
    w->presence_fd = shmring_reopen(ring->fd);
    int rc = w->presence_fd < 0 ? shmring_fail_errno(errno, "reopening", ring->path) : SHMRING_OK;
    if (rc == SHMRING_OK) {
        int got = shmring_ofd_lock(w->presence_fd, SHMRING_LOCK_WRITER_PRESENCE, !shared, 0);
        if (got == 0)
            rc = shmring_fail(SHMRING_EWOULDBLOCK, "ring %s already has a live writer; one writer at a time, "
                              "or open every writer with shmring_writer_open_shared", ring->path);
        else if (got < 0)
            rc = shmring_fail_errno(errno, "locking", ring->path);
    }
    if (rc == SHMRING_OK && shared) {
        w->put_fd = shmring_reopen(ring->fd);
        if (w->put_fd < 0)
            rc = shmring_fail_errno(errno, "reopening", ring->path);
    }
    if (rc != SHMRING_OK) {
        shmring_writer_close(w);
        return rc;
    }
    *out = w;
    return SHMRING_OK;
}

int shmring_writer_open(shmring_ring *ring, shmring_writer **out)
{
    return writer_open(ring, 0, out);
}

int shmring_writer_open_shared(shmring_ring *ring, shmring_writer **out)
{
    return writer_open(ring, 1, out);
}

/* ---------- the shared writers' put lock --------------------------------- */

static uint32_t *wake_word(shmring_writer *w, uint64_t field)
{
    return (uint32_t *)(void *)(w->ring->base + SHMRING_OFF_WRITER_WAKE + field);
}

static int lock_put(shmring_writer *w, double timeout_s)
{
    if (w->put_fd < 0)
        return SHMRING_OK;
    if (timeout_s < 0) /* no deadline: the kernel sleeps on the lock itself */
        return shmring_ofd_lock(w->put_fd, SHMRING_LOCK_WRITER_PUT, 1, 1) == 1
                   ? SHMRING_OK : shmring_fail_errno(errno, "locking", w->ring->path);
    double deadline = shmring_monotonic_s() + timeout_s;
    for (;;) {
        uint32_t seen = __atomic_load_n(wake_word(w, 0), __ATOMIC_SEQ_CST);
        int got = shmring_ofd_lock(w->put_fd, SHMRING_LOCK_WRITER_PUT, 1, 0);
        if (got != 0)
            return got == 1 ? SHMRING_OK : shmring_fail_errno(errno, "locking", w->ring->path);
        double remaining = deadline - shmring_monotonic_s();
        if (remaining <= 0)
            return shmring_fail(SHMRING_ETIMEDOUT, "ring %s: the shared writers' put lock stayed taken for %g s",
                                w->ring->path, timeout_s);
        /* Count ourselves in before sleeping; the unlocker bumps the counter
         * before it reads the sleeper count, so no wake-up is lost. */
        __atomic_fetch_add(wake_word(w, 4), 1, __ATOMIC_SEQ_CST);
        shmring_futex_wait(wake_word(w, 0), seen, remaining < DEATH_RECHECK_S ? remaining : DEATH_RECHECK_S);
        __atomic_fetch_sub(wake_word(w, 4), 1, __ATOMIC_SEQ_CST);
    }
}

static void unlock_put(shmring_writer *w)
{
    if (w->put_fd < 0)
        return;
    shmring_ofd_unlock(w->put_fd, SHMRING_LOCK_WRITER_PUT);
    __atomic_fetch_add(wake_word(w, 0), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(wake_word(w, 4), __ATOMIC_SEQ_CST))
        shm_futex_wake_all(wake_word(w, 0));
}

/* ---------- room (step 1 of "Write frame") --------------------------------- */

/* Write step 1's check (protocol_room.c); with reap, dead readers' entries are freed. */
static int has_room(shmring_writer *w, uint64_t seq, int reap)
{
    shmring_ring *r = w->ring;
    w->room_until = shm_room_until(shmring_base(r), &r->L, seq, r->probe_fd, reap);
    return seq < w->room_until;
}

static int sleep_for_room(shmring_writer *w, uint64_t seq, uint32_t seen, double deadline, double timeout_s)
{
    shmring_ring *r = w->ring;
    double remaining = deadline - shmring_monotonic_s();
    if (timeout_s >= 0 && remaining <= 0)
        return shmring_fail(SHMRING_ETIMEDOUT, "ring %s stayed full for %g s: frame %" PRIu64 " waits for readers "
                            "to release frame %" PRIu64, r->path, timeout_s, seq, seq - r->g.slots);
    uint32_t *space = (uint32_t *)(void *)(r->base + SHMRING_OFF_SPACE);
    uint32_t *sleepers = (uint32_t *)(void *)(r->base + SHMRING_OFF_SPACE_WAITERS);
    __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
    if (!has_room(w, seq, 0)) {
        /* Readers that die release nothing and wake nobody: re-check (and
         * reap them) at least every SHMRING_RECHECK_S. */
        double slice = timeout_s < 0 || remaining > SHMRING_RECHECK_S ? SHMRING_RECHECK_S : remaining;
        shmring_futex_wait(space, seen, slice);
    }
    __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
    return SHMRING_OK;
}

/* Busy-poll up to w->spin_s for room (block policy), before sleeping on the futex.
 * Each look reads the readers' release words, taking their cache lines from the readers'
 * cores; a reader's next release store then waits for its line to come back. So the
 * pause between looks doubles, up to ~1 us: a full ring has frames for the reader to
 * read meanwhile, and the room found then is for several frames, not one at a time. */
static int spin_for_room(shmring_writer *w, uint64_t seq)
{
    double until = shmring_monotonic_s() + w->spin_s;
    for (unsigned n = 1, pauses = 1;; n++) {
        if (has_room(w, seq, 0))
            return 1;
        if ((n & 63) == 0 && shmring_monotonic_s() > until)
            return 0;
        for (unsigned i = 0; i < pauses; i++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        pauses = pauses < 32 ? pauses * 2 : pauses;
    }
}

/* Whether frame `seq` may be written now, waiting under block. */
static int await_room(shmring_writer *w, uint64_t seq, double timeout_s)
{
    shmring_ring *r = w->ring;
    if (r->policy == SHMRING_OVERWRITE || seq < w->room_until)
        return SHMRING_OK;
    double deadline = shmring_monotonic_s() + (timeout_s < 0 ? 0 : timeout_s);
    int reap = 0;
    for (;;) {
        uint32_t seen = __atomic_load_n(shm_u32(shmring_base(r), r->L.space), __ATOMIC_SEQ_CST);
        /* Reaping asks the kernel about every entry (a syscall each): only when stuck. */
        if (has_room(w, seq, reap))
            return SHMRING_OK;
        if (r->policy == SHMRING_DROP) {
            if (!reap) { /* a dead reader may be what fills the ring: look once more */
                reap = 1;
                continue;
            }
            return shmring_fail(SHMRING_EWOULDBLOCK, "ring %s is full (drop policy): frame %" PRIu64 " dropped",
                                r->path, seq);
        }
        if (!reap && w->spin_s > 0 && spin_for_room(w, seq))
            return SHMRING_OK;
        int rc = sleep_for_room(w, seq, seen, deadline, timeout_s);
        if (rc != SHMRING_OK)
            return rc;
        reap = 1;
    }
}

/* The seq to write next, holding the put lock if shared. */
static int claim(shmring_writer *w, double timeout_s, uint64_t *seq)
{
    int rc = lock_put(w, timeout_s);
    if (rc != SHMRING_OK)
        return rc;
    *seq = shm_next_seq(shmring_base(w->ring), &w->ring->L);
    rc = await_room(w, *seq, timeout_s);
    if (rc != SHMRING_OK)
        unlock_put(w);
    return rc;
}

/* ---------- frames -------------------------------------------------------- */

/* A frame's header as the protocol writes it (ShmFrameHead), with the storage it points to. */
typedef struct {
    ShmFrameHead f;
    char dtype[SHMRING_DTYPE_BYTES + 1];
    uint64_t shape[SHMRING_MAX_DIMS];
} frame_head;

static void head_init(frame_head *h, uint64_t nbytes)
{
    memset(h, 0, sizeof(*h));
    h->f.nbytes = nbytes;
    h->f.typestr = h->dtype;
    h->f.shape = h->shape;
}

/* The dtype and shape of `info` (bytes when its dtype is empty), checked against nbytes. */
static int frame_shape(const shmring_ring *r, const shmring_frame_info *info, uint64_t nbytes, frame_head *h)
{
    if (!info || !info->dtype[0]) { /* bytes: stored as |u1, 1-d */
        memcpy(h->dtype, "|u1", 4);
        h->f.typestr_len = 3;
        h->f.ndim = 1;
        h->shape[0] = nbytes;
        return SHMRING_OK;
    }
    h->f.typestr_len = strnlen(info->dtype, sizeof(info->dtype));
    memcpy(h->dtype, info->dtype, h->f.typestr_len);
    uint64_t itemsize = shm_typestr_itemsize(&r->L, h->dtype), size;
    if (!itemsize)
        return shmring_fail(SHMRING_EINVAL, "dtype '%s' is not a numpy typestr of a bool, integer, float or "
                            "complex type (like \"<u2\")", h->dtype);
    if (info->ndim > SHMRING_MAX_DIMS)
        return shmring_fail(SHMRING_EINVAL, "frames have at most %d dims, got ndim %" PRIu32, SHMRING_MAX_DIMS,
                            info->ndim);
    h->f.ndim = info->ndim;
    for (uint32_t i = 0; i < h->f.ndim; i++)
        h->shape[i] = info->shape[i];
    if (shm_shape_bytes(itemsize, h->f.ndim, h->shape, &size) < 0)
        return shmring_fail(SHMRING_EINVAL, "shape overflows 64 bits");
    if (size != nbytes)
        return shmring_fail(SHMRING_EINVAL, "dtype '%s' and shape make %" PRIu64 " bytes, nbytes is %" PRIu64,
                            h->dtype, size, nbytes);
    return SHMRING_OK;
}

/* Whether info's dtype and shape, with nbytes, are those of the last typed frame found valid. */
static int known_shape(const shmring_writer *w, const shmring_frame_info *info, uint64_t nbytes)
{
    return w->known_valid && info->dtype[0] && nbytes == w->known_nbytes && info->ndim == w->known_ndim &&
           memcmp(info->dtype, w->known_dtype, sizeof(w->known_dtype)) == 0 &&
           memcmp(info->shape, w->known_shape, sizeof(uint64_t) * info->ndim) == 0;
}

static void remember_shape(shmring_writer *w, const shmring_frame_info *info, uint64_t nbytes)
{
    w->known_valid = info && info->dtype[0];
    if (!w->known_valid)
        return;
    memcpy(w->known_dtype, info->dtype, sizeof(w->known_dtype));
    w->known_ndim = info->ndim;
    memcpy(w->known_shape, info->shape, sizeof(w->known_shape));
    w->known_nbytes = nbytes;
}

/* The header of a frame whose dtype and shape were checked before (known_shape). */
static void known_head(const shmring_frame_info *info, frame_head *h)
{
    h->f.typestr_len = strnlen(info->dtype, sizeof(info->dtype));
    memcpy(h->dtype, info->dtype, h->f.typestr_len);
    h->f.ndim = info->ndim;
    memcpy(h->shape, info->shape, sizeof(uint64_t) * info->ndim);
}

/* Check `info` describes a frame of `nbytes` that fits the ring; fill the header. */
static int frame_header(shmring_writer *w, const shmring_frame_info *info, uint64_t nbytes, frame_head *h)
{
    const shmring_ring *r = w->ring;
    head_init(h, nbytes);
    if (nbytes > r->g.slot_bytes)
        return shmring_fail(SHMRING_ETOOLARGE, "frame of %" PRIu64 " bytes does not fit ring %s: slot_bytes is %"
                            PRIu64, nbytes, r->path, r->g.slot_bytes);
    if (info && info->meta_len && !info->meta)
        return shmring_fail(SHMRING_EINVAL, "info->meta is NULL but meta_len is %" PRIu32, info->meta_len);
    h->f.meta = info ? info->meta : NULL;
    h->f.meta_len = info ? info->meta_len : 0;
    if (h->f.meta_len > r->g.meta_bytes)
        return shmring_fail(SHMRING_ETOOLARGE, "metadata is %zu bytes, ring %s allows %" PRIu64 " (meta_bytes)",
                            h->f.meta_len, r->path, r->g.meta_bytes);
    h->f.flags = info ? info->flags : 0;
    if (info && known_shape(w, info, nbytes)) {
        known_head(info, h);
        return SHMRING_OK;
    }
    int rc = frame_shape(r, info, nbytes, h);
    if (rc != SHMRING_OK)
        return rc;
    if (r->has_schema && (strcmp(h->dtype, r->schema_dtype) != 0 || h->f.ndim != r->schema_ndim ||
                          memcmp(h->shape, r->schema_shape, sizeof(uint64_t) * h->f.ndim) != 0))
        return shmring_fail(SHMRING_ESCHEMA, "ring %s takes %" PRIu32 "-d '%s' frames of a fixed shape; got %" PRIu32
                            "-d '%s'", r->path, r->schema_ndim, r->schema_dtype, h->f.ndim, h->dtype);
    remember_shape(w, info, nbytes);
    return SHMRING_OK;
}

int shmring_put(shmring_writer *w, const void *data, const shmring_frame_info *info, double timeout_s)
{
    if (!w || !info || (!data && info->nbytes))
        return shmring_fail(SHMRING_EINVAL, "writer and info must not be NULL, nor data when nbytes > 0");
    if (w->reserved)
        return shmring_fail(SHMRING_EINVAL, "a reservation is open: commit or abandon it before put");
    frame_head h;
    uint64_t seq;
    int rc = frame_header(w, info, info->nbytes, &h);
    if (rc == SHMRING_OK)
        rc = claim(w, timeout_s, &seq);
    if (rc != SHMRING_OK)
        return rc;
    shmring_ring *r = w->ring;
    shm_write_frame(shmring_base(r), &r->L, seq, &h.f, data); /* write steps 2-6 */
    shm_wake_readers(shmring_base(r), &r->L);                 /* step 7 */
    unlock_put(w);
    return SHMRING_OK;
}

int shmring_reserve_timed(shmring_writer *w, uint64_t nbytes, void **payload, double timeout_s)
{
    if (!w || !payload)
        return shmring_fail(SHMRING_EINVAL, "writer and payload must not be NULL");
    if (w->reserved)
        return shmring_fail(SHMRING_EINVAL, "a reservation is open already: commit or abandon it first");
    shmring_ring *r = w->ring;
    if (nbytes > r->g.slot_bytes)
        return shmring_fail(SHMRING_ETOOLARGE, "reservation of %" PRIu64 " bytes does not fit ring %s: slot_bytes "
                            "is %" PRIu64, nbytes, r->path, r->g.slot_bytes);
    uint64_t seq;
    int rc = claim(w, timeout_s, &seq);
    if (rc != SHMRING_OK)
        return rc;
    frame_head h; /* bytes for now: commit writes the real header */
    head_init(&h, nbytes);
    frame_shape(r, NULL, nbytes, &h);
    /* The odd mark goes first: from here until commit, no reader takes the
     * slot's bytes for a frame, and a writer dying here publishes nothing. */
    size_t slot = shm_open_slot(shmring_base(r), &r->L, seq, &h.f);
    w->reserved = 1;
    w->seq = seq;
    w->reserved_bytes = nbytes;
    *payload = shmring_base(r) + slot + r->L.payload_offset;
    return SHMRING_OK;
}

int shmring_reserve(shmring_writer *w, uint64_t nbytes, void **payload)
{
    return shmring_reserve_timed(w, nbytes, payload, -1.0);
}

int shmring_commit(shmring_writer *w, const shmring_frame_info *info)
{
    if (!w || !w->reserved)
        return shmring_fail(SHMRING_ECLOSED, "commit without an open reservation");
    uint64_t nbytes = info && info->nbytes ? info->nbytes : w->reserved_bytes;
    if (nbytes > w->reserved_bytes)
        return shmring_fail(SHMRING_ETOOLARGE, "commit of %" PRIu64 " bytes, only %" PRIu64 " were reserved", nbytes,
                            w->reserved_bytes);
    frame_head h;
    int rc = frame_header(w, info, nbytes, &h);
    if (rc != SHMRING_OK)
        return rc;
    shmring_ring *r = w->ring;
    if (shm_set_head(shmring_base(r), &r->L, w->seq, &h.f) != 0) /* write steps 3-4 with the real header */
        return shmring_fail(SHMRING_EBROKEN, "ring %s: the slot of reserved frame %" PRIu64 " is no longer open",
                            r->path, w->seq);
    shm_commit_slot(shmring_base(r), &r->L, w->seq); /* write steps 5-7 */
    w->reserved = 0;
    unlock_put(w);
    return SHMRING_OK;
}

void shmring_abandon(shmring_writer *w)
{
    /* The slot stays odd and write_seq unmoved: nothing is published and the
     * next put writes the same seq into the same slot. */
    if (!w || !w->reserved)
        return;
    w->reserved = 0;
    unlock_put(w);
}

void shmring_writer_set_spin(shmring_writer *w, double spin_s)
{
    w->spin_s = spin_s > 0 ? spin_s : 0;
}

void shmring_writer_close(shmring_writer *w)
{
    if (!w)
        return;
    shmring_abandon(w);
    if (w->put_fd >= 0)
        close(w->put_fd);
    if (w->presence_fd >= 0)
        close(w->presence_fd);
    free(w);
}
