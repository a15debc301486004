/* The per-frame protocol steps of docs/format.md over a mapped base pointer (see protocol.h). */
#include "internal.h"

#include <string.h>

#define U64P(base, off) ((uint64_t *)(void *)((base) + (off)))
#define U32P(base, off) ((uint32_t *)(void *)((base) + (off)))

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

uint64_t shmring_proto_load64(const unsigned char *base, uint64_t off)
{
    return __atomic_load_n((const uint64_t *)(const void *)(base + off), __ATOMIC_SEQ_CST);
}

uint32_t shmring_proto_load32(const unsigned char *base, uint64_t off)
{
    return __atomic_load_n((const uint32_t *)(const void *)(base + off), __ATOMIC_SEQ_CST);
}

void shmring_proto_store64(unsigned char *base, uint64_t off, uint64_t value)
{
    __atomic_store_n(U64P(base, off), value, __ATOMIC_SEQ_CST);
}

void shmring_proto_store32(unsigned char *base, uint64_t off, uint32_t value)
{
    __atomic_store_n(U32P(base, off), value, __ATOMIC_SEQ_CST);
}

void shmring_proto_wake_sleepers(unsigned char *base, uint64_t word)
{
    /* The waker changes state (commit, release) before it reads the sleeper
     * count; the sleeper registers before it re-checks: one sees the other. */
    if (__atomic_load_n(U32P(base, word + 4), __ATOMIC_SEQ_CST)) {
        __atomic_fetch_add(U32P(base, word), 1, __ATOMIC_SEQ_CST);
        shmring_futex_wake_all(U32P(base, word));
    }
}

/* ---------- writing ---------------------------------------------------- */

unsigned char *shmring_proto_slot(unsigned char *base, const shmring_geom *g, uint64_t seq)
{
    return base + g->header_bytes + (seq % g->slots) * g->slot_stride;
}

unsigned char *shmring_proto_slot_open(unsigned char *base, const shmring_geom *g, uint64_t seq, uint64_t nbytes)
{
    unsigned char *slot = shmring_proto_slot(base, g, seq);
    __atomic_store_n(U64P(slot, SHMRING_S_SEQLOCK), 2 * seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* no byte of the new frame before the odd mark */
    *U64P(slot, SHMRING_S_SEQ) = seq;
    *U64P(slot, SHMRING_S_PAYLOAD_BYTES) = nbytes;
    return slot;
}

void shmring_proto_slot_fill(unsigned char *slot, const shmring_slot_header *h, const void *meta)
{
    uint64_t shape[SHMRING_MAX_DIMS] = {0, 0, 0, 0};
    *U64P(slot, SHMRING_S_SEQ) = h->seq;
    *U64P(slot, SHMRING_S_PAYLOAD_BYTES) = h->nbytes;
    *U32P(slot, SHMRING_S_FLAGS) = h->flags;
    *U32P(slot, SHMRING_S_META_LEN) = h->meta_len;
    memset(slot + SHMRING_S_DTYPE, 0, SHMRING_DTYPE_BYTES);
    memcpy(slot + SHMRING_S_DTYPE, h->dtype, strnlen(h->dtype, SHMRING_DTYPE_BYTES));
    *U32P(slot, SHMRING_S_NDIM) = h->ndim;
    memcpy(shape, h->shape, sizeof(uint64_t) * (h->ndim < SHMRING_MAX_DIMS ? h->ndim : SHMRING_MAX_DIMS));
    memcpy(slot + SHMRING_S_SHAPE, shape, sizeof(shape));
    if (h->meta_len)
        memcpy(slot + SHMRING_S_META, meta, h->meta_len);
}

void shmring_proto_slot_commit(unsigned char *base, const shmring_geom *g, uint64_t seq)
{
    unsigned char *slot = shmring_proto_slot(base, g, seq);
    /* Stamped at commit, so a frame filled in place reports when it was published. */
    *U64P(slot, SHMRING_S_TIMESTAMP) = shmring_now_ns(1);
    *U64P(slot, SHMRING_S_MONOTONIC) = shmring_now_ns(0);
    __atomic_store_n(U64P(slot, SHMRING_S_SEQLOCK), 2 * seq + 2, __ATOMIC_RELEASE);
    __atomic_fetch_add(U64P(base, SHMRING_OFF_WRITE_SEQ), 1, __ATOMIC_SEQ_CST);
    shmring_proto_wake_sleepers(base, SHMRING_OFF_NOTIFY);
}

/* ---------- room ------------------------------------------------------- */

static uint64_t entry_off(uint32_t index)
{
    return SHMRING_OFF_READERS + (uint64_t)index * SHMRING_READER_ENTRY;
}

uint64_t shmring_proto_pin_floor(unsigned char *base, int probe_fd, int reap)
{
    /* queue_seq is read before any release: a queue reader pins q (release :=
     * q) before its compare-exchange moves queue_seq past q, so either this
     * load sees queue_seq <= q, or the loads below see the pin. Read after
     * them, queue_seq could already be past a frame whose pin they missed. */
    uint64_t queued = shmring_proto_load64(base, SHMRING_OFF_QUEUE_SEQ);
    uint64_t floor = SHMRING_NO_PIN;
    int queue_alive = 0;
    for (uint32_t i = 0; i < SHMRING_READER_ENTRIES; i++) {
        uint64_t e = entry_off(i);
        uint32_t state = shmring_proto_load32(base, e + SHMRING_R_STATE);
        if (state == SHMRING_STATE_FREE)
            continue;
        if (reap && probe_fd >= 0 && shmring_ofd_held(probe_fd, e) == 0) {
            /* Nobody holds the lease: its reader died. Free the entry. */
            shmring_proto_store32(base, e + SHMRING_R_STATE, SHMRING_STATE_FREE);
            continue;
        }
        floor = min_u64(floor, shmring_proto_load64(base, e + SHMRING_R_RELEASE));
        queue_alive |= state == SHMRING_STATE_QUEUE;
    }
    if (queue_alive) /* unclaimed queue frames count only while a queue reader lives */
        floor = min_u64(floor, queued);
    return floor;
}

int shmring_proto_has_room(unsigned char *base, const shmring_geom *g, uint64_t seq, int probe_fd, int reap,
                           uint64_t *room_until)
{
    uint64_t floor = shmring_proto_pin_floor(base, probe_fd, reap);
    /* With no reader, one attaching now starts at seq or later, so the next
     * `slots` frames cannot overwrite anything it will be owed. */
    *room_until = min_u64(floor, seq) + g->slots;
    return seq < *room_until;
}

/* ---------- reading ---------------------------------------------------- */

uint64_t shmring_typestr_itemsize(const char *t, size_t n)
{
    if (n < 3 || !strchr("<>|=", t[0]) || !t[0] || !strchr("biufc", t[1]) || !t[1])
        return 0;
    uint64_t size = 0;
    for (size_t i = 2; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
        size = size * 10 + (uint64_t)(t[i] - '0');
        if (size > 32)
            return 0;
    }
    /* numpy's sizes of each kind (docs/format.md "Dtypes"): "<u3" or "|c1" is no dtype */
    static const char *const sizes[] = {"b\1", "i\1\2\4\10", "u\1\2\4\10", "f\2\4\10\20", "c\10\20\40"};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        if (sizes[k][0] == t[1])
            return size && strchr(sizes[k] + 1, (int)size) ? size : 0;
    return 0;
}

static void load_header(const unsigned char *slot, shmring_slot_header *h)
{
    h->seq = *(const uint64_t *)(const void *)(slot + SHMRING_S_SEQ);
    h->nbytes = *(const uint64_t *)(const void *)(slot + SHMRING_S_PAYLOAD_BYTES);
    h->timestamp_ns = *(const uint64_t *)(const void *)(slot + SHMRING_S_TIMESTAMP);
    h->monotonic_ns = *(const uint64_t *)(const void *)(slot + SHMRING_S_MONOTONIC);
    h->flags = *(const uint32_t *)(const void *)(slot + SHMRING_S_FLAGS);
    h->meta_len = *(const uint32_t *)(const void *)(slot + SHMRING_S_META_LEN);
    h->ndim = *(const uint32_t *)(const void *)(slot + SHMRING_S_NDIM);
    memcpy(h->dtype, slot + SHMRING_S_DTYPE, SHMRING_DTYPE_BYTES);
    h->dtype[SHMRING_DTYPE_BYTES] = 0;
    memcpy(h->shape, slot + SHMRING_S_SHAPE, sizeof(h->shape));
}

static const char *header_problem(const shmring_geom *g, const shmring_slot_header *h, uint64_t k)
{
    if (h->seq != k)
        return "its sequence number is not the frame's";
    if (h->nbytes > g->slot_bytes || h->meta_len > g->meta_bytes || h->ndim > SHMRING_MAX_DIMS)
        return "its sizes exceed the ring's";
    uint64_t size = shmring_typestr_itemsize(h->dtype, strlen(h->dtype));
    if (!size)
        return "its dtype is not a bool/int/uint/float/complex typestr";
    for (uint32_t i = 0; i < h->ndim; i++) {
        if (h->shape[i] && size > UINT64_MAX / h->shape[i])
            return "its shape overflows";
        size *= h->shape[i];
    }
    return size == h->nbytes ? NULL : "its shape and dtype do not make its payload length";
}

int shmring_proto_still_committed(const unsigned char *base, const shmring_geom *g, uint64_t k)
{
    const unsigned char *slot = base + g->header_bytes + (k % g->slots) * g->slot_stride;
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* reads of the frame complete before this look */
    return __atomic_load_n((const uint64_t *)(const void *)(slot + SHMRING_S_SEQLOCK), __ATOMIC_RELAXED) ==
           2 * k + 2;
}

int shmring_proto_slot_read(const unsigned char *base, const shmring_geom *g, uint64_t k, void *dst,
                            uint64_t cap, char *meta, shmring_slot_header *h, const char **problem)
{
    const unsigned char *slot = base + g->header_bytes + (k % g->slots) * g->slot_stride;
    const uint64_t *lock = (const uint64_t *)(const void *)(slot + SHMRING_S_SEQLOCK);
    if (__atomic_load_n(lock, __ATOMIC_ACQUIRE) != 2 * k + 2)
        return SHMRING_READ_LAPPED;
    load_header(slot, h);
    *problem = header_problem(g, h, k);
    int small = !*problem && dst && h->nbytes > cap;
    if (!*problem && !small) {
        if (meta && h->meta_len)
            memcpy(meta, slot + SHMRING_S_META, h->meta_len);
        if (dst)
            memcpy(dst, slot + g->payload_offset, h->nbytes);
    }
    if (!shmring_proto_still_committed(base, g, k))
        return SHMRING_READ_LAPPED; /* whatever was read may be torn: discard it */
    if (*problem)
        return SHMRING_READ_CORRUPT;
    return small ? SHMRING_READ_SMALL : SHMRING_READ_OK;
}

void shmring_proto_record(unsigned char *base, uint32_t index, uint64_t cursor, uint64_t release, uint64_t got,
                          uint64_t lost)
{
    uint64_t e = entry_off(index);
    __atomic_store_n(U64P(base, e + SHMRING_R_CURSOR), cursor, __ATOMIC_RELEASE);
    __atomic_store_n(U64P(base, e + SHMRING_R_RELEASE), release, __ATOMIC_SEQ_CST);
    if (got) {
        __atomic_fetch_add(U64P(base, e + SHMRING_R_RECEIVED), got, __ATOMIC_RELAXED);
        /* "last activity" for people (shmring info): the coarse clock (a few ms
         * resolution) costs a few ns where the precise one costs ~50 per frame. */
        __atomic_store_n(U64P(base, e + SHMRING_R_ACTIVE_NS), shmring_coarse_realtime_ns(), __ATOMIC_RELAXED);
    }
    if (lost)
        __atomic_fetch_add(U64P(base, e + SHMRING_R_LOST), lost, __ATOMIC_RELAXED);
    shmring_proto_wake_sleepers(base, SHMRING_OFF_SPACE);
}

int shmring_proto_read_next(unsigned char *base, const shmring_geom *g, uint32_t index, uint64_t *k, int view,
                            void *dst, uint64_t cap, char *meta, shmring_slot_header *h, uint64_t *lost,
                            const char **problem)
{
    uint64_t at = *k, skipped = 0;
    *lost = 0;
    for (;;) {
        uint64_t written = shmring_proto_load64(base, SHMRING_OFF_WRITE_SEQ);
        if (at >= written)
            break;
        if (written - at > g->slots) { /* overwritten before we got to it */
            skipped += written - g->slots - at;
            at = written - g->slots;
            continue;
        }
        int rc = shmring_proto_slot_read(base, g, at, dst, cap, meta, h, problem);
        if (rc == SHMRING_READ_LAPPED) { /* resume where the writer cannot be */
            written = shmring_proto_load64(base, SHMRING_OFF_WRITE_SEQ);
            uint64_t next = max_u64(at + 1, written > g->slots ? written - g->slots + 1 : 0);
            skipped += next - at;
            at = next;
            continue;
        }
        if (rc == SHMRING_READ_OK) {
            shmring_proto_record(base, index, at + 1, view ? at : at + 1, 1, skipped);
            *k = at;
            *lost = skipped;
            return rc;
        }
        /* corrupt, or too small for the caller: the frame stays unread; skips are reported now */
        if (skipped)
            shmring_proto_record(base, index, at, at, 0, skipped);
        *k = at;
        *lost = skipped;
        return rc;
    }
    if (skipped)
        shmring_proto_record(base, index, at, at, 0, skipped);
    *k = at;
    *lost = skipped;
    return SHMRING_READ_NONE;
}

/* Whether frame q's committed payload is larger than cap (a racy peek: a frame
 * overwritten meanwhile is lost anyway). */
static int too_large_for(const unsigned char *base, const shmring_geom *g, uint64_t q, uint64_t cap)
{
    const unsigned char *slot = base + g->header_bytes + (q % g->slots) * g->slot_stride;
    if (__atomic_load_n((const uint64_t *)(const void *)(slot + SHMRING_S_SEQLOCK), __ATOMIC_ACQUIRE) != 2 * q + 2)
        return 0;
    return *(const uint64_t *)(const void *)(slot + SHMRING_S_PAYLOAD_BYTES) > cap;
}

int shmring_proto_read_queued(unsigned char *base, const shmring_geom *g, uint32_t index, uint64_t *k, int view,
                              void *dst, uint64_t cap, char *meta, shmring_slot_header *h, uint64_t *lost,
                              const char **problem)
{
    uint64_t *queue = U64P(base, SHMRING_OFF_QUEUE_SEQ);
    uint64_t release_off = entry_off(index) + SHMRING_R_RELEASE;
    uint64_t skipped = 0;
    *lost = 0;
    for (;;) {
        uint64_t q = __atomic_load_n(queue, __ATOMIC_SEQ_CST);
        uint64_t written = shmring_proto_load64(base, SHMRING_OFF_WRITE_SEQ);
        if (q >= written) {
            uint64_t cursor = shmring_proto_load64(base, entry_off(index) + SHMRING_R_CURSOR);
            shmring_proto_record(base, index, cursor, SHMRING_NO_PIN, 0, skipped);
            *lost = skipped;
            return SHMRING_READ_NONE;
        }
        if (written - q > g->slots) { /* the winner of this exchange counts the frames lost */
            uint64_t expected = q;
            if (__atomic_compare_exchange_n(queue, &expected, written - g->slots, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
                skipped += written - g->slots - q;
            continue;
        }
        if (dst && too_large_for(base, g, q, cap)) {
            uint64_t cursor = shmring_proto_load64(base, entry_off(index) + SHMRING_R_CURSOR);
            shmring_proto_record(base, index, cursor, SHMRING_NO_PIN, 0, skipped);
            h->nbytes = *(const uint64_t *)(const void *)(shmring_proto_slot(base, g, q) + SHMRING_S_PAYLOAD_BYTES);
            *lost = skipped;
            return SHMRING_READ_SMALL;
        }
        /* Pin before claiming, so a blocked writer cannot reuse the slot in between. */
        __atomic_store_n(U64P(base, release_off), q, __ATOMIC_SEQ_CST);
        uint64_t expected = q;
        if (!__atomic_compare_exchange_n(queue, &expected, q + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        int rc = shmring_proto_slot_read(base, g, q, dst, cap, meta, h, problem);
        if (rc != SHMRING_READ_OK) { /* claimed but unreadable: lost to everyone */
            skipped += 1;
            if (rc == SHMRING_READ_CORRUPT) {
                shmring_proto_record(base, index, q + 1, SHMRING_NO_PIN, 0, skipped);
                *k = q;
                *lost = skipped;
                return rc;
            }
            continue;
        }
        shmring_proto_record(base, index, q + 1, view ? q : SHMRING_NO_PIN, 1, skipped);
        *k = q;
        *lost = skipped;
        return rc;
    }
}
