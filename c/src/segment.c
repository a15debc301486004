/* A ring's file: names and paths, atomic create, validated open, close, unlink. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DEFAULT_DIR "/dev/shm"
#define NAME_MAX_CHARS 200

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > NAME_MAX_CHARS || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int shmring_resolve(const char *name, char **path)
{
    if (!name)
        return shmring_fail(SHMRING_EINVAL, "name must not be NULL");
    if (strchr(name, '/')) { /* a path, taken as given */
        *path = strdup(name);
        return *path ? SHMRING_OK : shmring_fail(SHMRING_ENOMEM, "out of memory");
    }
    if (!valid_name(name))
        return shmring_fail(SHMRING_EINVAL, "ring name must be 1 to 200 characters from [A-Za-z0-9._-], not "
                            "starting with '.' (or a path containing '/'); got '%.60s'", name);
    const char *dir = getenv("SHMRING_DIR");
    if (!dir || !*dir)
        dir = DEFAULT_DIR;
    size_t n = strlen(dir) + strlen(name) + 2;
    *path = malloc(n);
    if (!*path)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    snprintf(*path, n, "%s/%s", dir, name);
    return SHMRING_OK;
}

/* ---------- handles ---------------------------------------------------- */

static shmring_ring *new_ring(char *path)
{
    shmring_ring *r = calloc(1, sizeof(*r));
    if (!r) {
        free(path);
        return NULL;
    }
    r->path = path;
    r->fd = r->probe_fd = r->attached_fd = -1;
    return r;
}

void shmring_close(shmring_ring *r)
{
    if (!r)
        return;
    if (r->base)
        munmap(r->base, r->size);
    if (r->attached_fd >= 0)
        close(r->attached_fd);
    if (r->probe_fd >= 0)
        close(r->probe_fd);
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r);
}

int shmring_attach(shmring_ring *r)
{
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return shmring_fail_errno(errno, "inspecting", r->path);
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->probe_fd = shmring_reopen(r->fd);
    r->attached_fd = shmring_reopen(r->fd);
    if (r->probe_fd < 0 || r->attached_fd < 0)
        return shmring_fail_errno(errno, "reopening", r->path);
    /* Held shared for as long as this handle is open, so "is anyone using
     * this ring?" has a kernel-held answer (docs/format.md, lock byte 450). */
    if (shmring_ofd_lock(r->attached_fd, SHMRING_LOCK_ATTACHED, 0, 1) != 1)
        return shmring_fail_errno(errno, "locking", r->path);
    return SHMRING_OK;
}

/* ---------- open ------------------------------------------------------- */

static int map_checked(shmring_ring *r)
{
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return shmring_fail_errno(errno, "inspecting", r->path);
    if (!S_ISREG(st.st_mode))
        return shmring_fail(SHMRING_ELAYOUT, "%s is not a regular file, not a ring", r->path);
    r->size = (uint64_t)st.st_size;
    if (r->size < SHMRING_HEADER_BYTES)
        return shmring_fail(SHMRING_ELAYOUT, "ring %s is truncated: %" PRIu64 " bytes, at least %d expected",
                            r->path, r->size, SHMRING_HEADER_BYTES);
    void *base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (base == MAP_FAILED)
        return shmring_fail_errno(errno, "mapping", r->path);
    r->base = base;
    return SHMRING_OK;
}

/* The last step of open and create: attach the handle's descriptors and mapping once the ring is mapped and
 * read, and hand it out; any failure, earlier (rc) or here, closes the handle so nothing half-made escapes. */
static int attach_or_close(shmring_ring *r, int rc, shmring_ring **out)
{
    if (rc == SHMRING_OK)
        rc = shmring_attach(r);
    if (rc != SHMRING_OK) {
        shmring_close(r);
        return rc;
    }
    *out = r;
    return SHMRING_OK;
}

int shmring_open(const char *name, shmring_ring **out)
{
    char *path = NULL;
    if (!out)
        return shmring_fail(SHMRING_EINVAL, "out must not be NULL");
    *out = NULL;
    int rc = shmring_resolve(name, &path);
    if (rc != SHMRING_OK)
        return rc;
    shmring_ring *r = new_ring(path);
    if (!r)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    r->fd = open(r->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (r->fd < 0)
        rc = shmring_fail_errno(errno, "opening", r->path);
    if (rc == SHMRING_OK)
        rc = map_checked(r);
    if (rc == SHMRING_OK)
        rc = shmring_layout_read(r);
    return attach_or_close(r, rc, out);
}

/* ---------- create ----------------------------------------------------- */

static int config_defaults(const shmring_config *cfg, shmring_config *c)
{
    if (!cfg)
        return shmring_fail(SHMRING_EINVAL, "cfg must not be NULL (slot_bytes is required)");
    *c = *cfg;
    c->slots = c->slots ? c->slots : 8;
    c->meta_bytes = c->meta_bytes ? c->meta_bytes : 4096;
    c->mode = c->mode ? c->mode : 0600;
    if (c->slot_bytes == 0)
        return shmring_fail(SHMRING_EINVAL, "slot_bytes is required (the largest payload of one frame, > 0)");
    if (c->policy < SHMRING_OVERWRITE || c->policy > SHMRING_DROP)
        return shmring_fail(SHMRING_EINVAL, "policy must be SHMRING_OVERWRITE, _BLOCK or _DROP (0..2), got %d",
                            c->policy);
    if (c->mode > 0777)
        return shmring_fail(SHMRING_EINVAL, "mode must be permission bits 0..0777, got %#o", (unsigned)c->mode);
    return SHMRING_OK;
}

/* The hidden temporary name beside the ring: ".<name>.<random>.tmp". */
static char *temp_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return NULL;
    static unsigned counter;
    unsigned long noise = (unsigned long)shm_monotonic_ns() ^ ((unsigned long)getpid() << 20) ^
                          __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, n, "%.*s.%s.%012lx.tmp", (int)dir_len, path, path + dir_len, noise & 0xffffffffffffUL);
    return tmp;
}

static int reserve_memory(int fd, uint64_t size, const char *path)
{
    /* tmpfs allocates pages lazily; reserving them now turns "no memory"
     * into an error here instead of a SIGBUS in whoever touches a page. */
    int err = posix_fallocate(fd, 0, (off_t)size);
    if (err == EOPNOTSUPP || err == EINVAL)
        err = ftruncate(fd, (off_t)size) < 0 ? errno : 0; /* a filesystem without fallocate */
    if (err == ENOSPC || err == EFBIG)
        return shmring_fail(SHMRING_ENOSPC, "not enough memory for ring %s: asked for %" PRIu64 " bytes", path, size);
    return err ? shmring_fail_errno(err, "sizing", path) : SHMRING_OK;
}

/* Build the ring under `tmp`, then link() it to its name (never replacing one). */
static int build_and_publish(shmring_ring *r, const char *tmp, const shmring_config *c, const char *keywords)
{
    int rc = reserve_memory(r->fd, r->g.total_bytes, r->path);
    if (rc != SHMRING_OK)
        return rc;
    r->size = r->g.total_bytes;
    void *base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (base == MAP_FAILED)
        return shmring_fail_errno(errno, "mapping", r->path);
    r->base = base;
    shmring_layout_write(r->base, &r->g, c->policy, keywords);
    r->policy = c->policy;
    if (link(tmp, r->path) < 0)
        return errno == EEXIST ? shmring_fail(SHMRING_EEXIST, "ring %s already exists", r->path)
                               : shmring_fail_errno(errno, "creating", r->path);
    return SHMRING_OK;
}

static int refuse_taken(const char *path, uint64_t size)
{
    struct stat st;
    if (lstat(path, &st) == 0) /* any kind of file, a dangling symlink included, takes the name */
        return shmring_fail(SHMRING_EEXIST, "ring %s already exists", path);
    char *dir = strdup(path);
    if (!dir)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    struct statvfs vfs;
    int rc = SHMRING_OK;
    if (statvfs(slash ? dir : ".", &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < size)
        rc = shmring_fail(SHMRING_ENOSPC, "not enough memory in %s for ring %s: asked for %" PRIu64
                          " bytes, %" PRIu64 " free (enlarge the tmpfs or choose fewer/smaller slots)",
                          slash ? dir : ".", path, size, (uint64_t)vfs.f_bavail * vfs.f_frsize);
    free(dir);
    return rc;
}

/* Stream keywords are one block in the metadata encoding (docs/format.md, "Metadata"). */
static int check_keywords(const char *keywords, uint32_t keywords_len)
{
    if (keywords_len == 0)
        return SHMRING_OK;
    if (!keywords)
        return shmring_fail(SHMRING_EINVAL, "keywords must not be NULL when keywords_len is %" PRIu32, keywords_len);
    if (keywords[0] != '{' && keywords[0] != '[')
        return shmring_fail(SHMRING_EINVAL, "keywords must be metadata JSON: an object '{...}' or an array of "
                            "cards '[...]', got a block starting with byte 0x%02x", (unsigned char)keywords[0]);
    if (keywords_len > SHMRING_MAX_KEYWORDS_BYTES)
        return shmring_fail(SHMRING_ETOOLARGE, "keywords are %" PRIu32 " bytes, a ring holds at most %u",
                            keywords_len, SHMRING_MAX_KEYWORDS_BYTES);
    return SHMRING_OK;
}

int shmring_create(const char *name, const shmring_config *cfg, shmring_ring **out)
{
    return shmring_create_with_keywords(name, cfg, NULL, 0, out);
}

int shmring_create_with_keywords(const char *name, const shmring_config *cfg, const char *keywords,
                                 uint32_t keywords_len, shmring_ring **out)
{
    shmring_config c = {0, 0, 0, 0, 0};
    char *path = NULL;
    if (!out)
        return shmring_fail(SHMRING_EINVAL, "out must not be NULL");
    *out = NULL;
    int rc = config_defaults(cfg, &c);
    if (rc == SHMRING_OK)
        rc = check_keywords(keywords, keywords_len);
    if (rc == SHMRING_OK)
        rc = shmring_resolve(name, &path);
    if (rc != SHMRING_OK)
        return rc;
    shmring_ring *r = new_ring(path);
    if (!r)
        return shmring_fail(SHMRING_ENOMEM, "out of memory");
    rc = shmring_layout_derive(c.slots, c.slot_bytes, c.meta_bytes, keywords_len, &r->g);
    if (rc == SHMRING_OK) {
        shmring_layout_protocol(&r->g, &r->L);
        rc = refuse_taken(r->path, r->g.total_bytes);
    }
    char *tmp = rc == SHMRING_OK ? temp_path(r->path) : NULL;
    if (rc == SHMRING_OK && !tmp)
        rc = shmring_fail(SHMRING_ENOMEM, "out of memory");
    if (rc == SHMRING_OK) {
        r->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)c.mode);
        if (r->fd < 0 && errno == ENOENT)
            rc = shmring_fail(SHMRING_ENOTFOUND, "cannot create ring %s: its directory does not exist", r->path);
        else if (r->fd < 0)
            rc = shmring_fail_errno(errno, "creating", r->path);
        else if (fchmod(r->fd, (mode_t)c.mode) < 0) /* open() applied the umask; the caller asked for exactly this */
            rc = shmring_fail_errno(errno, "setting the mode of", r->path);
        if (rc == SHMRING_OK)
            rc = build_and_publish(r, tmp, &c, keywords);
        if (r->fd >= 0)
            unlink(tmp);
    }
    free(tmp);
    return attach_or_close(r, rc, out);
}

int shmring_unlink(const char *name)
{
    char *path;
    int rc = shmring_resolve(name, &path);
    if (rc != SHMRING_OK)
        return rc;
    if (unlink(path) < 0)
        rc = shmring_fail_errno(errno, "removing", path);
    free(path);
    return rc;
}

void shmring_ring_sizes(const shmring_ring *r, uint32_t *slots, uint64_t *slot_bytes, uint32_t *meta_bytes,
                        int *policy)
{
    if (slots)
        *slots = (uint32_t)r->g.slots;
    if (slot_bytes)
        *slot_bytes = r->g.slot_bytes;
    if (meta_bytes)
        *meta_bytes = (uint32_t)r->g.meta_bytes;
    if (policy)
        *policy = r->policy;
}

uint64_t shmring_write_seq(const shmring_ring *r)
{
    return shm_next_seq(shmring_base(r), &r->L);
}

int shmring_keywords(const shmring_ring *r, const char **keywords, uint32_t *len)
{
    if (!r || !keywords || !len)
        return shmring_fail(SHMRING_EINVAL, "ring, keywords and len must not be NULL");
    /* Written before the file got its name and never changed: no synchronisation needed. */
    *keywords = r->g.keywords_len ? (const char *)r->base + SHMRING_OFF_KEYWORDS : "";
    *len = (uint32_t)r->g.keywords_len;
    return SHMRING_OK;
}
