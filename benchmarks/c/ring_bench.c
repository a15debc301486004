/*
 * The C side of benchmarks/c_cases.py: a libshmring writer or reader on a ring made by the harness.
 *
 *   ring_bench write NAME NBYTES COUNT WARM SPIN_S      put COUNT stamped frames (block policy: lossless),
 *                                                       spinning up to SPIN_S for room before sleeping;
 *                                                       print "start T" (CLOCK_MONOTONIC at put WARM)
 *   ring_bench read NAME NBYTES COUNT WARM SPIN_S       print "ready", get COUNT frames (zero-copy views,
 *                                                       as the Python "shmring" subject reads), verify each stamp,
 *                                                       time the last COUNT-WARM; print "n secs cpu bad lost",
 *                                                       and "end T" (CLOCK_MONOTONIC after the last frame)
 *
 * A frame's first 8 bytes are its index (the stamp); the rest is a fixed non-zero pattern.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmring.h"

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "ring_bench: %s: %s: %s\n", what, shmring_strerror(rc), shmring_errmsg());
    return 1;
}

static int write_frames(shmring_ring *ring, uint64_t nbytes, uint64_t count, uint64_t warm, double spin)
{
    shmring_writer *w;
    int rc = shmring_writer_open(ring, &w);
    if (rc)
        return fail("writer", rc);
    shmring_writer_set_spin(w, spin);
    unsigned char *src = malloc(nbytes);
    for (uint64_t j = 0; j < nbytes; j++)
        src[j] = (unsigned char)(j * 13 + 1);
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    info.nbytes = nbytes; /* bytes: |u1, 1-d */
    double start = 0;
    for (uint64_t i = 0; i < count && rc == SHMRING_OK; i++) {
        if (i == warm)
            start = now(CLOCK_MONOTONIC);
        memcpy(src, &i, sizeof(i) < nbytes ? sizeof(i) : nbytes);
        rc = shmring_put(w, src, &info, 60.0);
    }
    printf("start %.9f\n", start);
    free(src);
    shmring_writer_close(w);
    return rc ? fail("put", rc) : 0;
}

static int read_frames(shmring_ring *ring, uint64_t nbytes, uint64_t count, uint64_t warm, double spin)
{
    shmring_reader *r;
    int rc = shmring_reader_open(ring, "bench", 0, &r);
    if (rc)
        return fail("reader", rc);
    shmring_reader_set_spin(r, spin);
    printf("ready\n");
    fflush(stdout);
    uint64_t bad = 0;
    double t0 = 0, c0 = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (i == warm) {
            t0 = now(CLOCK_MONOTONIC);
            c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        }
        shmring_frame_info info;
        const void *view;
        if ((rc = shmring_get_view(r, &view, &info, 60.0)) != SHMRING_OK)
            return fail("get", rc);
        uint64_t stamp = 0;
        memcpy(&stamp, view, sizeof(stamp) < nbytes ? sizeof(stamp) : nbytes);
        bad += info.nbytes != nbytes || (nbytes >= 8 && stamp != i);
        shmring_release(r); /* under block the view pinned its slot */
    }
    double end = now(CLOCK_MONOTONIC);
    printf("n %llu secs %.9f cpu %.9f bad %llu lost %llu end %.9f\n", (unsigned long long)(count - warm),
           end - t0, now(CLOCK_PROCESS_CPUTIME_ID) - c0, (unsigned long long)bad,
           (unsigned long long)shmring_reader_lost(r), end);
    shmring_reader_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: see the comment at the top of ring_bench.c\n");
        return 2;
    }
    shmring_ring *ring;
    int rc = shmring_open(argv[2], &ring);
    if (rc)
        return fail("open", rc);
    uint64_t nbytes = strtoull(argv[3], NULL, 10), count = strtoull(argv[4], NULL, 10);
    if (!strcmp(argv[1], "write") && argc == 7)
        rc = write_frames(ring, nbytes, count, strtoull(argv[5], NULL, 10), atof(argv[6]));
    else if (!strcmp(argv[1], "read") && argc == 7)
        rc = read_frames(ring, nbytes, count, strtoull(argv[5], NULL, 10), atof(argv[6]));
    else
        rc = 2;
    shmring_close(ring);
    return rc;
}
