/* Tests for src/proxy_protocol.c: PROXY v2 headers as HAProxy sends them (IPv4, IPv6, LOCAL,
 * with TLVs), every refusal with its reason, the reader never taking a byte past the header
 * whatever the read sizes, and the proxy-from check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/proxy_protocol.h"

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A header: ver_cmd, fam, then body of blen octets. Returns the total length. */
static size_t make(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t blen)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    if (blen)
        memcpy(out + 16, body, blen);
    return 16 + blen;
}

/* HAProxy's send-proxy-v2 for 127.0.0.7:40000 -> 127.0.0.1:2083. */
static size_t v4_header(uint8_t *out, size_t tlv_len)
{
    uint8_t body[12 + 1100] = {127, 0, 0, 7, 127, 0, 0, 1, 0x9c, 0x40, 0x08, 0x23};
    if (tlv_len) { /* one PP2_TYPE_NOOP TLV of tlv_len octets in all */
        body[12] = 0x04;
        body[13] = (uint8_t)((tlv_len - 3) >> 8);
        body[14] = (uint8_t)(tlv_len - 3);
        memset(body + 15, 0xab, tlv_len - 3);
    }
    return make(out, 0x21, 0x11, body, 12 + tlv_len);
}

static void test_ipv4(void **state)
{
    (void)state;
    uint8_t h[64];
    size_t n = v4_header(h, 0);
    const char *why = NULL;
    assert_int_equal(rg_pp2_header_len(h, n, &why), 28);
    struct rg_pp2_header out;
    assert_int_equal(rg_pp2_parse(h, n, &out, &why), 0);
    assert_false(out.local);
    const struct sockaddr_in *s = (const void *)&out.src;
    assert_int_equal(s->sin_family, AF_INET);
    assert_int_equal(ntohl(s->sin_addr.s_addr), 0x7f000007);
    assert_int_equal(ntohs(s->sin_port), 40000);
    const struct sockaddr_in *d = (const void *)&out.dst;
    assert_int_equal(ntohs(d->sin_port), 2083);
    assert_int_equal(out.len, 28);
}

static void test_ipv6(void **state)
{
    (void)state;
    uint8_t body[36] = {0};
    inet_pton(AF_INET6, "2001:db8::42", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x12;
    body[33] = 0x34;
    uint8_t h[64];
    size_t n = make(h, 0x21, 0x21, body, sizeof(body));
    struct rg_pp2_header out;
    const char *why = NULL;
    assert_int_equal(rg_pp2_parse(h, n, &out, &why), 0);
    const struct sockaddr_in6 *s = (const void *)&out.src;
    assert_int_equal(s->sin6_family, AF_INET6);
    assert_memory_equal(&s->sin6_addr, body, 16);
    assert_int_equal(ntohs(s->sin6_port), 0x1234);
}

static void test_local(void **state)
{
    (void)state;
    uint8_t h[32];
    /* HAProxy's check-send-proxy: LOCAL, family UNSPEC, no body. */
    size_t n = make(h, 0x20, 0x00, NULL, 0);
    struct rg_pp2_header out;
    const char *why = NULL;
    assert_int_equal(rg_pp2_parse(h, n, &out, &why), 0);
    assert_true(out.local);
    /* LOCAL with an address block: still LOCAL (the block is skipped). */
    n = v4_header(h, 0);
    h[12] = 0x20;
    assert_int_equal(rg_pp2_parse(h, n, &out, &why), 0);
    assert_true(out.local);
}

static void expect_bad(const uint8_t *h, size_t n, const char *reason)
{
    struct rg_pp2_header out;
    const char *why = NULL;
    long len = rg_pp2_header_len(h, n < 16 ? n : 16, &why);
    int rc = len < 0 ? (int)len : rg_pp2_parse(h, n, &out, &why);
    if (rc != -EINVAL || !why || !strstr(why, reason))
        fail_msg("expected -EINVAL \"%s\", got %d \"%s\"", reason, rc, why ? why : "(none)");
}

static void test_refusals(void **state)
{
    (void)state;
    uint8_t h[1200];
    size_t n = v4_header(h, 0);
    h[0] = 0x16; /* a ClientHello where the header should be */
    expect_bad(h, n, "TLS record");
    expect_bad((const uint8_t *)"PROXY TCP4 127.0.0.7 127.0.0.1 40000 2083\r\n", 44, "v1");
    n = v4_header(h, 0);
    h[12] = 0x11; /* version 1 in the binary form */
    expect_bad(h, n, "version is not 2");
    n = v4_header(h, 0);
    h[12] = 0x22; /* command 2 */
    expect_bad(h, n, "neither LOCAL nor PROXY");
    n = v4_header(h, 0);
    h[13] = 0x12; /* UDP */
    expect_bad(h, n, "not for a TCP");
    n = v4_header(h, 0);
    h[13] = 0x31; /* AF_UNIX stream: no IP to admit by */
    expect_bad(h, n, "no IPv4 or IPv6");
    n = v4_header(h, 0);
    h[13] = 0x01; /* UNSPEC with PROXY */
    expect_bad(h, n, "no IPv4 or IPv6");
    uint8_t body[8] = {0};
    n = make(h, 0x21, 0x11, body, 8); /* too short for two IPv4 addresses and ports */
    expect_bad(h, n, "too short for IPv4");
    n = make(h, 0x21, 0x21, body, 8);
    expect_bad(h, n, "too short for IPv6");
    /* Bounded: one octet past RG_PP2_MAX_LEN is refused from the fixed part alone. */
    h[14] = (uint8_t)((RG_PP2_MAX_LEN - 16 + 1) >> 8);
    h[15] = (uint8_t)(RG_PP2_MAX_LEN - 16 + 1);
    const char *why = NULL;
    assert_int_equal(rg_pp2_header_len(h, 16, &why), -EINVAL);
    assert_non_null(strstr(why, "longer than"));
    h[14] = (uint8_t)((RG_PP2_MAX_LEN - 16) >> 8);
    h[15] = (uint8_t)(RG_PP2_MAX_LEN - 16);
    assert_int_equal(rg_pp2_header_len(h, 16, &why), RG_PP2_MAX_LEN);
    /* A prefix of the signature is not yet wrong; a wrong first octet is. */
    assert_int_equal(rg_pp2_header_len(sig, 5, &why), 0);
    assert_int_equal(rg_pp2_header_len((const uint8_t *)"\x0d\x0a\x0d\x0b", 4, &why), -EINVAL);
}

/* Feed data (header + what follows) to a reader in reads of at most chunk octets, the way
 * libuv fills the buffers it is given. Returns the octets consumed; *rc the last answer. */
static size_t feed(const uint8_t *data, size_t len, size_t chunk, struct rg_pp2_header *out,
                   int *rc, const char **why)
{
    struct rg_pp2_reader *r = malloc(sizeof(*r));
    assert_non_null(r);
    rg_pp2_reader_init(r);
    size_t off = 0;
    *rc = 0;
    while (*rc == 0 && off < len) {
        uint8_t *at;
        size_t n;
        rg_pp2_reader_want(r, &at, &n);
        assert_true(n > 0);
        if (n > chunk)
            n = chunk;
        if (n > len - off)
            n = len - off;
        memcpy(at, data + off, n);
        off += n;
        *rc = rg_pp2_reader_got(r, n, out, why);
    }
    free(r);
    return off;
}

static void test_reader_stops_at_header(void **state)
{
    (void)state;
    static const size_t tlvs[] = {0, 3, 40, 300, 1024 - 12};
    static const size_t chunks[] = {1, 7, 16, 64, 4096};
    for (size_t t = 0; t < sizeof(tlvs) / sizeof(tlvs[0]); t++)
        for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
            uint8_t data[1200 + 64];
            size_t n = v4_header(data, tlvs[t]);
            memset(data + n, 0x16, 64); /* the ClientHello that follows */
            struct rg_pp2_header out;
            const char *why = NULL;
            int rc;
            size_t used = feed(data, n + 64, chunks[k], &out, &rc, &why);
            if (rc != 1)
                fail_msg("tlv %zu chunk %zu: rc %d (%s)", tlvs[t], chunks[k], rc, why ? why : "");
            assert_int_equal(used, n); /* not one octet of the ClientHello */
            assert_int_equal(out.len, n);
            const struct sockaddr_in *s = (const void *)&out.src;
            assert_int_equal(ntohl(s->sin_addr.s_addr), 0x7f000007);
        }
}

static void test_reader_refuses_early(void **state)
{
    (void)state;
    /* A TLS client talking straight to a proxy-protocol listener: refused on its first
     * octet, before the 16 the fixed part needs. */
    uint8_t hello[64];
    memset(hello, 0x16, sizeof(hello));
    struct rg_pp2_header out;
    const char *why = NULL;
    int rc;
    size_t used = feed(hello, sizeof(hello), 1, &out, &rc, &why);
    assert_int_equal(rc, -EINVAL);
    assert_int_equal(used, 1);
    assert_non_null(strstr(why, "TLS record"));
}

static void test_trusted(void **state)
{
    (void)state;
    struct rg_prefix from[2];
    assert_int_equal(rg_prefix_parse("127.0.0.5/32", &from[0]), 0);
    assert_int_equal(rg_prefix_parse("fd00::/64", &from[1]), 0);
    struct rg_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen.proxy_from = from;
    cfg.listen.nproxy_from = 2;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.5", &a.sin_addr);
    assert_true(rg_pp2_trusted(&cfg, (const struct sockaddr *)&a));
    inet_pton(AF_INET, "127.0.0.6", &a.sin_addr);
    assert_false(rg_pp2_trusted(&cfg, (const struct sockaddr *)&a));
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "fd00::9", &b.sin6_addr);
    assert_true(rg_pp2_trusted(&cfg, (const struct sockaddr *)&b));
    inet_pton(AF_INET6, "fd01::9", &b.sin6_addr);
    assert_false(rg_pp2_trusted(&cfg, (const struct sockaddr *)&b));
    cfg.listen.nproxy_from = 0;
    inet_pton(AF_INET, "127.0.0.5", &a.sin_addr);
    assert_false(rg_pp2_trusted(&cfg, (const struct sockaddr *)&a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_local),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_reader_stops_at_header),
        cmocka_unit_test(test_reader_refuses_early),
        cmocka_unit_test(test_trusted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
