/* Copying a payload into its slot: docs/format.md, write step 4 (plain C; see protocol.h).
 *
 * A ring's slots together are usually larger than the last-level cache, so the slot
 * a writer fills is not in the cache: a plain memcpy first reads every line of it
 * (read-for-ownership), then writes it. Non-temporal ("streaming") stores write
 * around the cache and skip that read, at the price of the frame not being in the
 * cache for its reader. Measured on a 2-vCPU AMD EPYC VM (32 MiB L3), two processes,
 * 8 slots in /dev/shm, GB/s delivered with memcpy -> with streaming stores, for a
 * reader taking zero-copy views / a reader copying each frame out:
 *
 *     1 MiB   43.3 -> 26.4 / 39.7 -> 18.3    (the frame fits the cache: memcpy wins)
 *     2 MiB   44.4 -> 29.9 / 13.1 -> 24.5
 *     4 MiB   33.5 -> 37.4 / 15.2 -> 18.1
 *     8 MiB   23.6 -> 30.7 / 13.6 -> 13.6
 *    32 MiB   15.4 -> 24.1 /  8.3 ->  9.7
 *
 * so payloads of an eighth of the last-level cache or more are streamed.
 * glibc's memcpy streams too past a threshold derived from CPUID, but a virtual
 * machine's CPUID may describe the host's whole cache (384 MiB on that VM, where
 * sysfs says 32 MiB), so glibc never streams there: the size comes from sysfs first. */
#include "protocol.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define SHM_CAN_STREAM 1
#endif

#define FALLBACK_STREAM_BYTES ((size_t)4 << 20) /* no cache size known: an eighth of a common L3 */
#define MIN_STREAM_BYTES ((size_t)1 << 20)       /* smaller copies are cache-sized on any CPU */

static size_t stream_from; /* frames of at least this many bytes are streamed; 0: not decided yet */

/* The L3 size cpu0's sysfs entry reports (bytes), or 0. */
static size_t
sysfs_l3_bytes(void)
{
    char level[8] = "";
    size_t kib = 0;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/level", "r");
    if (!f)
        return 0;
    int ok = fgets(level, sizeof level, f) != NULL && level[0] == '3';
    fclose(f);
    if (!ok || !(f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r")))
        return 0;
    ok = fscanf(f, "%zuK", &kib) == 1;
    fclose(f);
    return ok ? kib << 10 : 0;
}

static size_t
decide_stream_bytes(void)
{
    const char *env = getenv("SHMRING_STREAM_BYTES"); /* docs/c.md, "Environment" */
    if (env && *env) {
        char *end;
        unsigned long long n = strtoull(env, &end, 10);
        if (*end == '\0')
            return n ? (size_t)n : SIZE_MAX; /* 0: never stream */
    }
    size_t l3 = sysfs_l3_bytes();
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (!l3) {
        long conf = sysconf(_SC_LEVEL3_CACHE_SIZE);
        l3 = conf > 0 ? (size_t)conf : 0;
    }
#endif
    size_t eighth = l3 ? l3 / 8 : FALLBACK_STREAM_BYTES;
    return eighth > MIN_STREAM_BYTES ? eighth : MIN_STREAM_BYTES;
}

size_t
shm_stream_bytes(void)
{
    /* Decided once per process; two threads deciding at once reach the same value. */
    size_t t = __atomic_load_n(&stream_from, __ATOMIC_RELAXED);
    if (!t) {
        t = decide_stream_bytes();
        __atomic_store_n(&stream_from, t, __ATOMIC_RELAXED);
    }
    return t;
}

#ifdef SHM_CAN_STREAM
static void
stream_copy(char *d, const char *s, size_t n)
{
    size_t head = (16 - ((uintptr_t)d & 15)) & 15; /* slots are 64-byte aligned: 0 for a payload */
    memcpy(d, s, head);
    d += head, s += head, n -= head;
    size_t body = n & ~(size_t)63;
    for (size_t i = 0; i < body; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
        _mm_stream_si128((__m128i *)(d + i), a);
        _mm_stream_si128((__m128i *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    memcpy(d + body, s + body, n - body);
    /* Streaming stores are weakly ordered, even on x86: without this fence the commit's
     * release store (write step 5) could become visible before the payload does. */
    _mm_sfence();
}
#endif

void
shm_copy_payload(void *dst, const void *src, size_t n)
{
#ifdef SHM_CAN_STREAM
    if (n >= shm_stream_bytes()) {
        stream_copy(dst, src, n);
        return;
    }
#endif
    memcpy(dst, src, n);
}
