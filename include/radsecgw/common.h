/* Shared basics: error codes, invariant checks, small helpers used by every module.
 * Knows nothing of RADIUS, TLS or sockets. */
#ifndef RADSECGW_COMMON_H
#define RADSECGW_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>

/* Broken invariant (never input validation): abort with file:line. */
#define RG_REQUIRE(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rg_require_failed(#cond, __FILE__, __LINE__);                                          \
    } while (0)

void rg_require_failed(const char *expr, const char *file, int line) __attribute__((noreturn));

#define RG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A shared secret (RadSec, backend, CoA client, cluster), passed by value like h2o's
 * h2o_iovec_t instead of a pointer and a length in every signature. data is not owned: it
 * points into the config snapshot (or a copy) that outlives the call. */
typedef struct {
    const char *data;
    size_t len;
} rg_secret;

/* The secret of a struct with secret / secret_len fields (the config's servers, orgs). */
#define RG_SECRET_OF(p) ((rg_secret){.data = (p)->secret, .len = (p)->secret_len})

/* The secret of a NUL-terminated string (command-line options, test constants). */
static inline rg_secret rg_secret_str(const char *s)
{
    return (rg_secret){.data = s, .len = strlen(s)};
}

/* The secret of a string literal, its length known at compile time. */
#define RG_SECRET_LIT(s) ((rg_secret){.data = "" s, .len = sizeof(s) - 1})

/* Functions that can fail return 0 or a negative errno-style code (UV_E* pass through). */
const char *rg_strerror(int err);

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t rg_now_ms(void);

/* Cryptographically strong random bytes (wolfCrypt RNG); aborts if the RNG fails. */
void rg_random_bytes(uint8_t *out, size_t len);

/* Free what a thread accumulated in thread-local storage (RNG, wolfSSL ECC cache); call
 * as the last thing a worker thread does, and in main before exit. */
void rg_thread_cleanup(void);

struct sockaddr;
/* Same family, address and port (IPv4 or IPv6); other fields are ignored. */
bool rg_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* Room for the longest rg_sockaddr_format text: "[" IPv6 "]:" port and the NUL. */
#define RG_SOCKADDR_TEXT 56

/* Address as log lines and -t print it: "192.0.2.1:1812", "[2001:db8::1]:1812" (a v4-mapped
 * IPv6 address stays "[::ffff:192.0.2.1]:1812"); without the port "192.0.2.1",
 * "2001:db8::1". "?" for any other family. Returns buf. */
const char *rg_sockaddr_format(const struct sockaddr *sa, bool with_port, char *buf, size_t len);

/* Constant-time comparison: 0 when equal. */
int rg_memcmp_ct(const void *a, const void *b, size_t len);

#endif
