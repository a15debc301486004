/*
 * The native ring protocol in plain C, the one implementation of it: the
 * steps of docs/format.md ("Write frame", "Read frame k", "Queue readers")
 * over a mapped ring, given as a base pointer and a ShmLayout.
 *
 * Two bindings compile these same sources (c/src/protocol_*.c): libshmring
 * (c/Makefile; writer.c and reader.c call them, and through libshmring the
 * MATLAB MEX gateway) and the Python extension shmring._core (setup.py; its
 * CPython glue src/shmring/_ext/core_*.c only converts arguments and results
 * around them). No Python header and no libshmring header is included here.
 *
 * The protocol computes no layout of its own: every offset, the seqlock
 * encoding and the dtype rules come in the ShmLayout. shmring._format is the
 * single definition; Python hands it over at run time (core_layout()),
 * libshmring fills it from c/include/shmring_layout.h, generated from
 * _format (layout.c, shmring_layout_protocol()).
 *
 * Each step cites docs/format.md ("write step N", "read step N", "queue
 * step N"), the one normative description of the protocol and of the memory
 * ordering it needs.
 */
#ifndef SHMRING_PROTOCOL_H
#define SHMRING_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define SHM_MAX_DIMS 4
#define SHM_TYPESTR_BYTES 8
#define SHM_NO_PIN UINT64_MAX
#define SHM_RULE_CHARS 16 /* room for a rule's character set, NUL included */

/* Everything the protocol knows about a ring, all of it from shmring._format. */
typedef struct {
    /* header words */
    size_t write_seq, notify, notify_waiters, queue_seq, space, space_waiters;
    /* geometry */
    size_t header_bytes, slot_stride, payload_offset;
    uint64_t slots, slot_bytes, meta_bytes;
    /* slot fields */
    size_t s_seqlock, s_seq, s_payload_bytes, s_timestamp, s_monotonic, s_flags, s_meta_len, s_dtype, s_ndim,
        s_shape, s_meta;
    /* reader table */
    size_t readers, reader_entry, r_cursor, r_release, r_active, r_lost, r_received, r_state;
    uint64_t reader_count;
    uint64_t state_queue; /* r_state of a queue reader (0 is a free entry) */
    /* seqlock encoding: frame s being written reads stride*s + writing, committed stride*s + committed */
    uint64_t seqlock_stride, seqlock_writing, seqlock_committed;
    /* typestr rules: byte order characters, kind characters, largest item size */
    char typestr_byteorders[SHM_RULE_CHARS], typestr_kinds[SHM_RULE_CHARS];
    uint64_t typestr_max_itemsize;
    /* per kind, in typestr_kinds order: the item sizes it has, size s as bit s ("<u3" is no dtype) */
    uint64_t typestr_size_masks[SHM_RULE_CHARS];
} ShmLayout;

/* A slot header as a reader loads it (fields after the seqlock). */
typedef struct {
    uint64_t seq, nbytes, timestamp, monotonic;
    uint32_t flags, meta_len, ndim;
    char typestr[SHM_TYPESTR_BYTES + 1];
    uint64_t shape[SHM_MAX_DIMS];
} ShmSlotHeader;

/* What a writer stores for a frame before its payload. */
typedef struct {
    uint64_t nbytes;
    const char *typestr;
    size_t typestr_len;
    const uint64_t *shape;
    uint32_t ndim, flags;
    const char *meta;
    size_t meta_len;
} ShmFrameHead;

static inline size_t
shm_slot_at(const ShmLayout *L, uint64_t seq)
{
    /* A 64-bit division costs tens of cycles, a mask one; most rings have a power-of-two
     * slot count, and the branch goes the same way for every frame of a ring. */
    uint64_t index = (L->slots & (L->slots - 1)) == 0 ? seq & (L->slots - 1) : seq % L->slots;
    return L->header_bytes + (size_t)index * L->slot_stride;
}

static inline size_t
shm_entry_at(const ShmLayout *L, uint64_t index)
{
    return L->readers + (size_t)index * L->reader_entry;
}

static inline uint64_t
shm_writing(const ShmLayout *L, uint64_t seq)
{
    return L->seqlock_stride * seq + L->seqlock_writing;
}

static inline uint64_t
shm_committed(const ShmLayout *L, uint64_t seq)
{
    return L->seqlock_stride * seq + L->seqlock_committed;
}

static inline uint64_t *
shm_u64(char *base, size_t off)
{
    return (uint64_t *)(base + off);
}

static inline uint32_t *
shm_u32(char *base, size_t off)
{
    return (uint32_t *)(base + off);
}

static inline uint64_t
shm_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Nothing here leaves a shared object: the Python module exports only its
 * init function, libshmring only its shmring_* API. */
#define SHM_INTERNAL __attribute__((visibility("hidden")))

/* ---------- protocol_write.c: docs/format.md, "Write frame" ---------------- */

/* Why `f` cannot be written into this ring, or NULL when it fits. */
SHM_INTERNAL const char *shm_frame_problem(const ShmLayout *L, const ShmFrameHead *f);
/* Write steps 2-4 (odd mark, fence, header, metadata) for a frame that fits; returns its slot. */
SHM_INTERNAL size_t shm_open_slot(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f);
/* Write steps 5-7: stamp, even mark, publish, wake sleeping readers. */
SHM_INTERNAL void shm_commit_slot(char *base, const ShmLayout *L, uint64_t seq);
/* Write steps 5-6 only: a batch publishes each frame so, then wakes once (shm_wake_readers). */
SHM_INTERNAL void shm_publish_slot(char *base, const ShmLayout *L, uint64_t seq);
/* Write step 7 once for every frame published since the last wake. */
SHM_INTERNAL void shm_wake_readers(char *base, const ShmLayout *L);
/* Write step 4's payload copy: memcpy, or streaming stores (past the cache, then a fence)
 * for a payload of shm_stream_bytes() or more (protocol_copy.c says why and when). */
SHM_INTERNAL void shm_copy_payload(void *dst, const void *src, size_t n);
/* Payloads of at least this many bytes are streamed (SIZE_MAX: never); decided once a process. */
SHM_INTERNAL size_t shm_stream_bytes(void);
/* Write steps 2-6 for a frame that fits, its payload copied from `payload`; step 7 is the caller's. */
SHM_INTERNAL void shm_write_frame(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f,
                                  const void *payload);
/* Write step 4 again for an open frame: replace its metadata. 0, or -1 if too large or not open. */
SHM_INTERNAL int shm_set_meta(char *base, const ShmLayout *L, uint64_t seq, const char *meta, size_t meta_len);
/* Write steps 3-4 again for an open frame that fits (a reservation learns its header at commit):
 * replace header and metadata. 0, or -1 if the frame is not open. */
SHM_INTERNAL int shm_set_head(char *base, const ShmLayout *L, uint64_t seq, const ShmFrameHead *f);
/* The seq the next frame gets: write_seq (acquire). */
SHM_INTERNAL uint64_t shm_next_seq(char *base, const ShmLayout *L);

/* ---------- protocol_read.c: docs/format.md, "Read frame k", "Queue readers" */

typedef enum {
    SHM_NOTHING,  /* nothing new (lost == 0) */
    SHM_SKIPPED,  /* `lost` frames were skipped and there is nothing to read now */
    SHM_FRAME,    /* frame `seq` was copied, `lost` frames lost just before it */
    SHM_CORRUPT,  /* frame `seq`'s slot is corrupt: `problem` says how */
    SHM_REFUSED,  /* the copy step refused frame `seq` (`header` says why); it stays unread */
    SHM_FAILED,   /* the copy step failed; its own error stands */
} ShmStatus;

typedef struct {
    uint64_t seq, lost;
    const char *problem;
    ShmSlotHeader header;
    /* Kept by the reads, for the next ones: the last dtype field found a valid typestr (its
     * 8 bytes as a word) and its item size, so frames of one dtype have it parsed once. A
     * reader zeroes the whole ShmRead before its first read (garbage here would be taken
     * for knowledge) and may reuse it for its next reads, never for another reader's. */
    uint64_t known_typestr, known_itemsize;
    /* A write_seq a broadcast read loaded before: frames below it were committed, so a reader
     * behind it reads them without loading write_seq again (read step 1, docs/format.md). */
    uint64_t known_written;
} ShmRead;

/* Read step 4, done by the caller between the two looks at the seqlock:
 * copy (or take a view of) the frame. Returns 0 when done, 1 to refuse the
 * frame (SHM_REFUSED: it stays unread), -1 on failure (SHM_FAILED). It may
 * run again for a later frame if the writer lapped the reader meanwhile.
 * A queue reader first asks it with meta and payload NULL and a header of
 * which only seq and nbytes are loaded, before claiming the frame (queue
 * step 2), so a refused frame stays in the queue: return 1 to refuse then,
 * 0 to go on; no copy is made in that call. */
typedef int (*ShmCopyStep)(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload);

/* The reader's view holds frames it returned: the release position stays at the frame. */
enum { SHM_RELEASE_AFTER = 0, SHM_HOLD_VIEW = 1 };

/* Read steps 1-6 for broadcast reader `index` at `cursor`; `pin` is the oldest seq its views hold. */
SHM_INTERNAL ShmStatus shm_read_broadcast(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor,
                                          int hold, uint64_t pin, ShmCopyStep copy, void *ctx, ShmRead *out);
/* Queue reader steps 1-3 for reader `index`. */
SHM_INTERNAL ShmStatus shm_read_queued(char *base, const ShmLayout *L, uint64_t index, int hold, uint64_t pin,
                                       ShmCopyStep copy, void *ctx, ShmRead *out);
/* Read step 4's sequel in a batch: keep frame out->seq, read and checked (0), or fail (-1). */
typedef int (*ShmTakeStep)(void *ctx, const ShmRead *r);

/* Up to max_n frames for broadcast reader `index` from `cursor`, each passed to `take`
 * (out->lost then is the frames lost just before it), with read step 6 once at the end.
 * *got frames were taken. Returns SHM_FRAME when max_n were taken, SHM_NOTHING or
 * SHM_SKIPPED (out->lost frames lost after the last taken) when the ring ran dry, or the
 * problem that ended the batch at the frame after the last taken (out->seq). */
SHM_INTERNAL ShmStatus shm_read_broadcast_many(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor,
                                               uint64_t pin, uint64_t max_n, ShmCopyStep copy, ShmTakeStep take,
                                               void *ctx, ShmRead *out, uint64_t *got);
/* The same for queue reader `index`, claiming frame by frame (queue steps 1-3). A corrupt
 * frame ends the batch claimed (as one read consumes it); a frame `take` fails is lost. */
SHM_INTERNAL ShmStatus shm_read_queued_many(char *base, const ShmLayout *L, uint64_t index, uint64_t pin,
                                            uint64_t max_n, ShmCopyStep copy, ShmTakeStep take, void *ctx,
                                            ShmRead *out, uint64_t *got);
/* Publish a reader's release position (read step 6's release), waking a writer waiting for room. */
SHM_INTERNAL void shm_set_release(char *base, const ShmLayout *L, uint64_t index, uint64_t release);
/* Read step 6 for frames skipped unread (latest()): cursor, release and `lost` more lost. */
SHM_INTERNAL void shm_record_skip(char *base, const ShmLayout *L, uint64_t index, uint64_t cursor, uint64_t release,
                                  uint64_t lost);
/* Whether frame seq's slot still holds it, committed: the seqlock's second look after reading
 * a view, so every read of the frame made before the call is ordered before it. */
SHM_INTERNAL int shm_still_committed(char *base, const ShmLayout *L, uint64_t seq);
/* The item size of typestr `t` (NUL terminated) by the layout's rules, 0 if it breaks them. */
SHM_INTERNAL uint64_t shm_typestr_itemsize(const ShmLayout *L, const char *t);
/* The bytes of an ndim-d array of `shape` with items of `itemsize`: 0, or -1 if they overflow 64 bits. */
SHM_INTERNAL int shm_shape_bytes(uint64_t itemsize, uint32_t ndim, const uint64_t *shape, uint64_t *nbytes);

/* ---------- protocol_room.c: docs/format.md, write step 1 ------------------ */

/* The oldest frame a reader still needs (SHM_NO_PIN if none): the release of every
 * entry in use, and the unclaimed queue frames while a queue reader is attached.
 * With `reap`, an entry whose lease nobody holds (asked through probe_fd, a
 * description holding no lease) is freed instead: its reader died. */
SHM_INTERNAL uint64_t shm_pin_floor(char *base, const ShmLayout *L, int probe_fd, int reap);
/* Write step 1 under block/drop: the first seq that may not be written now (frames
 * below it have room and need no new look); frame seq has room if seq < the result. */
SHM_INTERNAL uint64_t shm_room_until(char *base, const ShmLayout *L, uint64_t seq, int probe_fd, int reap);
/* Whether another open file description holds a lock on `byte` (asked through probe_fd):
 * 1 held, 0 free, -1 when the kernel cannot say (errno set). */
SHM_INTERNAL int shm_lease_held(int probe_fd, uint64_t byte);

/* ---------- protocol_wait.c ------------------------------------------------- */

/* Increment a futex word and wake all its sleepers, if its sleeper count says any. */
SHM_INTERNAL void shm_wake_if_sleeping(char *base, size_t word, size_t sleepers);
/* FUTEX_WAKE every sleeper of a shared futex word (no FUTEX_PRIVATE_FLAG: other processes sleep on it). */
SHM_INTERNAL void shm_futex_wake_all(uint32_t *word);
/* Busy-wait until the u64 at `word` exceeds `beyond` or `seconds` pass; 1 if it did.
 * *shared is set when one of its yields gave the core away for a time slice
 * (SHM_YIELD_HELD_NS): another process keeps this core busy. */
SHM_INTERNAL int shm_spin(char *base, size_t word, uint64_t beyond, double seconds, int *shared);
/* sched_yield(); how long it took, in ns. A yield with nothing else runnable returns in
 * well under a microsecond; one that ran another thread returns when that thread
 * blocks, yields or has used its time slice. */
SHM_INTERNAL uint64_t shm_yield_ns(void);
/* A yield this long ran a thread that kept the core for a time slice (a scheduler slice
 * is a millisecond or more): a busy process shares the core, and a spinner there only
 * waits out its slices, where a futex sleeper is woken at once. A peer on the same core
 * that answers and then waits gives the core back within microseconds: spinning (each
 * yield handing it the core) is then the cheaper hand-off, cheaper than the futex. A
 * spin stretched by the hypervisor (a virtual CPU descheduled by its host) is neither,
 * so it is the yield that is timed, not the spin. */
#define SHM_YIELD_HELD_NS 200000u
/* CLOCK_REALTIME / CLOCK_MONOTONIC / CLOCK_REALTIME_COARSE now, in ns. */
SHM_INTERNAL uint64_t shm_realtime_ns(void);
SHM_INTERNAL uint64_t shm_monotonic_ns(void);
SHM_INTERNAL uint64_t shm_coarse_realtime_ns(void);

#endif /* SHMRING_PROTOCOL_H */
