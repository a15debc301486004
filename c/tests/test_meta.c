/* The metadata builder and error names. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "runner.h"

TEST(test_meta_builder)
{
    char buf[200];
    shmring_meta m;
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_double(&m, "EXPTIME", 0.25));
    CHECK_OK(shmring_meta_int(&m, "NAXIS", -2));
    CHECK_OK(shmring_meta_bool(&m, "SIMPLE", 1));
    CHECK_OK(shmring_meta_str(&m, "OBJECT", "M31 \"core\"\n"));
    CHECK_OK(shmring_meta_double(&m, "GAIN", 2.0));
    const char *want = "{\"EXPTIME\":0.25,\"NAXIS\":-2,\"SIMPLE\":true,\"OBJECT\":\"M31 \\\"core\\\"\\u000a\","
                       "\"GAIN\":2.0}";
    CHECK(m.len == strlen(want) && memcmp(buf, want, m.len) == 0, "got %.*s", (int)m.len, buf);
}

TEST(test_meta_builder_limits)
{
    char buf[24];
    shmring_meta m;
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_RC(shmring_meta_str(&m, "B", "far too long for this buffer"), SHMRING_ETOOLARGE);
    CHECK(m.len == 7 && memcmp(buf, "{\"A\":1}", 7) == 0, "the object stays whole: %.*s", (int)m.len, buf);
    CHECK_RC(shmring_meta_int(&m, "C", 2), SHMRING_ETOOLARGE); /* sticky */
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_RC(shmring_meta_int(&m, "bad\"key", 1), SHMRING_EINVAL);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_RC(shmring_meta_double(&m, "X", NAN), SHMRING_EINVAL);
}

TEST(test_strerror_names_every_code)
{
    for (int code = SHMRING_ECLOSED; code <= SHMRING_OK; code++)
        CHECK(strcmp(shmring_strerror(code), "unknown shmring error") != 0, "code %d has a name", code);
    CHECK(strcmp(shmring_strerror(-99), "unknown shmring error") == 0, "unknown codes say so");
}
