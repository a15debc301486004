/* Frames through one ring in one process: copies, views, reservations, lost counts. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "runner.h"

TEST(test_put_get_roundtrip)
{
    rig t;
    CHECK_OK(rig_open(&t, 4, 4096, SHMRING_OVERWRITE));
    uint16_t pixels[6] = {1, 2, 3, 4, 5, 65535};
    shmring_frame_info info = u16_info(6);
    info.ndim = 2;
    info.shape[0] = 2;
    info.shape[1] = 3;
    info.flags = SHMRING_BUFH_UYVY;
    info.meta = "{\"EXPTIME\":0.5}";
    info.meta_len = (uint32_t)strlen(info.meta);
    CHECK_OK(shmring_put(t.w, pixels, &info, 1.0));
    uint16_t got[6] = {0};
    shmring_frame_info out;
    CHECK_OK(shmring_get(t.rd, got, sizeof(got), &out, 1.0));
    CHECK(memcmp(got, pixels, sizeof(got)) == 0, "payload intact");
    CHECK(out.seq == 0 && out.lost == 0 && out.nbytes == 12 && strcmp(out.dtype, "<u2") == 0,
          "seq %llu nbytes %llu dtype %s", (unsigned long long)out.seq, (unsigned long long)out.nbytes, out.dtype);
    CHECK(out.ndim == 2 && out.shape[0] == 2 && out.shape[1] == 3 && out.flags == SHMRING_BUFH_UYVY, "shape, flags");
    CHECK(out.meta_len == info.meta_len && memcmp(out.meta, info.meta, out.meta_len) == 0, "metadata intact");
    CHECK(out.timestamp_ns > 0, "timestamped");
    CHECK(shmring_write_seq(t.ring) == 1 && shmring_reader_received(t.rd) == 1, "counters");
    rig_close(&t);
}

TEST(test_bytes_frame_defaults)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_OVERWRITE));
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    info.nbytes = 5;
    CHECK_OK(shmring_put(t.w, "hello", &info, 0));
    char got[64];
    shmring_frame_info out;
    CHECK_OK(shmring_get(t.rd, got, sizeof(got), &out, 0));
    CHECK(strcmp(out.dtype, "|u1") == 0 && out.ndim == 1 && out.shape[0] == 5 && memcmp(got, "hello", 5) == 0,
          "bytes are |u1, 1-d: %s %u", out.dtype, out.ndim);
    CHECK(out.meta_len == 0, "no metadata");
    rig_close(&t);
}

TEST(test_frame_checks)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_OVERWRITE));
    static char data[4096];
    shmring_frame_info big = u16_info(33);
    CHECK_RC(shmring_put(t.w, data, &big, 0), SHMRING_ETOOLARGE);
    CHECK(strstr(shmring_errmsg(), "66") && strstr(shmring_errmsg(), "64"), "names both sizes: %s",
          shmring_errmsg());
    shmring_frame_info wrong = u16_info(4);
    wrong.nbytes = 7;
    CHECK_RC(shmring_put(t.w, data, &wrong, 0), SHMRING_EINVAL);
    shmring_frame_info bad_dtype = u16_info(4);
    memcpy(bad_dtype.dtype, "<x2", 4);
    CHECK_RC(shmring_put(t.w, data, &bad_dtype, 0), SHMRING_EINVAL);
    shmring_frame_info meta = u16_info(1);
    meta.meta = data;
    meta.meta_len = 257;
    CHECK_RC(shmring_put(t.w, data, &meta, 0), SHMRING_ETOOLARGE);
    CHECK(shmring_write_seq(t.ring) == 0, "nothing was published");
    rig_close(&t);
}

TEST(test_overwrite_counts_lost)
{
    rig t;
    CHECK_OK(rig_open(&t, 4, 64, SHMRING_OVERWRITE));
    CHECK_OK(put_u16s(t.w, 0, 10));
    uint16_t v;
    shmring_frame_info out;
    CHECK_OK(shmring_get(t.rd, &v, sizeof(v), &out, 0));
    CHECK(out.seq == 6 && out.lost == 6 && v == 6, "first frame still there is 6 after 6 lost: seq %llu lost %llu",
          (unsigned long long)out.seq, (unsigned long long)out.lost);
    for (uint64_t k = 7; k < 10; k++) {
        CHECK_OK(shmring_get(t.rd, &v, sizeof(v), &out, 0));
        CHECK(out.seq == k && out.lost == 0 && v == k, "frame %llu", (unsigned long long)k);
    }
    CHECK_RC(shmring_get(t.rd, &v, sizeof(v), &out, 0), SHMRING_ETIMEDOUT);
    CHECK(shmring_reader_lost(t.rd) == 6 && shmring_reader_received(t.rd) == 4, "totals");
    rig_close(&t);
}

TEST(test_latest_skips)
{
    rig t;
    CHECK_OK(rig_open(&t, 8, 64, SHMRING_OVERWRITE));
    CHECK_OK(put_u16s(t.w, 0, 5));
    uint16_t v;
    shmring_frame_info out;
    CHECK_OK(shmring_latest(t.rd, &v, sizeof(v), &out, 0));
    CHECK(out.seq == 4 && out.lost == 4 && v == 4, "latest is 4 after skipping 4: %llu lost %llu",
          (unsigned long long)out.seq, (unsigned long long)out.lost);
    rig_close(&t);
}

TEST(test_small_buffer_leaves_frame)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_OVERWRITE));
    uint16_t four[4] = {9, 8, 7, 6}, got[4];
    shmring_frame_info info = u16_info(4), out;
    CHECK_OK(shmring_put(t.w, four, &info, 0));
    CHECK_RC(shmring_get(t.rd, got, 4, &out, 0), SHMRING_ETOOLARGE);
    CHECK(out.nbytes == 8, "says how large the frame is: %llu", (unsigned long long)out.nbytes);
    CHECK_OK(shmring_get(t.rd, got, sizeof(got), &out, 0));
    CHECK(out.seq == 0 && got[3] == 6, "the frame stayed unread and comes next");
    rig_close(&t);
}

TEST(test_reserve_commit)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 4096, SHMRING_OVERWRITE));
    void *payload;
    CHECK_OK(shmring_reserve(t.w, 4096, &payload));
    CHECK(((uintptr_t)payload & 63) == 0, "payload 64-byte aligned");
    CHECK_RC(shmring_reserve(t.w, 16, &payload), SHMRING_EINVAL);
    float *px = payload;
    for (int i = 0; i < 6; i++)
        px[i] = (float)i * 0.5f;
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    memcpy(info.dtype, "<f4", 4);
    info.ndim = 2;
    info.shape[0] = 3;
    info.shape[1] = 2;
    info.nbytes = 24;
    CHECK_OK(shmring_commit(t.w, &info));
    CHECK_RC(shmring_commit(t.w, &info), SHMRING_ECLOSED);
    float got[6];
    shmring_frame_info out;
    CHECK_OK(shmring_get(t.rd, got, sizeof(got), &out, 0));
    CHECK(out.nbytes == 24 && strcmp(out.dtype, "<f4") == 0 && got[5] == 2.5f, "committed as reserved");
    rig_close(&t);
}

TEST(test_abandon_publishes_nothing)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_OVERWRITE));
    void *payload;
    CHECK_OK(shmring_reserve(t.w, 8, &payload));
    memset(payload, 0xAB, 8);
    shmring_abandon(t.w);
    uint16_t v = 42;
    shmring_frame_info info = u16_info(1), out;
    CHECK_RC(shmring_get(t.rd, &v, sizeof(v), &out, 0), SHMRING_ETIMEDOUT);
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    v = 0;
    CHECK_OK(shmring_get(t.rd, &v, sizeof(v), &out, 0));
    CHECK(out.seq == 0 && v == 42 && out.lost == 0, "the next put reuses the abandoned seq");
    rig_close(&t);
}

TEST(test_view_pins_under_block)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_BLOCK));
    uint16_t v = 1;
    shmring_frame_info info = u16_info(1), out;
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    const void *view;
    CHECK_OK(shmring_get_view(t.rd, &view, &out, 0));
    CHECK(out.seq == 0 && *(const uint16_t *)view == 1 && shmring_view_valid(t.rd), "view of frame 0");
    CHECK_RC(shmring_put(t.w, &v, &info, 0), SHMRING_ETIMEDOUT); /* frame 2 would overwrite the held frame 0 */
    shmring_release(t.rd);
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    rig_close(&t);
}

TEST(test_view_valid_under_overwrite)
{
    rig t;
    CHECK_OK(rig_open(&t, 2, 64, SHMRING_OVERWRITE));
    uint16_t v = 1;
    shmring_frame_info info = u16_info(1), out;
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    const void *view;
    CHECK_OK(shmring_get_view(t.rd, &view, &out, 0));
    CHECK(shmring_view_valid(t.rd), "fresh view valid");
    CHECK_OK(shmring_put(t.w, &v, &info, 0));
    CHECK_OK(shmring_put(t.w, &v, &info, 0)); /* frame 2 lands in frame 0's slot */
    CHECK(!shmring_view_valid(t.rd), "overwritten view reported invalid");
    rig_close(&t);
}
