/*
 * open_files: libshmring's side of the chaos campaign's fuzzing (benchmarks/chaos/c_targets.py).
 *
 * Reads one request per line on stdin and answers each with one line on stdout:
 *
 *   ring <TAB> DIR <TAB> PATH      open PATH as a ring and use it as a C user does
 *   legacy <TAB> DIR <TAB> PATH    open PATH as a legacy SharedMem queue and use it
 *
 * DIR becomes $SHMRING_DIR for the request (where a legacy queue's lock file lives).
 * The answer is "open <rc> broken <0|1> layout <0|1> calls <n>" (the open's code; whether a
 * later call found a corrupt slot, or refused the file or its lock file; how many calls
 * were made), then " odd <call> <rc>" for every
 * call that returned a value outside the set its header comment documents (a
 * defect, as a crash is). Every wait is bounded (timeouts of 0 or 10 ms), so a
 * request never takes long; the program exits at the end of stdin, and when its
 * parent dies. Built with the sanitizers it also runs a leak check after each
 * request, answered as " odd leak 1".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>

#include "shmring.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_recoverable_leak_check()
#else
#define LEAK_CHECK() 0
#endif

#define LINE_MAX_BYTES 8192
#define PUT_BYTES 16

static struct {
    char odd[512];
    size_t odd_len;
    unsigned calls;
    int broken, layout;
} answer;

/* The set of values a call may return besides 0, as a mask: bit n for the code -n, ONE for 1. */
#define E(code) (1u << -(code))
#define ONE (1u << 16)
/* Out of memory, or another system error, may come from any call. */
#define ANY_CALL (E(SHMRING_ENOMEM) | E(SHMRING_ESYS))
#define GET_CODES (E(SHMRING_ETIMEDOUT) | E(SHMRING_ETOOLARGE) | E(SHMRING_EBROKEN))
#define PUT_CODES (E(SHMRING_ETIMEDOUT) | E(SHMRING_EWOULDBLOCK) | E(SHMRING_ETOOLARGE) | E(SHMRING_EINVAL) | E(SHMRING_ESCHEMA))
#define LEGACY_GET_CODES (ONE | E(SHMRING_ETOOLARGE) | E(SHMRING_ELAYOUT) | E(SHMRING_EPERM) | E(SHMRING_EINVAL))

/* Note a call's return value; `allowed` is what shmring.h documents for it. */
static int seen(const char *call, int rc, unsigned allowed)
{
    answer.calls++;
    answer.broken |= rc == SHMRING_EBROKEN;
    answer.layout |= rc == SHMRING_ELAYOUT && answer.calls > 1; /* refused after open: a legacy header or lock */
    allowed |= ANY_CALL;
    int documented = rc == 0 || (rc == 1 && (allowed & ONE)) || (rc < 0 && rc >= -15 && (allowed & E(rc)));
    if (!documented && answer.odd_len < sizeof(answer.odd) - 64)
        answer.odd_len += (size_t)snprintf(answer.odd + answer.odd_len, sizeof(answer.odd) - answer.odd_len,
                                           " odd %s %d", call, rc);
    return rc;
}

/* Every frame still in the ring, copied out (the buffer is as large as a slot). */
static void read_all(shmring_ring *ring, uint32_t slots, void *buf, uint64_t cap)
{
    shmring_reader *r;
    if (seen("reader_open_at", shmring_reader_open_at(ring, "fuzz", 0, SHMRING_START_OLDEST, &r), E(SHMRING_EBUSY)))
        return;
    shmring_frame_info info;
    for (uint32_t i = 0; i <= slots; i++)
        if (seen("get", shmring_get(r, buf, cap, &info, 0), GET_CODES) == SHMRING_ETIMEDOUT)
            break;
    seen("latest", shmring_latest(r, buf, cap, &info, 0), GET_CODES);
    shmring_reader_close(r);
}

/* A zero-copy view of the oldest frame, read through and released. */
static void view_oldest(shmring_ring *ring)
{
    shmring_reader *r;
    if (seen("reader_open_at", shmring_reader_open_at(ring, "view", 0, SHMRING_START_OLDEST, &r), E(SHMRING_EBUSY)))
        return;
    const void *payload;
    shmring_frame_info info;
    if (seen("get_view", shmring_get_view(r, &payload, &info, 0), E(SHMRING_ETIMEDOUT) | E(SHMRING_EBROKEN)) == SHMRING_OK) {
        volatile unsigned char sum = 0;
        for (uint64_t j = 0; j < info.nbytes; j++)
            sum ^= ((const unsigned char *)payload)[j];
        (void)sum;
        seen("view_valid", shmring_view_valid(r), ONE);
        shmring_release(r);
    }
    shmring_reader_close(r);
}

static void queue_read(shmring_ring *ring, void *buf, uint64_t cap)
{
    shmring_reader *r;
    if (seen("reader_open(queue)", shmring_reader_open(ring, "queue", 1, &r), E(SHMRING_EBUSY)))
        return;
    shmring_frame_info info;
    seen("get(queue)", shmring_get(r, buf, cap, &info, 0), GET_CODES);
    shmring_reader_close(r);
}

/* One frame by put, one by reserve and commit (the schema, if any, may refuse both). */
static void write_two(shmring_ring *ring, uint64_t slot_bytes, uint32_t meta_bytes)
{
    shmring_writer *w;
    if (seen("writer_open", shmring_writer_open(ring, &w), E(SHMRING_EWOULDBLOCK)))
        return;
    static const unsigned char zeros[PUT_BYTES];
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    info.nbytes = slot_bytes < PUT_BYTES ? slot_bytes : PUT_BYTES;
    info.meta = "{\"K\":1}";
    info.meta_len = meta_bytes ? 7 : 0;
    seen("put", shmring_put(w, zeros, &info, 0.01), PUT_CODES);
    void *payload;
    if (seen("reserve_timed", shmring_reserve_timed(w, info.nbytes, &payload, 0.01),
             E(SHMRING_ETIMEDOUT) | E(SHMRING_EWOULDBLOCK) | E(SHMRING_ETOOLARGE) | E(SHMRING_EINVAL)) == 0) {
        memset(payload, 1, info.nbytes);
        if (seen("commit", shmring_commit(w, &info), E(SHMRING_ETOOLARGE) | E(SHMRING_EINVAL) | E(SHMRING_ESCHEMA)))
            shmring_abandon(w);
    }
    shmring_writer_close(w);
}

static int use_ring(const char *path)
{
    shmring_ring *ring;
    int rc = seen("open", shmring_open(path, &ring),
                  E(SHMRING_ENOTFOUND) | E(SHMRING_EPERM) | E(SHMRING_ELAYOUT) | E(SHMRING_EINVAL));
    if (rc)
        return rc;
    uint32_t slots, meta_bytes;
    uint64_t slot_bytes;
    int policy;
    shmring_ring_sizes(ring, &slots, &slot_bytes, &meta_bytes, &policy);
    const char *keywords;
    uint32_t keywords_len;
    seen("keywords", shmring_keywords(ring, &keywords, &keywords_len), 0);
    (void)shmring_write_seq(ring);
    void *buf = malloc(slot_bytes ? slot_bytes : 1);
    if (buf) {
        read_all(ring, slots, buf, slot_bytes);
        view_oldest(ring);
        queue_read(ring, buf, slot_bytes);
    }
    free(buf);
    write_two(ring, slot_bytes, meta_bytes);
    shmring_close(ring);
    return 0;
}

/* What a legacy consumer and producer do: look at the header, drain the queue, put one, take it. */
static int use_legacy(const char *path)
{
    shmring_legacy *m;
    int rc = seen("legacy_open", shmring_legacy_open(path, &m),
                  E(SHMRING_ENOTFOUND) | E(SHMRING_ELAYOUT) | E(SHMRING_EPERM) | E(SHMRING_EINVAL));
    if (rc)
        return rc;
    shmring_legacy_header h;
    memset(&h, 0, sizeof(h));
    seen("legacy_read_header", shmring_legacy_read_header(m, &h), E(SHMRING_ELAYOUT));
    (void)shmring_legacy_pending(m);
    unsigned char *buf = malloc(h.item_size ? h.item_size : 1);
    shmring_legacy_buf info;
    for (uint32_t i = 0; buf && i <= h.item_alloc; i++)
        if (seen("legacy_get", shmring_legacy_get(m, buf, h.item_size, &info, 0, 0.01), LEGACY_GET_CODES) != 1)
            break;
    static const unsigned char xs[32] = {'x'};
    seen("legacy_put", shmring_legacy_put(m, xs, h.item_size < 32 ? h.item_size : 32, 1, 1, 0),
         ONE | E(SHMRING_ELAYOUT) | E(SHMRING_ETIMEDOUT) | E(SHMRING_EPERM));
    if (buf)
        seen("legacy_get", shmring_legacy_get(m, buf, h.item_size, &info, 0, 0.01), LEGACY_GET_CODES);
    free(buf);
    shmring_legacy_close(m);
    return 0;
}

static int request(char *line)
{
    char *kind = strtok(line, "\t\n"), *dir = strtok(NULL, "\t\n"), *path = strtok(NULL, "\n");
    if (!kind || !dir || !path)
        return -100;
    setenv("SHMRING_DIR", dir, 1);
    if (!strcmp(kind, "ring"))
        return use_ring(path);
    if (!strcmp(kind, "legacy"))
        return use_legacy(path);
    return -100;
}

int main(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a parent killed for a hang takes us with it */
    char line[LINE_MAX_BYTES];
    while (fgets(line, sizeof(line), stdin)) {
        memset(&answer, 0, sizeof(answer));
        int rc = request(line);
        if (rc == -100) {
            printf("usage: see the comment at the top of open_files.c\n");
            return 2;
        }
        if (LEAK_CHECK())
            seen("leak", 1, 0);
        printf("open %d broken %d layout %d calls %u%s\n", rc, answer.broken, answer.layout, answer.calls,
               answer.odd);
        fflush(stdout);
    }
    return 0;
}
