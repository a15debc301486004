/* Room: docs/format.md, write step 1 (plain C; see protocol.h). How long to
 * wait for room, and whether to give up, is policy and stays with the caller. */
#define _GNU_SOURCE /* F_OFD_GETLK */
#include "protocol.h"

#include <fcntl.h>
#include <string.h>

int
shm_lease_held(int probe_fd, uint64_t byte)
{
    /* The kernel never reports a conflict with the asker's own locks, so the
     * probe description must hold none. l_pid must be 0 for OFD requests. */
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)byte;
    fl.l_len = 1;
    if (fcntl(probe_fd, F_OFD_GETLK, &fl) < 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

/* Nobody holds the entry's lease (on its first byte): its reader died. */
static int
reader_died(const ShmLayout *L, uint64_t index, int probe_fd)
{
    return shm_lease_held(probe_fd, shm_entry_at(L, index)) == 0;
}

uint64_t
shm_pin_floor(char *base, const ShmLayout *L, int probe_fd, int reap)
{
    /* queue_seq is loaded before any release word (write step 1): a queue reader
     * pins q (release := q) before its compare-exchange moves queue_seq past q,
     * so either this load sees queue_seq <= q or the loads below see the pin.
     * Loaded after them, queue_seq could already be past a frame whose pin
     * they missed, and a blocked writer would overwrite a claimed frame. */
    uint64_t unclaimed = __atomic_load_n(shm_u64(base, L->queue_seq), __ATOMIC_SEQ_CST);
    uint64_t floor = SHM_NO_PIN;
    int queued = 0;
    reap = reap && probe_fd >= 0; /* reaping asks the kernel about each entry: a syscall each */
    for (uint64_t i = 0; i < L->reader_count; i++) {
        uint32_t *state = shm_u32(base, shm_entry_at(L, i) + L->r_state);
        uint32_t seen = __atomic_load_n(state, __ATOMIC_SEQ_CST);
        if (!seen)
            continue;
        if (reap && reader_died(L, i, probe_fd)) {
            __atomic_store_n(state, 0, __ATOMIC_SEQ_CST); /* free the entry */
            continue;
        }
        floor = shm_min(floor, __atomic_load_n(shm_u64(base, shm_entry_at(L, i) + L->r_release), __ATOMIC_SEQ_CST));
        queued |= seen == L->state_queue;
    }
    if (queued) /* unclaimed queue frames count only while a queue reader is attached */
        floor = shm_min(floor, unclaimed);
    return floor;
}

uint64_t
shm_room_until(char *base, const ShmLayout *L, uint64_t seq, int probe_fd, int reap)
{
    /* With no reader, one attaching now starts at seq or later, so the next
     * `slots` frames cannot overwrite anything it will be owed. */
    return shm_min(shm_pin_floor(base, L, probe_fd, reap), seq) + L->slots;
}
