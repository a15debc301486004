/*
 * The per-frame protocol steps of docs/format.md ("Protocol"), as plain C
 * functions over a mapped ring's base pointer. They hold no state of their
 * own and allocate nothing, so any binding (this library's handles, a
 * CPython extension, MATLAB MEX) can call them on its own mapping.
 *
 * A binding compiles protocol.c with sync.c (clocks, futex wake, the OFD
 * liveness probe) and errors.c; the layout constants are shmring_layout.h.
 *
 * Memory ordering: GCC/Clang __atomic builtins on naturally aligned words of
 * the shared mapping; every read-modify-write is sequentially consistent, as
 * the no-lost-wake-up argument in docs/format.md requires.
 */
#ifndef SHMRING_PROTOCOL_H
#define SHMRING_PROTOCOL_H

#include <stdint.h>

/* Sizes of one ring, derived from its header (layout.c). header_bytes is
 * where slot 0 starts: the header page plus the stream keywords' pages. */
typedef struct {
    uint64_t slots, slot_bytes, meta_bytes;
    uint64_t payload_offset, slot_stride, total_bytes;
    uint64_t keywords_len, header_bytes;
} shmring_geom;

/* The slot header fields after the seqlock. */
typedef struct {
    uint64_t seq, nbytes, timestamp_ns, monotonic_ns;
    uint32_t flags, meta_len, ndim;
    char dtype[9]; /* NUL terminated */
    uint64_t shape[4];
} shmring_slot_header;

/* What reading a frame found. */
enum {
    SHMRING_READ_OK = 0,     /* a frame, intact */
    SHMRING_READ_NONE = 1,   /* nothing new (frames may have been skipped as lost) */
    SHMRING_READ_LAPPED = 2, /* the slot was overwritten meanwhile: discard what was read */
    SHMRING_READ_CORRUPT = 3,/* the committed slot's header is impossible */
    SHMRING_READ_SMALL = 4   /* the caller's buffer is smaller than the frame (left unread) */
};

/* ---- writing (steps 2-7 of "Write frame") ---- */

/* Address of the slot frame `seq` lives in. */
unsigned char *shmring_proto_slot(unsigned char *base, const shmring_geom *g, uint64_t seq);
/* Step 2 and the start of 3: seqlock := 2*seq+1, full fence, seq and payload length. */
unsigned char *shmring_proto_slot_open(unsigned char *base, const shmring_geom *g, uint64_t seq, uint64_t nbytes);
/* Steps 3-4: every header field of `h` but the times, and meta_len metadata bytes. */
void shmring_proto_slot_fill(unsigned char *slot, const shmring_slot_header *h, const void *meta);
/* Steps 5-7: times, seqlock := 2*seq+2 (release), write_seq += 1, wake sleeping readers. */
void shmring_proto_slot_commit(unsigned char *base, const shmring_geom *g, uint64_t seq);

/* ---- room (step 1 of "Write frame") ---- */

/* Oldest frame some live reader still needs (SHMRING_NO_PIN if none). With
 * reap, entries whose lease nobody holds (asked through probe_fd) are freed. */
uint64_t shmring_proto_pin_floor(unsigned char *base, int probe_fd, int reap);
/* Whether frame `seq` may be written now; *room_until gets the first seq
 * that may not (frames below it need no new check). */
int shmring_proto_has_room(unsigned char *base, const shmring_geom *g, uint64_t seq, int probe_fd, int reap,
                           uint64_t *room_until);

/* ---- reading (steps 3-5 of "Read frame k") ---- */

/* Read frame k from its slot under the seqlock: header into *h, metadata
 * into meta (meta_bytes of room, may be NULL), payload into dst (cap bytes).
 * dst NULL reads no payload (a view: check shmring_proto_still_committed
 * after use). Returns SHMRING_READ_OK, _LAPPED, _CORRUPT (*problem says
 * why) or _SMALL. */
int shmring_proto_slot_read(const unsigned char *base, const shmring_geom *g, uint64_t k, void *dst,
                            uint64_t cap, char *meta, shmring_slot_header *h, const char **problem);
/* Whether frame k's slot still holds it committed. */
int shmring_proto_still_committed(const unsigned char *base, const shmring_geom *g, uint64_t k);

/* Broadcast reader `index` at cursor *k (steps 1-6): on SHMRING_READ_OK,
 * frame *k was read and *lost frames before it were skipped; on _NONE,
 * *k is the new cursor. `view` pins the frame (release := k) instead of
 * releasing it. The reader's table entry is updated. */
int shmring_proto_read_next(unsigned char *base, const shmring_geom *g, uint32_t index, uint64_t *k, int view,
                            void *dst, uint64_t cap, char *meta, shmring_slot_header *h, uint64_t *lost,
                            const char **problem);
/* Queue reader `index`: claim the next frame with compare-exchange on
 * queue_seq (pinned before the claim) and read it, as read_next. A frame
 * larger than cap is not claimed (_SMALL). */
int shmring_proto_read_queued(unsigned char *base, const shmring_geom *g, uint32_t index, uint64_t *k, int view,
                              void *dst, uint64_t cap, char *meta, shmring_slot_header *h, uint64_t *lost,
                              const char **problem);
/* Step 6: publish a reader's progress; wake a writer waiting for room. */
void shmring_proto_record(unsigned char *base, uint32_t index, uint64_t cursor, uint64_t release, uint64_t got,
                          uint64_t lost);

/* ---- words ---- */
uint64_t shmring_proto_load64(const unsigned char *base, uint64_t off);
uint32_t shmring_proto_load32(const unsigned char *base, uint64_t off);
void shmring_proto_store64(unsigned char *base, uint64_t off, uint64_t value);
void shmring_proto_store32(unsigned char *base, uint64_t off, uint32_t value);
/* Bump the futex word at `word` and wake all, only if the count at word+4 says someone sleeps. */
void shmring_proto_wake_sleepers(unsigned char *base, uint64_t word);

#endif /* SHMRING_PROTOCOL_H */
