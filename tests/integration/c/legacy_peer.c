/*
 * legacy_peer: a second-language peer of the legacy SharedMem layout, written
 * from docs/format-legacy.md only (no shmring code), to show that C and
 * Python produce and consume the same bytes.
 *
 *   legacy_peer create  PATH ITEM_SIZE ITEM_ALLOC   as the C++ init(): delete, create, header
 *   legacy_peer run     PATH OP...                  OP = pN (put N) | gN (get up to N)
 *   legacy_peer produce PATH N                      put N buffers as fast as possible
 *   legacy_peer consume PATH TIMEOUT_MS             get until the end buffer (flags END_FLAGS)
 *
 * Buffer k (k = this process's put_counter, from 1) is test_pattern(k): see
 * pattern() below and in the Python test. Each buffer got is printed as
 * "buf PC LEN W H FLAGS HEX"; puts print "put PC stored|dropped".
 *
 * Like the originals this peer takes no lock and can only poll. Unlike them it
 * updates count with atomic read-modify-write (the originals used plain ++/--),
 * so that tests running it concurrently beside shmring are deterministic; the
 * bytes written are the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SIGNATURE 0x11031973u
#define END_FLAGS 0xFFFFFFFFu

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the layout is little-endian");

struct MemHeader {
    uint32_t signature, memsize, flags, item_size, item_alloc, head, tail, count;
};
struct BufHeader {
    uint32_t put_counter, buf_len, width, height, flags;
};
_Static_assert(sizeof(struct MemHeader) == 32, "MemHeader is 32 bytes");
_Static_assert(sizeof(struct BufHeader) == 20, "BufHeader is 20 bytes");

static unsigned char *base;
static struct MemHeader *hdr;
static uint32_t put_counter;

static unsigned char *slot(uint32_t i) { return base + 32 + (size_t)i * (20 + hdr->item_size); }

static int map_file(const char *path)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 32) {
        fprintf(stderr, "legacy_peer: cannot open %s\n", path);
        return -1;
    }
    base = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED)
        return -1;
    hdr = (struct MemHeader *)base;
    if (hdr->signature != SIGNATURE || hdr->memsize != 32 + (20 + hdr->item_size) * hdr->item_alloc ||
        hdr->memsize > (uint64_t)st.st_size) {
        fprintf(stderr, "legacy_peer: %s is not a legacy SharedMem file\n", path);
        return -1;
    }
    return 0;
}

static int create(const char *path, uint32_t item_size, uint32_t item_alloc)
{
    uint32_t memsize = 32 + (20 + item_size) * item_alloc;
    unlink(path); /* the original init() starts from a new file every time */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, memsize) < 0)
        return 1;
    unsigned char *m = mmap(NULL, memsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return 1;
    struct MemHeader *h = (struct MemHeader *)m;
    if (h->signature == 0) { /* header only where the signature is still 0 */
        struct MemHeader fresh = {0, memsize, 0, item_size, item_alloc, 0, 0, 0};
        memcpy(m, &fresh, sizeof fresh);
        __atomic_store_n(&h->signature, SIGNATURE, __ATOMIC_RELEASE);
    }
    return 0;
}

/* The test pattern of put_counter k: 1 + 7k mod (item_size + 3) bytes of (k + j) & 0xff. */
static uint32_t pattern(uint32_t k, unsigned char *out, uint32_t cap)
{
    uint32_t len = 1 + (k * 7) % (cap + 3);
    for (uint32_t j = 0; j < len; j++)
        out[j] = (unsigned char)((k + j) & 0xff);
    return len;
}

static int put_buf(const unsigned char *data, uint32_t len, uint32_t w, uint32_t h, uint32_t flags)
{
    put_counter++;
    if (__atomic_load_n(&hdr->count, __ATOMIC_ACQUIRE) >= hdr->item_alloc)
        return 0;
    if (len == 0 || len > hdr->item_size)
        len = hdr->item_size;
    unsigned char *s = slot(hdr->head);
    struct BufHeader bh = {put_counter, len, w, h, flags};
    memcpy(s + 20, data, len);
    memcpy(s, &bh, sizeof bh);
    __atomic_store_n(&hdr->head, (hdr->head + 1) % hdr->item_alloc, __ATOMIC_RELEASE);
    __atomic_fetch_add(&hdr->count, 1, __ATOMIC_SEQ_CST);
    return 1;
}

static int put_pattern(void)
{
    unsigned char *data = malloc(hdr->item_size + 3);
    uint32_t k = put_counter + 1;
    uint32_t len = pattern(k, data, hdr->item_size);
    int stored = put_buf(data, len, k, 2 * k, 0x12345678u ^ k);
    free(data);
    return stored;
}

/* Returns 1 and prints the buffer, or 0 when there is none (as the original get_buf). */
static int get_buf(uint32_t *flags_out)
{
    if (hdr->signature != SIGNATURE || __atomic_load_n(&hdr->count, __ATOMIC_ACQUIRE) == 0)
        return 0;
    unsigned char *s = slot(hdr->tail);
    struct BufHeader bh;
    memcpy(&bh, s, sizeof bh);
    if (bh.buf_len == 0 || bh.buf_len > hdr->item_size)
        return 0;
    printf("buf %u %u %u %u %u ", bh.put_counter, bh.buf_len, bh.width, bh.height, bh.flags);
    for (uint32_t j = 0; j < bh.buf_len; j++)
        printf("%02x", s[20 + j]);
    printf("\n");
    __atomic_store_n(&hdr->tail, (hdr->tail + 1) % hdr->item_alloc, __ATOMIC_RELEASE);
    __atomic_fetch_sub(&hdr->count, 1, __ATOMIC_SEQ_CST);
    if (flags_out)
        *flags_out = bh.flags;
    return 1;
}

static int run(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        long n = strtol(argv[i] + 1, NULL, 10);
        for (long j = 0; j < n; j++) {
            if (argv[i][0] == 'p') {
                int stored = put_pattern();
                printf("put %u %s\n", put_counter, stored ? "stored" : "dropped");
            } else if (!get_buf(NULL)) {
                printf("empty\n");
            }
        }
    }
    return 0;
}

static int produce(long n)
{
    long dropped = 0;
    for (long i = 0; i < n; i++)
        dropped += !put_pattern();
    /* The end marker, retried until stored; every failed attempt is a drop too. */
    unsigned char end = 0;
    while (!put_buf(&end, 1, 0, 0, END_FLAGS)) {
        dropped++;
        usleep(200); /* a peer without wake-ups can only poll */
    }
    printf("produced %ld dropped %ld\n", n, dropped);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int consume(long timeout_ms)
{
    double end = now_ms() + timeout_ms;
    uint32_t flags = 0;
    while (now_ms() < end) {
        if (get_buf(&flags)) {
            if (flags == END_FLAGS)
                return 0;
        } else {
            usleep(200); /* the originals poll; so does this peer */
        }
    }
    fprintf(stderr, "legacy_peer: no end buffer within %ld ms\n", timeout_ms);
    return 3;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && !strcmp(argv[1], "create"))
        return create(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10));
    if (argc < 3 || map_file(argv[2]) < 0)
        return 2;
    if (!strcmp(argv[1], "run"))
        return run(argc - 3, argv + 3);
    if (!strcmp(argv[1], "produce") && argc == 4)
        return produce(strtol(argv[3], NULL, 10));
    if (!strcmp(argv[1], "consume") && argc == 4)
        return consume(strtol(argv[3], NULL, 10));
    fprintf(stderr, "usage: legacy_peer create|run|produce|consume PATH ...\n");
    return 2;
}
