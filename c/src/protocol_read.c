/* Reading frames: docs/format.md, "Read frame k" steps 1-6 and "Queue readers"
 * steps 1-3 (plain C; see protocol.h). The copy of step 4 is the caller's. */
#include "protocol.h"

#include <string.h>

/* Whether c is one of the characters of `set` (NUL never is). A loop, not strchr:
 * the sets are a few characters and this runs for every frame read. */
static inline int
in_set(const char *set, char c)
{
    for (; *set; set++)
        if (*set == c)
            return 1;
    return 0;
}

/* Index of c in set, or -1. */
static inline int
index_in(const char *set, char c)
{
    for (int i = 0; set[i]; i++)
        if (set[i] == c)
            return i;
    return -1;
}

uint64_t
shm_typestr_itemsize(const ShmLayout *L, const char *t)
{
    /* t[0] and t[1] are not NUL once found in the sets, so t[2] is in bounds. */
    int kind = index_in(L->typestr_kinds, t[1]);
    if (!in_set(L->typestr_byteorders, t[0]) || kind < 0 || !t[2])
        return 0;
    uint64_t size = 0;
    for (const char *c = t + 2; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        size = size * 10 + (uint64_t)(*c - '0');
        if (size > L->typestr_max_itemsize)
            return 0;
    }
    return size < 64 && (L->typestr_size_masks[kind] >> size & 1) ? size : 0; /* a size the kind has */
}

int
shm_shape_bytes(uint64_t itemsize, uint32_t ndim, const uint64_t *shape, uint64_t *nbytes)
{
    uint64_t size = itemsize;
    for (uint32_t i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(size, shape[i], &size)) /* a multiply, not a division per dim */
            return -1;
    *nbytes = size;
    return 0;
}

/* The item size of the header's dtype (0 if it is no valid typestr), parsed only when it
 * differs from the one the last frame had. */
static uint64_t
header_itemsize(const ShmLayout *L, const ShmSlotHeader *h, ShmRead *memo)
{
    uint64_t word;
    memcpy(&word, h->typestr, sizeof(word));
    if (word != memo->known_typestr) {
        memo->known_itemsize = shm_typestr_itemsize(L, h->typestr);
        memo->known_typestr = word;
    }
    return memo->known_itemsize;
}

static const char *
header_problem(const ShmLayout *L, const ShmSlotHeader *h, uint64_t k, ShmRead *memo)
{
    if (h->seq != k)
        return "its sequence number is not the frame's";
    if (h->nbytes > L->slot_bytes || h->meta_len > L->meta_bytes || h->ndim > SHM_MAX_DIMS)
        return "its sizes exceed the ring's";
    uint64_t itemsize = header_itemsize(L, h, memo), size;
    if (!itemsize)
        return "its dtype is no numpy typestr of a kind and size frames may have";
    if (shm_shape_bytes(itemsize, h->ndim, h->shape, &size) < 0)
        return "its shape overflows";
    return size == h->nbytes ? NULL : "its shape and dtype do not make its payload length";
}

static void
load_header(char *base, const ShmLayout *L, size_t slot, ShmSlotHeader *h)
{
    h->seq = *shm_u64(base, slot + L->s_seq);
    h->nbytes = *shm_u64(base, slot + L->s_payload_bytes);
    h->timestamp = *shm_u64(base, slot + L->s_timestamp);
    h->monotonic = *shm_u64(base, slot + L->s_monotonic);
    h->flags = *shm_u32(base, slot + L->s_flags);
    h->meta_len = *shm_u32(base, slot + L->s_meta_len);
    h->ndim = *shm_u32(base, slot + L->s_ndim);
    memcpy(h->typestr, base + slot + L->s_dtype, SHM_TYPESTR_BYTES);
    h->typestr[SHM_TYPESTR_BYTES] = 0;
    memcpy(h->shape, base + slot + L->s_shape, sizeof(h->shape));
}

/* Ask for the lines of frame k's slot (header, shape, the payload's first line) while
 * frame k-1 is read: they come from the writer's core, and fetched side by side their
 * latency is paid once. Only for a committed frame (below a write_seq loaded before):
 * a slot the writer is filling would be taken from it mid-write. */
static void
prefetch_slot(const char *base, const ShmLayout *L, uint64_t k)
{
    const char *slot = base + shm_slot_at(L, k);
    __builtin_prefetch(slot);
    __builtin_prefetch(slot + L->s_shape);
    __builtin_prefetch(slot + L->payload_offset);
}

/* docs/format.md, read steps 3-5 for frame k. SHM_NOTHING here means "lapped: retry". */
static ShmStatus
read_slot(char *base, const ShmLayout *L, uint64_t k, ShmCopyStep copy, void *ctx, ShmRead *out)
{
    size_t slot = shm_slot_at(L, k);
    if (k + 1 < out->known_written)
        prefetch_slot(base, L, k + 1);
    uint64_t mark = __atomic_load_n(shm_u64(base, slot + L->s_seqlock), __ATOMIC_ACQUIRE);
    if (mark != shm_committed(L, k))
        return SHM_NOTHING;
    load_header(base, L, slot, &out->header);
    out->problem = header_problem(L, &out->header, k, out);
    int copied = 0;
    if (!out->problem) {
        copied = copy(ctx, &out->header, base + slot + L->s_meta, base + slot + L->payload_offset);
        if (copied < 0)
            return SHM_FAILED;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* all reads above complete before the second look */
    if (__atomic_load_n(shm_u64(base, slot + L->s_seqlock), __ATOMIC_RELAXED) != mark)
        return SHM_NOTHING;
    out->seq = k;
    return out->problem ? SHM_CORRUPT : copied ? SHM_REFUSED : SHM_FRAME;
}

/* docs/format.md, read step 6: publish a reader's progress in its entry; wake a writer waiting for room.
 * Only the entry's owner writes cursor, release, lost and received, so the counters take a plain
 * load and store, not a locked read-modify-write. The release word is stored (sequentially
 * consistent, before the look at space_waiters) only when it moves: a writer waiting for room
 * waits for it to move, and a reader taking views stores the same value its release() stored
 * just before, so a get_view/release pair pays for one such store, not two. */
static void
record(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor, uint64_t release, uint64_t got,
       uint64_t lost)
{
    size_t e = shm_entry_at(L, index);
    uint64_t *release_word = shm_u64(base, e + L->r_release);
    __atomic_store_n(shm_u64(base, e + L->r_cursor), cursor, __ATOMIC_RELEASE);
    if (got) {
        uint64_t *received = shm_u64(base, e + L->r_received);
        __atomic_store_n(received, __atomic_load_n(received, __ATOMIC_RELAXED) + got, __ATOMIC_RELAXED);
        /* "last activity" is for people (shmring info): the coarse clock (a few ms
         * resolution) costs a few ns where the precise one costs ~50 per frame. */
        __atomic_store_n(shm_u64(base, e + L->r_active), shm_coarse_realtime_ns(), __ATOMIC_RELAXED);
    }
    if (lost) {
        uint64_t *lost_word = shm_u64(base, e + L->r_lost);
        __atomic_store_n(lost_word, __atomic_load_n(lost_word, __ATOMIC_RELAXED) + lost, __ATOMIC_RELAXED);
    }
    if (__atomic_load_n(release_word, __ATOMIC_RELAXED) != release)
        shm_set_release(base, L, index, release);
}

/* Nothing to read now: report frames skipped as lost, if any. */
static ShmStatus
nothing_new(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor, uint64_t release, ShmRead *out)
{
    if (!out->lost)
        return SHM_NOTHING;
    record(base, L, index, cursor, release, 0, out->lost);
    return SHM_SKIPPED;
}

/* Read steps 1-5 for the next frame at or after *k, lost frames added to out->lost.
 * SHM_FRAME: frame *k was read (out->seq). SHM_NOTHING: nothing at *k yet.
 * Otherwise the problem at *k. Records nothing (read step 6 is the caller's). */
static ShmStatus
next_broadcast(char *base, const ShmLayout *L, uint64_t *k, ShmCopyStep copy, void *ctx, ShmRead *out)
{
    for (;;) {
        /* Read step 1. write_seq is the line the writer stores for every frame: while the
         * reader is behind a value it loaded before, it reads on without taking that line
         * from the writer's core. A stale value only ever says fewer frames were written,
         * and step 3 catches a frame overwritten since; "nothing new" is a fresh load. */
        uint64_t written = out->known_written;
        int fresh = *k >= written;
        if (fresh)
            written = out->known_written = __atomic_load_n(shm_u64(base, L->write_seq), __ATOMIC_SEQ_CST);
        if (*k >= written)
            return SHM_NOTHING;
        if (written - *k > L->slots) { /* read step 2: overwritten before we got to it */
            out->lost += written - L->slots - *k;
            *k = written - L->slots;
            continue;
        }
        ShmStatus status = read_slot(base, L, *k, copy, ctx, out);
        if (status != SHM_NOTHING)
            return status;
        if (!fresh) { /* lapped since that write_seq: steps 1-2 again on a fresh one, so no more is lost
                       * than a reader that had loaded it now would lose */
            out->known_written = 0;
            continue;
        }
        /* read step 3 (or 5): lapped while reading; resume where the writer cannot be */
        written = out->known_written = __atomic_load_n(shm_u64(base, L->write_seq), __ATOMIC_SEQ_CST);
        uint64_t next = written > L->slots ? written - L->slots + 1 : 0;
        next = next > *k + 1 ? next : *k + 1;
        out->lost += next - *k;
        *k = next;
    }
}

ShmStatus
shm_read_broadcast(char *base, const ShmLayout *L, uint64_t index, uint64_t k, int hold, uint64_t pin,
                   ShmCopyStep copy, void *ctx, ShmRead *out)
{
    out->lost = 0;
    ShmStatus status = next_broadcast(base, L, &k, copy, ctx, out);
    if (status == SHM_FAILED)
        return status;
    if (status != SHM_FRAME)  /* report a skip first; a problem shows next time */
        return status == SHM_NOTHING || out->lost ? nothing_new(base, L, index, k, shm_min(pin, k), out) : status;
    record(base, L, index, k + 1, shm_min(pin, hold ? k : k + 1), 1, out->lost); /* read step 6 */
    return status;
}

ShmStatus
shm_read_broadcast_many(char *base, const ShmLayout *L, uint64_t index, uint64_t k, uint64_t pin, uint64_t max_n,
                        ShmCopyStep copy, ShmTakeStep take, void *ctx, ShmRead *out, uint64_t *got)
{
    uint64_t lost = 0;
    ShmStatus status = SHM_FRAME;
    out->lost = 0;
    for (*got = 0; *got < max_n; (*got)++, k++) {
        status = next_broadcast(base, L, &k, copy, ctx, out);
        if (status != SHM_FRAME)
            break;
        if (take(ctx, out) < 0) {
            status = SHM_FAILED; /* frame k stays unread */
            break;
        }
        lost += out->lost;
        out->lost = 0;
    }
    if (status == SHM_NOTHING && out->lost)
        status = SHM_SKIPPED;
    /* Read step 6 once for the whole batch: the frames taken, and those lost after the last of them. */
    if (*got || lost || out->lost)
        record(base, L, index, k, shm_min(pin, k), *got, lost + out->lost);
    return status;
}

/* Ask the copy step about frame q before claiming it (see ShmCopyStep): 1 when it
 * refuses, out->header (seq and nbytes) and out->seq then say which frame. The look
 * is racy on purpose: a frame overwritten meanwhile is lost to the queue anyway, and
 * one still committed after the words were loaded had them. Only a plausible length
 * is asked about; a corrupt header is claimed and reported by the read itself. */
static int
refused_unclaimed(char *base, const ShmLayout *L, uint64_t q, ShmCopyStep copy, void *ctx, ShmRead *out)
{
    size_t slot = shm_slot_at(L, q);
    if (__atomic_load_n(shm_u64(base, slot + L->s_seqlock), __ATOMIC_ACQUIRE) != shm_committed(L, q))
        return 0;
    memset(&out->header, 0, sizeof(out->header));
    out->header.seq = *shm_u64(base, slot + L->s_seq);
    out->header.nbytes = *shm_u64(base, slot + L->s_payload_bytes);
    if (out->header.seq != q || out->header.nbytes > L->slot_bytes || copy(ctx, &out->header, NULL, NULL) != 1)
        return 0;
    out->seq = q;
    return shm_still_committed(base, L, q);
}

/* Queue steps 1-3 up to the read (no record): SHM_NOTHING when the queue is empty,
 * else the status of reading the frame claimed (out->seq). */
static ShmStatus
next_queued(char *base, const ShmLayout *L, uint64_t index, uint64_t pin, ShmCopyStep copy, void *ctx,
            ShmRead *out)
{
    uint64_t *queue = shm_u64(base, L->queue_seq);
    uint64_t *release = shm_u64(base, shm_entry_at(L, index) + L->r_release);
    for (;;) {
        uint64_t q = __atomic_load_n(queue, __ATOMIC_SEQ_CST); /* queue step 1 */
        uint64_t written = __atomic_load_n(shm_u64(base, L->write_seq), __ATOMIC_SEQ_CST);
        if (q >= written)
            return SHM_NOTHING;
        if (written - q > L->slots) {
            uint64_t expected = q;
            if (__atomic_compare_exchange_n(queue, &expected, written - L->slots, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
                out->lost += written - L->slots - q;
            continue;
        }
        if (refused_unclaimed(base, L, q, copy, ctx, out))
            return SHM_REFUSED; /* not claimed: the frame stays in the queue */
        /* Queue step 2: pin before claiming, so a blocked writer cannot reuse the slot in between. */
        __atomic_store_n(release, shm_min(pin, q), __ATOMIC_SEQ_CST);
        uint64_t expected = q;
        if (!__atomic_compare_exchange_n(queue, &expected, q + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        ShmStatus status = read_slot(base, L, q, copy, ctx, out); /* queue step 3 */
        if (status != SHM_NOTHING)
            return status;
        out->lost += 1; /* overwritten while we read it */
    }
}

static uint64_t
queue_cursor(char *base, const ShmLayout *L, uint64_t index)
{
    return __atomic_load_n(shm_u64(base, shm_entry_at(L, index) + L->r_cursor), __ATOMIC_RELAXED);
}

ShmStatus
shm_read_queued(char *base, const ShmLayout *L, uint64_t index, int hold, uint64_t pin, ShmCopyStep copy,
                void *ctx, ShmRead *out)
{
    out->lost = 0;
    ShmStatus status = next_queued(base, L, index, pin, copy, ctx, out);
    if (status == SHM_FAILED)
        return status;
    if (status == SHM_NOTHING) {
        uint64_t cursor = queue_cursor(base, L, index);
        if (out->lost)
            return nothing_new(base, L, index, cursor, pin, out);
        record(base, L, index, cursor, pin, 0, 0); /* drop a pin left by a lost claim race */
        return SHM_NOTHING;
    }
    if (status == SHM_REFUSED) { /* unclaimed: the cursor stays */
        record(base, L, index, queue_cursor(base, L, index), pin, 0, out->lost);
        return status;
    }
    int got = status == SHM_FRAME;
    record(base, L, index, out->seq + 1, got && hold ? shm_min(pin, out->seq) : pin, (uint64_t)got, out->lost);
    return status;
}

ShmStatus
shm_read_queued_many(char *base, const ShmLayout *L, uint64_t index, uint64_t pin, uint64_t max_n,
                     ShmCopyStep copy, ShmTakeStep take, void *ctx, ShmRead *out, uint64_t *got)
{
    uint64_t lost = 0, cursor = queue_cursor(base, L, index);
    ShmStatus status = SHM_FRAME;
    out->lost = 0;
    for (*got = 0; *got < max_n; (*got)++) {
        status = next_queued(base, L, index, pin, copy, ctx, out);
        if (status == SHM_NOTHING || status == SHM_FAILED || status == SHM_REFUSED)
            break; /* a refused frame is not claimed */
        cursor = out->seq + 1; /* claimed: a corrupt frame is consumed too, as by one read */
        if (status != SHM_FRAME)
            break;
        if (take(ctx, out) < 0) {
            out->lost += 1; /* claimed, so no other reader gets it: count it lost */
            status = SHM_FAILED;
            break;
        }
        lost += out->lost;
        out->lost = 0;
    }
    if (status == SHM_NOTHING && out->lost)
        status = SHM_SKIPPED;
    /* One record for the batch; it also drops the pin of the last claim. */
    record(base, L, index, cursor, pin, *got, lost + out->lost);
    return status;
}

void
shm_set_release(char *base, const ShmLayout *L, uint64_t index, uint64_t release)
{
    __atomic_store_n(shm_u64(base, shm_entry_at(L, index) + L->r_release), release, __ATOMIC_SEQ_CST);
    shm_wake_if_sleeping(base, L->space, L->space_waiters);
}

void
shm_record_skip(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor, uint64_t release, uint64_t lost)
{
    record(base, L, index, cursor, release, 0, lost);
}

int
shm_still_committed(char *base, const ShmLayout *L, uint64_t seq)
{
    /* As read step 5: the reads of the frame the caller made (of a view, in
     * another language even) complete before this second look at the mark. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(shm_u64(base, shm_slot_at(L, seq) + L->s_seqlock), __ATOMIC_RELAXED) ==
           shm_committed(L, seq);
}
