/* Writing a frame: docs/format.md, "Write frame" steps 2-7 (plain C; see protocol.h).
 * Step 1's room check is protocol_room.c; waiting for room is policy, the caller's. */
#include "protocol.h"

#include <string.h>

const char *
shm_frame_problem(const ShmLayout *L, const ShmFrameHead *f)
{
    if (f->ndim > SHM_MAX_DIMS)
        return "too many dims";
    if (f->typestr_len > SHM_TYPESTR_BYTES)
        return "typestr too long";
    if (f->nbytes > L->slot_bytes)
        return "payload larger than a slot";
    if (f->meta_len > L->meta_bytes)
        return "metadata larger than the ring's metadata area";
    return NULL;
}

/* Write step 4, metadata part. */
static void
fill_meta(char *base, const ShmLayout *L, size_t slot, const char *meta, size_t meta_len)
{
    *shm_u32(base, slot + L->s_meta_len) = (uint32_t)meta_len;
    if (meta_len)
        memcpy(base + slot + L->s_meta, meta, meta_len);
}

/* Write step 3, the header, and step 4's metadata (the caller writes the payload). */
static void
fill_head(char *base, const ShmLayout *L, size_t slot, uint64_t seq, const ShmFrameHead *f)
{
    /* Padded here and stored whole: fixed-size stores into the slot. */
    uint64_t dims[SHM_MAX_DIMS] = {0};
    char dtype[SHM_TYPESTR_BYTES] = {0};
    memcpy(dims, f->shape, f->ndim * sizeof(uint64_t));
    memcpy(dtype, f->typestr, f->typestr_len);
    *shm_u64(base, slot + L->s_seq) = seq;
    *shm_u64(base, slot + L->s_payload_bytes) = f->nbytes;
    *shm_u32(base, slot + L->s_flags) = f->flags;
    memcpy(base + slot + L->s_dtype, dtype, sizeof(dtype));
    *shm_u32(base, slot + L->s_ndim) = f->ndim;
    memcpy(base + slot + L->s_shape, dims, sizeof(dims));
    fill_meta(base, L, slot, f->meta, f->meta_len);
}

/* Every store before this becomes visible to other cores before every store after it.
 * x86 keeps stores in program order (TSO): only the compiler must not move them, and
 * the mfence of a full fence (tens of cycles per frame) buys nothing a reader can see.
 * Elsewhere a full fence. */
static inline void
stores_in_order(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

static int
is_open(char *base, const ShmLayout *L, size_t slot, uint64_t seq)
{
    return __atomic_load_n(shm_u64(base, slot + L->s_seqlock), __ATOMIC_RELAXED) == shm_writing(L, seq);
}

size_t
shm_open_slot(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f)
{
    size_t slot = shm_slot_at(L, seq);
    /* docs/format.md, write step 2: the odd mark, then a fence so no byte of
     * the new frame is visible before it. */
    __atomic_store_n(shm_u64(base, slot + L->s_seqlock), shm_writing(L, seq), __ATOMIC_RELAXED);
    stores_in_order();
    fill_head(base, L, slot, seq, f);
    return slot;
}

int
shm_set_head(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f)
{
    size_t slot = shm_slot_at(L, seq);
    if (!is_open(base, L, slot, seq))
        return -1;
    fill_head(base, L, slot, seq, f); /* still odd: no reader takes these bytes for a frame */
    return 0;
}

/* Write steps 5-6 for frame seq in `slot`. */
static void
publish_at(char *base, const ShmLayout *L, size_t slot, uint64_t seq)
{
    /* Write step 5: stamped at commit, so a frame filled in place reports
     * when it was published; the even mark releases everything above. */
    *shm_u64(base, slot + L->s_timestamp) = shm_realtime_ns();
    *shm_u64(base, slot + L->s_monotonic) = shm_monotonic_ns();
    __atomic_store_n(shm_u64(base, slot + L->s_seqlock), shm_committed(L, seq), __ATOMIC_RELEASE);
    /* Write step 6. */
    __atomic_fetch_add(shm_u64(base, L->write_seq), 1, __ATOMIC_SEQ_CST);
}

void
shm_publish_slot(char *base, const ShmLayout *L, uint64_t seq)
{
    publish_at(base, L, shm_slot_at(L, seq), seq);
}

void
shm_wake_readers(char *base, const ShmLayout *L)
{
    /* Write step 7, after step 6 of the last frame published: a reader that
     * registered before that increment is seen here, one that registered
     * after it finds the frames in its re-check (no lost wake-up). */
    shm_wake_if_sleeping(base, L->notify, L->notify_waiters);
}

void
shm_commit_slot(char *base, const ShmLayout *L, uint64_t seq)
{
    shm_publish_slot(base, L, seq);
    shm_wake_readers(base, L);
}

void
shm_write_frame(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f, const void *payload)
{
    size_t slot = shm_open_slot(base, L, seq, f);
    if (f->nbytes) /* an empty frame may come without a payload pointer */
        shm_copy_payload(base + slot + L->payload_offset, payload, f->nbytes); /* write step 4: the payload */
    publish_at(base, L, slot, seq);
}

int
shm_set_meta(char *base, const ShmLayout *L, uint64_t seq, const char *meta, size_t meta_len)
{
    size_t slot = shm_slot_at(L, seq);
    if (meta_len > L->meta_bytes || !is_open(base, L, slot, seq))
        return -1;
    fill_meta(base, L, slot, meta, meta_len);
    return 0;
}

uint64_t
shm_next_seq(char *base, const ShmLayout *L)
{
    return __atomic_load_n(shm_u64(base, L->write_seq), __ATOMIC_ACQUIRE);
}
