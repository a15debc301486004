/* The protocol steps run on any mapping: here a heap buffer, as a binding's own mapping would be. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "runner.h"
#include "shmring_layout.h"

TEST(test_protocol_steps_on_a_plain_buffer)
{
    shmring_geom g = {2, 64, 0, 128, 4096, 4096 + 2 * 4096, 0, 4096};
    unsigned char *base;
    CHECK(posix_memalign((void **)&base, 4096, g.total_bytes) == 0, "buffer");
    memset(base, 0, g.total_bytes);
    shmring_proto_store32(base, SHMRING_OFF_READERS + SHMRING_R_STATE, SHMRING_STATE_BROADCAST);
    uint64_t room_until;
    CHECK(shmring_proto_has_room(base, &g, 0, -1, 0, &room_until) && room_until == 2, "room for 2 frames");
    shmring_slot_header h = {0, 5, 0, 0, 7, 0, 1, "|u1", {5, 0, 0, 0}};
    unsigned char *slot = shmring_proto_slot_open(base, &g, 0, 5);
    shmring_proto_slot_fill(slot, &h, NULL);
    memcpy(slot + g.payload_offset, "hello", 5);
    uint64_t k = 0, lost;
    char out[64];
    const char *problem = "";
    shmring_slot_header got;
    CHECK(shmring_proto_read_next(base, &g, 0, &k, 0, out, sizeof(out), NULL, &got, &lost, &problem) ==
              SHMRING_READ_NONE, "an open slot is not a frame");
    shmring_proto_slot_commit(base, &g, 0);
    CHECK(shmring_proto_load64(base, SHMRING_OFF_WRITE_SEQ) == 1, "committed");
    CHECK(shmring_proto_read_next(base, &g, 0, &k, 0, out, sizeof(out), NULL, &got, &lost, &problem) ==
              SHMRING_READ_OK, "the frame reads: %s", problem);
    CHECK(k == 0 && lost == 0 && got.nbytes == 5 && got.flags == 7 && memcmp(out, "hello", 5) == 0, "intact");
    CHECK(shmring_proto_load64(base, SHMRING_OFF_READERS + SHMRING_R_RELEASE) == 1, "released");
    /* a corrupt committed slot (its shape no longer makes its length) is reported, never returned */
    slot = shmring_proto_slot_open(base, &g, 1, 5);
    h.seq = 1;
    h.shape[0] = 6;
    shmring_proto_slot_fill(slot, &h, NULL);
    shmring_proto_slot_commit(base, &g, 1);
    k = 1;
    CHECK(shmring_proto_read_next(base, &g, 0, &k, 0, out, sizeof(out), NULL, &got, &lost, &problem) ==
              SHMRING_READ_CORRUPT && strstr(problem, "shape"), "corrupt slot named: %s", problem);
    free(base);
}
