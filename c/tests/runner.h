/* A small test runner: TEST(name) { ... CHECK(cond, "fmt", ...); ... }, listed in test_main.c. */
#ifndef SHMRING_TEST_RUNNER_H
#define SHMRING_TEST_RUNNER_H

#include <stdio.h>

#include "shmring.h"

extern int test_failed;   /* set by CHECK in the running test */
extern char test_dir[];   /* the private $SHMRING_DIR of this run */

#define TEST(name) void name(void)

/* Fail the running test with a message saying what was expected, and leave it. */
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            test_failed = 1;                                                    \
            return;                                                             \
        }                                                                       \
    } while (0)

/* A call that must succeed; the message is the library's own. */
#define CHECK_OK(call)                                                          \
    do {                                                                        \
        int rc_ = (call);                                                       \
        CHECK(rc_ == SHMRING_OK, "%s -> %d (%s): %s", #call, rc_, shmring_strerror(rc_), shmring_errmsg()); \
    } while (0)

#define CHECK_RC(call, want)                                                    \
    do {                                                                        \
        int rc_ = (call);                                                       \
        CHECK(rc_ == (want), "%s -> %d (%s), expected %d (%s): %s", #call, rc_, shmring_strerror(rc_), \
              (want), shmring_strerror(want), shmring_errmsg());                \
    } while (0)

#endif
