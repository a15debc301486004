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

static int poke64(const char *name, uint64_t offset, uint64_t value)
{
    int fd = open(path_of(name), O_WRONLY);
    int ok = fd >= 0 && pwrite(fd, &value, sizeof(value), (off_t)offset) == (ssize_t)sizeof(value);
    if (fd >= 0)
        close(fd);
    return ok;
}

TEST(test_get_with_write_seq_past_2_to_63)
{
    /* The timeout message names the last frame, write_seq - 1: at 2^63 a signed subtraction overflowed. */
    const char *name = unique_name();
    shmring_config cfg = {4, 512, 64, SHMRING_DROP, 0};
    shmring_ring *r;
    CHECK_OK(shmring_create(name, &cfg, &r));
    shmring_writer *w;
    CHECK_OK(shmring_writer_open(r, &w));
    uint16_t pixels[8] = {0};
    shmring_frame_info frame = u16_info(8);
    for (int i = 0; i < 4; i++)
        CHECK_OK(shmring_put(w, pixels, &frame, 0));
    shmring_writer_close(w);
    shmring_close(r);
    CHECK(poke64(name, SHMRING_OFF_WRITE_SEQ, UINT64_C(1) << 63), "write_seq poked");
    CHECK_OK(shmring_open(name, &r));
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open_at(r, "hostile", 0, SHMRING_START_OLDEST, &rd));
    unsigned char buf[512];
    shmring_frame_info info;
    int rc = shmring_get(rd, buf, sizeof(buf), &info, 0);
    CHECK(rc == SHMRING_ETIMEDOUT || rc == SHMRING_EBROKEN, "get -> %d (%s): %s", rc, shmring_strerror(rc),
          shmring_errmsg());
    shmring_reader_close(rd);
    shmring_close(r);
    shmring_unlink(name);
}
