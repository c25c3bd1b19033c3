/* Shared basics: invariant failures, error text, clock, random bytes. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "radsecgw/common.h"

void rg_require_failed(const char *expr, const char *file, int line)
{
    fprintf(stderr, "radsecgw: invariant broken at %s:%d: %s\n", file, line, expr);
    abort();
}

const char *rg_strerror(int err)
{
    if (err >= 0)
        return "success";
    /* libuv's codes are negated errno values on Unix, so uv_strerror covers both. */
    return uv_strerror(err);
}

uint64_t rg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One RNG per thread: WC_RNG is not thread safe and workers share nothing. */
static __thread WC_RNG *thread_rng;

void rg_random_bytes(uint8_t *out, size_t len)
{
    if (!thread_rng) {
        thread_rng = calloc(1, sizeof(*thread_rng));
        RG_REQUIRE(thread_rng != NULL);
        RG_REQUIRE(wc_InitRng(thread_rng) == 0);
    }
    RG_REQUIRE(wc_RNG_GenerateBlock(thread_rng, out, (word32)len) == 0);
}

int rg_memcmp_ct(const void *a, const void *b, size_t len)
{
    const uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff;
}

void rg_thread_cleanup(void)
{
    if (thread_rng) {
        wc_FreeRng(thread_rng);
        free(thread_rng);
        thread_rng = NULL;
    }
#ifdef FP_ECC
    /* FP_ECC (Debian's build) keeps a fixed-point cache per thread; only this thread can
     * free its own. The tailored build has no such cache (SP math). */
    wc_ecc_fp_free();
#endif
}

bool rg_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}
