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
