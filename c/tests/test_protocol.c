/* The protocol steps run on any mapping: here a heap buffer, as a binding's own mapping would be. */
#include "internal.h" /* first: its feature macros (posix_memalign) */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

/* Read step 4 into `out` (64 bytes): refuses frames larger than that, as libshmring's get does. */
static int copy_small(void *ctx, const ShmSlotHeader *h, const char *meta, const char *payload)
{
    (void)meta;
    if (h->nbytes > 64)
        return 1;
    if (payload)
        memcpy(ctx, payload, h->nbytes);
    return 0;
}

static void put(char *base, const ShmLayout *L, uint64_t seq, const char *text, uint64_t dim)
{
    uint64_t shape[1] = {dim};
    ShmFrameHead f = {strlen(text), "|u1", 3, shape, 1, 7, NULL, 0};
    size_t slot = shm_open_slot(base, L, seq, &f);
    memcpy(base + slot + L->payload_offset, text, f.nbytes);
    shm_commit_slot(base, L, seq);
}

static uint64_t entry_word(char *base, const ShmLayout *L, uint64_t index, size_t field)
{
    return *shm_u64(base, shm_entry_at(L, index) + field);
}

TEST(test_protocol_steps_on_a_plain_buffer)
{
    shmring_geom g;
    ShmLayout L;
    CHECK_OK(shmring_layout_derive(2, 128, 0, 0, &g));
    shmring_layout_protocol(&g, &L);
    char *base;
    CHECK(posix_memalign((void **)&base, 4096, g.total_bytes) == 0, "buffer");
    memset(base, 0, g.total_bytes);
    *shm_u32(base, shm_entry_at(&L, 0) + L.r_state) = SHMRING_STATE_BROADCAST;
    CHECK(shm_room_until(base, &L, 0, -1, 0) == 2, "room for 2 frames with a reader at 0");
    uint64_t shape[1] = {5};
    ShmFrameHead f = {5, "|u1", 3, shape, 1, 7, NULL, 0};
    size_t slot = shm_open_slot(base, &L, 0, &f);
    memcpy(base + slot + L.payload_offset, "hello", 5);
    char out[64];
    ShmRead got = {0}; /* a reader's first read: nothing known yet */
    CHECK(shm_read_broadcast(base, &L, 0, 0, SHM_RELEASE_AFTER, SHM_NO_PIN, copy_small, out, &got) == SHM_NOTHING,
          "an open slot is not a frame");
    shm_commit_slot(base, &L, 0);
    CHECK(shm_next_seq(base, &L) == 1, "committed");
    CHECK(shm_read_broadcast(base, &L, 0, 0, SHM_RELEASE_AFTER, SHM_NO_PIN, copy_small, out, &got) == SHM_FRAME,
          "the frame reads");
    CHECK(got.seq == 0 && got.lost == 0 && got.header.nbytes == 5 && got.header.flags == 7 &&
          memcmp(out, "hello", 5) == 0, "intact");
    CHECK(entry_word(base, &L, 0, L.r_release) == 1, "released");
    /* a corrupt committed slot (its shape no longer makes its length) is reported, never returned */
    put(base, &L, 1, "hello", 6);
    CHECK(shm_read_broadcast(base, &L, 0, 1, SHM_RELEASE_AFTER, SHM_NO_PIN, copy_small, out, &got) == SHM_CORRUPT &&
          strstr(got.problem, "shape"), "corrupt slot named: %s", got.problem ? got.problem : "(none)");
    free(base);
}

TEST(test_queue_frame_refused_by_the_copy_step_stays_queued)
{
    shmring_geom g;
    ShmLayout L;
    CHECK_OK(shmring_layout_derive(4, 128, 0, 0, &g));
    shmring_layout_protocol(&g, &L);
    char *base;
    CHECK(posix_memalign((void **)&base, 4096, g.total_bytes) == 0, "buffer");
    memset(base, 0, g.total_bytes);
    *shm_u32(base, shm_entry_at(&L, 0) + L.r_state) = SHMRING_STATE_QUEUE;
    char big[100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    put(base, &L, 0, big, sizeof(big) - 1);
    char out[64];
    ShmRead got = {0}; /* a reader's first read: nothing known yet */
    CHECK(shm_read_queued(base, &L, 0, SHM_RELEASE_AFTER, SHM_NO_PIN, copy_small, out, &got) == SHM_REFUSED,
          "a frame larger than the buffer is refused");
    CHECK(*shm_u64(base, L.queue_seq) == 0 && got.header.nbytes == 99, "not claimed: queue_seq stays at 0");
    CHECK(shm_pin_floor(base, &L, -1, 0) == 0, "the unclaimed frame still counts for the writer");
    free(base);
}
