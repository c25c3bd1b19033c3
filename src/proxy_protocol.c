/* PROXY protocol v2 header: a parser bounded by RG_PP2_MAX_LEN, an incremental reader that
 * never consumes a byte past the header, the proxy-from check and the aggregate refusal line.
 * Written here because Debian ships no maintained C library for it (only Go and Haskell). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy_protocol.h"

/* proxy-protocol.txt §2.2: the 12-octet signature, which cannot start any TLS record or a
 * v1 text header. */
static const uint8_t signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define PP2_VERSION   0x20
#define PP2_CMD_LOCAL 0x0
#define PP2_CMD_PROXY 0x1
#define PP2_AF_INET   0x1
#define PP2_AF_INET6  0x2
#define PP2_STREAM    0x1

long rg_pp2_header_len(const uint8_t *buf, size_t len, const char **why)
{
    size_t cmp = len < sizeof(signature) ? len : sizeof(signature);
    if (memcmp(buf, signature, cmp) != 0) {
        *why = len >= 6 && memcmp(buf, "PROXY ", 6) == 0 ? "PROXY protocol v1 header (only v2)"
               : len && buf[0] == 0x16                   ? "no PROXY header (TLS record)"
                                                         : "no PROXY v2 signature";
        return -EINVAL;
    }
    if (len < RG_PP2_HDR_LEN)
        return 0;
    if ((buf[12] & 0xf0) != PP2_VERSION) {
        *why = "PROXY header version is not 2";
        return -EINVAL;
    }
    if ((buf[12] & 0x0f) > PP2_CMD_PROXY) {
        *why = "PROXY header command is neither LOCAL nor PROXY";
        return -EINVAL;
    }
    long total = RG_PP2_HDR_LEN + ((long)buf[14] << 8 | buf[15]);
    if (total > RG_PP2_MAX_LEN) {
        *why = "PROXY header longer than 1040 octets";
        return -EINVAL;
    }
    return total;
}

int rg_pp2_parse(const uint8_t *buf, size_t len, struct rg_pp2_header *out, const char **why)
{
    long total = rg_pp2_header_len(buf, len < RG_PP2_HDR_LEN ? len : RG_PP2_HDR_LEN, why);
    if (total <= 0 || (size_t)total != len) {
        if (total >= 0)
            *why = "PROXY header length does not match";
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->len = (size_t)total;
    if ((buf[12] & 0x0f) == PP2_CMD_LOCAL) {
        out->local = true;
        return 0;
    }
    const uint8_t *a = buf + RG_PP2_HDR_LEN;
    size_t alen = len - RG_PP2_HDR_LEN;
    uint8_t fam = buf[13] >> 4, proto = buf[13] & 0x0f;
    if (proto != PP2_STREAM) {
        *why = "PROXY header is not for a TCP connection";
        return -EINVAL;
    }
    if (fam == PP2_AF_INET) {
        if (alen < 12) {
            *why = "PROXY header too short for IPv4 addresses";
            return -EINVAL;
        }
        struct sockaddr_in *s = (void *)&out->src, *d = (void *)&out->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        return 0;
    }
    if (fam == PP2_AF_INET6) {
        if (alen < 36) {
            *why = "PROXY header too short for IPv6 addresses";
            return -EINVAL;
        }
        struct sockaddr_in6 *s = (void *)&out->src, *d = (void *)&out->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        return 0;
    }
    /* UNSPEC or AF_UNIX with PROXY: no client address to admit the connection by. */
    *why = "PROXY header carries no IPv4 or IPv6 client address";
    return -EINVAL;
}

void rg_pp2_reader_init(struct rg_pp2_reader *r)
{
    r->have = 0;
    r->need = RG_PP2_HDR_LEN;
}

void rg_pp2_reader_want(struct rg_pp2_reader *r, uint8_t **at, size_t *n)
{
    RG_REQUIRE(r->have < r->need);
    if (r->have < RG_PP2_KEEP_LEN) {
        size_t end = r->need < RG_PP2_KEEP_LEN ? r->need : RG_PP2_KEEP_LEN;
        *at = r->buf + r->have;
        *n = end - r->have;
    } else {
        size_t left = r->need - r->have;
        *at = r->skip;
        *n = left < sizeof(r->skip) ? left : sizeof(r->skip);
    }
}

int rg_pp2_reader_got(struct rg_pp2_reader *r, size_t n, struct rg_pp2_header *out,
                      const char **why)
{
    RG_REQUIRE(n <= r->need - r->have);
    r->have += n;
    if (r->need == RG_PP2_HDR_LEN || r->have <= RG_PP2_HDR_LEN) {
        long total = rg_pp2_header_len(r->buf, r->have, why);
        if (total < 0)
            return -EINVAL;
        if (total == 0)
            return 0;
        r->need = (size_t)total;
    }
    if (r->have < r->need)
        return 0;
    /* Only the kept octets are parsed; the length check uses the whole header's. */
    struct rg_pp2_header h;
    uint8_t fixed[RG_PP2_KEEP_LEN];
    size_t kept = r->need < RG_PP2_KEEP_LEN ? r->need : RG_PP2_KEEP_LEN;
    memcpy(fixed, r->buf, kept);
    if (r->need > RG_PP2_KEEP_LEN) {
        /* The addresses fit in the kept part; pretend the header ends there. */
        size_t l = kept - RG_PP2_HDR_LEN;
        fixed[14] = (uint8_t)(l >> 8);
        fixed[15] = (uint8_t)l;
    }
    if (rg_pp2_parse(fixed, kept, &h, why) < 0)
        return -EINVAL;
    h.len = r->need;
    *out = h;
    return 1;
}

bool rg_pp2_trusted(const struct rg_config *cfg, const struct sockaddr *addr)
{
    for (size_t i = 0; i < cfg->listen.nproxy_from; i++)
        if (rg_prefix_contains(&cfg->listen.proxy_from[i], addr))
            return true;
    return false;
}

/* ---- aggregate counters ---- */

#define RG_PP2_REPORT_MS 10000

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t n[RG_PP2_TIMEOUT + 1];
    char sample[RG_PP2_TIMEOUT + 1][64]; /* the first address of each kind this interval */
    char why[96];                        /* the first malformed header's reason */
    uint64_t last_ms;
} seen;

void rg_pp2_note(enum rg_pp2_event ev, const char *sample, const char *why)
{
    pthread_mutex_lock(&seen_lock);
    if (seen.n[ev]++ == 0)
        snprintf(seen.sample[ev], sizeof(seen.sample[ev]), "%s", sample);
    if (ev == RG_PP2_MALFORMED && why && !seen.why[0])
        snprintf(seen.why, sizeof(seen.why), "%s", why);
    pthread_mutex_unlock(&seen_lock);
}

void rg_pp2_report(void)
{
    uint64_t now = rg_now_ms();
    pthread_mutex_lock(&seen_lock);
    uint64_t refused = seen.n[RG_PP2_UNTRUSTED] + seen.n[RG_PP2_MALFORMED] + seen.n[RG_PP2_TIMEOUT];
    if (refused == 0 || (seen.last_ms && now - seen.last_ms < RG_PP2_REPORT_MS)) {
        pthread_mutex_unlock(&seen_lock);
        return;
    }
    /* Health checks alone make no line (a balancer checks every few seconds); they ride
     * along when there is a refusal to report, and are always in the stats counters. */
    char line[512];
    snprintf(line, sizeof(line),
             "event=proxy_protocol_refused untrusted=%llu untrusted_sample=%s malformed=%llu "
             "malformed_sample=%s malformed_reason=\"%s\" timeouts=%llu timeout_sample=%s "
             "health_checks=%llu",
             (unsigned long long)seen.n[RG_PP2_UNTRUSTED],
             seen.n[RG_PP2_UNTRUSTED] ? seen.sample[RG_PP2_UNTRUSTED] : "-",
             (unsigned long long)seen.n[RG_PP2_MALFORMED],
             seen.n[RG_PP2_MALFORMED] ? seen.sample[RG_PP2_MALFORMED] : "-",
             seen.why[0] ? seen.why : "-", (unsigned long long)seen.n[RG_PP2_TIMEOUT],
             seen.n[RG_PP2_TIMEOUT] ? seen.sample[RG_PP2_TIMEOUT] : "-",
             (unsigned long long)seen.n[RG_PP2_HEALTH_CHECK]);
    memset(seen.n, 0, sizeof(seen.n));
    seen.why[0] = '\0';
    seen.last_ms = now;
    pthread_mutex_unlock(&seen_lock);
    rg_log(LOG_WARNING, "%s", line);
}
