/*
 * A C program on libshmring that the interop tests drive (tests/integration/test_c_interop.py).
 *
 *   ring_peer open NAME                 try shmring_open; print "rc <code>"
 *   ring_peer write NAME N TIMEOUT      write N patterned frames (the last flagged FINAL); print counts
 *   ring_peer read NAME QUEUE           print "ready", read until a FINAL frame; verify each; print counts
 *   ring_peer hang-in-reserve NAME K    write K frames, reserve the next, scribble half of it, print "reserved", wait
 *   ring_peer reader-hang NAME          attach a reader, print "attached", wait
 *   ring_peer read-present NAME         read every frame in the ring now (start oldest); print seqs
 *   ring_peer write-shared NAME FIRST N as one of several shared writers, put frames FIRST..FIRST+N-1
 *   ring_peer keywords NAME             print "keywords <len> <the block>"
 *   ring_peer create-cards NAME N       create a ring with card-form keywords, put N frames of card metadata
 *
 * Frame i (the writer's attempt index) is kind i % 7 (tests/integration/_c_frames.py has
 * the same table), payload byte j = (7*i + 13*j) & 0xff, metadata
 * {"i":i,"fnv":"<FNV-1a 64 of the payload, hex>","EXPTIME":<i/1000>}.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmring.h"

#define FINAL 0x80000000u
#define MAX_PAYLOAD 4096

static const struct { const char *dtype; uint32_t ndim; uint64_t shape[4]; } kinds[] = {
    {"|u1", 1, {1000}}, {"<u2", 2, {30, 40}}, {"<f4", 3, {8, 8, 3}}, {"<f8", 4, {2, 3, 4, 5}},
    {"<i4", 1, {17}}, {"<c8", 2, {4, 4}}, {"<i8", 2, {1, 3}},
};
#define KINDS (sizeof(kinds) / sizeof(kinds[0]))

static uint64_t itemsize(const char *dtype) { return (uint64_t)atoi(dtype + 2); }

static void frame_of(uint64_t i, shmring_frame_info *info, unsigned char *payload)
{
    memset(info, 0, sizeof(*info));
    size_t k = i % KINDS;
    memcpy(info->dtype, kinds[k].dtype, strlen(kinds[k].dtype));
    info->ndim = kinds[k].ndim;
    info->nbytes = itemsize(kinds[k].dtype);
    for (uint32_t d = 0; d < info->ndim; d++) {
        info->shape[d] = kinds[k].shape[d];
        info->nbytes *= kinds[k].shape[d];
    }
    for (uint64_t j = 0; j < info->nbytes; j++)
        payload[j] = (unsigned char)((7 * i + 13 * j) & 0xff);
}

static uint64_t fnv1a(const unsigned char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t j = 0; j < n; j++)
        h = (h ^ p[j]) * 0x100000001b3ull;
    return h;
}

static void meta_of(uint64_t i, const unsigned char *payload, uint64_t n, char *buf, shmring_meta *m)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, fnv1a(payload, n));
    shmring_meta_init(m, buf, 256);
    shmring_meta_int(m, "i", (int64_t)i);
    shmring_meta_str(m, "fnv", hex);
    shmring_meta_double(m, "EXPTIME", (double)i / 1000.0);
}

static int die(const char *what, int rc)
{
    printf("error %s %d %s: %s\n", what, rc, shmring_strerror(rc), shmring_errmsg());
    return 1;
}

static int cmd_open(const char *name)
{
    shmring_ring *ring;
    int rc = shmring_open(name, &ring);
    printf("rc %d %s\n", rc, shmring_errmsg());
    if (rc == SHMRING_OK)
        shmring_close(ring);
    return 0;
}

static int cmd_write(const char *name, uint64_t n, double timeout)
{
    shmring_ring *ring;
    shmring_writer *w;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_writer_open(ring, &w)))
        return die("open", rc);
    static unsigned char payload[MAX_PAYLOAD];
    char meta[256];
    uint64_t attempted = 0, written = 0, dropped = 0;
    for (uint64_t i = 0; i < n; i++) {
        shmring_frame_info info;
        shmring_meta m;
        frame_of(i, &info, payload);
        meta_of(i, payload, info.nbytes, meta, &m);
        info.meta = meta;
        info.meta_len = m.len;
        info.flags = i == n - 1 ? FINAL : (uint32_t)i;
        for (;;) { /* the final frame must arrive: retry it under drop */
            attempted++;
            rc = shmring_put(w, payload, &info, timeout);
            if (rc == SHMRING_EWOULDBLOCK && i == n - 1)
                continue;
            break;
        }
        if (rc == SHMRING_OK)
            written++;
        else if (rc == SHMRING_EWOULDBLOCK)
            dropped++;
        else
            return die("put", rc);
    }
    printf("written %" PRIu64 " dropped %" PRIu64 "\n", written, dropped);
    shmring_writer_close(w);
    shmring_close(ring);
    return 0;
}

/* Whether a frame read is exactly frame i of the pattern, its metadata included. */
static int check_frame(const shmring_frame_info *got, const unsigned char *payload, uint64_t *index)
{
    const char *at = got->meta_len ? strstr(got->meta, "\"i\":") : NULL;
    if (!at)
        return 0;
    uint64_t i = strtoull(at + 4, NULL, 10);
    shmring_frame_info want;
    static unsigned char expect[MAX_PAYLOAD];
    frame_of(i, &want, expect);
    char meta[256];
    shmring_meta m;
    meta_of(i, expect, want.nbytes, meta, &m);
    char *fnv = strstr(meta, "\"fnv\"");
    *index = i;
    return got->nbytes == want.nbytes && memcmp(payload, expect, want.nbytes) == 0 &&
           strcmp(got->dtype, want.dtype) == 0 && got->ndim == want.ndim &&
           memcmp(got->shape, want.shape, sizeof(want.shape)) == 0 && fnv && strstr(got->meta, "\"fnv\"") &&
           memcmp(strstr(got->meta, "\"fnv\""), fnv, 26) == 0;
}

static int cmd_read(const char *name, int queue)
{
    shmring_ring *ring;
    shmring_reader *rd;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_reader_open(ring, "cpeer", queue, &rd)))
        return die("open", rc);
    printf("ready\n");
    fflush(stdout);
    static unsigned char payload[MAX_PAYLOAD];
    uint64_t received = 0, lost = 0, bad = 0, last = 0, gaps = 0, prev = UINT64_MAX;
    for (;;) {
        shmring_frame_info info;
        rc = shmring_get(rd, payload, sizeof(payload), &info, 60.0);
        if (rc)
            return die("get", rc);
        uint64_t i;
        received++;
        lost += info.lost;
        if (!check_frame(&info, payload, &i) || (info.flags != FINAL && info.flags != (uint32_t)i))
            bad++;
        if (!queue && prev != UINT64_MAX && info.seq != prev + 1 + info.lost)
            gaps++;
        prev = info.seq;
        last = info.seq;
        if (info.flags == FINAL)
            break;
    }
    printf("received %" PRIu64 " lost %" PRIu64 " total_lost %" PRIu64 " bad %" PRIu64 " gaps %" PRIu64
           " last %" PRIu64 "\n", received, lost, shmring_reader_lost(rd), bad, gaps, last);
    shmring_reader_close(rd);
    shmring_close(ring);
    return 0;
}

static int cmd_write_shared(const char *name, uint64_t first, uint64_t n)
{
    shmring_ring *ring;
    shmring_writer *w;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_writer_open_shared(ring, &w)))
        return die("open", rc);
    static unsigned char payload[MAX_PAYLOAD];
    char meta[256];
    for (uint64_t i = first; i < first + n; i++) {
        shmring_frame_info info;
        shmring_meta m;
        frame_of(i, &info, payload);
        meta_of(i, payload, info.nbytes, meta, &m);
        info.meta = meta;
        info.meta_len = m.len;
        info.flags = (uint32_t)i;
        if ((rc = shmring_put(w, payload, &info, 30.0)))
            return die("put", rc);
    }
    printf("written %" PRIu64 "\n", n);
    shmring_writer_close(w);
    shmring_close(ring);
    return 0;
}

static int cmd_hang_in_reserve(const char *name, uint64_t k)
{
    shmring_ring *ring;
    shmring_writer *w;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_writer_open(ring, &w)))
        return die("open", rc);
    static unsigned char payload[MAX_PAYLOAD];
    char meta[256];
    for (uint64_t i = 0; i < k; i++) {
        shmring_frame_info info;
        shmring_meta m;
        frame_of(i, &info, payload);
        meta_of(i, payload, info.nbytes, meta, &m);
        info.meta = meta;
        info.meta_len = m.len;
        info.flags = (uint32_t)i;
        if ((rc = shmring_put(w, payload, &info, 5.0)))
            return die("put", rc);
    }
    void *slot;
    if ((rc = shmring_reserve(w, 1000, &slot)))
        return die("reserve", rc);
    memset(slot, 0xEE, 500); /* half a frame, never committed */
    printf("reserved\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int cmd_reader_hang(const char *name)
{
    shmring_ring *ring;
    shmring_reader *rd;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_reader_open(ring, "doomed", 0, &rd)))
        return die("open", rc);
    printf("attached\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int cmd_read_present(const char *name)
{
    shmring_ring *ring;
    shmring_reader *rd;
    int rc = shmring_open(name, &ring);
    if (rc || (rc = shmring_reader_open_at(ring, "present", 0, SHMRING_START_OLDEST, &rd)))
        return die("open", rc);
    static unsigned char payload[MAX_PAYLOAD];
    shmring_frame_info info;
    printf("seqs");
    uint64_t i;
    while ((rc = shmring_get(rd, payload, sizeof(payload), &info, 0)) == SHMRING_OK)
        printf(" %" PRIu64 "%s", info.seq, check_frame(&info, payload, &i) ? "" : "!");
    printf("\nend %d\n", rc);
    shmring_reader_close(rd);
    shmring_close(ring);
    return 0;
}

static int cmd_keywords(const char *name)
{
    shmring_ring *ring;
    int rc = shmring_open(name, &ring);
    const char *kw;
    uint32_t len;
    if (rc || (rc = shmring_keywords(ring, &kw, &len)))
        return die("keywords", rc);
    printf("keywords %" PRIu32 " %.*s\n", len, (int)len, kw);
    shmring_close(ring);
    return 0;
}

/* Keywords and frame metadata that need the card form: comments, commentary cards, a HIERARCH keyword. */
static int cmd_create_cards(const char *name, uint64_t n)
{
    char kw[512], meta[512];
    shmring_meta m;
    shmring_meta_init(&m, kw, sizeof(kw));
    shmring_meta_str(&m, "TELESCOP", "1 m");
    shmring_meta_comment(&m, "telescope");
    shmring_meta_str(&m, "DETECTOR SERIAL", "A-113");
    shmring_meta_commentary(&m, "COMMENT", "stream of the guide camera");
    if (m.err)
        return die("keywords", m.err);
    shmring_config cfg = {8, MAX_PAYLOAD, 512, SHMRING_BLOCK, 0};
    shmring_ring *ring;
    shmring_writer *w;
    int rc = shmring_create_with_keywords(name, &cfg, kw, m.len, &ring);
    if (rc || (rc = shmring_writer_open(ring, &w)))
        return die("create", rc);
    static unsigned char payload[MAX_PAYLOAD];
    for (uint64_t i = 0; i < n; i++) {
        shmring_frame_info info;
        frame_of(i, &info, payload);
        shmring_meta_init(&m, meta, sizeof(meta));
        shmring_meta_int(&m, "i", (int64_t)i);
        shmring_meta_double(&m, "EXPTIME", (double)i / 1000.0);
        shmring_meta_comment(&m, "exposure time (s)");
        shmring_meta_null(&m, "UNDEF");
        shmring_meta_commentary(&m, "HISTORY", "dark subtracted");
        shmring_meta_commentary(&m, "HISTORY", "flat fielded");
        if (m.err)
            return die("meta", m.err);
        info.meta = meta;
        info.meta_len = m.len;
        info.flags = (uint32_t)i;
        if ((rc = shmring_put(w, payload, &info, 30.0)))
            return die("put", rc);
    }
    printf("written %" PRIu64 "\n", n);
    shmring_writer_close(w);
    shmring_close(ring);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "open"))
        return cmd_open(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "write"))
        return cmd_write(argv[2], strtoull(argv[3], NULL, 10), atof(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "read"))
        return cmd_read(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "hang-in-reserve"))
        return cmd_hang_in_reserve(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "reader-hang"))
        return cmd_reader_hang(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "write-shared"))
        return cmd_write_shared(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "read-present"))
        return cmd_read_present(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "keywords"))
        return cmd_keywords(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "create-cards"))
        return cmd_create_cards(argv[2], strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: see the comment at the top of ring_peer.c\n");
    return 2;
}
