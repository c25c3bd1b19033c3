/* Tests for src/radius11.c: the RFC 9765 ALPN outcomes table, the RADIUS/1.1 header rules,
 * and both translations: a clear RADIUS/1.1 request hidden and signed for a backend secret
 * (checked by undoing it as the backend would), and a backend reply from the independent
 * Python vectors (test/vectors/gen_vectors.py) turned into clear attributes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "../vectors/vectors.h"

#define SECRET_A ((rg_secret){(const char *)vec_secret_a, sizeof(vec_secret_a)})

/* ---------------------------------------------------------------- ALPN */

struct alpn_case {
    enum rg_radius11_mode mode;
    const char *offered;
    bool tls13;
    int want; /* protocol, or -1: alert no_application_protocol */
    const char *want_alpn;
};

/* RFC 9765 "Tabular Summary": server "1.0, 1.1" is allow, "1.1" require, "1.0" forbid. */
static void test_alpn_outcomes_table(void **state)
{
    (void)state;
    static const struct alpn_case cases[] = {
        /* client: no ALPN */
        {RG_RADIUS11_FORBID, NULL, true, RG_PROTO_HISTORIC, NULL},
        {RG_RADIUS11_ALLOW, NULL, true, RG_PROTO_HISTORIC, NULL},
        {RG_RADIUS11_REQUIRE, NULL, true, -1, NULL}, /* Close-S */
        /* client: 1.0 */
        {RG_RADIUS11_FORBID, "radius/1.0", true, RG_PROTO_RADIUS_10, "radius/1.0"},
        {RG_RADIUS11_ALLOW, "radius/1.0", true, RG_PROTO_RADIUS_10, "radius/1.0"},
        {RG_RADIUS11_REQUIRE, "radius/1.0", true, -1, NULL}, /* Alert */
        /* client: 1.0, 1.1 (either order): the highest common version */
        {RG_RADIUS11_FORBID, "radius/1.0,radius/1.1", true, RG_PROTO_RADIUS_10, "radius/1.0"},
        {RG_RADIUS11_ALLOW, "radius/1.0,radius/1.1", true, RG_PROTO_RADIUS_11, "radius/1.1"},
        {RG_RADIUS11_ALLOW, "radius/1.1,radius/1.0", true, RG_PROTO_RADIUS_11, "radius/1.1"},
        {RG_RADIUS11_REQUIRE, "radius/1.0,radius/1.1", true, RG_PROTO_RADIUS_11, "radius/1.1"},
        /* client: 1.1 */
        {RG_RADIUS11_FORBID, "radius/1.1", true, -1, NULL}, /* Alert */
        {RG_RADIUS11_ALLOW, "radius/1.1", true, RG_PROTO_RADIUS_11, "radius/1.1"},
        {RG_RADIUS11_REQUIRE, "radius/1.1", true, RG_PROTO_RADIUS_11, "radius/1.1"},
        /* TLS 1.2 never selects radius/1.1 */
        {RG_RADIUS11_ALLOW, "radius/1.0,radius/1.1", false, RG_PROTO_RADIUS_10, "radius/1.0"},
        {RG_RADIUS11_ALLOW, "radius/1.1", false, -1, NULL},
        {RG_RADIUS11_REQUIRE, "radius/1.1", false, -1, NULL},
        {RG_RADIUS11_REQUIRE, "radius/1.0,radius/1.1", false, -1, NULL},
        {RG_RADIUS11_ALLOW, NULL, false, RG_PROTO_HISTORIC, NULL},
        /* names that only look alike, or other protocols */
        {RG_RADIUS11_ALLOW, "h2,http/1.1", true, -1, NULL},
        {RG_RADIUS11_ALLOW, "radius/1.11,radius/1", true, -1, NULL},
        {RG_RADIUS11_ALLOW, "h2,radius/1.1", true, RG_PROTO_RADIUS_11, "radius/1.1"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        const struct alpn_case *c = &cases[i];
        const char *alpn = "unset", *why = "unset";
        int got = rg_radius11_alpn_choose(c->mode, c->offered, c->tls13, &alpn, &why);
        if (got != c->want)
            fail_msg("case %zu (mode %d, offered %s, tls13 %d): got %d, want %d", i, c->mode,
                     c->offered ? c->offered : "none", c->tls13, got, c->want);
        if (c->want_alpn) {
            assert_non_null(alpn);
            assert_string_equal(alpn, c->want_alpn);
        } else {
            assert_null(alpn);
        }
        if (got < 0)
            assert_true(why && *why); /* the refusal has a reason for the log line */
        else
            assert_null(why);
    }
}

static void test_proto_names(void **state)
{
    (void)state;
    assert_string_equal(rg_radius_proto_name(RG_PROTO_HISTORIC), "historic");
    assert_string_equal(rg_radius_proto_name(RG_PROTO_RADIUS_10), "radius/1.0");
    assert_string_equal(rg_radius_proto_name(RG_PROTO_RADIUS_11), "radius/1.1");
}

/* ---------------------------------------------------------------- helpers */

/* A RADIUS/1.1 packet as a client sends it: Reserved-1 and Reserved-2 set to junk, which the
 * receiver must ignore. */
static void v11_init(struct rg_radius_pkt *p, uint8_t *buf, size_t cap, uint8_t code,
                     uint32_t token)
{
    p->data = buf;
    p->cap = cap;
    assert_int_equal(rg_radius_init(p, code, 0xA5, NULL), 0);
    rg_radius11_set_header(buf, token);
    buf[1] = 0xA5;
    memset(buf + 8, 0x5A, 12);
}

static void assert_v11_header(const uint8_t *pkt, uint8_t code, uint32_t token)
{
    static const uint8_t zeros[12];
    assert_int_equal(pkt[0], code);
    assert_int_equal(pkt[1], 0); /* Reserved-1 */
    assert_int_equal(rg_radius11_token(pkt), token);
    assert_memory_equal(pkt + 8, zeros, 12); /* Reserved-2 */
}

static int count_attr(const uint8_t *pkt, uint8_t type)
{
    size_t pos = 0;
    struct rg_radius_attr a;
    int n = 0;
    while (rg_radius_attr_find(pkt, type, &pos, &a))
        n++;
    return n;
}

/* ---------------------------------------------------------------- requests to UDP */

static void test_access_request_to_udp(void **state)
{
    (void)state;
    uint8_t in[512], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    struct rg_radius_pkt p;
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 0xDEADBEEF);
    static const uint8_t junk_ma[16] = {1, 2, 3};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, junk_ma, 16), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice@example.com", 17), 0);
    /* RFC 9765: User-Password in the clear, any length 1..128 (29 here: not whole blocks). */
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, vec_password_plain,
                                        sizeof(vec_password_plain)),
                     0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "ps-1", 4), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "ps-2", 4), 0);
    assert_null(rg_radius11_request_invalid(in));

    int n = rg_radius11_request_to_udp(in, rg_radius_len(in), 42, SECRET_A, out, sizeof(out),
                                       sent_auth);
    assert_true(n > 0);
    assert_int_equal(n, rg_radius_len(out));
    assert_int_equal(rg_radius_validate(out, (size_t)n, NULL), 0);
    assert_int_equal(out[0], RG_RADIUS_ACCESS_REQUEST);
    assert_int_equal(out[1], 42);
    assert_memory_equal(sent_auth, out + 4, 16);
    /* Not the Token and Reserved-2 of the 1.1 packet: a fresh random authenticator. */
    assert_memory_not_equal(out + 4, in + 4, 16);

    /* Message-Authenticator first (BlastRADIUS), once, signed with the backend secret. */
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_true(rg_radius_attr_next(out, &pos, &a));
    assert_int_equal(a.type, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    assert_int_equal(count_attr(out, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 1);
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, SECRET_A), 0);

    /* The backend recovers the password with its secret and our authenticator. */
    assert_true(rg_radius_attr_find(out, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a));
    assert_int_equal(a.value_len, 32);
    uint8_t plain[128];
    size_t plain_len = 0;
    assert_int_equal(
        rg_radius_password_unhide(a.value, a.value_len, out + 4, SECRET_A, plain, &plain_len), 0);
    assert_int_equal(plain_len, sizeof(vec_password_plain));
    assert_memory_equal(plain, vec_password_plain, plain_len);
    /* Against the Python generator's hiding: the same authenticator gives its octets. */
    uint8_t hidden[128];
    size_t hidden_len;
    assert_int_equal(rg_radius_password_hide(vec_password_plain, sizeof(vec_password_plain),
                                             vec_auth_a, SECRET_A, hidden, &hidden_len),
                     0);
    assert_memory_equal(hidden, vec_password_hidden_a, sizeof(vec_password_hidden_a));

    /* Everything else as the client sent it, in order. */
    assert_true(rg_radius_attr_find(out, RG_RADIUS_ATTR_USER_NAME, NULL, &a));
    assert_memory_equal(a.value, "alice@example.com", 17);
    pos = 0;
    assert_true(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    assert_memory_equal(a.value, "ps-1", 4);
    assert_true(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    assert_memory_equal(a.value, "ps-2", 4);
    assert_false(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));

    /* Two translations never share an authenticator. */
    uint8_t out2[RG_RADIUS_MAX_LEN], auth2[16];
    assert_true(rg_radius11_request_to_udp(in, rg_radius_len(in), 42, SECRET_A, out2, sizeof(out2),
                                           auth2) > 0);
    assert_memory_not_equal(auth2, sent_auth, 16);
}

static void test_accounting_and_status_to_udp(void **state)
{
    (void)state;
    uint8_t in[256], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    struct rg_radius_pkt p;
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCOUNTING_REQUEST, 7);
    static const uint8_t start[4] = {0, 0, 0, 1};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_ACCT_STATUS_TYPE, start, 4), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_ACCT_SESSION_ID, "sess-0001", 9), 0);
    static const uint8_t junk_ma[16] = {9};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, junk_ma, 16), 0);
    int n =
        rg_radius11_request_to_udp(in, rg_radius_len(in), 9, SECRET_A, out, sizeof(out), sent_auth);
    assert_true(n > 0);
    assert_int_equal(out[1], 9);
    /* RFC 3579 §3.3: none in Accounting-Request; RFC 2866 §3: computed authenticator. */
    assert_int_equal(count_attr(out, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);
    assert_int_equal(rg_radius_auth_request_verify(out, SECRET_A), 0);
    assert_memory_equal(sent_auth, out + 4, 16);
    assert_int_equal(n, 20 + 6 + 11);

    v11_init(&p, in, sizeof(in), RG_RADIUS_STATUS_SERVER, 8);
    n = rg_radius11_request_to_udp(in, rg_radius_len(in), 200, SECRET_A, out, sizeof(out),
                                   sent_auth);
    assert_int_equal(n, 38);
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, SECRET_A), 0);

    /* Replies are not requests. */
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_ACCEPT, 8);
    assert_int_equal(
        rg_radius11_request_to_udp(in, rg_radius_len(in), 1, SECRET_A, out, sizeof(out), sent_auth),
        -EPROTONOSUPPORT);
}

static void test_request_rules(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    struct rg_radius_pkt p;
    uint8_t pw[256];
    memset(pw, 'x', sizeof(pw));

    /* 128 octets pass, 129 do not. */
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 1);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pw, 128), 0);
    assert_null(rg_radius11_request_invalid(in));
    assert_true(rg_radius11_request_to_udp(in, rg_radius_len(in), 1, SECRET_A, out, sizeof(out),
                                           sent_auth) > 0);
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 1);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pw, 129), 0);
    assert_non_null(rg_radius11_request_invalid(in));
    assert_int_equal(
        rg_radius11_request_to_udp(in, rg_radius_len(in), 1, SECRET_A, out, sizeof(out), sent_auth),
        -EINVAL);
    /* Twice. */
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 1);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pw, 5), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pw, 5), 0);
    assert_non_null(rg_radius11_request_invalid(in));
    /* CHAP-Password needs CHAP-Challenge on RADIUS/1.1; with one it goes as it is. */
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 1);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_PASSWORD, pw, 17), 0);
    assert_non_null(rg_radius11_request_invalid(in));
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_CHALLENGE, pw, 16), 0);
    assert_null(rg_radius11_request_invalid(in));
    int n =
        rg_radius11_request_to_udp(in, rg_radius_len(in), 1, SECRET_A, out, sizeof(out), sent_auth);
    assert_int_equal(n, rg_radius_len(in) + 18);
    assert_memory_equal(out + 38, in + 20, rg_radius_len(in) - 20u);

    /* A request that leaves no room for Message-Authenticator and the password padding. */
    v11_init(&p, in, sizeof(in), RG_RADIUS_ACCESS_REQUEST, 1);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pw, 1), 0);
    while (rg_radius_len(in) + 255 <= RG_RADIUS_MAX_LEN)
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, pw, 253), 0);
    size_t fill = RG_RADIUS_MAX_LEN - rg_radius_len(in) - 2;
    if (fill)
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, pw, fill), 0);
    assert_int_equal(
        rg_radius11_request_to_udp(in, rg_radius_len(in), 1, SECRET_A, out, sizeof(out), sent_auth),
        -EMSGSIZE);
}

/* ---------------------------------------------------------------- replies from UDP */

static void test_reply_from_udp_vectors(void **state)
{
    (void)state;
    /* The Python generator's Access-Accept, hidden with secret_a for a request with auth_a:
     * Message-Authenticator, Reply-Message, Tunnel-Password (tag 1), MS-MPPE-Send-Key,
     * MS-MPPE-Recv-Key, MS-CHAP-MPPE-Keys. */
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    memcpy(pkt, vec_accept_a, sizeof(vec_accept_a));
    int n = rg_radius11_reply_from_udp(pkt, vec_auth_a, SECRET_A, 0x01020304);
    assert_true(n > 0);

    /* What RFC 9765 puts on the wire, built independently from the plaintexts. */
    uint8_t want[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt w = {.data = want, .cap = sizeof(want)};
    assert_int_equal(rg_radius_init(&w, RG_RADIUS_ACCESS_ACCEPT, 0, NULL), 0);
    rg_radius11_set_header(want, 0x01020304);
    assert_int_equal(rg_radius_attr_add(&w, RG_RADIUS_ATTR_REPLY_MESSAGE, "Welcome", 7), 0);
    uint8_t tp[1 + sizeof(vec_tunnel_plain)];
    tp[0] = VEC_TUNNEL_TAG;
    memcpy(tp + 1, vec_tunnel_plain, sizeof(vec_tunnel_plain));
    assert_int_equal(rg_radius_attr_add(&w, RG_RADIUS_ATTR_TUNNEL_PASSWORD, tp, sizeof(tp)), 0);
    assert_int_equal(rg_radius_vsa_add(&w, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY,
                                       vec_send_key, sizeof(vec_send_key)),
                     0);
    assert_int_equal(rg_radius_vsa_add(&w, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY,
                                       vec_recv_key, sizeof(vec_recv_key)),
                     0);
    assert_int_equal(rg_radius_vsa_add(&w, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_CHAP_MPPE_KEYS,
                                       vec_mppe_keys_plain, sizeof(vec_mppe_keys_plain)),
                     0);
    assert_int_equal(n, rg_radius_len(want));
    assert_memory_equal(pkt, want, (size_t)n);
    assert_v11_header(pkt, RG_RADIUS_ACCESS_ACCEPT, 0x01020304);
    assert_int_equal(count_attr(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);

    /* The wrong secret or authenticator does not decode (the reply is dropped). */
    memcpy(pkt, vec_accept_a, sizeof(vec_accept_a));
    assert_int_equal(rg_radius11_reply_from_udp(pkt, vec_auth_b, SECRET_A, 1), -EBADMSG);
}

static void test_reply_round_trip_through_backend_secret(void **state)
{
    (void)state;
    /* A backend hides keys with its secret for the authenticator we sent: the RADIUS/1.1
     * client gets exactly the keys, several sub-attributes in one Microsoft VSA included. */
    static const char be[] = "backend-secret";
    uint8_t sent_auth[16];
    rg_random_bytes(sent_auth, sizeof(sent_auth));
    uint8_t key[40], send_key[32], salt[2];
    unsigned counter = 0;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = pkt, .cap = sizeof(pkt)};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 3, sent_auth), 0);
    assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
    /* Tunnel-Password with tag 0x1f and a 40-octet password. */
    uint8_t tval[256];
    size_t tlen;
    tval[0] = 0x1f;
    rg_radius_salt_new(salt, &counter);
    assert_int_equal(rg_radius_salted_hide(key, sizeof(key), salt, sent_auth, rg_secret_str(be),
                                           tval + 1, &tlen),
                     0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, tval, tlen + 1), 0);
    /* One VSA, two sub-attributes: a Send-Key and an unrelated vendor type 99. */
    uint8_t vsa[253] = {0, 0, 0x01, 0x37};
    size_t vn = 4;
    rg_radius_salt_new(salt, &counter);
    memcpy(send_key, key, sizeof(send_key));
    size_t hl;
    vsa[vn] = RG_RADIUS_MS_MPPE_SEND_KEY;
    assert_int_equal(rg_radius_salted_hide(send_key, sizeof(send_key), salt, sent_auth,
                                           rg_secret_str(be), vsa + vn + 2, &hl),
                     0);
    vsa[vn + 1] = (uint8_t)(hl + 2);
    vn += hl + 2;
    vsa[vn] = 99;
    vsa[vn + 1] = 5;
    memcpy(vsa + vn + 2, "abc", 3);
    vn += 5;
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, vsa, vn), 0);
    rg_radius_msgauth_sign(pkt, sent_auth, rg_secret_str(be));
    rg_radius_auth_response_sign(pkt, sent_auth, rg_secret_str(be));

    int n = rg_radius11_reply_from_udp(pkt, sent_auth, (rg_secret){be, strlen(be)}, 77);
    assert_true(n > 0);
    assert_v11_header(pkt, RG_RADIUS_ACCESS_ACCEPT, 77);
    struct rg_radius_attr a;
    assert_true(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a));
    assert_int_equal(a.value_len, 1 + sizeof(key));
    assert_int_equal(a.value[0], 0x1f);
    assert_memory_equal(a.value + 1, key, sizeof(key));
    assert_true(
        rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY, NULL, &a));
    assert_int_equal(a.value_len, sizeof(send_key));
    assert_memory_equal(a.value, send_key, sizeof(send_key));
    assert_true(rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, 99, NULL, &a));
    assert_memory_equal(a.value, "abc", 3);
    assert_int_equal(count_attr(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);
    assert_int_equal(rg_radius_validate(pkt, (size_t)n, NULL), 0);

    /* A Microsoft VSA whose sub-attributes overrun it is refused, not passed on. */
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 3, sent_auth), 0);
    uint8_t bad[] = {0, 0, 0x01, 0x37, RG_RADIUS_MS_MPPE_RECV_KEY, 40, 1, 2};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, bad, sizeof(bad)), 0);
    assert_int_equal(rg_radius11_reply_from_udp(pkt, sent_auth, (rg_secret){be, strlen(be)}, 1),
                     -EBADMSG);
}

/* ---------------------------------------------------------------- local replies, tokens */

static void test_local_replies(void **state)
{
    (void)state;
    uint8_t req[256], buf[512];
    struct rg_radius_pkt p;
    v11_init(&p, req, sizeof(req), RG_RADIUS_ACCOUNTING_REQUEST, 0xCAFEF00D);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "one", 3), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "two", 3), 0);

    int n = rg_radius11_local_reply(buf, sizeof(buf), RG_RADIUS_PROTOCOL_ERROR, 0xCAFEF00D, req,
                                    RG_RADIUS11_ERR_NOT_ROUTABLE, NULL);
    assert_int_equal(n, 20 + 6 + 5 + 5);
    assert_v11_header(buf, RG_RADIUS_PROTOCOL_ERROR, 0xCAFEF00D);
    static const uint8_t want[] = {101, 6,   0,   0,  0x01, 0xf6, 33,  5,
                                   'o', 'n', 'e', 33, 5,    't',  'w', 'o'};
    assert_memory_equal(buf + 20, want, sizeof(want));

    /* No request: Token 0 (RFC 9765 "Using Protocol-Error for Signaling ALPN Failure"). */
    n = rg_radius11_local_reply(buf, sizeof(buf), RG_RADIUS_PROTOCOL_ERROR, 0, NULL,
                                RG_RADIUS11_ERR_UNSUPPORTED_EXT, "ALPN radius/1.1 required");
    assert_true(n > 0);
    assert_v11_header(buf, RG_RADIUS_PROTOCOL_ERROR, 0);
    struct rg_radius_attr a;
    assert_true(rg_radius_attr_find(buf, RG_RADIUS_ATTR_ERROR_CAUSE, NULL, &a));
    assert_int_equal(a.value[3], 406 & 0xff);
    assert_int_equal(count_attr(buf, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);

    /* Status-Server answer: Access-Accept, no Message-Authenticator, no Error-Cause. */
    n = rg_radius11_local_reply(buf, sizeof(buf), RG_RADIUS_ACCESS_ACCEPT, rg_radius11_token(req),
                                req, 0, NULL);
    assert_int_equal(n, 30);
    assert_int_equal(count_attr(buf, RG_RADIUS_ATTR_ERROR_CAUSE), 0);
    assert_int_equal(count_attr(buf, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);

    assert_int_equal(rg_radius11_local_reply(buf, 25, RG_RADIUS_PROTOCOL_ERROR, 1, req,
                                             RG_RADIUS11_ERR_NOT_ROUTABLE, NULL),
                     -ENOSPC);
}

static void test_fingerprint(void **state)
{
    (void)state;
    uint8_t a[128], b[128];
    struct rg_radius_pkt p;
    v11_init(&p, a, sizeof(a), RG_RADIUS_ACCESS_REQUEST, 5);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3), 0);
    memcpy(b, a, sizeof(a));
    /* Reserved fields and the Token itself do not change what the packet is. */
    b[1] = 0;
    memset(b + 8, 0, 12);
    assert_true(rg_radius11_fingerprint(a) == rg_radius11_fingerprint(b));
    b[22] = 'B';
    assert_true(rg_radius11_fingerprint(a) != rg_radius11_fingerprint(b));
    memcpy(b, a, sizeof(a));
    b[0] = RG_RADIUS_ACCOUNTING_REQUEST;
    assert_true(rg_radius11_fingerprint(a) != rg_radius11_fingerprint(b));
}

static void test_coa_both_ways(void **state)
{
    (void)state;
    /* The DAC's CoA-Request (Python vector, Message-Authenticator included) down a 1.1
     * connection: Token, no Message-Authenticator, nothing else changed. */
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    memcpy(pkt, vec_coa_request_a, sizeof(vec_coa_request_a));
    int n = rg_radius11_coa_request(pkt, 0x11223344);
    assert_int_equal(n, (int)sizeof(vec_coa_request_a) - 18);
    assert_v11_header(pkt, RG_RADIUS_COA_REQUEST, 0x11223344);
    assert_int_equal(count_attr(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 0);
    assert_memory_equal(pkt + 20, vec_coa_request_a + 38, (size_t)n - 20);

    /* The NAS's CoA-ACK back: a zeroed Message-Authenticator first, ready to be signed. */
    uint8_t ack[64];
    struct rg_radius_pkt p;
    v11_init(&p, ack, sizeof(ack), RG_RADIUS_COA_ACK, 0x11223344);
    static const uint8_t junk[16] = {7};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, junk, 16), 0);
    n = rg_radius11_reply_to_udp(ack, sizeof(ack));
    assert_int_equal(n, 38);
    assert_int_equal(count_attr(ack, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR), 1);
    assert_int_equal(ack[20], RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    v11_init(&p, ack, sizeof(ack), RG_RADIUS_COA_ACK, 1);
    assert_int_equal(rg_radius11_reply_to_udp(ack, 37), -EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_outcomes_table),
        cmocka_unit_test(test_proto_names),
        cmocka_unit_test(test_access_request_to_udp),
        cmocka_unit_test(test_accounting_and_status_to_udp),
        cmocka_unit_test(test_request_rules),
        cmocka_unit_test(test_reply_from_udp_vectors),
        cmocka_unit_test(test_reply_round_trip_through_backend_secret),
        cmocka_unit_test(test_local_replies),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_coa_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
