/*
 * kill_victim: libshmring writers and readers for the chaos campaign to SIGKILL (benchmarks/chaos/c_kill.py).
 *
 *   kill_victim write PATH SHARED DIE_AFTER SEED   write checksummed frames (put and reserve/commit, at
 *                                                  random); with DIE_AFTER >= 0, SIGKILL itself inside the
 *                                                  next reserve after that many frames, its slot half filled
 *                                                  (and, with SHARED, the writers' put lock held)
 *   kill_victim read PATH VIEW DIE_AFTER           print "ready", read and check frames; with DIE_AFTER >= 0,
 *                                                  SIGKILL itself after that many, holding the frame (a view
 *                                                  when VIEW is 1)
 *   kill_victim stall PATH                         attach a reader, print "ready", never read
 *
 * Frames are benchmarks/chaos/frames.py's: 1 + tag % 4096 uint32 words, word i =
 * (i * 2654435761) ^ tag, metadata {"CRC": CRC-32 of the payload bytes}, so Python's
 * verifiers check them. A victim that finds a problem exits with victims.EXIT's codes:
 * 3 a torn frame, 4 a wait that timed out, 5 another error. No victim lives over 60 s.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#define MAX_WORDS 4096
#define WAIT_S 10.0
#define LIFETIME_S 60.0
#define EXIT_TORN 3
#define EXIT_TIMEOUT 4
#define EXIT_ERROR 5

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

/* CRC-32 as zlib.crc32 computes it. */
static uint32_t crc32_of(const void *data, uint64_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (uint64_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint64_t rng_state;

static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "kill_victim: %s -> %d (%s): %s\n", what, rc, shmring_strerror(rc), shmring_errmsg());
    return rc == SHMRING_ETIMEDOUT ? EXIT_TIMEOUT : EXIT_ERROR;
}

static uint64_t fill(uint32_t *words, uint32_t tag)
{
    uint64_t n = 1 + tag % MAX_WORDS;
    for (uint64_t i = 0; i < n; i++)
        words[i] = (uint32_t)i * 2654435761u ^ tag;
    return n;
}

/* The info of a frame of n words, its metadata {"CRC": crc} built into meta. */
static shmring_frame_info frame_info(uint64_t n, uint32_t crc, char *meta, uint32_t cap)
{
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    memcpy(info.dtype, "<u4", 4);
    info.ndim = 1;
    info.shape[0] = n;
    info.nbytes = 4 * n;
    shmring_meta m;
    shmring_meta_init(&m, meta, cap);
    shmring_meta_int(&m, "CRC", crc);
    info.meta = meta;
    info.meta_len = m.len;
    return info;
}

static void die(void)
{
    kill(getpid(), SIGKILL);
}

/* One frame, by put or by reserve and commit; die inside reserve when asked. Returns an exit code or 0. */
static int write_one(shmring_writer *w, int die_inside)
{
    static uint32_t words[MAX_WORDS];
    char meta[64];
    uint32_t tag = next_random();
    int rc;
    if (!die_inside && next_random() % 2) {
        uint64_t n = fill(words, tag);
        shmring_frame_info info = frame_info(n, crc32_of(words, 4 * n), meta, sizeof(meta));
        rc = shmring_put(w, words, &info, WAIT_S);
        return rc == SHMRING_OK || rc == SHMRING_EWOULDBLOCK ? 0 : fail("put", rc);
    }
    void *slot;
    uint64_t n = 1 + tag % MAX_WORDS;
    rc = shmring_reserve_timed(w, 4 * n, &slot, WAIT_S);
    if (rc == SHMRING_EWOULDBLOCK)
        return 0; /* drop policy, ring full */
    if (rc)
        return fail("reserve", rc);
    if (die_inside) { /* half the words in, the slot marked odd (and, if shared, the put lock held) */
        memset(slot, 1, 2 * n);
        die();
    }
    fill(slot, tag);
    shmring_frame_info info = frame_info(n, crc32_of(slot, 4 * n), meta, sizeof(meta));
    rc = shmring_commit(w, &info);
    return rc ? fail("commit", rc) : 0;
}

static int cmd_write(const char *path, int shared, long die_after, uint64_t seed)
{
    shmring_ring *ring;
    shmring_writer *w;
    rng_state = seed | 1;
    int rc = shmring_open(path, &ring);
    if (rc)
        return fail("open", rc);
    rc = shared ? shmring_writer_open_shared(ring, &w) : shmring_writer_open(ring, &w);
    if (rc)
        return fail("writer_open", rc);
    double end = now_s() + LIFETIME_S;
    for (long count = 0; now_s() < end; count++)
        if ((rc = write_one(w, die_after >= 0 && count >= die_after)))
            return rc;
    shmring_writer_close(w);
    shmring_close(ring);
    return 0;
}

/* Whether a frame's payload matches the CRC its metadata carries. */
static int is_whole(const void *payload, const shmring_frame_info *info)
{
    const char *at = info->meta_len ? strstr(info->meta, "\"CRC\":") : NULL;
    return at && strtoull(at + 6, NULL, 10) == crc32_of(payload, info->nbytes);
}

static int cmd_read(const char *path, int view, long die_after)
{
    shmring_ring *ring;
    shmring_reader *rd;
    int rc = shmring_open(path, &ring);
    if (rc || (rc = shmring_reader_open(ring, "cvictim", 0, &rd)))
        return fail("open", rc);
    printf("ready\n");
    fflush(stdout);
    static uint32_t buf[MAX_WORDS];
    double end = now_s() + LIFETIME_S;
    for (long count = 0; now_s() < end; count++) {
        shmring_frame_info info;
        const void *payload = buf;
        rc = view ? shmring_get_view(rd, &payload, &info, WAIT_S) : shmring_get(rd, buf, sizeof(buf), &info, WAIT_S);
        if (rc)
            return fail("get", rc);
        /* a view overwritten meanwhile (overwrite policy) may not match: only a still-valid one must */
        if (!is_whole(payload, &info) && (!view || shmring_view_valid(rd)))
            return EXIT_TORN;
        if (count == die_after)
            die(); /* holding the frame: under block a view pins its slot */
    }
    shmring_reader_close(rd);
    shmring_close(ring);
    return 0;
}

static int cmd_stall(const char *path)
{
    shmring_ring *ring;
    shmring_reader *rd;
    int rc = shmring_open(path, &ring);
    if (rc || (rc = shmring_reader_open(ring, "cstalled", 0, &rd)))
        return fail("open", rc);
    printf("ready\n");
    fflush(stdout);
    sleep((unsigned)LIFETIME_S); /* holds its entry until killed */
    return 0;
}

int main(int argc, char **argv)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a campaign that dies takes its victims with it */
    crc_init();
    if (argc == 6 && !strcmp(argv[1], "write"))
        return cmd_write(argv[2], atoi(argv[3]), atol(argv[4]), strtoull(argv[5], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "read"))
        return cmd_read(argv[2], atoi(argv[3]), atol(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "stall"))
        return cmd_stall(argv[2]);
    fprintf(stderr, "usage: see the comment at the top of kill_victim.c\n");
    return 2;
}
