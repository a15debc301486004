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

TEST(test_meta_card_form)
{
    char buf[400];
    shmring_meta m;
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_double(&m, "EXPTIME", 2.5));
    CHECK_OK(shmring_meta_str(&m, "OBJECT", "M \"31\""));
    CHECK(buf[0] == '{', "plain cards stay an object: %.*s", (int)m.len, buf);
    CHECK_OK(shmring_meta_comment(&m, "exposure? no: object"));
    CHECK_OK(shmring_meta_double(&m, "ESO DET DIT", 0.001));
    CHECK_OK(shmring_meta_null(&m, "UNDEF"));
    CHECK_OK(shmring_meta_comment(&m, "no value yet"));
    CHECK_OK(shmring_meta_commentary(&m, "COMMENT", "taken on the 1 m telescope"));
    CHECK_OK(shmring_meta_commentary(&m, "HISTORY", "dark subtracted"));
    CHECK_OK(shmring_meta_str(&m, "HISTORY", "flat fielded"));
    CHECK_OK(shmring_meta_commentary(&m, "", "a blank card"));
    const char *want = "[[\"EXPTIME\",2.5,\"\"],[\"OBJECT\",\"M \\\"31\\\"\",\"exposure? no: object\"],"
                       "[\"ESO DET DIT\",0.001,\"\"],[\"UNDEF\",null,\"no value yet\"],"
                       "[\"COMMENT\",\"taken on the 1 m telescope\",\"\"],[\"HISTORY\",\"dark subtracted\",\"\"],"
                       "[\"HISTORY\",\"flat fielded\",\"\"],[\"\",\"a blank card\",\"\"]]";
    CHECK(m.len == strlen(want) && memcmp(buf, want, m.len) == 0, "got %.*s", (int)m.len, buf);
}

TEST(test_meta_switches_form_when_needed)
{
    char buf[200];
    shmring_meta m;
    shmring_meta_init(&m, buf, sizeof(buf)); /* a keyword twice */
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_str(&m, "B", "x,\"y\":2"));
    CHECK_OK(shmring_meta_int(&m, "A", 3));
    const char *want = "[[\"A\",1,\"\"],[\"B\",\"x,\\\"y\\\":2\",\"\"],[\"A\",3,\"\"]]";
    CHECK(m.len == strlen(want) && memcmp(buf, want, m.len) == 0, "got %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf)); /* a commentary card first */
    CHECK_OK(shmring_meta_commentary(&m, "COMMENT", "first"));
    CHECK_OK(shmring_meta_bool(&m, "OK", 0));
    want = "[[\"COMMENT\",\"first\",\"\"],[\"OK\",false,\"\"]]";
    CHECK(m.len == strlen(want) && memcmp(buf, want, m.len) == 0, "got %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf)); /* an empty comment keeps the object form */
    CHECK_OK(shmring_meta_null(&m, "U"));
    CHECK_OK(shmring_meta_comment(&m, ""));
    CHECK_OK(shmring_meta_int(&m, "a", 1)); /* case kept: "a" is not "A" nor "U" */
    want = "{\"U\":null,\"a\":1}";
    CHECK(m.len == strlen(want) && memcmp(buf, want, m.len) == 0, "got %.*s", (int)m.len, buf);
}

TEST(test_meta_card_limits)
{
    char buf[32];
    shmring_meta m;
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_int(&m, "B", 2));
    CHECK_OK(shmring_meta_int(&m, "C", 3)); /* {"A":1,"B":2,"C":3} is 19 bytes; as cards 34 */
    CHECK_RC(shmring_meta_comment(&m, "c"), SHMRING_ETOOLARGE);
    CHECK(m.len == 19 && memcmp(buf, "{\"A\":1,\"B\":2,\"C\":3}", 19) == 0, "the object stays whole: %.*s",
          (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_comment(&m, "x"));
    CHECK_RC(shmring_meta_comment(&m, "a comment far too long to fit"), SHMRING_EINVAL); /* it has one */
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_comment(&m, ""));
    CHECK_RC(shmring_meta_comment(&m, "a comment far too long to fit"), SHMRING_ETOOLARGE);
    CHECK(m.len == 7 && memcmp(buf, "{\"A\":1}", 7) == 0, "the text stays as it was: %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_comment(&m, "\"0123456789012345\"")); /* 20 bytes escaped: [["A",1,"..."]] is 32 */
    CHECK(m.len == 32 && buf[0] == '[', "a comment that just fits: %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_int(&m, "B", 2)); /* {"A":1,"B":2} */
    CHECK_RC(shmring_meta_int(&m, "A", 3), SHMRING_ETOOLARGE); /* as cards, with the third: 34 bytes */
    CHECK(m.len == 13 && buf[0] == '{', "the object stays as it was: %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, 24); /* exactly the size of the two cards */
    CHECK_OK(shmring_meta_int(&m, "A", 1));
    CHECK_OK(shmring_meta_int(&m, "A", 22)); /* [["A",1,""],["A",22,""]] is 24 bytes: fits */
    CHECK(m.len == 24 && buf[0] == '[', "a repeated keyword that fits: %.*s", (int)m.len, buf);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_RC(shmring_meta_comment(&m, "nothing to comment"), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "keyword card added just before"), "says why: %s", shmring_errmsg());
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_OK(shmring_meta_commentary(&m, "HISTORY", "h"));
    CHECK_RC(shmring_meta_comment(&m, "commentary cards have none"), SHMRING_EINVAL);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_RC(shmring_meta_int(&m, "COMMENT", 1), SHMRING_EINVAL);
    shmring_meta_init(&m, buf, sizeof(buf));
    CHECK_RC(shmring_meta_commentary(&m, "NOTE", "x"), SHMRING_EINVAL);
    CHECK(strstr(shmring_errmsg(), "'NOTE'"), "names the keyword: %s", shmring_errmsg());
}
