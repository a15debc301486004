/* A builder for frame metadata: FITS-like key=value pairs as one JSON object. */
#include "internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_KEY 64

void shmring_meta_init(shmring_meta *m, char *buf, uint32_t cap)
{
    m->buf = buf;
    m->cap = cap;
    m->len = 0;
    m->err = SHMRING_OK;
}

/* Append n bytes at *pos, or fail (the object is left as it was). */
static int put(shmring_meta *m, uint32_t *pos, const char *s, size_t n)
{
    if (n > m->cap || *pos > m->cap - n)
        return 0;
    memcpy(m->buf + *pos, s, n);
    *pos += (uint32_t)n;
    return 1;
}

static int put_string(shmring_meta *m, uint32_t *pos, const char *s)
{
    int ok = put(m, pos, "\"", 1);
    for (; ok && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            ok = put(m, pos, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            ok = put(m, pos, esc, 6);
        } else {
            ok = put(m, pos, (const char *)&c, 1); /* UTF-8 bytes pass through */
        }
    }
    return ok && put(m, pos, "\"", 1);
}

static int valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n < 1 || n > MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e || key[i] == '"' || key[i] == '\\')
            return 0;
    return 1;
}

/* Replace the closing '}' with ',"key":<value>}' (or open the object). */
static int add(shmring_meta *m, const char *key, const char *value, int quoted)
{
    if (m->err != SHMRING_OK)
        return m->err;
    if (!valid_key(key)) {
        m->err = shmring_fail(SHMRING_EINVAL, "metadata key must be 1..%d printable ASCII characters without '\"' "
                              "or '\\'", MAX_KEY);
        return m->err;
    }
    uint32_t pos = m->len ? m->len - 1 : 0; /* over the closing brace */
    int ok = put(m, &pos, m->len ? "," : "{", 1) && put_string(m, &pos, key) && put(m, &pos, ":", 1) &&
             (quoted ? put_string(m, &pos, value) : put(m, &pos, value, strlen(value))) && put(m, &pos, "}", 1);
    if (!ok) {
        if (m->len) /* restore the object as it was */
            m->buf[m->len - 1] = '}';
        m->err = shmring_fail(SHMRING_ETOOLARGE, "metadata does not fit its %" PRIu32 "-byte buffer at key '%s'",
                              m->cap, key);
        return m->err;
    }
    m->len = pos;
    return SHMRING_OK;
}

int shmring_meta_int(shmring_meta *m, const char *key, int64_t value)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, value);
    return add(m, key, text, 0);
}

int shmring_meta_double(shmring_meta *m, const char *key, double value)
{
    if (!isfinite(value)) {
        if (m->err == SHMRING_OK)
            m->err = shmring_fail(SHMRING_EINVAL, "metadata value of '%s' must be finite (JSON has no NaN or "
                                  "infinity)", key ? key : "");
        return m->err;
    }
    char text[40];
    snprintf(text, sizeof(text), "%.17g", value);
    if (!strpbrk(text, ".eE")) /* keep it a float for readers that tell 1 from 1.0 (Python does) */
        strcat(text, ".0");
    return add(m, key, text, 0);
}

int shmring_meta_bool(shmring_meta *m, const char *key, int value)
{
    return add(m, key, value ? "true" : "false", 0);
}

int shmring_meta_str(shmring_meta *m, const char *key, const char *value)
{
    return add(m, key, value ? value : "", 1);
}
