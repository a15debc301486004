/*
 * A builder for metadata (docs/format.md, "Metadata"): FITS-like cards as one
 * JSON text. It writes the object form {"KEY":value,...} while every card is a
 * plain keyword = value, and switches to the card form [["KEY",value,"comment"],...]
 * the moment a card needs it: a comment, a COMMENT/HISTORY/blank commentary
 * card, or a keyword given twice, exactly as Python's writer chooses.
 */
#include "internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 64

/* m->state bits (private to this file) */
#define CARD_FORM 1u    /* the text is an array of cards */
#define LAST_PLAIN 2u   /* the last card is a keyword card without a comment: it may get one */

void shmring_meta_init(shmring_meta *m, char *buf, uint32_t cap)
{
    m->buf = buf;
    m->cap = cap;
    m->len = 0;
    m->err = SHMRING_OK;
    m->state = 0;
}

/* Record the first error (sticky). text holds one %s for key, optionally then one PRIu32 for the capacity. */
static int fail(shmring_meta *m, int code, const char *text, const char *key)
{
    if (m->err == SHMRING_OK)
        m->err = shmring_fail(code, text, key, m->cap);
    return m->err;
}

/* Append n bytes at *pos, or fail (the caller restores what it overwrote). */
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

static int is_commentary(const char *key)
{
    return !strcmp(key, "COMMENT") || !strcmp(key, "HISTORY") || !*key;
}

/* ---- reading back the object form this builder wrote ---------------------- */

/* End of the value starting at p: a string this builder escaped, or a bare number or literal. */
static uint32_t value_end(const char *t, uint32_t p, uint32_t end)
{
    if (t[p] != '"') {
        while (p < end && t[p] != ',')
            p++;
        return p;
    }
    for (p++; p < end && t[p] != '"'; p++)
        if (t[p] == '\\')
            p++;
    return p + 1;
}

/* Walk the entries "key":value of the object text t[0..len): key at [*k0, *k1) (quotes
 * included), value at [*v0, *v1). Keys hold no '"' or '\\' (valid_key), so a key ends
 * at the next quote. *p starts at 1; returns 0 after the last entry. */
static int next_entry(const char *t, uint32_t len, uint32_t *p, uint32_t *k0, uint32_t *k1, uint32_t *v0,
                      uint32_t *v1)
{
    uint32_t end = len - 1; /* the closing brace */
    if (*p >= end)
        return 0;
    *k0 = *p;
    const char *close = memchr(t + *p + 1, '"', end - *p - 1);
    *k1 = (uint32_t)(close - t) + 1;
    *v0 = *k1 + 1; /* past the colon */
    *v1 = value_end(t, *v0, end);
    *p = *v1 < end ? *v1 + 1 : end; /* past the comma */
    return 1;
}

static int has_key(const shmring_meta *m, const char *key)
{
    size_t n = strlen(key);
    uint32_t p = 1, k0, k1, v0, v1;
    while (m->len && next_entry(m->buf, m->len, &p, &k0, &k1, &v0, &v1))
        if (k1 - k0 == n + 2 && !memcmp(m->buf + k0 + 1, key, n))
            return 1;
    return 0;
}

/* Length of the text in card form: the object form takes 5 bytes less a card. */
static uint64_t card_form_len(const shmring_meta *m)
{
    uint32_t p = 1, k0, k1, v0, v1, cards = 0;
    while (!(m->state & CARD_FORM) && m->len && next_entry(m->buf, m->len, &p, &k0, &k1, &v0, &v1))
        cards++;
    return (uint64_t)m->len + 5u * cards;
}

/* Bytes put_string writes for s, its quotes excluded. */
static uint64_t escaped_len(const char *s)
{
    uint64_t n = 0;
    for (; *s; s++)
        n += (*s == '"' || *s == '\\') ? 2 : ((unsigned char)*s < 0x20 ? 6 : 1);
    return n;
}

/* Rewrite {"A":1,"B":2} as [["A",1,""],["B",2,""]]. */
static int to_card_form(shmring_meta *m, const char *key)
{
    uint32_t p, k0, k1, v0, v1;
    if (card_form_len(m) > m->cap)
        return fail(m, SHMRING_ETOOLARGE, "metadata needs the card form at key '%s' and does not fit its %" PRIu32
                    "-byte buffer so", key);
    char *old = m->len ? malloc(m->len) : NULL;
    if (m->len && !old)
        return fail(m, SHMRING_ENOMEM, "out of memory converting metadata to card form at key '%s'", key);
    if (old) {
        memcpy(old, m->buf, m->len);
        uint32_t out = 0;
        m->buf[out++] = '[';
        for (p = 1; next_entry(old, m->len, &p, &k0, &k1, &v0, &v1);) {
            if (out > 1)
                m->buf[out++] = ',';
            m->buf[out++] = '[';
            put(m, &out, old + k0, k1 - k0);
            put(m, &out, ",", 1);
            put(m, &out, old + v0, v1 - v0);
            put(m, &out, ",\"\"]", 4);
        }
        m->buf[out++] = ']';
        m->len = out;
        free(old);
    }
    m->state |= CARD_FORM;
    return SHMRING_OK;
}

/* ---- adding cards ------------------------------------------------------ */

/* Append one card; value is JSON text already, or a string to quote. */
static int add_card(shmring_meta *m, const char *key, const char *value, int quoted, int commentary)
{
    if (m->err != SHMRING_OK)
        return m->err;
    if (!(m->state & CARD_FORM) && (commentary || has_key(m, key))) {
        /* The card after the switch must fit too, or the text stays as it was, object form included. */
        uint64_t form = card_form_len(m);
        uint64_t card = 9 + escaped_len(key) + (quoted ? 2 + escaped_len(value) : strlen(value));
        if ((form ? form : 1) + card > m->cap)
            return fail(m, SHMRING_ETOOLARGE, "metadata at key '%s' does not fit its %" PRIu32 "-byte buffer", key);
        if (to_card_form(m, key) != SHMRING_OK)
            return m->err;
    }
    int cards = (m->state & CARD_FORM) != 0;
    uint32_t pos = m->len ? m->len - 1 : 0; /* over the closing brace or bracket */
    int ok = put(m, &pos, m->len ? "," : (cards ? "[" : "{"), 1) && (!cards || put(m, &pos, "[", 1)) &&
             put_string(m, &pos, key) && put(m, &pos, cards ? "," : ":", 1) &&
             (quoted ? put_string(m, &pos, value) : put(m, &pos, value, strlen(value))) &&
             (!cards || put(m, &pos, ",\"\"]", 4)) && put(m, &pos, cards ? "]" : "}", 1);
    if (!ok) {
        if (m->len) /* restore the text as it was */
            m->buf[m->len - 1] = cards ? ']' : '}';
        return fail(m, SHMRING_ETOOLARGE, "metadata at key '%s' does not fit its %" PRIu32 "-byte buffer", key);
    }
    m->len = pos;
    m->state = (m->state & CARD_FORM) | (commentary ? 0 : LAST_PLAIN);
    return SHMRING_OK;
}

static int add(shmring_meta *m, const char *key, const char *value, int quoted)
{
    if (m->err != SHMRING_OK)
        return m->err;
    if (!valid_key(key))
        return fail(m, SHMRING_EINVAL, "metadata key must be 1..64 printable ASCII characters without '\"' or "
                    "'\\', got '%.80s'", key ? key : "(null)");
    if (is_commentary(key) && !quoted)
        return fail(m, SHMRING_EINVAL, "'%s' cards hold text: add them with shmring_meta_commentary", key);
    return add_card(m, key, value, quoted, is_commentary(key));
}

int shmring_meta_int(shmring_meta *m, const char *key, int64_t value)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, value);
    return add(m, key, text, 0);
}

int shmring_meta_double(shmring_meta *m, const char *key, double value)
{
    if (!isfinite(value))
        return fail(m, SHMRING_EINVAL, "metadata value of '%s' must be finite (JSON has no NaN or infinity)",
                    key ? key : "");
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

int shmring_meta_null(shmring_meta *m, const char *key)
{
    return add(m, key, "null", 0);
}

int shmring_meta_commentary(shmring_meta *m, const char *keyword, const char *text)
{
    if (m->err != SHMRING_OK)
        return m->err;
    if (!keyword || !is_commentary(keyword))
        return fail(m, SHMRING_EINVAL, "commentary cards are \"COMMENT\", \"HISTORY\" or \"\" (blank), got '%.80s'",
                    keyword ? keyword : "(null)");
    return add_card(m, keyword, text ? text : "", 1, 1);
}

int shmring_meta_comment(shmring_meta *m, const char *comment)
{
    if (m->err != SHMRING_OK)
        return m->err;
    if (!(m->state & LAST_PLAIN))
        return fail(m, SHMRING_EINVAL, "a comment belongs to the keyword card added just before it, and there is "
                    "none%s (no card yet, a commentary card, or one that has its comment)", "");
    if (!comment || !*comment)
        return SHMRING_OK;
    /* Checked before anything changes, so a comment that does not fit leaves the text as it was. */
    if (card_form_len(m) + escaped_len(comment) > m->cap)
        return fail(m, SHMRING_ETOOLARGE, "metadata at the comment of %s does not fit its %" PRIu32 "-byte buffer",
                    "the last card");
    if (!(m->state & CARD_FORM) && to_card_form(m, "the last card") != SHMRING_OK)
        return m->err;
    /* The text ends with the last card's empty comment: ...,""]] */
    uint32_t pos = m->len - 4;
    put_string(m, &pos, comment); /* fits: checked above */
    put(m, &pos, "]]", 2);
    m->len = pos;
    m->state &= ~LAST_PLAIN;
    return SHMRING_OK;
}
