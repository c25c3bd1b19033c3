/* Shared basics: invariant failures, error text, clock, random bytes, address comparison
 * and address-to-text. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <arpa/inet.h>
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

/* One RNG per thread: WC_RNG is not thread safe and workers share nothing. Small requests
 * (Request Authenticators, salts, jitter: 1 to 16 octets, several per request) are served
 * from a pool refilled by one wc_RNG_GenerateBlock call: each Hash-DRBG call costs a few
 * SHA-256 compressions whatever its size, so one 512-octet call is cheaper than a dozen
 * small ones (issue 14). Bytes handed out are wiped from the pool. */
#define RNG_POOL       512
#define RNG_POOL_LARGE (RNG_POOL / 4) /* larger requests go to the DRBG directly */

struct thread_rng {
    WC_RNG rng;
    uint8_t pool[RNG_POOL];
    size_t left; /* unused octets at the end of pool */
};

static __thread struct thread_rng *thread_rng;
static pthread_once_t rng_atfork_once = PTHREAD_ONCE_INIT;

/* A forked child must not repeat what its parent hands out: it starts a new DRBG (seeded
 * from the OS) and drops the inherited pool. Runs in the forking thread, the only thread of
 * the child. */
static void rng_after_fork_child(void)
{
    if (!thread_rng)
        return;
    wc_FreeRng(&thread_rng->rng);
    explicit_bzero(thread_rng, sizeof(*thread_rng));
    free(thread_rng);
    thread_rng = NULL;
}

static void rng_atfork_register(void)
{
    pthread_atfork(NULL, NULL, rng_after_fork_child);
}

void rg_random_bytes(uint8_t *out, size_t len)
{
    struct thread_rng *t = thread_rng;
    if (!t) {
        pthread_once(&rng_atfork_once, rng_atfork_register);
        t = calloc(1, sizeof(*t));
        RG_REQUIRE(t != NULL);
        RG_REQUIRE(wc_InitRng(&t->rng) == 0);
        thread_rng = t;
    }
    if (len > RNG_POOL_LARGE) {
        RG_REQUIRE(wc_RNG_GenerateBlock(&t->rng, out, (word32)len) == 0);
        return;
    }
    if (len > t->left) {
        RG_REQUIRE(wc_RNG_GenerateBlock(&t->rng, t->pool, RNG_POOL) == 0);
        t->left = RNG_POOL;
    }
    uint8_t *from = t->pool + RNG_POOL - t->left;
    memcpy(out, from, len);
    explicit_bzero(from, len);
    t->left -= len;
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
        wc_FreeRng(&thread_rng->rng);
        explicit_bzero(thread_rng, sizeof(*thread_rng));
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

const char *rg_sockaddr_format(const struct sockaddr *sa, bool with_port, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    const char *fmt;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
        port = ntohs(s->sin_port);
        fmt = with_port ? "%s:%u" : "%s";
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
        port = ntohs(s->sin6_port);
        fmt = with_port ? "[%s]:%u" : "%s";
    } else {
        snprintf(buf, len, "?");
        return buf;
    }
    snprintf(buf, len, fmt, host, port);
    return buf;
}
