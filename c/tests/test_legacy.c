/* The legacy SharedMem layout in libshmring: bytes of docs/format-legacy.md, the
 * original's put/get rules, validation, the Locker and send/answer. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"

static const char *legacy_file(void)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/smem_%s", test_dir, unique_name());
    return path;
}

static uint32_t word_at(const char *path, long off)
{
    uint32_t v = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        fseek(f, off, SEEK_SET);
        if (fread(&v, 4, 1, f) != 1)
            v = 0xdeadbeef;
        fclose(f);
    }
    return v;
}

TEST(test_legacy_bytes)
{
    const char *path = legacy_file();
    shmring_legacy *m;
    CHECK_OK(shmring_legacy_create(path, 8, 3, 0, 0, &m));
    /* docs/format-legacy.md's example: item_size 8, item_alloc 3 -> memsize 116, slots at 32, 60, 88 */
    CHECK(shmring_legacy_size(m) == 116, "file size %llu, expected 116", (unsigned long long)shmring_legacy_size(m));
    CHECK(word_at(path, 0) == 0x11031973u && word_at(path, 4) == 116 && word_at(path, 12) == 8 && word_at(path, 16) == 3,
          "header words %08x %u %u %u", word_at(path, 0), word_at(path, 4), word_at(path, 12), word_at(path, 16));
    CHECK(shmring_legacy_put(m, "abc", 3, 640, 480, 1) == 1, "put: %s", shmring_errmsg());
    CHECK(shmring_legacy_put(m, "0123456789", 10, 1, 2, 2) == 1, "put: %s", shmring_errmsg());
    CHECK(word_at(path, 32) == 1 && word_at(path, 36) == 3 && word_at(path, 40) == 640 && word_at(path, 44) == 480 &&
          word_at(path, 48) == 1, "slot 0 header %u %u %u %u %u", word_at(path, 32), word_at(path, 36), word_at(path, 40),
          word_at(path, 44), word_at(path, 48));
    CHECK(word_at(path, 60) == 2 && word_at(path, 64) == 8, "slot 1: counter %u, buf_len %u (truncated to 8)",
          word_at(path, 60), word_at(path, 64));
    CHECK(word_at(path, 20) == 2 && word_at(path, 24) == 0 && word_at(path, 28) == 2, "head %u tail %u count %u",
          word_at(path, 20), word_at(path, 24), word_at(path, 28));
    shmring_legacy_close(m);
}

TEST(test_legacy_fifo_drop_and_gaps)
{
    const char *path = legacy_file();
    shmring_legacy *w, *r;
    CHECK_OK(shmring_legacy_create(path, 4, 2, 0, 0, &w));
    CHECK_OK(shmring_legacy_open(path, &r));
    CHECK(shmring_legacy_put(w, "aaaa", 4, 0, 0, 0) == 1, "first put");
    CHECK(shmring_legacy_put(w, "bbbb", 4, 0, 0, 0) == 1, "second put");
    CHECK(shmring_legacy_put(w, "cccc", 4, 0, 0, 0) == 0, "a third put into 2 slots must be dropped");
    char buf[4];
    shmring_legacy_buf info;
    CHECK(shmring_legacy_get(r, buf, 4, &info, 0, 0.01) == 1 && memcmp(buf, "aaaa", 4) == 0 && info.put_counter == 1,
          "first get: counter %u", info.put_counter);
    CHECK(shmring_legacy_put(w, "dddd", 4, 0, 0, 0) == 1, "put after a get");
    CHECK(shmring_legacy_get(r, buf, 4, &info, 0, 0.01) == 1 && info.put_counter == 2, "second get: counter %u",
          info.put_counter);
    CHECK(shmring_legacy_get(r, buf, 4, &info, 0, 0.01) == 1 && info.put_counter == 4 && memcmp(buf, "dddd", 4) == 0,
          "the dropped put 3 shows as a gap: counter %u", info.put_counter);
    CHECK(shmring_legacy_get(r, buf, 4, &info, 0.05, 0.01) == 0, "empty queue gives nothing after the timeout");
    shmring_legacy_close(r);
    shmring_legacy_close(w);
}

TEST(test_legacy_small_buffer_leaves_it_queued)
{
    const char *path = legacy_file();
    shmring_legacy *m;
    CHECK_OK(shmring_legacy_create(path, 16, 2, 0, 0, &m));
    CHECK(shmring_legacy_put(m, "0123456789", 10, 0, 0, 0) == 1, "put");
    char small[4], big[16];
    shmring_legacy_buf info;
    CHECK_RC(shmring_legacy_get(m, small, sizeof(small), &info, 0, 0.01), SHMRING_ETOOLARGE);
    CHECK(info.buf_len == 10 && strstr(shmring_errmsg(), "10 bytes"), "says how large: %u, %s", info.buf_len, shmring_errmsg());
    CHECK_RC(shmring_legacy_get_items(m, big, sizeof(big), 4, &info, 0, 0.01), SHMRING_ESCHEMA);
    CHECK(strstr(shmring_errmsg(), "10 bytes") && strstr(shmring_errmsg(), "4-byte"), "%s", shmring_errmsg());
    CHECK(shmring_legacy_get_items(m, big, sizeof(big), 2, &info, 0, 0.01) == 1 && memcmp(big, "0123456789", 10) == 0,
          "the buffer stayed queued through both refusals");
    shmring_legacy_close(m);
}

TEST(test_legacy_refuses_bad_headers)
{
    const char *path = legacy_file();
    shmring_legacy *m;
    CHECK_OK(shmring_legacy_create(path, 8, 3, 0, 0, &m));
    shmring_legacy_close(m);
    int fd = open(path, O_RDWR);
    uint32_t bad = 99;
    CHECK(pwrite(fd, &bad, 4, 20) == 4, "corrupting head");
    CHECK_RC(shmring_legacy_open(path, &m), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "head") && strstr(shmring_errmsg(), "99"), "names field and value: %s", shmring_errmsg());
    bad = 0x12345678;
    CHECK(pwrite(fd, &bad, 4, 0) == 4, "corrupting the signature");
    CHECK_RC(shmring_legacy_open(path, &m), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "signature") && strstr(shmring_errmsg(), "0x12345678"), "%s", shmring_errmsg());
    close(fd);
    CHECK_RC(shmring_legacy_open("/nonexistent-dir/smem_x", &m), SHMRING_ENOTFOUND);
    CHECK_RC(shmring_legacy_open("bad name!", &m), SHMRING_EINVAL);
}

TEST(test_legacy_corrupted_after_open)
{
    const char *path = legacy_file();
    shmring_legacy *m;
    CHECK_OK(shmring_legacy_create(path, 8, 3, 0, 0, &m));
    int fd = open(path, O_RDWR);
    uint32_t bad = 7;
    CHECK(pwrite(fd, &bad, 4, 28) == 4, "corrupting count");
    close(fd);
    CHECK_RC(shmring_legacy_put(m, "x", 1, 0, 0, 0), SHMRING_ELAYOUT);
    CHECK(strstr(shmring_errmsg(), "count"), "names count: %s", shmring_errmsg());
    shmring_legacy_close(m);
}

TEST(test_legacy_follows_recreated_file)
{
    const char *path = legacy_file();
    shmring_legacy *r, *w;
    CHECK_OK(shmring_legacy_create(path, 8, 2, 0, 0, &w));
    CHECK_OK(shmring_legacy_open(path, &r));
    CHECK_OK(shmring_legacy_delete(w));
    CHECK_OK(shmring_legacy_create(path, 4, 5, 0, 0, &w));
    CHECK(shmring_legacy_put(w, "new!", 4, 0, 0, 0) == 1, "put into the new file");
    char buf[8];
    shmring_legacy_buf info;
    CHECK(shmring_legacy_get(r, buf, sizeof(buf), &info, 0, 0.01) == 1 && memcmp(buf, "new!", 4) == 0,
          "the reader followed the re-created file");
    CHECK(shmring_legacy_reattached(r) == 1, "reattached %u", shmring_legacy_reattached(r));
    shmring_legacy_close(r);
    shmring_legacy_close(w);
}

TEST(test_locker_name_matches_python)
{
    char name[200];
    /* golden names from Python's shmring.legacy.lock_name_for */
    CHECK_OK(shmring_locker_name("/tmp/smem_camera1", name, sizeof(name)));
    CHECK(strcmp(name, "smem_camera1.d1037233.lock") == 0, "got %s", name);
    CHECK_OK(shmring_locker_name("/tmp/a b/./.x\xc3\xa9y", name, sizeof(name)));
    CHECK(strcmp(name, "x_y.4ba585c0.lock") == 0, "unsafe characters replaced, leading dots stripped: got %s", name);
}

TEST(test_locker_excludes_and_dies_with_holder)
{
    const char *path = legacy_file();
    shmring_locker *a, *b;
    CHECK_OK(shmring_locker_for_file(path, &a));
    CHECK_OK(shmring_locker_for_file(path, &b));
    CHECK_OK(shmring_locker_acquire(a, 1.0));
    CHECK(shmring_locker_held_elsewhere(b), "b sees a's lock");
    CHECK_RC(shmring_locker_acquire(b, 0.05), SHMRING_ETIMEDOUT);
    shmring_locker_release(a);
    CHECK_OK(shmring_locker_acquire(b, 1.0));
    shmring_locker_release(b);
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t child = fork();
    if (child == 0) {
        shmring_locker *c;
        if (shmring_locker_for_file(path, &c) || shmring_locker_acquire(c, 1.0))
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char x;
    CHECK(read(ready[0], &x, 1) == 1, "child took the lock");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_OK(shmring_locker_acquire(a, 1.0)); /* the kernel dropped the dead holder's lock */
    shmring_locker_close(a);
    shmring_locker_close(b);
    close(ready[0]);
    close(ready[1]);
}

TEST(test_legacy_send_answer)
{
    const char *path = legacy_file();
    pid_t child = fork();
    if (child == 0) {
        char req[256];
        _exit(shmring_legacy_answer(path, req, sizeof(req), 5.0, 0.01) == SHMRING_OK && strcmp(req, "hello") == 0 ? 0 : 1);
    }
    char reply[256];
    int rc = shmring_legacy_send(path, "hello", reply, sizeof(reply), 5.0, 0.01);
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(rc == SHMRING_OK && strcmp(reply, "HELLO") == 0, "reply \"%s\" rc %d: %s", rc ? "" : reply, rc, shmring_errmsg());
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the answerer saw the request (status %d)", status);
    CHECK_RC(shmring_legacy_send(path, "anyone?", reply, sizeof(reply), 0.05, 0.01), SHMRING_ETIMEDOUT);
    CHECK(word_at(path, 0) == 0 || (word_at(path, 0) & 0xff) == 0, "a timed-out message is withdrawn");
    /* Bad arguments are refused before the file is touched, naming the numbers. */
    char too_long[300];
    memset(too_long, 'x', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = 0;
    CHECK_RC(shmring_legacy_send(path, "", reply, sizeof(reply), 0.05, 0.01), SHMRING_EINVAL);
    CHECK_RC(shmring_legacy_send(path, too_long, reply, sizeof(reply), 0.05, 0.01), SHMRING_ETOOLARGE);
    CHECK(strstr(shmring_errmsg(), "299") != NULL, "the message names the length: %s", shmring_errmsg());
    CHECK_RC(shmring_legacy_send(path, "hello", reply, sizeof(reply), 0.05, 0), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "poll interval") != NULL, "the message names the poll interval: %s", shmring_errmsg());
    CHECK_RC(shmring_legacy_answer(path, reply, sizeof(reply), 0.05, -1), SHMRING_EINVAL);
}
