/* libshmring internals of the legacy io.files.SharedMem layout (docs/format-legacy.md). */
#ifndef SHMRING_LEGACY_INTERNAL_H
#define SHMRING_LEGACY_INTERNAL_H

#include "internal.h"

/* docs/format-legacy.md section 1: every field a little-endian u32. Each value is held to
 * src/shmring/legacy/_format.py by tests/unit/test_c_legacy_layout.py. */
#define LEG_SIGNATURE SHMRING_LEGACY_SIGNATURE /* generated from Python's _format */
#define LEG_MEM_HEADER 32u
#define LEG_BUF_HEADER 20u
#define LEG_OFF_SIGNATURE 0
#define LEG_OFF_MEMSIZE 4
#define LEG_OFF_FLAGS 8
#define LEG_OFF_ITEM_SIZE 12
#define LEG_OFF_ITEM_ALLOC 16
#define LEG_OFF_HEAD 20
#define LEG_OFF_TAIL 24
#define LEG_OFF_COUNT 28
/* section 2: the send/answer file */
#define LEG_MSG_SIZE 256u
#define LEG_MSG_MAX 255u
/* section 4: shmring's Locker file */
#define LEG_LOCK_SIZE 64u
#define LEG_LOCK_MAGIC "SHMRLCK1"
#define LEG_LOCK_WAKE 8u
#define LEG_DATA_WAKE 16u
#define LEG_UPDATE_BYTE 32u
#define LEG_EXCHANGE_BYTE 33u
/* Longest sleep before re-trying a lock whose holder may have died (Python's DEATH_RECHECK_S). */
#define LEG_DEATH_RECHECK_S 0.02
/* Seconds a header update waits for the Locker (Python's LOCK_TIMEOUT). */
#define LEG_LOCK_TIMEOUT_S 10.0

struct shmring_locker {
    char *path;
    int fd;            /* the mapping's descriptor, also the probe */
    int update_fd;     /* own description for the update lock */
    int exchange_fd;   /* own description for the exchange lock */
    unsigned char *base;
    int update_held, exchange_held;
};

struct shmring_legacy {
    char *path;
    int fd;
    int writable;
    int raw;
    dev_t dev;
    ino_t ino;
    unsigned char *base;
    uint64_t size;
    uint32_t item_size, item_alloc; /* validated at open (queue files) */
    uint32_t put_counter;
    uint32_t reattached;
    shmring_locker *locker; /* NULL for a read-only handle that may not use the lock file */
};

SHMRING_HIDDEN uint32_t leg_load(const unsigned char *base, uint64_t off);
SHMRING_HIDDEN void leg_store(unsigned char *base, uint64_t off, uint32_t v);
SHMRING_HIDDEN uint32_t leg_add(unsigned char *base, uint64_t off, int32_t delta);
/* The data wake word of a Locker: snapshot, announce (bump + wake), bounded sleep. */
SHMRING_HIDDEN uint32_t leg_data_seq(const shmring_locker *l);
SHMRING_HIDDEN void leg_data_announce(shmring_locker *l);
SHMRING_HIDDEN void leg_data_sleep(shmring_locker *l, uint32_t seen, double seconds);
SHMRING_HIDDEN int leg_exchange_acquire(shmring_locker *l, double timeout_s);
SHMRING_HIDDEN void leg_exchange_release(shmring_locker *l);
/* Map a regular file (no symlinks) of at least min_size bytes; writable < 0 falls back to read-only. */
SHMRING_HIDDEN int leg_map(const char *path, int writable, uint64_t min_size, shmring_legacy *m);
SHMRING_HIDDEN void leg_unmap(shmring_legacy *m);
/* Create `size` zero bytes under a temporary name, let init fill them, link() into place. */
SHMRING_HIDDEN int leg_create_file(const char *path, uint64_t size, uint32_t mode,
                                   void (*init)(unsigned char *, void *), void *ctx);
SHMRING_HIDDEN double leg_remaining(double deadline);
/* Refuse head/tail/count outside the queue; refuse a header that is not a consistent queue. */
SHMRING_HIDDEN int leg_check_cursors(const char *path, const unsigned char *base, uint32_t item_alloc);
SHMRING_HIDDEN int leg_validate(const char *path, const unsigned char *base, uint64_t size, uint32_t *item_size,
                                uint32_t *item_alloc);

#endif
