/* Runs every C test in a private ring directory; the last line is "N passed, N failed". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

int test_failed;
char test_dir[256];

#define TESTS(X)                                                                          \
    X(test_create_open_close) X(test_create_refuses_taken_name) X(test_open_missing)      \
    X(test_bad_names_and_config) X(test_layout_bytes) X(test_refuses_foreign_files)       \
    X(test_put_get_roundtrip) X(test_bytes_frame_defaults) X(test_frame_checks)           \
    X(test_overwrite_counts_lost) X(test_latest_skips) X(test_small_buffer_leaves_frame)  \
    X(test_reserve_commit) X(test_abandon_publishes_nothing) X(test_view_pins_under_block) \
    X(test_view_valid_under_overwrite) X(test_drop_policy) X(test_block_timeout)          \
    X(test_block_reaps_dead_reader) X(test_queue_readers_share) X(test_writer_exclusive)  \
    X(test_shared_writers) X(test_wait_wakes_across_processes) X(test_get_timeout)        \
    X(test_recreated_ring_breaks_wait) X(test_reader_table_full) X(test_meta_builder)     \
    X(test_meta_builder_limits) X(test_strerror_names_every_code) X(test_protocol_steps_on_a_plain_buffer) \
    X(test_queue_frame_refused_by_the_copy_step_stays_queued) \
    X(test_permission_refused)                                                            \
    X(test_keywords_area_and_slots_after_it) X(test_keywords_pages_round_up) X(test_ring_without_keywords_is_as_before) \
    X(test_bad_keywords_refused) X(test_open_refuses_bad_keywords_len) X(test_meta_card_form) \
    X(test_meta_switches_form_when_needed) X(test_meta_card_limits) X(test_legacy_bytes)      \
    X(test_legacy_fifo_drop_and_gaps)                                                     \
    X(test_legacy_small_buffer_leaves_it_queued) X(test_legacy_refuses_bad_headers)       \
    X(test_legacy_corrupted_after_open) X(test_legacy_follows_recreated_file)             \
    X(test_locker_name_matches_python) X(test_locker_excludes_and_dies_with_holder)       \
    X(test_legacy_send_answer) X(test_get_with_write_seq_past_2_to_63)                     \
    X(test_frames_of_changing_dtypes_read_as_written) X(test_writer_checks_every_new_shape) \
    X(test_corrupt_frame_of_a_known_dtype_is_refused) X(test_lapped_reader_loses_only_the_overwritten_frames) \
    X(test_slot_dtype_that_is_no_numpy_dtype_is_a_corrupt_slot) X(test_schema_size_is_the_product_of_every_dim) \
    X(test_learned_spin_halves_to_none_and_probes_the_maximum)                            \
    X(test_learned_spin_that_shares_its_core_turns_spinning_off)                             \
    X(test_a_spin_beside_a_busy_process_on_its_core_says_the_core_is_shared)                 \
    X(test_idle_reader_with_the_learned_spin_sleeps)

#define DECLARE(name) void name(void);
TESTS(DECLARE)

struct test { const char *name; void (*fn)(void); };
#define ENTRY(name) {#name, name},
static const struct test tests[] = {TESTS(ENTRY)};

int main(int argc, char **argv)
{
    snprintf(test_dir, sizeof(test_dir), "/dev/shm/shmring-ctest-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp under /dev/shm");
        return 2;
    }
    setenv("SHMRING_DIR", test_dir, 1);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        test_failed = 0;
        tests[i].fn();
        printf("%s %s\n", test_failed ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (test_failed)
            failed++;
        else
            passed++;
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", test_dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
