/* send / answer over the 256-byte message file (docs/format-legacy.md section 2):
 * byte 0 the length (0 = idle or reply ready), bytes 1..255 the text. Text before
 * length with a full fence between, and the reverse on the reading side. */
#include "legacy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int open_message_file(const char *path, shmring_legacy *m)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = leg_map(path, 1, 1, m);
        if (rc == SHMRING_ENOTFOUND) {
            /* Whoever comes first, sender or answerer, creates the idle file. */
            rc = leg_create_file(path, LEG_MSG_SIZE, 0600, NULL, NULL);
            if (rc == SHMRING_OK || rc == SHMRING_EEXIST)
                continue;
            return rc;
        }
        if (rc)
            return rc;
        if (m->size != LEG_MSG_SIZE) {
            unsigned long long found = m->size;
            leg_unmap(m);
            return shmring_fail(SHMRING_ELAYOUT, "%s is not a send/answer message file: file size (expected %u, found %llu)",
                                path, LEG_MSG_SIZE, found);
        }
        return shmring_locker_for_file(path, &m->locker);
    }
    return shmring_fail(SHMRING_ENOTFOUND, "message file %s keeps disappearing while being opened", path);
}

static uint8_t length_byte(const shmring_legacy *m)
{
    return __atomic_load_n(m->base, __ATOMIC_SEQ_CST);
}

static void publish_length(shmring_legacy *m, uint8_t n)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the text is complete before byte 0 says so */
    __atomic_store_n(m->base, n, __ATOMIC_SEQ_CST);
}

/* Sleep on the data word, looking at least every poll_s, until byte 0 is (non-)zero. */
static int wait_length(shmring_legacy *m, int want_nonzero, double deadline, int forever, double poll_s)
{
    for (;;) {
        uint32_t seen = leg_data_seq(m->locker);
        if ((length_byte(m) != 0) == want_nonzero) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            return 1;
        }
        double left = forever ? poll_s : leg_remaining(deadline);
        if (left <= 0)
            return 0;
        leg_data_sleep(m->locker, seen, left < poll_s ? left : poll_s);
    }
}

static void close_message(shmring_legacy *m)
{
    leg_unmap(m);
    shmring_locker_close(m->locker);
    m->locker = NULL;
}

/* Both ends poll the length byte: refuse a poll interval that would spin, then open the file. m is always left
 * safe to close_message, even when this fails. */
static int open_polled(const char *path, double poll_s, shmring_legacy *m)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    if (poll_s <= 0)
        return shmring_fail(SHMRING_EINVAL, "poll interval must be > 0 s, got %g", poll_s);
    return open_message_file(path, m);
}

static int exchange(shmring_legacy *m, const char *path, const char *text, size_t n, char *reply, size_t cap,
                    double deadline, int forever, double timeout_s, double poll_s)
{
    if (!wait_length(m, 0, deadline, forever, poll_s))
        return shmring_fail(SHMRING_ETIMEDOUT, "%s stayed busy (byte 0 = %u, an earlier message unanswered) for %g s",
                            path, length_byte(m), timeout_s);
    /* Padded with NULs: an original answerer rewrites only n bytes, and the reply is read up to a NUL. */
    memset(m->base + 1, 0, LEG_MSG_MAX);
    memcpy(m->base + 1, text, n);
    publish_length(m, (uint8_t)n);
    leg_data_announce(m->locker);
    if (!wait_length(m, 0, deadline, forever, poll_s)) {
        publish_length(m, 0); /* withdraw, so a late answerer does not answer a sender that has gone */
        return shmring_fail(SHMRING_ETIMEDOUT, "nobody answered on %s within %g s (is `shmring legacy answer %s` "
                            "or the original answer() running?)", path, timeout_s, path);
    }
    size_t k = strnlen((const char *)m->base + 1, LEG_MSG_MAX);
    if (k >= cap)
        k = cap ? cap - 1 : 0;
    if (cap) {
        memcpy(reply, m->base + 1, k);
        reply[k] = '\0';
    }
    return SHMRING_OK;
}

int shmring_legacy_send(const char *path, const char *text, char *reply, size_t cap, double timeout_s, double poll_s)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0)
        return shmring_fail(SHMRING_EINVAL, "message must be 1..%u bytes without NUL bytes, got an empty one", LEG_MSG_MAX);
    if (n > LEG_MSG_MAX)
        return shmring_fail(SHMRING_ETOOLARGE, "message is %zu bytes; a send/answer file holds at most %u bytes of text",
                            n, LEG_MSG_MAX);
    shmring_legacy m;
    int rc = open_polled(path, poll_s, &m);
    if (rc) {
        close_message(&m);
        return rc;
    }
    int forever = timeout_s < 0;
    double deadline = shmring_monotonic_s() + timeout_s;
    /* shmring senders to one file take turns for the whole exchange. */
    rc = leg_exchange_acquire(m.locker, forever ? -1 : timeout_s);
    if (rc == SHMRING_ETIMEDOUT)
        rc = shmring_fail(SHMRING_ETIMEDOUT, "another shmring sender kept %s busy for %g s", path, timeout_s);
    if (rc == SHMRING_OK) {
        rc = exchange(&m, path, text, n, reply, cap, deadline, forever, timeout_s, poll_s);
        leg_exchange_release(m.locker);
    }
    close_message(&m);
    return rc;
}

/* Upper-case the request in place (the original's answer), padded with NULs; 1 answered, 0 taken by another. */
static int reply_locked(shmring_legacy *m, char *request, size_t cap)
{
    uint8_t n = length_byte(m);
    if (n == 0)
        return 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    size_t k = n < cap ? n : (cap ? cap - 1 : 0);
    if (cap) {
        memcpy(request, m->base + 1, k);
        request[k] = '\0';
    }
    unsigned char text[LEG_MSG_MAX];
    memset(text, 0, sizeof(text));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = m->base[1 + i];
        text[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
    }
    memcpy(m->base + 1, text, LEG_MSG_MAX);
    publish_length(m, 0);
    return 1;
}

int shmring_legacy_answer(const char *path, char *request, size_t cap, double timeout_s, double poll_s)
{
    shmring_legacy m;
    int rc = open_polled(path, poll_s, &m);
    int forever = timeout_s < 0;
    double deadline = shmring_monotonic_s() + timeout_s;
    while (rc == SHMRING_OK) {
        if (!wait_length(&m, 1, deadline, forever, poll_s)) {
            rc = shmring_fail(SHMRING_ETIMEDOUT, "no message arrived on %s within %g s", path, timeout_s);
            break;
        }
        rc = shmring_locker_acquire(m.locker, LEG_LOCK_TIMEOUT_S); /* one shmring answerer per message */
        if (rc)
            break;
        int answered = reply_locked(&m, request, cap);
        shmring_locker_release(m.locker);
        if (answered) {
            leg_data_announce(m.locker);
            break;
        }
    }
    close_message(&m);
    return rc;
}
