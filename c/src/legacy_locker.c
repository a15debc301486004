/* shmring's Locker beside a legacy file (docs/format-legacy.md section 4), byte for byte
 * what Python's shmring.legacy.Locker uses, so C, MATLAB and Python peers exclude and wake
 * each other: OFD locks on bytes 32/33 of a 64-byte file, futex words at 8 and 16. */
#include "legacy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4), for the lock file's name ---------------------- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof(v));
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
        uint32_t t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof(uint32_t));
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

/* The first 4 bytes of SHA-256(text), as 8 hex digits. */
static void sha256_prefix(const char *text, char hex[9])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t n = strlen(text), i = 0;
    unsigned char block[64];
    for (; i + 64 <= n; i += 64)
        sha256_block(h, (const unsigned char *)text + i);
    size_t rest = n - i;
    memset(block, 0, sizeof(block));
    memcpy(block, text + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha256_block(h, block);
        memset(block, 0, sizeof(block));
    }
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        block[63 - k] = (unsigned char)(bits >> (8 * k));
    sha256_block(h, block);
    snprintf(hex, 9, "%08x", h[0]);
}

/* ---- the lock file's name ------------------------------------------------- */

static int absolute_path(const char *path, char *out, size_t cap)
{
    /* os.path.abspath: join with the cwd and normalise ".", ".." and "//" lexically. */
    char joined[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(joined, sizeof(joined), "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return shmring_fail(SHMRING_ESYS, "getcwd failed: %s", strerror(errno));
        snprintf(joined, sizeof(joined), "%s/%s", cwd, path);
    }
    size_t len = 0;
    char *save = NULL;
    for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            while (len > 0 && out[--len] != '/') {}
            continue;
        }
        size_t n = strlen(part);
        if (len + n + 2 > cap)
            return shmring_fail(SHMRING_EINVAL, "path %s is longer than %zu bytes", path, cap);
        out[len++] = '/';
        memcpy(out + len, part, n);
        len += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return SHMRING_OK;
}

int shmring_locker_name(const char *path, char *out, size_t cap)
{
    char absolute[PATH_MAX];
    int rc = absolute_path(path, absolute, sizeof(absolute));
    if (rc)
        return rc;
    const char *base = strrchr(absolute, '/') + 1;
    while (*base == '.')
        base++; /* lstrip(".") */
    /* Python replaces each unsafe *character* with '_' and keeps 150 characters:
     * a UTF-8 sequence counts once (its continuation bytes are skipped). */
    char stem[151];
    size_t n = 0;
    for (const char *p = base; *p && n < 150; p++) {
        char c = *p;
        if (((unsigned char)c & 0xC0) == 0x80)
            continue;
        int safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
        stem[n++] = safe ? c : '_';
    }
    stem[n] = '\0';
    char hex[9];
    sha256_prefix(absolute, hex);
    if ((size_t)snprintf(out, cap, "%s.%s.lock", n ? stem : "file", hex) >= cap)
        return shmring_fail(SHMRING_EINVAL, "lock name of %s does not fit %zu bytes", path, cap);
    return SHMRING_OK;
}

/* ---- opening --------------------------------------------------------------- */

static void init_lock(unsigned char *base, void *ctx)
{
    (void)ctx;
    memcpy(base, LEG_LOCK_MAGIC, 8);
}

static int open_lock_file(const char *path, uint32_t mode, int *fd_out)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            *fd_out = fd;
            return SHMRING_OK;
        }
        if (errno != ENOENT)
            return shmring_fail_errno(errno, "opening the lock file", path);
        int rc = leg_create_file(path, LEG_LOCK_SIZE, mode, init_lock, NULL);
        if (rc != SHMRING_OK && rc != SHMRING_EEXIST)
            return rc; /* EEXIST: another process won the race; open its file */
    }
    return shmring_fail(SHMRING_ENOTFOUND, "lock file %s keeps disappearing while being opened", path);
}

static int check_lock_file(shmring_locker *l)
{
    struct stat st;
    if (fstat(l->fd, &st) < 0)
        return shmring_fail_errno(errno, "inspecting", l->path);
    if (!S_ISREG(st.st_mode) || st.st_size != LEG_LOCK_SIZE)
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a shmring legacy lock file: file size (expected %u, found %lld)",
                            l->path, LEG_LOCK_SIZE, (long long)st.st_size);
    l->base = mmap(NULL, LEG_LOCK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
    if (l->base == MAP_FAILED) {
        l->base = NULL;
        return shmring_fail_errno(errno, "mapping", l->path);
    }
    if (memcmp(l->base, LEG_LOCK_MAGIC, 8) != 0)
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a shmring legacy lock file: magic (expected SHMRLCK1)", l->path);
    l->update_fd = shmring_reopen(l->fd);
    l->exchange_fd = shmring_reopen(l->fd);
    if (l->update_fd < 0 || l->exchange_fd < 0)
        return shmring_fail_errno(errno, "re-opening", l->path);
    return SHMRING_OK;
}

int shmring_locker_for_file(const char *path, shmring_locker **out)
{
    *out = NULL;
    char name[200];
    int rc = shmring_locker_name(path, name, sizeof(name));
    if (rc)
        return rc;
    const char *dir = getenv("SHMRING_DIR");
    if (!dir || !*dir)
        dir = "/dev/shm";
    shmring_locker *l = calloc(1, sizeof(*l));
    if (!l)
        return shmring_fail(SHMRING_ENOMEM, "out of memory opening the Locker of %s", path);
    l->fd = l->update_fd = l->exchange_fd = -1;
    size_t len = strlen(dir) + strlen(name) + 2;
    l->path = malloc(len);
    if (!l->path) {
        free(l);
        return shmring_fail(SHMRING_ENOMEM, "out of memory opening the Locker of %s", path);
    }
    snprintf(l->path, len, "%s/%s", dir, name);
    struct stat st;
    uint32_t mode = stat(path, &st) == 0 ? (uint32_t)(st.st_mode & 0666) : 0600; /* share with the file's users */
    rc = open_lock_file(l->path, mode, &l->fd);
    if (rc == SHMRING_OK)
        rc = check_lock_file(l);
    if (rc) {
        shmring_locker_close(l);
        return rc;
    }
    *out = l;
    return SHMRING_OK;
}

void shmring_locker_close(shmring_locker *l)
{
    if (!l)
        return;
    shmring_locker_release(l);
    leg_exchange_release(l);
    if (l->base)
        munmap(l->base, LEG_LOCK_SIZE);
    if (l->update_fd >= 0)
        close(l->update_fd);
    if (l->exchange_fd >= 0)
        close(l->exchange_fd);
    if (l->fd >= 0)
        close(l->fd);
    free(l->path);
    free(l);
}

const char *shmring_locker_path(const shmring_locker *l)
{
    return l->path;
}

/* ---- wake words: u32 counter (the futex), u32 sleeper count ----------------- */

static uint32_t *word(const shmring_locker *l, uint32_t off)
{
    return (uint32_t *)(void *)(l->base + off);
}

static void announce(shmring_locker *l, uint32_t off)
{
    /* Bump before reading the sleeper count: a sleeper registers before it
     * re-checks, so either we see it and wake it, or it sees the new value. */
    __atomic_fetch_add(word(l, off), 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word(l, off) + 1, __ATOMIC_SEQ_CST))
        shm_futex_wake_all(word(l, off));
}

static void sleep_on(shmring_locker *l, uint32_t off, uint32_t seen, double seconds)
{
    __atomic_fetch_add(word(l, off) + 1, 1u, __ATOMIC_SEQ_CST);
    shmring_futex_wait(word(l, off), seen, seconds);
    __atomic_fetch_sub(word(l, off) + 1, 1u, __ATOMIC_SEQ_CST);
}

uint32_t leg_data_seq(const shmring_locker *l)
{
    return __atomic_load_n(word(l, LEG_DATA_WAKE), __ATOMIC_SEQ_CST);
}

void leg_data_announce(shmring_locker *l)
{
    announce(l, LEG_DATA_WAKE);
}

void leg_data_sleep(shmring_locker *l, uint32_t seen, double seconds)
{
    sleep_on(l, LEG_DATA_WAKE, seen, seconds);
}

/* ---- the locks ---------------------------------------------------------------- */

static int acquire_byte(shmring_locker *l, int fd, uint32_t byte, double timeout_s)
{
    if (timeout_s < 0)
        return shmring_ofd_lock(fd, byte, 1, 1) == 1 ? SHMRING_OK
                                                     : shmring_fail_errno(errno, "locking", l->path);
    /* The kernel has no timed OFD wait: sleep on the lock wake word that every
     * shmring release bumps, re-trying at least every LEG_DEATH_RECHECK_S for a
     * holder that died (a dead holder wakes nobody). */
    double deadline = shmring_monotonic_s() + timeout_s;
    for (;;) {
        uint32_t seen = __atomic_load_n(word(l, LEG_LOCK_WAKE), __ATOMIC_SEQ_CST);
        int got = shmring_ofd_lock(fd, byte, 1, 0);
        if (got == 1)
            return SHMRING_OK;
        if (got < 0)
            return shmring_fail_errno(errno, "locking", l->path);
        double left = leg_remaining(deadline);
        if (left <= 0)
            return shmring_fail(SHMRING_ETIMEDOUT, "lock on byte %u of %s still held by another process after %g s",
                                byte, l->path, timeout_s);
        sleep_on(l, LEG_LOCK_WAKE, seen, left < LEG_DEATH_RECHECK_S ? left : LEG_DEATH_RECHECK_S);
    }
}

static void release_byte(shmring_locker *l, int fd, uint32_t byte)
{
    shmring_ofd_unlock(fd, byte);
    announce(l, LEG_LOCK_WAKE);
}

int shmring_locker_acquire(shmring_locker *l, double timeout_s)
{
    if (l->update_held)
        return shmring_fail(SHMRING_EINVAL, "the Locker %s is already held by this handle", l->path);
    int rc = acquire_byte(l, l->update_fd, LEG_UPDATE_BYTE, timeout_s);
    l->update_held = rc == SHMRING_OK;
    return rc;
}

void shmring_locker_release(shmring_locker *l)
{
    if (!l->update_held)
        return;
    l->update_held = 0;
    release_byte(l, l->update_fd, LEG_UPDATE_BYTE);
}

int shmring_locker_held_elsewhere(const shmring_locker *l)
{
    return shm_lease_held(l->fd, LEG_UPDATE_BYTE) == 1;
}

int leg_exchange_acquire(shmring_locker *l, double timeout_s)
{
    int rc = acquire_byte(l, l->exchange_fd, LEG_EXCHANGE_BYTE, timeout_s);
    l->exchange_held = rc == SHMRING_OK;
    return rc;
}

void leg_exchange_release(shmring_locker *l)
{
    if (!l->exchange_held)
        return;
    l->exchange_held = 0;
    release_byte(l, l->exchange_fd, LEG_EXCHANGE_BYTE);
}

double leg_remaining(double deadline)
{
    return deadline - shmring_monotonic_s();
}
