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

#endif
