/* Rings whose counters another process corrupted: every call answers with a code, never undefined behaviour
 * (these run under `make asan`, where UBSan aborts on it). Cases found by the chaos campaign's fuzzing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"
#include "shmring_layout.h"

static int poke(const char *name, uint64_t offset, const void *bytes, size_t n)
{
    int fd = open(path_of(name), O_WRONLY);
    int ok = fd >= 0 && pwrite(fd, bytes, n, (off_t)offset) == (ssize_t)n;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int poke64(const char *name, uint64_t offset, uint64_t value)
{
    return poke(name, offset, &value, sizeof(value));
}

/* A drop ring of 4 slots of 512 bytes with four frames of 8 <u2 in it, closed. */
static int ring_with_frames(const char *name)
{
    shmring_config cfg = {4, 512, 64, SHMRING_DROP, 0};
    shmring_ring *r;
    shmring_writer *w;
    if (shmring_create(name, &cfg, &r) || shmring_writer_open(r, &w))
        return 0;
    uint16_t pixels[8] = {0};
    shmring_frame_info frame = u16_info(8);
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= shmring_put(w, pixels, &frame, 0) == SHMRING_OK;
    shmring_writer_close(w);
    shmring_close(r);
    return ok;
}

/* The first frame's get, from the oldest, on the ring `name` as the file now is. */
static int get_oldest(const char *name)
{
    shmring_ring *r;
    shmring_reader *rd;
    int rc = shmring_open(name, &r);
    if (rc)
        return rc;
    if ((rc = shmring_reader_open_at(r, "hostile", 0, SHMRING_START_OLDEST, &rd)) == SHMRING_OK) {
        unsigned char buf[512];
        shmring_frame_info info;
        rc = shmring_get(rd, buf, sizeof(buf), &info, 0);
        shmring_reader_close(rd);
    }
    shmring_close(r);
    return rc;
}

TEST(test_get_with_write_seq_past_2_to_63)
{
    /* The timeout message names the last frame, write_seq - 1: at 2^63 a signed subtraction overflowed. */
    const char *name = unique_name();
    CHECK(ring_with_frames(name), "ring made: %s", shmring_errmsg());
    CHECK(poke64(name, SHMRING_OFF_WRITE_SEQ, UINT64_C(1) << 63), "write_seq poked");
    int rc = get_oldest(name);
    CHECK(rc == SHMRING_ETIMEDOUT || rc == SHMRING_EBROKEN, "get -> %d (%s): %s", rc, shmring_strerror(rc),
          shmring_errmsg());
    shmring_unlink(name);
}

TEST(test_slot_dtype_that_is_no_numpy_dtype_is_a_corrupt_slot)
{
    /* As Python's reader: an item size numpy has not for the kind (which reads the field up to its first NUL). */
    static const char *const dtypes[] = {"<u3", "|c1", "<f3", "|b2", "<i16"};
    for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++) {
        const char *name = unique_name();
        CHECK(ring_with_frames(name), "ring made: %s", shmring_errmsg());
        char field[SHMRING_DTYPE_BYTES] = {0};
        memcpy(field, dtypes[i], strlen(dtypes[i]));
        CHECK(poke(name, SHMRING_HEADER_BYTES + SHMRING_S_DTYPE, field, sizeof(field)), "dtype poked");
        CHECK_RC(get_oldest(name), SHMRING_EBROKEN);
        shmring_unlink(name);
    }
}

/* Poke a fixed schema of <u2 frames of `shape` (3 dims) into ring `name`'s header. */
static int poke_schema(const char *name, uint64_t d0, uint64_t d1, uint64_t d2)
{
    uint32_t has_ndim[2] = {1, 3};
    char dtype[SHMRING_DTYPE_BYTES] = "<u2";
    uint64_t shape[4] = {d0, d1, d2, 0};
    return poke(name, SHMRING_OFF_SCHEMA_HAS_SCHEMA, has_ndim, sizeof(has_ndim)) &&
           poke(name, SHMRING_OFF_SCHEMA_DTYPE, dtype, sizeof(dtype)) &&
           poke(name, SHMRING_OFF_SCHEMA_SHAPE, shape, sizeof(shape));
}

TEST(test_schema_size_is_the_product_of_every_dim)
{
    /* (64, 8, 0) frames are empty and fit a 512-byte slot; (64, 8, 1) ones (1 KiB) do not.
     * A check that stopped at the first partial product too large refused the empty one. */
    const char *name = unique_name();
    CHECK(ring_with_frames(name), "ring made: %s", shmring_errmsg());
    shmring_ring *r;
    CHECK(poke_schema(name, 64, 8, 0), "schema poked");
    CHECK_OK(shmring_open(name, &r));
    shmring_close(r);
    CHECK(poke_schema(name, 64, 8, 1), "schema poked");
    CHECK_RC(shmring_open(name, &r), SHMRING_ELAYOUT);
    CHECK(poke_schema(name, UINT64_C(1) << 40, UINT64_C(1) << 40, 0), "schema poked");
    CHECK_OK(shmring_open(name, &r));
    shmring_close(r);
    shmring_unlink(name);
}
