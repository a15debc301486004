/* Helpers shared by the C tests. */
#ifndef SHMRING_TEST_HELPERS_H
#define SHMRING_TEST_HELPERS_H

#include <stdint.h>

#include "shmring.h"

/* A ring name no other test of this run uses. */
const char *unique_name(void);
/* The file path of a ring name in the test directory. */
const char *path_of(const char *name);
/* A frame info for `count` little-endian u16 values, 1-d. */
shmring_frame_info u16_info(uint64_t count);

/* A ring whose name is already unlinked (the mapping lives on: nothing to clean up),
 * with 256 metadata bytes, one broadcast reader from the oldest frame, and its writer. */
typedef struct {
    shmring_ring *ring;
    shmring_reader *rd;
    shmring_writer *w;
} rig;
/* SHMRING_OK, or the code of the call that failed (shmring_errmsg() says why). */
int rig_open(rig *t, uint32_t slots, uint64_t slot_bytes, int policy);
/* Close the writer, the reader and the ring. */
void rig_close(rig *t);
/* Put the u16 values first, first + 1, ... (count of them), one frame each, without waiting. */
int put_u16s(shmring_writer *w, uint16_t first, uint16_t count);

#endif
