/*
 * Print every frame of a shmring ring as it arrives, with what was lost.
 *
 *   reader [NAME] [TIMEOUT_S] [oldest]     defaults: cam0 5
 *
 * Exits when no frame came for TIMEOUT_S seconds (or the ring was removed).
 * "oldest" starts with every frame still in the ring instead of the next one.
 * Build: make -C c examples (then c/build/examples/reader).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmring.h"

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "cam0";
    double timeout = argc > 2 ? atof(argv[2]) : 5.0;
    int start = argc > 3 && !strcmp(argv[3], "oldest") ? SHMRING_START_OLDEST : SHMRING_START_NEXT;
    shmring_ring *ring;
    shmring_reader *r;
    int rc = shmring_open(name, &ring);
    if (rc == SHMRING_OK && (rc = shmring_reader_open_at(ring, "creader", 0, start, &r)) != SHMRING_OK)
        shmring_close(ring);
    if (rc != SHMRING_OK) {
        fprintf(stderr, "reader: %s: %s\n", shmring_strerror(rc), shmring_errmsg());
        return 1;
    }
    uint64_t cap;
    shmring_ring_sizes(ring, NULL, &cap, NULL, NULL);
    void *buf = malloc(cap);
    shmring_frame_info f;
    while (buf && (rc = shmring_get(r, buf, cap, &f, timeout)) == SHMRING_OK) {
        printf("frame %llu: %s", (unsigned long long)f.seq, f.dtype);
        for (uint32_t d = 0; d < f.ndim; d++)
            printf("%s%llu", d ? "x" : " ", (unsigned long long)f.shape[d]);
        printf(", %llu bytes, lost %llu, meta %.*s\n", (unsigned long long)f.nbytes, (unsigned long long)f.lost,
               (int)f.meta_len, f.meta_len ? f.meta : "{}");
    }
    if (rc != SHMRING_ETIMEDOUT)
        fprintf(stderr, "reader: %s: %s\n", shmring_strerror(rc), shmring_errmsg());
    printf("reader: %llu frames, %llu lost\n", (unsigned long long)shmring_reader_received(r),
           (unsigned long long)shmring_reader_lost(r));
    free(buf);
    shmring_reader_close(r);
    shmring_close(ring);
    return rc == SHMRING_ETIMEDOUT ? 0 : 1;
}
