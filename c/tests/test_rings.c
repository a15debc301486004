/* Creating, opening, validating and removing rings. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"
#include "shmring_layout.h"

TEST(test_create_open_close)
{
    const char *name = unique_name();
    shmring_config cfg = {4, 1000, 0, SHMRING_BLOCK, 0};
    shmring_ring *a, *b;
    CHECK_OK(shmring_create(name, &cfg, &a));
    CHECK_OK(shmring_open(name, &b));
    uint32_t slots, meta;
    uint64_t slot_bytes;
    int policy;
    shmring_ring_sizes(b, &slots, &slot_bytes, &meta, &policy);
    CHECK(slots == 4 && slot_bytes == 1000 && meta == 4096 && policy == SHMRING_BLOCK,
          "open sees slots %u slot_bytes %llu meta %u policy %d", slots, (unsigned long long)slot_bytes, meta, policy);
    struct stat st;
    CHECK(stat(path_of(name), &st) == 0 && (st.st_mode & 0777) == 0600, "mode is %o, expected 0600",
          (unsigned)(st.st_mode & 0777));
    shmring_close(b);
    shmring_close(a);
    CHECK_OK(shmring_unlink(name));
    CHECK_RC(shmring_unlink(name), SHMRING_ENOTFOUND);
}

TEST(test_create_refuses_taken_name)
{
    const char *name = unique_name();
    shmring_config cfg = {2, 64, 0, 0, 0640};
    shmring_ring *a, *b = NULL;
    CHECK_OK(shmring_create(name, &cfg, &a));
    CHECK_RC(shmring_create(name, &cfg, &b), SHMRING_EEXIST);
    CHECK(b == NULL, "a failed create leaves *out NULL");
    struct stat st;
    CHECK(stat(path_of(name), &st) == 0 && (st.st_mode & 0777) == 0640, "mode 0640 asked, got %o",
          (unsigned)(st.st_mode & 0777));
    shmring_close(a);
    shmring_unlink(name);
}

TEST(test_open_missing)
{
    shmring_ring *r = NULL;
    CHECK_RC(shmring_open("no-such-ring", &r), SHMRING_ENOTFOUND);
    CHECK(strstr(shmring_errmsg(), "no-such-ring") != NULL, "message names the ring: %s", shmring_errmsg());
    shmring_config cfg = {2, 64, 0, 0, 0};
    CHECK_RC(shmring_create("/dev/shm/no-such-dir-for-shmring/r", &cfg, &r), SHMRING_ENOTFOUND);
    CHECK(strstr(shmring_errmsg(), "directory does not exist") != NULL, "says why: %s", shmring_errmsg());
}

TEST(test_bad_names_and_config)
{
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r;
    CHECK_RC(shmring_create(".hidden", &cfg, &r), SHMRING_EINVAL);
    CHECK_RC(shmring_create("a b", &cfg, &r), SHMRING_EINVAL);
    CHECK_RC(shmring_create("", &cfg, &r), SHMRING_EINVAL);
    shmring_config one_slot = {1, 64, 0, 0, 0};
    CHECK_RC(shmring_create(unique_name(), &one_slot, &r), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "slots") != NULL, "message names slots: %s", shmring_errmsg());
    shmring_config no_bytes = {2, 0, 0, 0, 0};
    CHECK_RC(shmring_create(unique_name(), &no_bytes, &r), SHMRING_EINVAL);
    shmring_config bad_policy = {2, 64, 0, 7, 0};
    CHECK_RC(shmring_create(unique_name(), &bad_policy, &r), SHMRING_EINVAL);
    shmring_config huge = {2, UINT64_C(1) << 40, 0, 0, 0};
    CHECK_RC(shmring_create(unique_name(), &huge, &r), SHMRING_ENOSPC);
}

TEST(test_layout_bytes)
{
    /* docs/format.md: payload_offset = round_up(128 + meta, 64), stride = round_up(payload_offset + slot_bytes, 4096) */
    const char *name = unique_name();
    shmring_config cfg = {3, 5000, 100, SHMRING_DROP, 0};
    shmring_ring *r;
    CHECK_OK(shmring_create(name, &cfg, &r));
    int fd = open(path_of(name), O_RDONLY);
    CHECK(fd >= 0, "the ring file exists");
    unsigned char head[128];
    CHECK(pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head), "header readable");
    struct stat st;
    fstat(fd, &st);
    close(fd);
    uint64_t stride, total;
    uint32_t slots, policy, version;
    memcpy(&version, head + SHMRING_OFF_VERSION, 4);
    memcpy(&stride, head + SHMRING_OFF_SLOT_STRIDE, 8);
    memcpy(&total, head + SHMRING_OFF_TOTAL_BYTES, 8);
    memcpy(&slots, head + SHMRING_OFF_SLOTS, 4);
    memcpy(&policy, head + SHMRING_OFF_POLICY, 4);
    CHECK(memcmp(head, "SHMRING\0", 8) == 0 && version == 1, "magic and version");
    CHECK(stride == 8192 && total == 4096 + 3 * 8192 && (uint64_t)st.st_size == total,
          "stride %llu total %llu size %lld", (unsigned long long)stride, (unsigned long long)total,
          (long long)st.st_size);
    CHECK(slots == 3 && policy == SHMRING_DROP, "slots %u policy %u", slots, policy);
    shmring_close(r);
    shmring_unlink(name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, data, n) != (ssize_t)n)
            test_failed = 1;
        close(fd);
    }
}

TEST(test_refuses_foreign_files)
{
    static unsigned char page[4096 + 64];
    shmring_ring *r = NULL;
    uint32_t legacy = SHMRING_LEGACY_SIGNATURE;
    memcpy(page, &legacy, 4);
    write_file(path_of("legacy"), page, 4096);
    CHECK_RC(shmring_open("legacy", &r), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "legacy") != NULL, "the legacy file is named as such: %s", shmring_errmsg());
    write_file(path_of("short"), page, 100);
    CHECK_RC(shmring_open("short", &r), SHMRING_ELAYOUT);
    char target[512];
    snprintf(target, sizeof(target), "%s", path_of("legacy"));
    CHECK(symlink(target, path_of("link")) == 0, "symlink made");
    CHECK_RC(shmring_open("link", &r), SHMRING_ELAYOUT);
    CHECK(mkdir(path_of("dir"), 0700) == 0, "directory made");
    CHECK_RC(shmring_open("dir", &r), SHMRING_ELAYOUT);
    /* a real ring, then extended by one page: the sizes no longer add up */
    const char *name = unique_name();
    shmring_config cfg = {2, 64, 0, 0, 0};
    CHECK_OK(shmring_create(name, &cfg, &r));
    shmring_close(r);
    CHECK(truncate(path_of(name), 4096 * 4) == 0, "extended");
    CHECK_RC(shmring_open(name, &r), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "file size") != NULL, "names the field: %s", shmring_errmsg());
    CHECK(r == NULL, "a refused open leaves *out NULL");
}

TEST(test_permission_refused)
{
    const char *name = unique_name();
    shmring_config cfg = {2, 64, 0, 0, 0};
    shmring_ring *r;
    CHECK_OK(shmring_create(name, &cfg, &r));
    shmring_close(r);
    CHECK(chmod(path_of(name), 0) == 0, "chmod");
    pid_t pid = fork();
    if (pid == 0) { /* root opens any file: ask as nobody when we are root */
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(99);
        shmring_ring *mine = NULL;
        int rc = shmring_open(name, &mine);
        _exit(rc == SHMRING_EPERM && mine == NULL && strstr(shmring_errmsg(), "permission denied") ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "child reaped");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "open without permission is SHMRING_EPERM (status %d)",
          status);
    shmring_unlink(name);
}
