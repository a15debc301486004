/* libshmring internals shared by the sources in c/src (not installed). */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#define _GNU_SOURCE /* F_OFD_* locks, O_NOFOLLOW/O_CLOEXEC, syscall() */
#define _FILE_OFFSET_BITS 64 /* rings larger than 2 GiB on 32-bit systems too */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmring.h"
#include "shmring_layout.h"
#include "protocol.h" /* the per-frame protocol steps, shared with the Python extension */

#define SHMRING_HIDDEN __attribute__((visibility("hidden")))

/* How long a blocked call sleeps at most before re-checking what no futex
 * announces: a reader that died, or the ring's name now naming another file. */
#define SHMRING_RECHECK_S 0.5

/* Sizes of one ring, derived from its header (layout.c). header_bytes is
 * where slot 0 starts: the header page plus the stream keywords' pages. */
typedef struct {
    uint64_t slots, slot_bytes, meta_bytes;
    uint64_t payload_offset, slot_stride, total_bytes;
    uint64_t keywords_len, header_bytes;
} shmring_geom;

struct shmring_ring {
    char *path;          /* the file's path */
    int fd;              /* read-write descriptor the mapping was made from */
    int probe_fd;        /* a description holding no lock: liveness questions */
    int attached_fd;     /* holds the shared "attached" lock for as long as the handle lives */
    dev_t dev;           /* identity of the file mapped, to notice a re-created name */
    ino_t ino;
    unsigned char *base; /* the mapping */
    uint64_t size;
    shmring_geom g;
    ShmLayout L;         /* g and shmring_layout.h as the protocol steps take them */
    int policy;
    int has_schema;
    char schema_dtype[SHMRING_DTYPE_BYTES + 1];
    uint32_t schema_ndim;
    uint64_t schema_shape[SHMRING_MAX_DIMS];
};

/* The mapping as the protocol steps take it. */
static inline char *shmring_base(const shmring_ring *ring)
{
    return (char *)ring->base;
}

struct shmring_writer {
    shmring_ring *ring;
    int presence_fd;    /* holds the writer presence lock */
    int put_fd;         /* shared writers: the put lock's own description, else -1 */
    int reserved;       /* a reservation is open */
    uint64_t seq;       /* its frame */
    uint64_t reserved_bytes;
    uint64_t room_until; /* frames below this seq are known to have room */
    double spin_s;       /* block policy: busy-poll this long for room before sleeping */
    /* The dtype (its 8 bytes as given), shape and length of the last typed frame found
     * valid: frames of one shape are checked once, not once each (writer.c). */
    int known_valid;
    char known_dtype[SHMRING_DTYPE_BYTES];
    uint32_t known_ndim;
    uint64_t known_shape[SHMRING_MAX_DIMS];
    uint64_t known_nbytes;
};

/* ---- spin.c: the learned spin before a reader sleeps ---- */
typedef struct {
    double budget;         /* seconds the next wait spins */
    uint32_t waits;        /* waits so far, for the periodic probe */
    uint32_t probe_every;  /* one wait in this many spins the maximum */
    uint32_t shared_in_a_row; /* spins in a row whose yields ran another thread */
} shmring_learned_spin;
SHMRING_HIDDEN void shmring_spin_init(shmring_learned_spin *s);
/* How long this wait spins. */
SHMRING_HIDDEN double shmring_spin_seconds(shmring_learned_spin *s);
/* How a spin of `spun` seconds went: it caught the frame (or ran out); `shared`: one of its
 * yields ran another thread (shm_yield), so another process wants this core. */
SHMRING_HIDDEN void shmring_spin_learn(shmring_learned_spin *s, double spun, int caught, int shared);

struct shmring_reader {
    shmring_ring *ring;
    int lease_fd;       /* holds the lease on the entry's first byte */
    uint32_t index;     /* entry in the reader table */
    int queue;
    uint64_t cursor;    /* broadcast: next seq to read */
    uint64_t lost, received;
    uint64_t pending_lost; /* lost since the last frame returned */
    double spin_s;      /* < 0: learned (the default), 0: none, > 0: spin this long */
    shmring_learned_spin learned;
    int has_view;
    uint64_t view_seq;
    char *meta;         /* meta_bytes of storage for info->meta */
    ShmRead got;        /* the last read's result, kept: it knows the last dtype and write_seq (calloc zeroes it) */
};

/* ---- errors.c ---- */
/* Record the thread's last failure (printf-style) and return `code`. */
SHMRING_HIDDEN int shmring_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map an errno from open()/unlink() of `path` to a code (and message). */
SHMRING_HIDDEN int shmring_fail_errno(int err, const char *what, const char *path);

/* ---- sync.c: kernel mechanisms (clocks, the lease probe: protocol_wait.c, protocol_room.c) ---- */
SHMRING_HIDDEN double shmring_monotonic_s(void);
/* Open a new open file description of the file behind fd (-1 with errno). */
SHMRING_HIDDEN int shmring_reopen(int fd);
/* Take an OFD lock on one byte: 1 taken, 0 held elsewhere (no wait), -1 error. */
SHMRING_HIDDEN int shmring_ofd_lock(int fd, uint64_t byte, int exclusive, int wait);
SHMRING_HIDDEN void shmring_ofd_unlock(int fd, uint64_t byte);
/* Sleep while the u32 at word reads `seen`, at most timeout_s (>= 0). */
SHMRING_HIDDEN void shmring_futex_wait(uint32_t *word, uint32_t seen, double timeout_s);
/* Whether the ring's path still names the file mapped. */
SHMRING_HIDDEN int shmring_replaced(const shmring_ring *ring);

/* ---- layout.c ---- */
/* Validate the mapped header of a `size`-byte file and fill ring->g etc. */
SHMRING_HIDDEN int shmring_layout_read(shmring_ring *ring);
/* Write lines 0, 1 and 8 and the g->keywords_len bytes of `keywords` into a fresh, zero-filled ring. */
SHMRING_HIDDEN void shmring_layout_write(unsigned char *base, const shmring_geom *g, int policy,
                                         const void *keywords);
/* Derived sizes, header_bytes included; SHMRING_OK, else an error with its message set. */
SHMRING_HIDDEN int shmring_layout_derive(uint32_t slots, uint64_t slot_bytes, uint32_t meta_bytes,
                                         uint32_t keywords_len, shmring_geom *g);
/* The ShmLayout the protocol steps take: shmring_layout.h's offsets, seqlock encoding
 * and dtype rules with the ring's geometry g. */
SHMRING_HIDDEN void shmring_layout_protocol(const shmring_geom *g, ShmLayout *L);

/* ---- segment.c ---- */
SHMRING_HIDDEN int shmring_resolve(const char *name, char **path);
/* The ring handle's descriptors and mapping, once the file is mapped. */
SHMRING_HIDDEN int shmring_attach(shmring_ring *ring);

#endif /* SHMRING_INTERNAL_H */
