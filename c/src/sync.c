/* Kernel mechanisms: futex waits, open-file-description (OFD) locks, file identity.
 * Clocks and the lease probe are the protocol's (protocol_wait.c, protocol_room.c). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

double shmring_monotonic_s(void)
{
    return (double)shm_monotonic_ns() * 1e-9;
}

int shmring_reopen(int fd)
{
    /* /proc/self/fd/N names the very inode fd refers to, even when the file
     * has since been unlinked or replaced under its path. Each lock and lease
     * needs a description of its own: OFD locks belong to the description. */
    char link[40];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    return open(link, O_RDWR | O_CLOEXEC);
}

static void fill(struct flock *fl, short type, uint64_t byte)
{
    memset(fl, 0, sizeof(*fl)); /* l_pid must be 0 for OFD locks */
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = (off_t)byte;
    fl->l_len = 1;
}

int shmring_ofd_lock(int fd, uint64_t byte, int exclusive, int wait)
{
    struct flock fl;
    for (;;) {
        fill(&fl, exclusive ? F_WRLCK : F_RDLCK, byte);
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
            return 1;
        if (!wait && (errno == EAGAIN || errno == EACCES))
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

void shmring_ofd_unlock(int fd, uint64_t byte)
{
    struct flock fl;
    fill(&fl, F_UNLCK, byte);
    (void)fcntl(fd, F_OFD_SETLK, &fl);
}

void shmring_futex_wait(uint32_t *word, uint32_t seen, double timeout_s)
{
    if (timeout_s <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)timeout_s;
    ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
    /* Shared futex (no FUTEX_PRIVATE_FLAG): the kernel keys it on the file
     * page, so processes mapping the ring at different addresses meet.
     * EAGAIN (the word moved), EINTR and ETIMEDOUT all just return. */
    (void)syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

int shmring_replaced(const shmring_ring *ring)
{
    struct stat st;
    if (lstat(ring->path, &st) < 0)
        return 1;
    return st.st_dev != ring->dev || st.st_ino != ring->ino;
}
