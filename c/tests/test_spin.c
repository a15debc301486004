/* The learned spin of a C reader: the policy's steps, and an idle reader that costs no CPU. */
#include "internal.h" /* first: its feature macros */

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"

TEST(test_learned_spin_halves_to_none_and_probes_the_maximum)
{
    shmring_learned_spin s;
    shmring_spin_init(&s);
    double most = s.budget;
    CHECK(most == 50e-6, "starts at the 50 us maximum, got %g", most);
    for (int i = 0; i < 6; i++) /* spins that run out: 25, 12.5, 6.25, 3.1, 1.6 us, then none */
        shmring_spin_learn(&s, shmring_spin_seconds(&s), 0, 0);
    CHECK(s.budget == 0, "an idle reader's budget reaches none, got %g", s.budget);
    int probes = 0;
    for (int i = 0; i < 32; i++)
        probes += shmring_spin_seconds(&s) == most;
    CHECK(probes == 2, "one wait in 16 spins the maximum again, got %d in 32", probes);
    shmring_spin_learn(&s, most, 1, 0);
    CHECK(s.budget == most, "a probe that catches the frame restores the budget, got %g", s.budget);
}

TEST(test_learned_spin_that_shares_its_core_turns_spinning_off)
{
    shmring_learned_spin s;
    shmring_spin_init(&s);
    shmring_spin_learn(&s, 50e-6, 1, 1); /* caught, but a yield ran another process first */
    CHECK(s.budget == 50e-6, "one such spin may be the host pausing the CPU: budget %g", s.budget);
    shmring_spin_learn(&s, 50e-6, 1, 0);
    shmring_spin_learn(&s, 50e-6, 1, 1);
    CHECK(s.budget == 50e-6, "a spin on a free core in between starts the count again: budget %g", s.budget);
    shmring_spin_learn(&s, 50e-6, 1, 1); /* the second in a row */
    CHECK(s.budget == 0 && s.probe_every == 32, "spinning off, probes twice as rare: budget %g, every %u",
          s.budget, s.probe_every);
    shmring_spin_learn(&s, 50e-6, 1, 0); /* a probe on a free core brings it back */
    CHECK(s.budget == 50e-6 && s.probe_every == 16, "spinning back on: budget %g, every %u", s.budget,
          s.probe_every);
}

/* A busy process pinned to our CPU: the spin's yields run it, and the spin says so. */
TEST(test_a_spin_beside_a_busy_process_on_its_core_says_the_core_is_shared)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "pin to one CPU");
    pid_t hog = fork();
    if (hog == 0) { /* inherits the pin */
        for (;;)
            __asm__ volatile("" ::: "memory");
    }
    CHECK(hog > 0, "fork");
    uint64_t word[8] = {0};
    int shared = 0, caught = shm_spin((char *)word, 0, 0, 20e-3, &shared);
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; c++)
        CPU_SET(c, &all);
    sched_setaffinity(0, sizeof(all), &all);
    CHECK(!caught && shared, "nothing written, and a yield ran the busy process: caught %d shared %d", caught,
          shared);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

TEST(test_idle_reader_with_the_learned_spin_sleeps)
{
    const char *name = unique_name(); /* kept while it waits: a removed name would end the wait */
    shmring_config cfg = {4, 64, 0, SHMRING_OVERWRITE, 0};
    shmring_ring *ring;
    shmring_reader *rd;
    CHECK_OK(shmring_create(name, &cfg, &ring));
    CHECK_OK(shmring_reader_open(ring, NULL, 0, &rd));
    uint16_t v;
    shmring_frame_info out;
    double wall0 = shmring_monotonic_s(), cpu0 = cpu_s();
    for (int i = 0; i < 20; i++) /* 20 waits of 25 ms with nothing written */
        CHECK_RC(shmring_get(rd, &v, sizeof(v), &out, 0.025), SHMRING_ETIMEDOUT);
    double wall = shmring_monotonic_s() - wall0, cpu = cpu_s() - cpu0;
    CHECK(cpu < 0.1 * wall, "an idle reader used %.3f s of CPU in %.3f s", cpu, wall);
    shmring_reader_close(rd);
    shmring_close(ring);
    shmring_unlink(name);
}
