/* What the per-shape and per-dtype shortcuts must not change: every frame described as
 * it was written, every bad one refused, a lapped reader losing only what it must. */
#include "internal.h" /* first: its feature macros; the slot offsets, to corrupt a slot */

#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "runner.h"

static shmring_frame_info typed(const char *dtype, uint64_t nbytes, uint32_t ndim, uint64_t d0, uint64_t d1)
{
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    strncpy(info.dtype, dtype, sizeof(info.dtype));
    info.nbytes = nbytes;
    info.ndim = ndim;
    info.shape[0] = d0;
    info.shape[1] = d1;
    return info;
}

TEST(test_frames_of_changing_dtypes_read_as_written)
{
    rig t;
    CHECK_OK(rig_open(&t, 8, 256, SHMRING_OVERWRITE));
    unsigned char data[64] = {0};
    shmring_frame_info sent[5] = {typed("<u2", 12, 2, 2, 3), typed("<f4", 12, 1, 3, 0), typed("<u2", 12, 2, 2, 3),
                                  typed("<u2", 12, 1, 6, 0), typed("", 5, 0, 0, 0)};
    for (int i = 0; i < 5; i++)
        CHECK_OK(shmring_put(t.w, data, &sent[i], 1.0));
    const char *dtypes[5] = {"<u2", "<f4", "<u2", "<u2", "|u1"};
    uint64_t dim0[5] = {2, 3, 2, 6, 5};
    for (int i = 0; i < 5; i++) {
        shmring_frame_info got;
        CHECK_OK(shmring_get(t.rd, data, sizeof(data), &got, 1.0));
        CHECK(strcmp(got.dtype, dtypes[i]) == 0 && got.shape[0] == dim0[i] && got.nbytes == sent[i].nbytes,
              "frame %d: %s %llu (%llu bytes)", i, got.dtype, (unsigned long long)got.shape[0],
              (unsigned long long)got.nbytes);
    }
    rig_close(&t);
}

TEST(test_writer_checks_every_new_shape)
{
    rig t;
    CHECK_OK(rig_open(&t, 4, 256, SHMRING_OVERWRITE));
    unsigned char data[64] = {0};
    shmring_frame_info ok = typed("<u2", 6, 1, 3, 0), wrong_shape = typed("<u2", 6, 1, 4, 0),
                       wrong_bytes = typed("<u2", 8, 1, 3, 0), bad_dtype = typed("<u3", 6, 1, 3, 0);
    CHECK_OK(shmring_put(t.w, data, &ok, 1.0));
    CHECK_RC(shmring_put(t.w, data, &wrong_shape, 1.0), SHMRING_EINVAL);
    CHECK_RC(shmring_put(t.w, data, &wrong_bytes, 1.0), SHMRING_EINVAL);
    CHECK_RC(shmring_put(t.w, data, &bad_dtype, 1.0), SHMRING_EINVAL);
    CHECK_OK(shmring_put(t.w, data, &ok, 1.0));
    rig_close(&t);
}

TEST(test_corrupt_frame_of_a_known_dtype_is_refused)
{
    rig t;
    CHECK_OK(rig_open(&t, 4, 256, SHMRING_OVERWRITE));
    unsigned char data[64] = {0};
    shmring_frame_info info = typed("<u2", 6, 1, 3, 0), got;
    CHECK_OK(shmring_put(t.w, data, &info, 1.0));
    CHECK_OK(shmring_put(t.w, data, &info, 1.0));
    CHECK_OK(shmring_get(t.rd, data, sizeof(data), &got, 1.0));
    /* frame 1 has the dtype the reader just saw, and a shape that no longer makes its length */
    *shm_u64(shmring_base(t.ring), shm_slot_at(&t.ring->L, 1) + t.ring->L.s_shape) = 4;
    CHECK_RC(shmring_get(t.rd, data, sizeof(data), &got, 0), SHMRING_EBROKEN);
    CHECK(strstr(shmring_errmsg(), "shape"), "names the shape: %s", shmring_errmsg());
    rig_close(&t);
}

TEST(test_lapped_reader_loses_only_the_overwritten_frames)
{
    rig t;
    CHECK_OK(rig_open(&t, 4, 256, SHMRING_OVERWRITE));
    unsigned char data[64] = {0};
    shmring_frame_info info = typed("", 8, 0, 0, 0), got;
    for (uint64_t i = 0; i < 3; i++)
        CHECK_OK(shmring_put(t.w, &i, &info, 1.0));
    CHECK_OK(shmring_get(t.rd, data, sizeof(data), &got, 1.0)); /* frame 0, with frames 1-2 known written */
    for (uint64_t i = 3; i < 13; i++)
        CHECK_OK(shmring_put(t.w, &i, &info, 1.0));
    /* 4 slots, 13 written: frames 9-12 are still there, 1-8 are gone */
    CHECK_OK(shmring_get(t.rd, data, sizeof(data), &got, 1.0));
    uint64_t stamp;
    memcpy(&stamp, data, sizeof(stamp));
    CHECK(got.seq == 9 && got.lost == 8 && stamp == 9, "frame %llu after %llu lost",
          (unsigned long long)got.seq, (unsigned long long)got.lost);
    CHECK(shmring_reader_lost(t.rd) == 8, "lost %llu", (unsigned long long)shmring_reader_lost(t.rd));
    rig_close(&t);
}
