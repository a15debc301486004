/* The header page and keywords block: derived sizes, validation on open, and writing on create. */
#include "internal.h"

#include <inttypes.h>
#include <string.h>

static const unsigned char magic[SHMRING_MAGIC_LEN] = SHMRING_MAGIC_BYTES;

static uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

#define RD64(base, off) (*(const uint64_t *)(const void *)((base) + (off)))
#define RD32(base, off) (*(const uint32_t *)(const void *)((base) + (off)))
#define WR64(base, off, v) (*(uint64_t *)(void *)((base) + (off)) = (v))
#define WR32(base, off, v) (*(uint32_t *)(void *)((base) + (off)) = (v))

/* Where slot 0 starts: the header page, then the keywords block padded to whole pages. */
static uint64_t header_bytes_for(uint64_t keywords_len)
{
    return SHMRING_HEADER_BYTES + round_up(keywords_len, SHMRING_PAGE);
}

int shmring_layout_derive(uint32_t slots, uint64_t slot_bytes, uint32_t meta_bytes, uint32_t keywords_len,
                          shmring_geom *g)
{
    if (slots < 2 || slots > SHMRING_MAX_SLOTS)
        return shmring_fail(SHMRING_EINVAL, "slots must be in 2..%u, got %" PRIu32, SHMRING_MAX_SLOTS, slots);
    /* The bound keeps every derived size far from overflow (2^20 slots of < 2^43 bytes). */
    if (slot_bytes < 1 || slot_bytes > (UINT64_C(1) << 42))
        return shmring_fail(SHMRING_EINVAL, "slot_bytes must be in 1..2^42, got %" PRIu64, slot_bytes);
    if (meta_bytes > SHMRING_MAX_META_BYTES)
        return shmring_fail(SHMRING_EINVAL, "meta_bytes must be in 0..%u, got %" PRIu32, SHMRING_MAX_META_BYTES,
                            meta_bytes);
    if (keywords_len > SHMRING_MAX_KEYWORDS_BYTES)
        return shmring_fail(SHMRING_ETOOLARGE, "keywords are %" PRIu32 " bytes, a ring holds at most %u", keywords_len,
                            SHMRING_MAX_KEYWORDS_BYTES);
    g->slots = slots;
    g->slot_bytes = slot_bytes;
    g->meta_bytes = meta_bytes;
    g->payload_offset = round_up(SHMRING_SLOT_HEADER + (uint64_t)meta_bytes, SHMRING_LINE);
    g->slot_stride = round_up(g->payload_offset + slot_bytes, SHMRING_PAGE);
    g->keywords_len = keywords_len;
    g->header_bytes = header_bytes_for(keywords_len);
    g->total_bytes = g->header_bytes + (uint64_t)slots * g->slot_stride;
    return SHMRING_OK;
}

void shmring_layout_protocol(const shmring_geom *g, ShmLayout *L)
{
    ShmLayout l = {
        .write_seq = SHMRING_OFF_WRITE_SEQ, .notify = SHMRING_OFF_NOTIFY,
        .notify_waiters = SHMRING_OFF_NOTIFY_WAITERS, .queue_seq = SHMRING_OFF_QUEUE_SEQ,
        .space = SHMRING_OFF_SPACE, .space_waiters = SHMRING_OFF_SPACE_WAITERS,
        .header_bytes = (size_t)g->header_bytes, .slot_stride = (size_t)g->slot_stride,
        .payload_offset = (size_t)g->payload_offset,
        .slots = g->slots, .slot_bytes = g->slot_bytes, .meta_bytes = g->meta_bytes,
        .s_seqlock = SHMRING_S_SEQLOCK, .s_seq = SHMRING_S_SEQ, .s_payload_bytes = SHMRING_S_PAYLOAD_BYTES,
        .s_timestamp = SHMRING_S_TIMESTAMP, .s_monotonic = SHMRING_S_MONOTONIC, .s_flags = SHMRING_S_FLAGS,
        .s_meta_len = SHMRING_S_META_LEN, .s_dtype = SHMRING_S_DTYPE, .s_ndim = SHMRING_S_NDIM,
        .s_shape = SHMRING_S_SHAPE, .s_meta = SHMRING_S_META,
        .readers = SHMRING_OFF_READERS, .reader_entry = SHMRING_READER_ENTRY, .r_cursor = SHMRING_R_CURSOR,
        .r_release = SHMRING_R_RELEASE, .r_active = SHMRING_R_ACTIVE_NS, .r_lost = SHMRING_R_LOST,
        .r_received = SHMRING_R_RECEIVED, .r_state = SHMRING_R_STATE,
        .reader_count = SHMRING_READER_ENTRIES, .state_queue = SHMRING_STATE_QUEUE,
        .seqlock_stride = SHMRING_SEQLOCK_STRIDE, .seqlock_writing = SHMRING_SEQLOCK_WRITING,
        .seqlock_committed = SHMRING_SEQLOCK_COMMITTED,
        .typestr_byteorders = SHMRING_TYPESTR_BYTEORDERS, .typestr_kinds = SHMRING_TYPESTR_KINDS,
        .typestr_max_itemsize = SHMRING_TYPESTR_MAX_ITEMSIZE, .typestr_size_masks = SHMRING_TYPESTR_SIZE_MASKS,
    };
    *L = l;
}

void shmring_layout_write(unsigned char *base, const shmring_geom *g, int policy, const void *keywords)
{
    memcpy(base + SHMRING_OFF_MAGIC, magic, sizeof(magic));
    WR32(base, SHMRING_OFF_VERSION, SHMRING_LAYOUT_VERSION);
    WR32(base, SHMRING_OFF_HEADER_BYTES, (uint32_t)g->header_bytes);
    WR64(base, SHMRING_OFF_TOTAL_BYTES, g->total_bytes);
    WR32(base, SHMRING_OFF_SLOTS, (uint32_t)g->slots);
    WR32(base, SHMRING_OFF_POLICY, (uint32_t)policy);
    WR64(base, SHMRING_OFF_SLOT_STRIDE, g->slot_stride);
    WR64(base, SHMRING_OFF_SLOT_BYTES, g->slot_bytes);
    WR32(base, SHMRING_OFF_META_BYTES, (uint32_t)g->meta_bytes);
    WR32(base, SHMRING_OFF_READER_ENTRIES, SHMRING_READER_ENTRIES);
    WR64(base, SHMRING_OFF_CREATED_NS, shm_realtime_ns());
    /* line 1 stays zero: a ring created here has no fixed schema */
    WR32(base, SHMRING_OFF_KEYWORDS_LEN, (uint32_t)g->keywords_len);
    if (g->keywords_len) /* the rest of the keywords pages stays zero */
        memcpy(base + SHMRING_OFF_KEYWORDS, keywords, g->keywords_len);
}

static int mismatch(const shmring_ring *r, const char *field, uint64_t expected, uint64_t found)
{
    return shmring_fail(SHMRING_ELAYOUT, "%s: not a shmring ring of layout v%d: %s is %" PRIu64 ", expected %" PRIu64,
                        r->path, SHMRING_LAYOUT_VERSION, field, found, expected);
}

static int check_identity(const shmring_ring *r)
{
    const unsigned char *b = r->base;
    if (memcmp(b, magic, sizeof(magic)) != 0) {
        int legacy = RD32(b, 0) == SHMRING_LEGACY_SIGNATURE;
        return shmring_fail(SHMRING_ELAYOUT, "%s: not a shmring ring of layout v%d: magic is wrong%s", r->path,
                            SHMRING_LAYOUT_VERSION, legacy ? " (this is a legacy SharedMem file)" : "");
    }
    if (RD32(b, SHMRING_OFF_VERSION) != SHMRING_LAYOUT_VERSION)
        return mismatch(r, "version", SHMRING_LAYOUT_VERSION, RD32(b, SHMRING_OFF_VERSION));
    /* keywords_len is trusted only within its range, and only when header_bytes agrees with it */
    uint32_t keywords_len = RD32(b, SHMRING_OFF_KEYWORDS_LEN);
    if (keywords_len > SHMRING_MAX_KEYWORDS_BYTES)
        return shmring_fail(SHMRING_ELAYOUT, "%s: not a shmring ring of layout v%d: keywords length is %" PRIu32
                            ", expected 0..%u", r->path, SHMRING_LAYOUT_VERSION, keywords_len,
                            SHMRING_MAX_KEYWORDS_BYTES);
    if (RD32(b, SHMRING_OFF_HEADER_BYTES) != header_bytes_for(keywords_len))
        return mismatch(r, "header bytes", header_bytes_for(keywords_len), RD32(b, SHMRING_OFF_HEADER_BYTES));
    if (RD32(b, SHMRING_OFF_READER_ENTRIES) != SHMRING_READER_ENTRIES)
        return mismatch(r, "reader entries", SHMRING_READER_ENTRIES, RD32(b, SHMRING_OFF_READER_ENTRIES));
    if (RD32(b, SHMRING_OFF_POLICY) >= SHMRING_POLICY_COUNT)
        return mismatch(r, "policy", SHMRING_POLICY_COUNT - 1, RD32(b, SHMRING_OFF_POLICY));
    return SHMRING_OK;
}

/* The item size of the header's schema dtype field, 0 unless it is a typestr numpy has, NUL-padded
 * (Python's header check strips only trailing NULs: "<u2\0\0X" is no typestr). */
static uint64_t schema_itemsize(const shmring_ring *r, const char field[SHMRING_DTYPE_BYTES])
{
    size_t n = strnlen(field, SHMRING_DTYPE_BYTES);
    for (size_t i = n; i < SHMRING_DTYPE_BYTES; i++)
        if (field[i])
            return 0;
    return shm_typestr_itemsize(&r->L, r->schema_dtype); /* the NUL-terminated copy of field */
}

/* After check_sizes: the schema's frame size is checked against slot_bytes. */
static int check_schema(shmring_ring *r)
{
    const unsigned char *b = r->base;
    r->has_schema = RD32(b, SHMRING_OFF_SCHEMA_HAS_SCHEMA) != 0;
    if (!r->has_schema)
        return SHMRING_OK;
    r->schema_ndim = RD32(b, SHMRING_OFF_SCHEMA_NDIM);
    if (r->schema_ndim < 1 || r->schema_ndim > SHMRING_MAX_DIMS)
        return mismatch(r, "schema ndim", SHMRING_MAX_DIMS, r->schema_ndim);
    memcpy(r->schema_dtype, b + SHMRING_OFF_SCHEMA_DTYPE, SHMRING_DTYPE_BYTES);
    r->schema_dtype[SHMRING_DTYPE_BYTES] = 0;
    uint64_t bytes = schema_itemsize(r, (const char *)b + SHMRING_OFF_SCHEMA_DTYPE);
    if (!bytes)
        return shmring_fail(SHMRING_ELAYOUT, "%s: schema dtype is '%s', expected a numpy typestr like '<u2'",
                            r->path, r->schema_dtype);
    memcpy(r->schema_shape, b + SHMRING_OFF_SCHEMA_SHAPE, sizeof(r->schema_shape));
    /* A schema no slot can hold would make every put fail: refused here, as Python does. The
     * product saturates at 2^64 - 1, and a zero dim anywhere makes it 0 (an empty frame fits). */
    for (uint32_t i = 0; i < r->schema_ndim; i++)
        bytes = !r->schema_shape[i] ? 0 : bytes > UINT64_MAX / r->schema_shape[i] ? UINT64_MAX
                                                                                  : bytes * r->schema_shape[i];
    if (bytes > r->g.slot_bytes)
        return shmring_fail(SHMRING_ELAYOUT, "%s: not a shmring ring of layout v%d: schema size is %" PRIu64
                            "%s, expected <= slot bytes %" PRIu64 " (a frame of the schema cannot fit a slot)",
                            r->path, SHMRING_LAYOUT_VERSION, bytes, bytes == UINT64_MAX ? " or more" : "",
                            r->g.slot_bytes);
    return SHMRING_OK;
}

static int check_sizes(shmring_ring *r)
{
    const unsigned char *b = r->base;
    uint32_t slots = RD32(b, SHMRING_OFF_SLOTS), meta_bytes = RD32(b, SHMRING_OFF_META_BYTES);
    uint64_t slot_bytes = RD64(b, SHMRING_OFF_SLOT_BYTES);
    uint32_t keywords_len = RD32(b, SHMRING_OFF_KEYWORDS_LEN); /* in range: check_identity came first */
    if (shmring_layout_derive(slots, slot_bytes, meta_bytes, keywords_len, &r->g) != SHMRING_OK)
        return shmring_fail(SHMRING_ELAYOUT, "%s: not a shmring ring of layout v%d: sizes out of range "
                            "(slots %" PRIu32 ", slot_bytes %" PRIu64 ", meta_bytes %" PRIu32 "): %s",
                            r->path, SHMRING_LAYOUT_VERSION, slots, slot_bytes, meta_bytes, shmring_errmsg());
    if (RD64(b, SHMRING_OFF_SLOT_STRIDE) != r->g.slot_stride)
        return mismatch(r, "slot stride", r->g.slot_stride, RD64(b, SHMRING_OFF_SLOT_STRIDE));
    if (RD64(b, SHMRING_OFF_TOTAL_BYTES) != r->g.total_bytes)
        return mismatch(r, "total bytes", r->g.total_bytes, RD64(b, SHMRING_OFF_TOTAL_BYTES));
    if (r->size != r->g.total_bytes)
        return mismatch(r, "file size", r->g.total_bytes, r->size);
    shmring_layout_protocol(&r->g, &r->L);
    return SHMRING_OK;
}

static int check_counters(const shmring_ring *r)
{
    uint64_t written = __atomic_load_n((const uint64_t *)(const void *)(r->base + SHMRING_OFF_WRITE_SEQ),
                                       __ATOMIC_SEQ_CST);
    uint64_t queued = __atomic_load_n((const uint64_t *)(const void *)(r->base + SHMRING_OFF_QUEUE_SEQ),
                                      __ATOMIC_SEQ_CST);
    if (queued > written)
        return shmring_fail(SHMRING_ELAYOUT, "%s: queue sequence %" PRIu64 " is ahead of write sequence %" PRIu64,
                            r->path, queued, written);
    for (uint32_t i = 0; i < SHMRING_READER_ENTRIES; i++) {
        uint64_t off = SHMRING_OFF_READERS + (uint64_t)i * SHMRING_READER_ENTRY + SHMRING_R_STATE;
        uint32_t state = __atomic_load_n((const uint32_t *)(const void *)(r->base + off), __ATOMIC_SEQ_CST);
        if (state > SHMRING_STATE_QUEUE)
            return shmring_fail(SHMRING_ELAYOUT, "%s: reader entry %" PRIu32 " has state %" PRIu32 ", expected 0..2",
                                r->path, i, state);
    }
    return SHMRING_OK;
}

int shmring_layout_read(shmring_ring *r)
{
    /* The same checks, in the same order, as shmring._format.read_header and
     * Ring.open's counter check, so both refuse a file with the same reason. */
    if (r->size < SHMRING_HEADER_BYTES)
        return shmring_fail(SHMRING_ELAYOUT, "%s is truncated: %" PRIu64 " bytes, at least %d expected", r->path,
                            r->size, SHMRING_HEADER_BYTES);
    int rc = check_identity(r);
    if (rc == SHMRING_OK)
        rc = check_sizes(r);
    if (rc == SHMRING_OK)
        rc = check_schema(r);
    if (rc == SHMRING_OK)
        rc = check_counters(r);
    r->policy = (int)RD32(r->base, SHMRING_OFF_POLICY);
    return rc;
}
