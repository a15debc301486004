// The public header compiles as C++ and its names link as C (extern "C").
#include "shmring.h"

static_assert(sizeof(shmring_frame_info().dtype) == 8, "dtype holds a numpy typestr of 8 bytes");

int shmring_cxx_header_check(const char *name)
{
    shmring_ring *ring = nullptr;
    int rc = shmring_open(name, &ring);
    if (rc == SHMRING_OK)
        shmring_close(ring);
    return rc == SHMRING_OK ? 0 : (shmring_strerror(rc)[0] != '\0');
}
