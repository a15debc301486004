/*
 * libshmring: the native shmring ring for C and C++ programs.
 *
 * A ring is one file (by default /dev/shm/<name>, or $SHMRING_DIR/<name>)
 * laid out as docs/format.md specifies; Python's shmring.Ring, this library
 * and any other program following that document share it byte for byte.
 *
 * Every call that can fail returns 0 on success or a negative SHMRING_E*
 * code; shmring_strerror() names the code and shmring_errmsg() gives the
 * last failure of the calling thread in words, with the numbers involved.
 * Timeouts are in seconds: a negative timeout waits forever, 0 does not wait.
 *
 * Threads: one writer or reader handle is used by one thread at a time.
 * Different handles, of one ring or of several, may be used from different
 * threads at once. Close every writer and reader before their ring.
 * fork(): a child shares its parent's open file descriptions and so its
 * leases and locks; a child must shmring_open() the ring anew.
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes (0 is success) ---------------------------------------- */
#define SHMRING_OK           0
#define SHMRING_ETIMEDOUT   -1  /* nothing arrived / no room within the timeout */
#define SHMRING_EWOULDBLOCK -2  /* drop policy: ring full, frame dropped; or a writer is already attached */
#define SHMRING_ETOOLARGE   -3  /* frame or metadata larger than the ring allows, or than the caller's buffer */
#define SHMRING_ELAYOUT     -4  /* the file is not a native v1 ring (or is corrupt) */
#define SHMRING_ENOTFOUND   -5  /* no ring by that name or path */
#define SHMRING_EEXIST      -6  /* create: the name is taken */
#define SHMRING_EPERM       -7  /* the file's mode or the directory refuses us */
#define SHMRING_EBROKEN     -8  /* the ring was removed or re-created under its name, or a slot is corrupt */
#define SHMRING_ENOSPC      -9  /* the directory's memory is too small for the ring */
#define SHMRING_EINVAL     -10  /* a bad argument (the message names it) */
#define SHMRING_ESCHEMA    -11  /* the frame's dtype/shape do not match the ring's fixed schema */
#define SHMRING_EBUSY      -12  /* every reader entry is held by a live reader */
#define SHMRING_ENOMEM     -13  /* out of process memory */
#define SHMRING_ESYS       -14  /* another system error (errno is kept) */
#define SHMRING_ECLOSED    -15  /* the handle has no reservation or view to act on */

/* ---- policies: what a writer does when the ring is full ---------------- */
#define SHMRING_OVERWRITE 0 /* the oldest frame is lost; readers are told how many they missed */
#define SHMRING_BLOCK     1 /* wait until every live reader released the slot (lossless) */
#define SHMRING_DROP      2 /* the new frame is dropped (put returns SHMRING_EWOULDBLOCK) */

/* ---- where a new reader starts (shmring_reader_open_at) ---------------- */
#define SHMRING_START_NEXT   0 /* frames written from now on (shmring_reader_open) */
#define SHMRING_START_OLDEST 1 /* every frame still in the ring */
#define SHMRING_START_LATEST 2 /* the newest frame, then on */

/* user flags of the original SharedMem, kept with their meaning */
#define SHMRING_BUFH_UYVY    1u
#define SHMRING_BUFH_MAT_RGB 2u

typedef struct shmring_ring shmring_ring;     /* opaque handles */
typedef struct shmring_writer shmring_writer;
typedef struct shmring_reader shmring_reader;

/* Sizes of a new ring; zero fields take the defaults. */
typedef struct {
    uint32_t slots;      /* frame slots, 2 .. 2^20; 0 = 8 */
    uint64_t slot_bytes; /* largest payload of one frame, bytes; required (> 0) */
    uint32_t meta_bytes; /* largest metadata of one frame, 1 .. 2^20 bytes; 0 = 4096 */
    int policy;          /* SHMRING_OVERWRITE (0, default), SHMRING_BLOCK, SHMRING_DROP */
    uint32_t mode;       /* permission bits, exactly (no umask); 0 = 0600 */
} shmring_config;

/* One frame. The writer fills nbytes, dtype, ndim, shape, flags and meta;
 * the reader gets every field. dtype is numpy's typestr ("|u1", "<u2",
 * "<f4", ...), NUL padded; an empty dtype on put means bytes: "|u1", 1-d,
 * shape {nbytes}. itemsize(dtype) * prod(shape) must equal nbytes. */
typedef struct {
    uint64_t seq;          /* the frame's sequence number (reader) */
    uint64_t lost;         /* frames this reader missed just before this one (reader) */
    uint64_t timestamp_ns; /* CLOCK_REALTIME when committed (reader) */
    uint64_t nbytes;       /* payload length in bytes */
    char dtype[8];         /* numpy typestr, NUL padded */
    uint32_t ndim;         /* 0 .. 4 */
    uint64_t shape[4];     /* dims 0..ndim-1, C order */
    uint32_t flags;        /* user flags (SHMRING_BUFH_UYVY, ...) */
    const char *meta;      /* metadata bytes: UTF-8 JSON, an object or an array of cards; NULL/"" for none */
    uint32_t meta_len;     /* their length */
} shmring_frame_info;

/* ---- rings --------------------------------------------------------------- */

/* Create a ring atomically (nobody sees it half-initialised; of racing
 * creators one wins) and open it. `name` is a ring name
 * ([A-Za-z0-9_-][A-Za-z0-9._-]{0,199}) under $SHMRING_DIR or /dev/shm, or a
 * path when it contains a '/'. Errors: EINVAL, EEXIST, ENOSPC, EPERM, ESYS. */
int shmring_create(const char *name, const shmring_config *cfg, shmring_ring **out);

/* As shmring_create, with stream keywords: `keywords_len` bytes (up to 2^20)
 * in the metadata encoding (docs/format.md, "Metadata": a JSON object or an
 * array of cards, e.g. built with shmring_meta_*) that describe the whole
 * stream. They are written before the ring gets its name and never change;
 * every process that opens the ring reads them (shmring_keywords; Python's
 * ring.keywords). The ring's slots start after them, at header_bytes =
 * 4096 + keywords_len rounded up to 4096. keywords_len 0 is shmring_create.
 * Errors: as shmring_create; EINVAL (keywords NULL or not starting with '{'
 * or '['), ETOOLARGE (more than 2^20 bytes). */
int shmring_create_with_keywords(const char *name, const shmring_config *cfg, const char *keywords,
                                 uint32_t keywords_len, shmring_ring **out);

/* Open an existing ring, validating its header and counters before any slot
 * is touched (refuses what Python's Ring.open refuses). Errors: ENOTFOUND,
 * EPERM, ELAYOUT (not a ring, another version, sizes that do not add up,
 * symlink or non-regular file), EINVAL (bad name), ESYS. */
int shmring_open(const char *name, shmring_ring **out);

/* Close this handle: unmap and release its locks. The ring stays for other
 * processes. NULL is ignored. Close its writers and readers first. */
void shmring_close(shmring_ring *ring);

/* Remove a ring's name for everyone; processes that have it open keep
 * working until they close. Errors: ENOTFOUND, EPERM, EINVAL. */
int shmring_unlink(const char *name);

/* Sizes of an open ring (any pointer may be NULL). */
void shmring_ring_sizes(const shmring_ring *ring, uint32_t *slots, uint64_t *slot_bytes,
                        uint32_t *meta_bytes, int *policy);

/* The ring's stream keywords: *keywords points at *len bytes of metadata
 * JSON inside the mapping (not NUL terminated), valid until shmring_close;
 * "" and 0 for a ring without keywords. Errors: EINVAL (a NULL argument). */
int shmring_keywords(const shmring_ring *ring, const char **keywords, uint32_t *len);

/* Number of frames committed so far (the next frame's seq). */
uint64_t shmring_write_seq(const shmring_ring *ring);

/* ---- writers ----------------------------------------------------------- */

/* Attach the ring's sole writer. Errors: EWOULDBLOCK (another live writer),
 * ENOMEM, ESYS. */
int shmring_writer_open(shmring_ring *ring, shmring_writer **out);

/* Attach one of several shared writers (each put serialised on the ring's
 * writer lock). Errors as shmring_writer_open (EWOULDBLOCK when an exclusive
 * writer is alive). */
int shmring_writer_open_shared(shmring_ring *ring, shmring_writer **out);

/* Copy one frame of info->nbytes bytes from `data` into the ring and publish
 * it. Under SHMRING_BLOCK waits up to timeout_s for room (negative: forever).
 * Errors: ETIMEDOUT (block), EWOULDBLOCK (drop: the frame was dropped),
 * ETOOLARGE (payload > slot_bytes, metadata > meta_bytes), EINVAL (dtype,
 * ndim or shape do not make nbytes; a reservation is open), ESCHEMA.
 * Nothing is published on error. */
int shmring_put(shmring_writer *w, const void *data, const shmring_frame_info *info, double timeout_s);

/* Zero-copy put, step 1: claim the next slot for a payload of up to `nbytes`
 * bytes and set *payload to it (64-byte aligned, writable until commit or
 * abandon). Waits forever for room under SHMRING_BLOCK (see
 * shmring_reserve_timed). Errors: EWOULDBLOCK (drop policy, ring full),
 * ETOOLARGE, EINVAL (a reservation is already open). */
int shmring_reserve(shmring_writer *w, uint64_t nbytes, void **payload);

/* As shmring_reserve, waiting at most timeout_s for room (ETIMEDOUT). */
int shmring_reserve_timed(shmring_writer *w, uint64_t nbytes, void **payload, double timeout_s);

/* Zero-copy put, step 2: publish the reserved frame with info's dtype, shape,
 * flags and metadata. info->nbytes may be smaller than reserved (0 or a NULL
 * info mean the reserved size, as bytes). Errors: ECLOSED (nothing reserved),
 * ETOOLARGE, EINVAL, ESCHEMA: then the reservation stays open (fix the info
 * and commit again, or abandon). */
int shmring_commit(shmring_writer *w, const shmring_frame_info *info);

/* Give the reserved slot up: nothing is published; the next put reuses it. */
void shmring_abandon(shmring_writer *w);

/* Under SHMRING_BLOCK, busy-poll up to spin_s seconds for room before sleeping
 * (lowest latency and highest message rate when readers are busy; costs a core).
 * The pause between looks grows to ~1 us, so the poll leaves the readers' cache
 * lines alone: room may be seen up to that much after it is made. */
void shmring_writer_set_spin(shmring_writer *w, double spin_s);

/* Detach the writer (abandoning an open reservation). NULL is ignored. */
void shmring_writer_close(shmring_writer *w);

/* ---- readers ----------------------------------------------------------- */

/* Attach a reader named `name` (up to 8 ASCII characters, NULL for none)
 * that sees frames written from now on. queue != 0: share frames with the
 * other queue readers (each frame goes to exactly one of them, FIFO).
 * Errors: EBUSY (all 48 entries held by live readers), ENOMEM, ESYS. */
int shmring_reader_open(shmring_ring *ring, const char *name, int queue, shmring_reader **out);

/* As shmring_reader_open, starting at SHMRING_START_NEXT, _OLDEST or _LATEST
 * (broadcast readers; queue readers always take the queue's next frame). */
int shmring_reader_open_at(shmring_ring *ring, const char *name, int queue, int start, shmring_reader **out);

/* How long shmring_get busy-polls before it sleeps on the futex. By default
 * (SHMRING_SPIN_LEARNED) the reader learns it, as Python's readers do: up to
 * 50 us (SHMRING_SPIN_US in the environment sets the most, 0 turns it off),
 * halved after every spin that runs out, down to none, so an idle reader costs
 * no CPU; spins whose yields gave the core to a busy process turn spinning off.
 * 0: never spin; spin_s > 0: always spin that long (lowest latency when both
 * sides are busy; costs a core while it spins). */
#define SHMRING_SPIN_LEARNED (-1.0)
void shmring_reader_set_spin(shmring_reader *r, double spin_s);

/* Wait up to timeout_s for the next frame, copy its payload into buf (cap
 * bytes) and fill *info (info->meta points into the reader's own buffer,
 * valid until the next get on this reader). Never returns a torn frame.
 * Errors: ETIMEDOUT, ETOOLARGE (frame larger than cap; it stays unread:
 * info->nbytes says how large), EBROKEN (ring removed or re-created, or a
 * corrupt slot). */
int shmring_get(shmring_reader *r, void *buf, uint64_t cap, shmring_frame_info *info, double timeout_s);

/* Jump to the newest frame, counting the backlog as lost, then get it. */
int shmring_latest(shmring_reader *r, void *buf, uint64_t cap, shmring_frame_info *info, double timeout_s);

/* Zero-copy get: like shmring_get, but *payload points into the slot. One
 * view per reader: a new get or get_view releases the previous one. Under
 * SHMRING_BLOCK the view pins its slot until shmring_release; under
 * overwrite it is valid while shmring_view_valid() says so. */
int shmring_get_view(shmring_reader *r, const void **payload, shmring_frame_info *info, double timeout_s);

/* Whether the view taken last still holds its frame (1) or was overwritten (0). */
int shmring_view_valid(const shmring_reader *r);

/* Release the view taken last (no-op without one). */
void shmring_release(shmring_reader *r);

/* Frames this reader missed in all, and frames it got. */
uint64_t shmring_reader_lost(const shmring_reader *r);
uint64_t shmring_reader_received(const shmring_reader *r);

/* Leave the reader table (releasing a view). NULL is ignored. */
void shmring_reader_close(shmring_reader *r);

/* ---- metadata ---------------------------------------------------------- */

/* A builder of FITS-like cards for frame metadata or stream keywords, in the
 * encoding of docs/format.md ("Metadata"). It writes the object form
 * {"KEY":value,...} while every card is a plain keyword = value, and turns
 * the text into the card form [["KEY",value,"comment"],...] as soon as a card
 * has a comment, is a COMMENT/HISTORY/blank commentary card, or repeats a
 * keyword (the choice Python's writer makes). Cards keep the order added. */
typedef struct {
    char *buf;      /* the caller's storage */
    uint32_t cap;   /* its size */
    uint32_t len;   /* bytes used; the text is complete JSON whenever len > 0 */
    int err;        /* first error (SHMRING_ETOOLARGE, SHMRING_EINVAL, SHMRING_ENOMEM), sticky */
    uint32_t state; /* private to the builder */
} shmring_meta;

/* Start empty metadata in buf[0..cap). */
void shmring_meta_init(shmring_meta *m, char *buf, uint32_t cap);
/* Add the card key = value. Keys are 1..64 printable ASCII characters except
 * '"' and '\\', case kept ("ESO DET DIT" is a HIERARCH keyword); string
 * values are escaped as JSON requires; "COMMENT" and "HISTORY" take text only
 * (shmring_meta_str, or shmring_meta_commentary). Return m->err. */
int shmring_meta_int(shmring_meta *m, const char *key, int64_t value);
int shmring_meta_double(shmring_meta *m, const char *key, double value); /* finite values only */
int shmring_meta_bool(shmring_meta *m, const char *key, int value);
int shmring_meta_str(shmring_meta *m, const char *key, const char *value);
int shmring_meta_null(shmring_meta *m, const char *key); /* FITS's undefined value */
/* Give the keyword card added just before a comment ("" adds none). Errors:
 * EINVAL when there is no such card (none yet, a commentary card last, or
 * the last card has its comment already), ETOOLARGE. */
int shmring_meta_comment(shmring_meta *m, const char *comment);
/* Add a commentary card: keyword "COMMENT", "HISTORY" or "" (blank), its text
 * the value; they may repeat. Errors: EINVAL (another keyword), ETOOLARGE. */
int shmring_meta_commentary(shmring_meta *m, const char *keyword, const char *text);

/* ---- the legacy io.files.SharedMem layout (docs/format-legacy.md) --------
 *
 * The original MATLAB/C++/Python queue of image buffers, byte for byte, with
 * shmring's Locker beside it (the same lock file, OFD locks and futex words as
 * Python's shmring.legacy.Locker, so C, MATLAB and Python peers exclude and wake
 * each other). `name` is a bare name ("camera1" -> /tmp/smem_camera1) or a path
 * containing '/'. Timeouts: negative waits forever, 0 does not wait. */

typedef struct shmring_legacy shmring_legacy; /* one legacy queue (or raw) file */
typedef struct shmring_locker shmring_locker; /* its lock file */

typedef struct { /* the MemHeader at offset 0, as found */
    uint32_t signature, memsize, flags, item_size, item_alloc, head, tail, count;
} shmring_legacy_header;

typedef struct { /* the BufHeader of a buffer taken */
    uint32_t put_counter, buf_len, width, height, flags;
} shmring_legacy_buf;

/* The file of a name: "camera1" -> /tmp/smem_camera1; a path as given. Errors: EINVAL. */
int shmring_legacy_path(const char *name, char *path, size_t cap);

/* Create a queue of item_alloc slots of item_size bytes (zero-filled, header
 * written, published atomically; mode 0 = 0600). exist_ok adopts an existing
 * file of that geometry (writing the header where its signature is 0).
 * Errors: EINVAL, EEXIST, ELAYOUT (exist_ok found another geometry), EPERM, ESYS. */
int shmring_legacy_create(const char *name, uint32_t item_size, uint32_t item_alloc, uint32_t mode, int exist_ok,
                          shmring_legacy **out);
/* Open an existing queue, refusing what docs/format-legacy.md "Validation" refuses
 * (ELAYOUT naming the field, expected and found). Read-only when the mode refuses
 * writing. Errors: ENOTFOUND, ELAYOUT, EPERM, EINVAL. */
int shmring_legacy_open(const char *name, shmring_legacy **out);
/* Header-less files for read/write (the seed's raw self-test). */
int shmring_legacy_create_raw(const char *name, uint64_t size, uint32_t mode, int exist_ok, shmring_legacy **out);
int shmring_legacy_open_raw(const char *name, shmring_legacy **out);
/* Close this handle (the file stays); NULL is ignored. */
void shmring_legacy_close(shmring_legacy *m);
/* Remove the file (if its name still names the file mapped) and close the handle. */
int shmring_legacy_delete(shmring_legacy *m);

const char *shmring_legacy_file(const shmring_legacy *m);   /* its path */
uint64_t shmring_legacy_size(const shmring_legacy *m);      /* its size, bytes */
uint32_t shmring_legacy_reattached(const shmring_legacy *m); /* re-created files followed */
uint32_t shmring_legacy_put_counter(const shmring_legacy *m); /* this handle's put attempts */
uint32_t shmring_legacy_pending(const shmring_legacy *m);   /* count: buffers queued now */
/* A snapshot of the MemHeader (unlocked). Errors: ELAYOUT for a raw handle. */
int shmring_legacy_read_header(const shmring_legacy *m, shmring_legacy_header *h);

/* put_buf: append a buffer (len 0 publishes item_size zero bytes, longer is
 * truncated), or drop it when all slots are full. Counts every attempt.
 * Returns 1 stored, 0 dropped, or an error (ELAYOUT: header corrupted since
 * open; ETIMEDOUT: the Locker stayed held 10 s; EPERM: read-only). */
int shmring_legacy_put(shmring_legacy *m, const void *data, uint32_t len, uint32_t width, uint32_t height,
                       uint32_t flags);
/* get_buf: take the oldest buffer into buf (cap bytes), waiting up to
 * timeout_s; shmring producers wake the waiter at once, originals are seen
 * within poll_s. Returns 1 taken (*info filled), 0 none (empty, timed out, or
 * an invalid slot at tail), or an error: ETOOLARGE (buf_len > cap; it stays
 * queued, info->buf_len says how large), ELAYOUT, EPERM, EINVAL. */
int shmring_legacy_get(shmring_legacy *m, void *buf, uint64_t cap, shmring_legacy_buf *info, double timeout_s,
                       double poll_s);
/* As shmring_legacy_get, for a buffer of whole `unit`-byte items (a uint16 image:
 * 2): ESCHEMA for another length, and the buffer stays queued. */
int shmring_legacy_get_items(shmring_legacy *m, void *buf, uint64_t cap, uint32_t unit, shmring_legacy_buf *info,
                             double timeout_s, double poll_s);
/* Raw bytes, bounds-checked (EINVAL); a write wakes shmring waiters. */
int shmring_legacy_read(const shmring_legacy *m, uint64_t pos, void *buf, uint64_t n);
int shmring_legacy_write(shmring_legacy *m, uint64_t pos, const void *data, uint64_t n);
/* The data wake word: read it, look at the file, then sleep while it still reads `seen`. */
uint32_t shmring_legacy_data_seq(const shmring_legacy *m);
void shmring_legacy_wait(shmring_legacy *m, uint32_t seen, double timeout_s);

/* send: write text (1..255 bytes) to the 256-byte file at path (created if
 * missing) and wait for the reply (copied to reply, NUL-terminated, cap bytes).
 * Errors: ETIMEDOUT (nobody answered: the message is withdrawn), ETOOLARGE,
 * EINVAL, ELAYOUT (not 256 bytes). */
int shmring_legacy_send(const char *path, const char *text, char *reply, size_t cap, double timeout_s, double poll_s);
/* answer: wait for one message, upper-case it (ASCII) in place, copy the request out. */
int shmring_legacy_answer(const char *path, char *request, size_t cap, double timeout_s, double poll_s);

/* The Locker of a legacy or message file: $SHMRING_DIR (or /dev/shm)/<basename>.<8 hex of
 * SHA-256 of the absolute path>.lock, created on first use. */
int shmring_locker_name(const char *path, char *out, size_t cap);
int shmring_locker_for_file(const char *path, shmring_locker **out);
const char *shmring_locker_path(const shmring_locker *l);
/* Take the update lock (ETIMEDOUT after timeout_s; negative: forever); the kernel frees it if we die. */
int shmring_locker_acquire(shmring_locker *l, double timeout_s);
void shmring_locker_release(shmring_locker *l);
/* Whether another process (or handle) holds it now. */
int shmring_locker_held_elsewhere(const shmring_locker *l);
void shmring_locker_close(shmring_locker *l);

/* ---- errors ------------------------------------------------------------ */

/* The name of an error code ("timeout", "layout mismatch", ...); never NULL. */
const char *shmring_strerror(int err);

/* The calling thread's last failure in words (ring, field, expected, found). */
const char *shmring_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_H */
