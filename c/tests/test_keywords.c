/* Stream keywords: the keywords block after the header page, and slots after it (docs/format.md, line 8). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"
#include "shmring_layout.h"

static uint64_t file_u64(const char *path, uint64_t off, int bytes)
{
    uint64_t v = 0;
    int fd = open(path, O_RDONLY);
    if (fd >= 0 && pread(fd, &v, (size_t)bytes, (off_t)off) != bytes)
        v = UINT64_MAX;
    if (fd >= 0)
        close(fd);
    return v;
}

static void poke_u32(const char *path, uint64_t off, uint32_t v)
{
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        if (pwrite(fd, &v, 4, (off_t)off) != 4)
            v = 0;
        close(fd);
    }
}

TEST(test_keywords_area_and_slots_after_it)
{
    char name[32], kw[256];
    snprintf(name, sizeof(name), "%s", unique_name());
    shmring_meta m;
    shmring_meta_init(&m, kw, sizeof(kw));
    shmring_meta_str(&m, "TELESCOP", "1 m");
    CHECK_OK(shmring_meta_comment(&m, "telescope"));
    shmring_config cfg = {3, 1000, 64, SHMRING_OVERWRITE, 0};
    shmring_ring *r, *other;
    CHECK_OK(shmring_create_with_keywords(name, &cfg, kw, m.len, &r));
    const char *path = path_of(name);
    struct stat st;
    CHECK(stat(path, &st) == 0, "the ring file exists");
    /* stride = round_up(round_up(128 + 64, 64) + 1000, 4096) = 4096; header_bytes = 4096 + 4096 */
    CHECK(file_u64(path, SHMRING_OFF_HEADER_BYTES, 4) == 8192, "header_bytes %llu",
          (unsigned long long)file_u64(path, SHMRING_OFF_HEADER_BYTES, 4));
    CHECK(file_u64(path, SHMRING_OFF_KEYWORDS_LEN, 4) == m.len, "keywords_len at offset 512");
    CHECK(file_u64(path, SHMRING_OFF_TOTAL_BYTES, 8) == 8192 + 3 * 4096 && (uint64_t)st.st_size == 8192 + 3 * 4096,
          "total bytes and file size %lld", (long long)st.st_size);

    CHECK_OK(shmring_open(name, &other));
    const char *got;
    uint32_t len;
    CHECK_OK(shmring_keywords(other, &got, &len));
    CHECK(len == m.len && memcmp(got, kw, len) == 0, "keywords read back: %.*s", (int)len, got);

    /* a frame lands in slot 0 at header_bytes, not at 4096 */
    shmring_writer *w;
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(other, "kw", 0, &rd));
    CHECK_OK(shmring_writer_open(r, &w));
    uint16_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, back[10];
    shmring_frame_info info = u16_info(10), out;
    CHECK_OK(shmring_put(w, data, &info, 0));
    CHECK(file_u64(path, 8192 + SHMRING_S_PAYLOAD_BYTES, 8) == sizeof(data), "slot 0's header at header_bytes");
    CHECK(file_u64(path, SHMRING_OFF_KEYWORDS, 1) == (unsigned char)'[', "the keywords block is intact");
    CHECK_OK(shmring_get(rd, back, sizeof(back), &out, 5.0));
    CHECK(out.nbytes == sizeof(data) && memcmp(back, data, sizeof(data)) == 0, "the frame reads back whole");
    shmring_reader_close(rd);
    shmring_writer_close(w);
    shmring_close(other);
    shmring_close(r);
    shmring_unlink(name);
}

TEST(test_keywords_pages_round_up)
{
    char name[32];
    snprintf(name, sizeof(name), "%s", unique_name());
    uint32_t n = 4097;
    char *kw = malloc(n);
    CHECK(kw != NULL, "memory");
    memset(kw, ' ', n); /* JSON allows whitespace around the object */
    memcpy(kw, "{\"A\":1}", 7);
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r;
    int rc = shmring_create_with_keywords(name, &cfg, kw, n, &r);
    free(kw);
    CHECK_OK(rc);
    shmring_close(r);
    CHECK(file_u64(path_of(name), SHMRING_OFF_HEADER_BYTES, 4) == 4096 + 8192, "4097 bytes take two pages");
    CHECK_OK(shmring_open(name, &r));
    const char *got;
    uint32_t len;
    CHECK_OK(shmring_keywords(r, &got, &len));
    CHECK(len == n && got[0] == '{', "length %u", len);
    shmring_close(r);
    shmring_unlink(name);
}

TEST(test_ring_without_keywords_is_as_before)
{
    char name[32];
    snprintf(name, sizeof(name), "%s", unique_name());
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r;
    CHECK_OK(shmring_create_with_keywords(name, &cfg, NULL, 0, &r));
    CHECK(file_u64(path_of(name), SHMRING_OFF_HEADER_BYTES, 4) == 4096, "header_bytes 4096 without keywords");
    const char *got = NULL;
    uint32_t len = 99;
    CHECK_OK(shmring_keywords(r, &got, &len));
    CHECK(len == 0 && got && !*got, "no keywords: \"\" and 0");
    CHECK_RC(shmring_keywords(r, NULL, &len), SHMRING_EINVAL);
    shmring_close(r);
    shmring_unlink(name);
}

TEST(test_bad_keywords_refused)
{
    char name[32];
    snprintf(name, sizeof(name), "%s", unique_name());
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r = NULL;
    CHECK_RC(shmring_create_with_keywords(name, &cfg, NULL, 5, &r), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "keywords_len is 5"), "names the length: %s", shmring_errmsg());
    CHECK_RC(shmring_create_with_keywords(name, &cfg, "\"A\"", 3, &r), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "0x22"), "names the first byte: %s", shmring_errmsg());
    uint32_t big = SHMRING_MAX_KEYWORDS_BYTES + 1;
    char *kw = calloc(big, 1);
    CHECK(kw != NULL, "memory");
    kw[0] = '{';
    int rc = shmring_create_with_keywords(name, &cfg, kw, big, &r);
    free(kw);
    CHECK_RC(rc, SHMRING_ETOOLARGE);
    CHECK(strstr(shmring_errmsg(), "1048577"), "names the size: %s", shmring_errmsg());
    CHECK(r == NULL && access(path_of(name), F_OK) != 0, "nothing was created");
}

TEST(test_open_refuses_bad_keywords_len)
{
    char name[32];
    snprintf(name, sizeof(name), "%s", unique_name());
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r;
    CHECK_OK(shmring_create_with_keywords(name, &cfg, "{\"A\":1}", 7, &r));
    shmring_close(r);
    const char *path = path_of(name);
    poke_u32(path, SHMRING_OFF_KEYWORDS_LEN, SHMRING_MAX_KEYWORDS_BYTES + 1);
    CHECK_RC(shmring_open(name, &r), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "keywords length is 1048577"), "names the field: %s", shmring_errmsg());
    poke_u32(path, SHMRING_OFF_KEYWORDS_LEN, 4097); /* two pages, but header_bytes says one */
    CHECK_RC(shmring_open(name, &r), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "header bytes is 8192, expected 12288"), "names both: %s", shmring_errmsg());
    poke_u32(path, SHMRING_OFF_KEYWORDS_LEN, 0); /* keywords gone, header_bytes still 8192 */
    CHECK_RC(shmring_open(name, &r), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "header bytes is 8192, expected 4096"), "names both: %s", shmring_errmsg());
    poke_u32(path, SHMRING_OFF_KEYWORDS_LEN, 7);
    CHECK_OK(shmring_open(name, &r));
    shmring_close(r);
    shmring_unlink(name);
}
