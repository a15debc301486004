#define _GNU_SOURCE
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "runner.h"

const char *unique_name(void)
{
    static char name[32];
    static int counter;
    snprintf(name, sizeof(name), "c%d", ++counter);
    return name;
}

const char *path_of(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    return path;
}

shmring_frame_info u16_info(uint64_t count)
{
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    memcpy(info.dtype, "<u2", 4);
    info.ndim = 1;
    info.shape[0] = count;
    info.nbytes = count * 2;
    return info;
}

int rig_open(rig *t, uint32_t slots, uint64_t slot_bytes, int policy)
{
    shmring_config cfg = {slots, slot_bytes, 256, policy, 0};
    const char *name = unique_name();
    memset(t, 0, sizeof(*t));
    int rc = shmring_create(name, &cfg, &t->ring);
    if (rc != SHMRING_OK)
        return rc;
    shmring_unlink(name);
    rc = shmring_reader_open(t->ring, NULL, 0, &t->rd);
    if (rc == SHMRING_OK)
        rc = shmring_writer_open(t->ring, &t->w);
    if (rc != SHMRING_OK)
        rig_close(t);
    return rc;
}

void rig_close(rig *t)
{
    if (t->w)
        shmring_writer_close(t->w);
    if (t->rd)
        shmring_reader_close(t->rd);
    if (t->ring)
        shmring_close(t->ring);
    memset(t, 0, sizeof(*t));
}

int put_u16s(shmring_writer *w, uint16_t first, uint16_t count)
{
    shmring_frame_info info = u16_info(1);
    for (uint16_t i = 0; i < count; i++) {
        uint16_t v = (uint16_t)(first + i);
        int rc = shmring_put(w, &v, &info, 0);
        if (rc != SHMRING_OK)
            return rc;
    }
    return SHMRING_OK;
}
