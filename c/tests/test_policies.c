/* Full rings, queue readers, writers, and waits across real processes. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"

static int make(const char *name, int slots, int policy, shmring_ring **r)
{
    shmring_config cfg = {(uint32_t)slots, 64, 0, policy, 0};
    return shmring_create(name, &cfg, r);
}

/* Reap a child within 10 s (killing it after that); its exit status, or -1. */
static int reap(pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

TEST(test_drop_policy)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_DROP, &ring));
    shmring_writer *w;
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd));
    CHECK_OK(shmring_writer_open(ring, &w));
    uint16_t v = 0;
    shmring_frame_info info = u16_info(1), out;
    CHECK_OK(shmring_put(w, &v, &info, 0));
    CHECK_OK(shmring_put(w, &v, &info, 0));
    CHECK_RC(shmring_put(w, &v, &info, 0), SHMRING_EWOULDBLOCK);
    void *p;
    CHECK_RC(shmring_reserve(w, 2, &p), SHMRING_EWOULDBLOCK);
    CHECK(shmring_write_seq(ring) == 2, "the dropped frame was not written");
    CHECK_OK(shmring_get(rd, &v, sizeof(v), &out, 0));
    CHECK_OK(shmring_put(w, &v, &info, 0));
    shmring_writer_close(w);
    shmring_reader_close(rd);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_block_timeout)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_BLOCK, &ring));
    shmring_writer *w;
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd));
    CHECK_OK(shmring_writer_open(ring, &w));
    uint16_t v = 0;
    shmring_frame_info info = u16_info(1);
    CHECK_OK(shmring_put(w, &v, &info, 0));
    CHECK_OK(shmring_put(w, &v, &info, 0));
    CHECK_RC(shmring_put(w, &v, &info, 0.05), SHMRING_ETIMEDOUT);
    CHECK(strstr(shmring_errmsg(), "full") != NULL, "says the ring stayed full: %s", shmring_errmsg());
    shmring_writer_set_spin(w, 0.01); /* spinning first changes nothing about the outcome */
    CHECK_RC(shmring_put(w, &v, &info, 0.05), SHMRING_ETIMEDOUT);
    shmring_frame_info out;
    CHECK_OK(shmring_get(rd, &v, sizeof(v), &out, 0));
    CHECK_OK(shmring_put(w, &v, &info, 0)); /* a spinning writer sees the released slot */
    shmring_reader_close(rd); /* a closed reader pins nothing */
    CHECK_OK(shmring_put(w, &v, &info, 0));
    shmring_writer_close(w);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_block_reaps_dead_reader)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_BLOCK, &ring));
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) { /* a reader that attaches and dies without closing anything */
        shmring_ring *mine;
        shmring_reader *rd;
        if (shmring_open(name, &mine) != SHMRING_OK || shmring_reader_open(mine, "doomed", 0, &rd) != SHMRING_OK)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        _exit(0);
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1, "the child reader attached");
    close(ready[0]);
    close(ready[1]);
    CHECK(reap(pid) == 0, "the child reader exited");
    shmring_writer *w;
    CHECK_OK(shmring_writer_open(ring, &w));
    uint16_t v = 0;
    shmring_frame_info info = u16_info(1);
    for (int i = 0; i < 5; i++)
        CHECK_OK(shmring_put(w, &v, &info, 10.0)); /* frame 2 waits until the dead entry is reaped */
    shmring_writer_close(w);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_queue_readers_share)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 8, SHMRING_BLOCK, &ring));
    shmring_reader *a, *b;
    CHECK_OK(shmring_reader_open(ring, "qa", 1, &a));
    CHECK_OK(shmring_reader_open(ring, "qb", 1, &b));
    shmring_writer *w;
    CHECK_OK(shmring_writer_open(ring, &w));
    int seen[20] = {0};
    shmring_frame_info info = u16_info(1), out;
    for (uint16_t i = 0; i < 20; i++) {
        CHECK_OK(shmring_put(w, &i, &info, 5.0));
        uint16_t v;
        CHECK_OK(shmring_get(i % 2 ? a : b, &v, sizeof(v), &out, 0));
        CHECK(v == i && out.seq == i, "FIFO: frame %u got %u", i, v);
        seen[v]++;
    }
    CHECK(shmring_reader_received(a) == 10 && shmring_reader_received(b) == 10, "shared evenly");
    uint16_t v;
    CHECK_RC(shmring_get(a, &v, sizeof(v), &out, 0), SHMRING_ETIMEDOUT);
    shmring_writer_close(w);
    shmring_reader_close(a);
    shmring_reader_close(b);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_writer_exclusive)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_OVERWRITE, &ring));
    shmring_writer *a, *b;
    CHECK_OK(shmring_writer_open(ring, &a));
    CHECK_RC(shmring_writer_open(ring, &b), SHMRING_EWOULDBLOCK);
    CHECK_RC(shmring_writer_open_shared(ring, &b), SHMRING_EWOULDBLOCK);
    shmring_writer_close(a);
    CHECK_OK(shmring_writer_open(ring, &b));
    shmring_writer_close(b);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_shared_writers)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 4, SHMRING_OVERWRITE, &ring));
    shmring_writer *a, *b, *c;
    CHECK_OK(shmring_writer_open_shared(ring, &a));
    CHECK_OK(shmring_writer_open_shared(ring, &b));
    CHECK_RC(shmring_writer_open(ring, &c), SHMRING_EWOULDBLOCK);
    void *p;
    CHECK_OK(shmring_reserve(a, 2, &p));
    uint16_t v = 5;
    shmring_frame_info info = u16_info(1);
    CHECK_RC(shmring_put(b, &v, &info, 0.05), SHMRING_ETIMEDOUT); /* a holds the put lock */
    shmring_abandon(a);
    CHECK_OK(shmring_put(b, &v, &info, 1.0));
    CHECK_OK(shmring_put(a, &v, &info, 1.0));
    CHECK(shmring_write_seq(ring) == 2, "both writers published");
    shmring_writer_close(a);
    shmring_writer_close(b);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_wait_wakes_across_processes)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 4, SHMRING_OVERWRITE, &ring));
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd));
    pid_t pid = fork();
    if (pid == 0) {
        shmring_ring *mine;
        shmring_writer *w;
        uint16_t v = 77;
        shmring_frame_info info = u16_info(1);
        if (shmring_open(name, &mine) != SHMRING_OK || shmring_writer_open(mine, &w) != SHMRING_OK ||
            shmring_put(w, &v, &info, 0) != SHMRING_OK)
            _exit(1);
        shmring_writer_close(w);
        shmring_close(mine);
        _exit(0);
    }
    uint16_t v = 0;
    shmring_frame_info out;
    int rc = shmring_get(rd, &v, sizeof(v), &out, 10.0);
    int status = reap(pid);
    CHECK(rc == SHMRING_OK && v == 77, "the frame put by another process arrives: %s", shmring_errmsg());
    CHECK(status == 0, "the writer process succeeded");
    shmring_reader_close(rd);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_get_timeout)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_OVERWRITE, &ring));
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd));
    shmring_reader_set_spin(rd, 0.01);
    uint16_t v;
    shmring_frame_info out;
    CHECK_RC(shmring_get(rd, &v, sizeof(v), &out, 0.05), SHMRING_ETIMEDOUT);
    CHECK(strstr(shmring_errmsg(), "within") != NULL, "says what it waited for: %s", shmring_errmsg());
    shmring_reader_close(rd);
    shmring_close(ring);
    shmring_unlink(name);
}

TEST(test_recreated_ring_breaks_wait)
{
    const char *name = unique_name();
    shmring_ring *old, *fresh;
    CHECK_OK(make(name, 2, SHMRING_OVERWRITE, &old));
    shmring_reader *rd;
    CHECK_OK(shmring_reader_open(old, NULL, 0, &rd));
    CHECK_OK(shmring_unlink(name));
    CHECK_OK(make(name, 2, SHMRING_OVERWRITE, &fresh));
    uint16_t v;
    shmring_frame_info out;
    CHECK_RC(shmring_get(rd, &v, sizeof(v), &out, 10.0), SHMRING_EBROKEN);
    CHECK(strstr(shmring_errmsg(), "re-created") != NULL, "says why: %s", shmring_errmsg());
    shmring_reader_close(rd);
    shmring_close(old);
    shmring_close(fresh);
    shmring_unlink(name);
}

TEST(test_reader_table_full)
{
    const char *name = unique_name();
    shmring_ring *ring;
    CHECK_OK(make(name, 2, SHMRING_OVERWRITE, &ring));
    shmring_reader *rd[49];
    int opened = 0;
    while (opened < 49 && shmring_reader_open(ring, NULL, 0, &rd[opened]) == SHMRING_OK)
        opened++;
    CHECK(opened == 48, "48 readers fit, got %d", opened);
    CHECK_RC(shmring_reader_open(ring, NULL, 0, &rd[48]), SHMRING_EBUSY);
    shmring_reader_close(rd[47]);
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd[47]));
    for (int i = 0; i < opened; i++)
        shmring_reader_close(rd[i]);
    shmring_close(ring);
    shmring_unlink(name);
}
