/*
 * A synthetic camera: writes 16-bit frames straight into a shmring ring, in place.
 *
 *   grabber [NAME] [FRAMES] [FPS] [WIDTH] [HEIGHT]     defaults: cam0 100 30 640 480
 *
 * Creates the ring (8 slots of one frame, overwrite policy) unless it exists,
 * then for each frame reserves the next slot, renders a moving gradient into
 * it (pixel (y, x) of frame k is (x + y + k) mod 65536), adds FITS-like
 * metadata and commits. FPS 0 runs as fast as memory allows. Ctrl-C stops
 * cleanly. Read it from Python with
 *
 *   for frame in shmring.Ring.open("cam0").reader(): print(frame.seq, frame.data.mean())
 *
 * Build: make -C c examples (then c/build/examples/grabber).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shmring.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The ring named `name`, created for frames of `bytes` unless it exists already. */
static int attach(const char *name, uint64_t bytes, shmring_ring **ring)
{
    shmring_config cfg = {8, bytes, 1024, SHMRING_OVERWRITE, 0};
    int rc = shmring_create(name, &cfg, ring);
    return rc == SHMRING_EEXIST ? shmring_open(name, ring) : rc;
}

static void render(uint16_t *pixels, uint64_t width, uint64_t height, uint64_t k)
{
    for (uint64_t y = 0; y < height; y++)
        for (uint64_t x = 0; x < width; x++)
            pixels[y * width + x] = (uint16_t)(x + y + k);
}

/* Sleep until the next frame is due (a camera's pace, not a wait for data). */
static void pace(struct timespec *due, double fps)
{
    if (fps <= 0)
        return;
    long step = (long)(1e9 / fps);
    due->tv_nsec += step;
    while (due->tv_nsec >= 1000000000L) {
        due->tv_nsec -= 1000000000L;
        due->tv_sec += 1;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, due, NULL);
}

static int grab(shmring_writer *w, uint64_t frames, double fps, uint64_t width, uint64_t height)
{
    uint64_t bytes = width * height * sizeof(uint16_t);
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    for (uint64_t k = 0; k < frames && !stop; k++) {
        void *slot;
        int rc = shmring_reserve(w, bytes, &slot);
        if (rc != SHMRING_OK)
            return rc;
        render(slot, width, height, k);
        char meta[128];
        shmring_meta m;
        shmring_meta_init(&m, meta, sizeof(meta));
        shmring_meta_int(&m, "FRAME", (int64_t)k);
        shmring_meta_double(&m, "EXPTIME", fps > 0 ? 1.0 / fps : 0.0);
        shmring_meta_str(&m, "INSTRUME", "synthetic");
        shmring_frame_info info = {0};
        info.nbytes = bytes;
        info.dtype[0] = '<', info.dtype[1] = 'u', info.dtype[2] = '2';
        info.ndim = 2;
        info.shape[0] = height;
        info.shape[1] = width;
        info.meta = meta;
        info.meta_len = m.len;
        if ((rc = shmring_commit(w, &info)) != SHMRING_OK) {
            shmring_abandon(w);
            return rc;
        }
        pace(&due, fps);
    }
    return SHMRING_OK;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "cam0";
    uint64_t frames = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    double fps = argc > 3 ? atof(argv[3]) : 30.0;
    uint64_t width = argc > 4 ? strtoull(argv[4], NULL, 10) : 640;
    uint64_t height = argc > 5 ? strtoull(argv[5], NULL, 10) : 480;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    shmring_ring *ring;
    shmring_writer *w;
    int rc = attach(name, width * height * sizeof(uint16_t), &ring);
    if (rc == SHMRING_OK && (rc = shmring_writer_open(ring, &w)) != SHMRING_OK)
        shmring_close(ring);
    if (rc != SHMRING_OK) {
        fprintf(stderr, "grabber: %s: %s\n", shmring_strerror(rc), shmring_errmsg());
        return 1;
    }
    rc = grab(w, frames, fps, width, height);
    if (rc != SHMRING_OK)
        fprintf(stderr, "grabber: %s: %s\n", shmring_strerror(rc), shmring_errmsg());
    printf("grabber: %llu frames in ring %s\n", (unsigned long long)shmring_write_seq(ring), name);
    shmring_writer_close(w);
    shmring_close(ring);
    return rc == SHMRING_OK ? 0 : 1;
}
