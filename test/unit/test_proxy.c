/* Tests of src/proxy.c: slot recycling, the timer heap, the translation of requests and
 * replies between the RadSec secret and a backend secret, the reply checks and the
 * require-message-authenticator policy (pure), and the state table driven through
 * rg_proxy_on_request / rg_proxy_on_reply with a worker whose backend sockets are real but
 * whose replies the test hands in (no TLS, no backend process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/backend.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/conn.h"
#include "radsecgw/proxy.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/worker.h"

#define AP_SECRET "radsec"
#define BE_SECRET "backend-secret-0123456789"

static void test_slots_bounded_and_recycled(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, 2 * RG_PROXY_CHUNK), 0);
    struct rg_request *got[2 * RG_PROXY_CHUNK];
    for (unsigned i = 0; i < 2 * RG_PROXY_CHUNK; i++) {
        got[i] = rg_proxy_slot_get(&px);
        assert_non_null(got[i]);
        assert_null(got[i]->pkt); /* a packet buffer only once something is sent */
    }
    assert_null(rg_proxy_slot_get(&px)); /* the limit holds */
    assert_int_equal(px.nchunks, 2);
    rg_proxy_slot_put(&px, got[7]);
    struct rg_request *again = rg_proxy_slot_get(&px);
    assert_ptr_equal(again, got[7]); /* recycled, nothing allocated */
    assert_int_equal(px.nchunks, 2);
    for (unsigned i = 0; i < 2 * RG_PROXY_CHUNK; i++)
        rg_proxy_slot_put(&px, got[i]);
    assert_int_equal(px.inuse, 0);
    rg_proxy_free(&px);
}

static void test_packet_buffers_sized_and_recycled(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, RG_PROXY_CHUNK), 0);
    struct rg_request *a = rg_proxy_slot_get(&px), *b = rg_proxy_slot_get(&px);
    /* A small packet takes a small buffer; a large one the RFC 2865 maximum. */
    assert_int_equal(rg_proxy_pkt_reserve(&px, a, 300), 0);
    assert_true(a->pkt_cap >= 300 && a->pkt_cap < 1024);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, 3000), 0);
    assert_int_equal(b->pkt_cap, RG_RADIUS_MAX_LEN);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, RG_RADIUS_MAX_LEN + 1), -EMSGSIZE);
    /* Growing keeps the slot usable: the small buffer is swapped for a bigger one. */
    uint8_t *small = a->pkt;
    memset(a->pkt, 0xab, a->pkt_cap);
    assert_int_equal(rg_proxy_pkt_reserve(&px, a, 1000), 0);
    assert_true(a->pkt_cap >= 1000);
    memset(a->pkt, 0xcd, a->pkt_cap);
    /* Released buffers are reused (no allocation once warm). */
    uint8_t *big = b->pkt;
    rg_proxy_slot_put(&px, b);
    b = rg_proxy_slot_get(&px);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, 2000), 0);
    assert_ptr_equal(b->pkt, big);
    struct rg_request *c = rg_proxy_slot_get(&px);
    assert_int_equal(rg_proxy_pkt_reserve(&px, c, 100), 0);
    assert_ptr_equal(c->pkt, small);
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        assert_true(px.bufs[i].inuse <= 1);
    rg_proxy_slot_put(&px, a);
    rg_proxy_slot_put(&px, b);
    rg_proxy_slot_put(&px, c);
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        assert_int_equal(px.bufs[i].inuse, 0);
    rg_proxy_free(&px);
}

static void test_heap_orders_deadlines(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, 4 * RG_PROXY_CHUNK), 0);
    enum { N = 1000 };
    struct rg_request *r[N];
    srand(7);
    for (unsigned i = 0; i < N; i++) {
        r[i] = rg_proxy_slot_get(&px);
        r[i]->deadline_ms = (uint64_t)(rand() % 5000);
        rg_proxy_heap_push(&px, r[i]);
    }
    /* Remove a third from the middle, as replies do. */
    for (unsigned i = 0; i < N; i += 3)
        rg_proxy_heap_remove(&px, r[i]);
    uint64_t last = 0;
    unsigned popped = 0;
    struct rg_request *top;
    while ((top = rg_proxy_heap_peek(&px)) != NULL) {
        assert_true(top->deadline_ms >= last);
        last = top->deadline_ms;
        rg_proxy_heap_remove(&px, top);
        popped++;
    }
    assert_int_equal(popped, N - (N + 2) / 3);
    for (unsigned i = 0; i < N; i++)
        rg_proxy_slot_put(&px, r[i]);
    rg_proxy_free(&px);
}

/* An AP's Access-Request: User-Name, User-Password, Proxy-State x2, hidden with "radsec". */
static size_t make_ap_access_request(uint8_t *buf, const char *password, bool chap)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 9, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5);
    if (chap) {
        uint8_t chap_pw[17] = {1};
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_PASSWORD, chap_pw, sizeof(chap_pw));
    } else {
        uint8_t hidden[RG_RADIUS_PASSWORD_MAX];
        size_t hl;
        assert_int_equal(rg_radius_password_hide((const uint8_t *)password, strlen(password),
                                                 buf + 4, AP_SECRET, 6, hidden, &hl),
                         0);
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, hidden, hl);
    }
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "one", 3);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "two", 3);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, AP_SECRET, 6);
    return rg_radius_len(buf);
}

static void test_translate_access_request(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    const char *pw = "correct horse battery staple";
    size_t len = make_ap_access_request(in, pw, false);
    int n = rg_proxy_translate_request(in, len, AP_SECRET, 6, 77, BE_SECRET, strlen(BE_SECRET), out,
                                       sizeof(out), sent_auth);
    assert_true(n > 0);
    struct rg_radius_error err;
    assert_int_equal(rg_radius_validate(out, (size_t)n, &err), 0);
    assert_int_equal(out[0], RG_RADIUS_ACCESS_REQUEST);
    assert_int_equal(out[1], 77);
    assert_memory_equal(out + 4, sent_auth, 16);
    assert_memory_not_equal(out + 4, in + 4, 16); /* a fresh authenticator */
    /* Message-Authenticator is first and verifies with the backend secret only. */
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_int_equal(rg_radius_attr_next(out, &pos, &a), 1);
    assert_int_equal(a.type, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, BE_SECRET, strlen(BE_SECRET)), 0);
    assert_int_not_equal(rg_radius_msgauth_verify(out, NULL, AP_SECRET, 6), 0);
    /* User-Password unhides with the backend secret to the AP's password. */
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a), 1);
    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    size_t pl;
    assert_int_equal(rg_radius_password_unhide(a.value, a.value_len, out + 4, BE_SECRET,
                                               strlen(BE_SECRET), plain, &pl),
                     0);
    assert_int_equal(pl, strlen(pw));
    assert_memory_equal(plain, pw, pl);
    /* Proxy-State kept, in order. */
    pos = 0;
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
    assert_memory_equal(a.value, "one", 3);
    pos = a.offset + a.len;
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
    assert_memory_equal(a.value, "two", 3);
    /* Only one Message-Authenticator. */
    assert_int_equal(
        rg_radius_attr_remove_all(&(struct rg_radius_pkt){.data = out, .cap = sizeof(out)},
                                  RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR),
        1);
}

static void test_translate_chap_adds_challenge(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    size_t len = make_ap_access_request(in, NULL, true);
    int n = rg_proxy_translate_request(in, len, AP_SECRET, 6, 1, BE_SECRET, strlen(BE_SECRET), out,
                                       sizeof(out), sent_auth);
    assert_true(n > 0);
    struct rg_radius_attr a;
    /* RFC 2865 §5.3: the AP's authenticator was the CHAP challenge; it travels on. */
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_CHAP_CHALLENGE, NULL, &a), 1);
    assert_int_equal(a.value_len, 16);
    assert_memory_equal(a.value, in + 4, 16);
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, BE_SECRET, strlen(BE_SECRET)), 0);
}

static void test_translate_accounting_request(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    struct rg_radius_pkt p = {.data = in, .cap = sizeof(in)};
    rg_radius_init(&p, RG_RADIUS_ACCOUNTING_REQUEST, 200, NULL);
    uint8_t start[4] = {0, 0, 0, 1};
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_ACCT_STATUS_TYPE, start, 4);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    rg_radius_auth_request_sign(in, AP_SECRET, 6);
    assert_int_equal(rg_radius_auth_request_verify(in, AP_SECRET, 6), 0);
    int n = rg_proxy_translate_request(in, rg_radius_len(in), AP_SECRET, 6, 3, BE_SECRET,
                                       strlen(BE_SECRET), out, sizeof(out), sent_auth);
    assert_true(n > 0);
    assert_int_equal(out[1], 3);
    /* RFC 2866 §3: recomputed for the backend secret. */
    assert_int_equal(rg_radius_auth_request_verify(out, BE_SECRET, strlen(BE_SECRET)), 0);
    assert_int_not_equal(rg_radius_auth_request_verify(out, AP_SECRET, 6), 0);
    /* RFC 3579 §3.3: Message-Authenticator MUST NOT be in an Accounting-Request. */
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, BE_SECRET, strlen(BE_SECRET)), -ENOENT);

    /* One from the AP is verified on the way in (by the caller) and never forwarded. */
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(in, NULL, AP_SECRET, 6);
    rg_radius_auth_request_sign(in, AP_SECRET, 6);
    n = rg_proxy_translate_request(in, rg_radius_len(in), AP_SECRET, 6, 4, BE_SECRET,
                                   strlen(BE_SECRET), out, sizeof(out), sent_auth);
    assert_int_equal(n, rg_radius_len(in) - 18);
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a), 0);
    assert_int_equal(rg_radius_auth_request_verify(out, BE_SECRET, strlen(BE_SECRET)), 0);
}

static void test_translate_reply_reencrypts(void **state)
{
    (void)state;
    uint8_t sent_auth[16], ap_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    rg_random_bytes(ap_auth, 16);
    /* The backend's Access-Accept: Tunnel-Password and both MPPE keys for its secret. */
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 77, NULL);
    rg_radius_msgauth_add_first(&p);
    uint8_t key[32], salt[2], hidden[64], tp[70];
    size_t hl;
    unsigned ctr = 0;
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    rg_radius_salt_new(salt, &ctr);
    assert_int_equal(
        rg_radius_salted_hide(key, 32, salt, sent_auth, BE_SECRET, strlen(BE_SECRET), hidden, &hl),
        0);
    rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, hidden, hl);
    rg_radius_salt_new(salt, &ctr);
    rg_radius_salted_hide(key, 16, salt, sent_auth, BE_SECRET, strlen(BE_SECRET), hidden, &hl);
    tp[0] = 1; /* tag */
    memcpy(tp + 1, hidden, hl);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, tp, hl + 1);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, "hi", 2);
    rg_radius_msgauth_sign(buf, sent_auth, BE_SECRET, strlen(BE_SECRET));
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, strlen(BE_SECRET));

    const char *why = NULL;
    size_t len = rg_radius_len(buf);
    assert_int_equal(rg_proxy_verify_reply(buf, len, sent_auth, BE_SECRET, strlen(BE_SECRET), &why),
                     1);
    assert_int_equal(rg_proxy_translate_reply(buf, len, sizeof(buf), sent_auth, BE_SECRET,
                                              strlen(BE_SECRET), 9, ap_auth, AP_SECRET, 6, &ctr),
                     0);
    assert_int_equal(buf[1], 9);
    assert_int_equal(rg_radius_auth_response_verify(buf, ap_auth, AP_SECRET, 6), 0);
    assert_int_equal(rg_radius_msgauth_verify(buf, ap_auth, AP_SECRET, 6), 0);
    /* The keys unhide with the AP's secret and authenticator to the same octets. */
    struct rg_radius_attr a;
    size_t pos = 0;
    uint8_t out[64];
    size_t ol;
    assert_int_equal(
        rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, &pos, &a),
        1);
    assert_int_equal(rg_radius_salted_unhide(a.value, a.value_len, ap_auth, AP_SECRET, 6, out, &ol),
                     0);
    assert_int_equal(ol, 32);
    assert_memory_equal(out, key, 32);
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a), 1);
    assert_int_equal(a.value[0], 1); /* tag kept */
    assert_true(a.value[1] & 0x80);  /* RFC 2868 §3.5: salt top bit set */
    assert_int_equal(
        rg_radius_salted_unhide(a.value + 1, a.value_len - 1, ap_auth, AP_SECRET, 6, out, &ol), 0);
    assert_int_equal(ol, 16);
    assert_memory_equal(out, key, 16);
}

/* A backend reply to a request sent with sent_auth: code, optional EAP-Message, signed with
 * Message-Authenticator when ma, Response Authenticator with the backend secret. */
static size_t make_reply(uint8_t *buf, uint8_t code, uint8_t id, const uint8_t *sent_auth, bool ma,
                         bool eap)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    size_t bl = strlen(BE_SECRET);
    rg_radius_init(&p, code, id, NULL);
    if (ma)
        rg_radius_msgauth_add_first(&p);
    if (eap)
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE, "\x01\x02\x00\x04", 4);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, "hi", 2);
    if (ma)
        rg_radius_msgauth_sign(buf, sent_auth, BE_SECRET, bl);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    return rg_radius_len(buf);
}

static enum rg_reply_verdict check(const uint8_t *buf, uint8_t req_code, bool req_eap,
                                   const uint8_t *sent_auth, enum rg_require_ma mode, bool signs,
                                   struct rg_reply_check *chk)
{
    return rg_proxy_check_reply(buf, rg_radius_len(buf), req_code, req_eap, sent_auth, BE_SECRET,
                                strlen(BE_SECRET), mode, signs, chk);
}

static void test_check_reply_verification(void **state)
{
    (void)state;
    uint8_t sent_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    struct rg_reply_check chk;
    size_t bl = strlen(BE_SECRET);

    /* Wrong secret: the Response Authenticator fails, whatever the policy. */
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_auth_response_sign(buf, sent_auth, "other", 5);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_FALSE, false, &chk),
        RG_REPLY_UNVERIFIED);
    assert_string_equal(chk.why, "bad Response Authenticator");

    /* A tampered Message-Authenticator fails even under false. */
    make_reply(buf, RG_RADIUS_ACCESS_REJECT, 1, sent_auth, true, false);
    buf[22] ^= 1;
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_FALSE, false, &chk),
        RG_REPLY_UNVERIFIED);
    assert_string_equal(chk.why, "bad Message-Authenticator");

    /* A verified reply of the wrong code: discarded (the server answered), not unverified. */
    make_reply(buf, RG_RADIUS_ACCOUNTING_RESPONSE, 1, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, false, &chk),
        RG_REPLY_DISCARD);
    assert_int_equal(chk.warn, RG_BACKEND_WARN_UNUSABLE);
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, true, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, false, &chk),
        RG_REPLY_DISCARD);

    /* EAP-Message without Message-Authenticator: RFC 3579 §3.2, even under false. */
    make_reply(buf, RG_RADIUS_ACCESS_CHALLENGE, 1, sent_auth, false, true);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, true, sent_auth, RG_REQUIRE_MA_FALSE, false, &chk),
        RG_REPLY_DISCARD);
    assert_int_equal(chk.warn, RG_BACKEND_WARN_EAP_UNSIGNED);

    /* A Status-Server answer proves the server alive, signed or not. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_STATUS_SERVER, false, sent_auth, RG_REQUIRE_MA_TRUE, false, &chk),
        RG_REPLY_FORWARD);
    assert_false(chk.learned);
}

/* require-message-authenticator = auto, as a server like Debian's FreeRADIUS 3.2.1 answers:
 * EAP replies signed, PAP replies not. EAP first proves nothing; PAP passes (and is flagged
 * for the warning) until the server once signs a PAP reply; after that unsigned ones go. */
static void test_check_reply_policy_auto_learns(void **state)
{
    (void)state;
    uint8_t sent_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    struct rg_reply_check chk;
    bool signs = false;

    make_reply(buf, RG_RADIUS_ACCESS_CHALLENGE, 2, sent_auth, true, true);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, true, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_FORWARD);
    assert_false(chk.learned); /* an EAP reply is signed by every server */
    assert_false(chk.unsigned_passed);
    /* An EAP conversation's final Access-Accept, signed: still proves nothing. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 2, sent_auth, true, true);
    check(buf, RG_RADIUS_ACCESS_REQUEST, true, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk);
    assert_false(chk.learned);

    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 3, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_FORWARD);
    assert_true(chk.unsigned_passed);
    assert_false(chk.learned);
    make_reply(buf, RG_RADIUS_ACCESS_REJECT, 3, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_FORWARD);

    /* The server starts signing PAP replies (upgraded): learned. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 4, sent_auth, true, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_FORWARD);
    assert_true(chk.learned);
    signs = chk.learned;

    /* From then on an unsigned one is discarded: a forged reply (BlastRADIUS) looks like this. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 5, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_DISCARD);
    assert_int_equal(chk.warn, RG_BACKEND_WARN_UNSIGNED_DROPPED);
    /* ... also the unsigned final reply of an EAP request without EAP-Message in it. */
    make_reply(buf, RG_RADIUS_ACCESS_REJECT, 5, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, true, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_DISCARD);
    /* Accounting-Response never needs one. */
    make_reply(buf, RG_RADIUS_ACCOUNTING_RESPONSE, 6, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, signs, &chk),
        RG_REPLY_FORWARD);
}

static void test_check_reply_policy_true_false(void **state)
{
    (void)state;
    uint8_t sent_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    struct rg_reply_check chk;

    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, false, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_TRUE, false, &chk),
        RG_REPLY_DISCARD);
    assert_int_equal(chk.warn, RG_BACKEND_WARN_UNSIGNED_DROPPED);
    assert_non_null(strstr(chk.why, "require-message-authenticator = true"));
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_FALSE, true, &chk),
        RG_REPLY_FORWARD);
    assert_true(chk.unsigned_passed);
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, true, false);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_TRUE, false, &chk),
        RG_REPLY_FORWARD);
    assert_false(chk.unsigned_passed);
}

/* An Accounting-Response with Message-Authenticator: accepted under either convention
 * (FreeRADIUS 3.2.1-3.2.8: zeroed authenticator field; 3.2.9+, radsecproxy, hostapd: the
 * request's), refused when it matches neither, and never passed on to the AP. */
static void test_accounting_response_msgauth(void **state)
{
    (void)state;
    uint8_t sent_auth[16], ap_auth[16], buf[RG_RADIUS_MAX_LEN];
    static const uint8_t zeros[16];
    rg_random_bytes(sent_auth, 16);
    rg_random_bytes(ap_auth, 16);
    size_t bl = strlen(BE_SECRET);
    struct rg_reply_check chk;
    const uint8_t *conventions[] = {sent_auth, zeros};
    for (unsigned i = 0; i < 2; i++) {
        struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
        rg_radius_init(&p, RG_RADIUS_ACCOUNTING_RESPONSE, 8, NULL);
        rg_radius_msgauth_add_first(&p);
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "ps", 2);
        rg_radius_msgauth_sign(buf, conventions[i], BE_SECRET, bl);
        rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
        assert_int_equal(check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth,
                               RG_REQUIRE_MA_TRUE, false, &chk),
                         RG_REPLY_FORWARD);
        unsigned ctr = 0;
        assert_int_equal(rg_proxy_translate_reply(buf, rg_radius_len(buf), sizeof(buf), sent_auth,
                                                  BE_SECRET, bl, 9, ap_auth, AP_SECRET, 6, &ctr),
                         0);
        struct rg_radius_attr a;
        assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a),
                         0);
        assert_int_equal(rg_radius_len(buf), 20 + 4);
        assert_int_equal(rg_radius_auth_response_verify(buf, ap_auth, AP_SECRET, 6), 0);
    }
    /* Signed with something else: fails verification. */
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCOUNTING_RESPONSE, 8, NULL);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, ap_auth, BE_SECRET, bl);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_equal(
        check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, false, &chk),
        RG_REPLY_UNVERIFIED);
    /* Access-* replies keep theirs, re-signed for the AP. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, false, false);
    unsigned ctr = 0;
    assert_int_equal(rg_proxy_translate_reply(buf, rg_radius_len(buf), sizeof(buf), sent_auth,
                                              BE_SECRET, bl, 9, ap_auth, AP_SECRET, 6, &ctr),
                     0);
    assert_int_equal(rg_radius_msgauth_verify(buf, ap_auth, AP_SECRET, 6), 0);
    assert_int_equal(buf[20], RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
}

/* An Access-Request of nearly 4096 octets that cannot take the Message-Authenticator or the
 * CHAP-Challenge: -EMSGSIZE (dropped by the caller), not -ENOSPC (which means "wait for IDs"). */
static size_t make_big_request(uint8_t *buf, uint8_t code, size_t target, bool chap)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    rg_radius_init(&p, code, 5, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5);
    if (chap) {
        uint8_t chap_pw[17] = {1};
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_PASSWORD, chap_pw, sizeof(chap_pw));
    }
    uint8_t filler[253];
    memset(filler, 'x', sizeof(filler));
    size_t rem;
    while ((rem = target - rg_radius_len(buf)) >= 3) {
        size_t chunk = rem - 2 > 253 ? 253 : rem - 2;
        if (rem - (chunk + 2) > 0 && rem - (chunk + 2) < 3)
            chunk -= 3; /* leave room for a last attribute of 3 octets or more */
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, filler, chunk), 0);
    }
    if (code == RG_RADIUS_ACCOUNTING_REQUEST)
        rg_radius_auth_request_sign(buf, AP_SECRET, 6);
    return rg_radius_len(buf);
}

static void test_translate_request_no_room(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    size_t len = make_big_request(in, RG_RADIUS_ACCESS_REQUEST, 4090, false);
    assert_true(len > 4078);
    assert_int_equal(rg_proxy_translate_request(in, len, AP_SECRET, 6, 1, BE_SECRET,
                                                strlen(BE_SECRET), out, sizeof(out), sent_auth),
                     -EMSGSIZE);
    len = make_big_request(in, RG_RADIUS_ACCESS_REQUEST, 4070, true);
    assert_int_equal(rg_proxy_translate_request(in, len, AP_SECRET, 6, 1, BE_SECRET,
                                                strlen(BE_SECRET), out, sizeof(out), sent_auth),
                     -EMSGSIZE);
    /* Accounting gets nothing added: a full-size Accounting-Request goes through. */
    len = make_big_request(in, RG_RADIUS_ACCOUNTING_REQUEST, 4096, false);
    assert_int_equal(len, 4096);
    assert_int_equal(rg_proxy_translate_request(in, len, AP_SECRET, 6, 1, BE_SECRET,
                                                strlen(BE_SECRET), out, sizeof(out), sent_auth),
                     4096);
}

/* RFC 2865 §5.33: replies the gateway makes itself carry the request's Proxy-State, in order. */
static void test_local_reply_echoes_proxy_state(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN];
    size_t len = make_ap_access_request(in, "pw", false);
    (void)len;
    int n = rg_proxy_local_reply(out, sizeof(out), RG_RADIUS_ACCESS_REJECT, in[1], in + 4, in,
                                 "No RADIUS server available", AP_SECRET, 6);
    assert_true(n > 0);
    assert_int_equal(out[1], in[1]);
    assert_int_equal(rg_radius_auth_response_verify(out, in + 4, AP_SECRET, 6), 0);
    assert_int_equal(rg_radius_msgauth_verify(out, in + 4, AP_SECRET, 6), 0);
    assert_int_equal(out[20], RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
    assert_memory_equal(a.value, "one", 3);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
    assert_memory_equal(a.value, "two", 3);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 0);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_REPLY_MESSAGE, NULL, &a), 1);
    /* Status-Server answer: the same. */
    n = rg_proxy_local_reply(out, sizeof(out), RG_RADIUS_ACCESS_ACCEPT, 7, in + 4, in, NULL,
                             AP_SECRET, 6);
    assert_true(n > 0);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, NULL, &a), 1);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_REPLY_MESSAGE, NULL, &a), 0);
}

/* An Access-Request with one User-Password attribute of raw value v (len n), or two. */
static size_t make_password_request(uint8_t *buf, size_t n, bool twice)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    uint8_t v[253];
    memset(v, 0x41, sizeof(v));
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 3, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, v, n);
    if (twice)
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, v, n);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, AP_SECRET, 6);
    return rg_radius_len(buf);
}

static void test_request_invalid_user_password(void **state)
{
    (void)state;
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_password_request(buf, 16, false);
    assert_null(rg_proxy_request_invalid(buf));
    make_password_request(buf, 128, false);
    assert_null(rg_proxy_request_invalid(buf));
    make_password_request(buf, 0, false);
    assert_string_equal(rg_proxy_request_invalid(buf), "empty User-Password");
    make_password_request(buf, 144, false);
    assert_non_null(strstr(rg_proxy_request_invalid(buf), "over 128"));
    make_password_request(buf, 20, false);
    assert_non_null(strstr(rg_proxy_request_invalid(buf), "multiple of 16"));
    make_password_request(buf, 16, true);
    assert_non_null(strstr(rg_proxy_request_invalid(buf), "more than once"));
}

/* ---- the state table driven without TLS: a worker with a loop and real UDP sockets towards
 * a port nobody answers on; replies are handed to rg_proxy_on_reply directly. The AP's
 * connection never completes a handshake, so what would be written to it is dropped. ---- */

static struct rg_worker wk;
static struct rg_gen wgen;
static struct rg_conn *wconn;

static void worker_up(const char *ma)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
             "pool \"corp\" { timeout = 2 retries = 2 status-server = false\n"
             "  require-message-authenticator = %s\n"
             "  server \"rad1\" { host = \"127.0.0.1\" auth-port = 9 acct-port = 9 "
             "secret = \"" BE_SECRET "\" } }\n"
             "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" secret = \"" AP_SECRET "\" }\n"
             "log { requests = false }\n",
             ma);
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf("t.conf", text, false, &cfg, &diag);
    if (rc != 0)
        fail_msg("config: %s", diag.text ? diag.text : "?");
    rg_config_diag_free(&diag);
    memset(&wk, 0, sizeof(wk));
    assert_int_equal(uv_loop_init(&wk.loop), 0);
    assert_int_equal(uv_check_init(&wk.loop, &wk.flush_check), 0); /* batched sends */
    wk.flush_check.data = &wk;
    assert_int_equal(rg_proxy_init(&wk.proxy, &wk, &wk.loop, 1024), 0);
    struct rg_backend_events ev = rg_proxy_backend_events(&wk.proxy);
    wk.backends = rg_backend_set_new(&wk, cfg, &ev);
    memset(&wgen, 0, sizeof(wgen));
    wgen.refcount = 1;
    wgen.cfg = cfg;
    wk.gen = &wgen;
    wconn = calloc(1, sizeof(*wconn));
    wconn->inflight = calloc(256, sizeof(*wconn->inflight)); /* as at handshake completion */
    wconn->worker = &wk;
    wconn->gen = &wgen;
    wconn->state = RG_CONN_HANDSHAKE; /* rg_conn_send writes nothing */
    wconn->peer.org = rg_config_find_org(cfg, "acme");
    snprintf(wconn->addr_text, sizeof(wconn->addr_text), "127.0.0.1:1");
    snprintf(wconn->peer.cn, sizeof(wconn->peer.cn), "ap");
}

static void worker_down(void)
{
    rg_proxy_conn_closed(&wk.proxy, wconn);
    rg_proxy_abort_all(&wk.proxy);
    rg_backend_set_retire(wk.backends);
    rg_proxy_close(&wk.proxy);
    uv_close((uv_handle_t *)&wk.flush_check, NULL);
    assert_int_equal(uv_run(&wk.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&wk.loop), 0);
    rg_proxy_free(&wk.proxy);
    rg_config_unref(wgen.cfg);
    free(wconn->inflight);
    free(wconn);
}

static struct rg_backend_server *wserver(void)
{
    return &wk.backends->pools[0].servers[0];
}

/* The AP sends pkt; returns what rg_proxy_on_request returned. */
static int ap_sends(const uint8_t *pkt)
{
    return rg_proxy_on_request(&wk.proxy, wconn, pkt, rg_radius_len(pkt));
}

/* The backend answers the request in flight for AP ID ap_id. */
static void backend_answers(uint8_t ap_id, uint8_t code, bool ma, bool eap)
{
    struct rg_request *req = wconn->inflight[ap_id];
    assert_non_null(req);
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_reply(buf, code, req->id, req->sent_auth, ma, eap);
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
}

static size_t make_eap_request(uint8_t *buf, uint8_t id)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, id, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE,
                       "\x02\x01\x00\x08\x01"
                       "bob",
                       8);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, AP_SECRET, 6);
    return rg_radius_len(buf);
}

static size_t make_pap_request(uint8_t *buf, uint8_t id)
{
    size_t n = make_ap_access_request(buf, "wonderland", false);
    buf[1] = id;
    rg_radius_msgauth_sign(buf, NULL, AP_SECRET, 6);
    return n;
}

#define STAT(name) __atomic_load_n(&wk.stats.name, __ATOMIC_RELAXED)

/* auto against a server that signs EAP replies but not PAP ones (stock FreeRADIUS 3.2.1):
 * EAP first, then PAP: both pass; the state is the process's, shared by every backend set
 * built for the same server (another worker, a reload), and a server that then signs a PAP
 * reply has its unsigned ones dropped from then on. */
static void test_worker_auto_eap_then_pap(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    struct rg_backend_shared *sh = wserver()->shared;
    assert_false(rg_backend_signs(sh));

    make_eap_request(pkt, 10);
    assert_int_equal(ap_sends(pkt), 0);
    assert_true(wconn->inflight[10]->eap);
    backend_answers(10, RG_RADIUS_ACCESS_CHALLENGE, true, true);
    assert_null(wconn->inflight[10]); /* answered */
    assert_false(rg_backend_signs(sh));

    make_pap_request(pkt, 11);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(11, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(wconn->inflight[11]);
    assert_int_equal(STAT(unsigned_accepted), 1);
    assert_int_equal(STAT(drop_unsigned), 0);
    assert_false(rg_backend_signs(sh));

    /* Another worker's (or the next generation's) set for the same server shares the state. */
    struct rg_backend_set *other = rg_backend_set_new(NULL, wgen.cfg, NULL);
    assert_ptr_equal(other->pools[0].servers[0].shared, sh);

    make_pap_request(pkt, 12);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(12, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_true(rg_backend_signs(sh));
    assert_true(rg_backend_signs(other->pools[0].servers[0].shared));

    make_pap_request(pkt, 13);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(13, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(wconn->inflight[13]); /* ended: an answered request is not retransmitted */
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    assert_int_equal(STAT(outstanding), 0);
    rg_backend_set_retire(other);
    worker_down();
}

/* true against a server that does not sign: every reply is discarded, but it answered, so the
 * server stays alive (no "marked dead", no failover storm) and a dead one comes back. */
static void test_worker_true_unsigned_server_stays_alive(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("true");
    make_pap_request(pkt, 20);
    assert_int_equal(ap_sends(pkt), 0);
    rg_backend_mark_dead(wserver(), rg_now_ms(), "test");
    wserver()->missed = 3;
    backend_answers(20, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(wconn->inflight[20]);
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(STAT(retransmits), 0);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    assert_int_equal(wserver()->missed, 0);
    assert_null(rg_proxy_heap_peek(&wk.proxy)); /* no timer left that could retransmit */
    /* EAP replies are signed: they pass under true. */
    make_eap_request(pkt, 21);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(21, RG_RADIUS_ACCESS_CHALLENGE, true, true);
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(STAT(drop_bad_reply), 0);
    worker_down();
}

/* A reply that fails verification is as if it never came: same deadline, same tries, the
 * request still in flight and answered by the good reply that follows. */
static void test_worker_unverified_changes_nothing(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN], buf[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_pap_request(pkt, 30);
    assert_int_equal(ap_sends(pkt), 0);
    struct rg_request *req = wconn->inflight[30];
    uint64_t deadline = req->deadline_ms;
    unsigned tries = req->tries;
    rg_backend_mark_dead(wserver(), rg_now_ms(), "test");
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, req->id, req->sent_auth, true, false);
    buf[4] ^= 0x5a;
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_int_equal(STAT(drop_bad_reply), 1);
    assert_ptr_equal(wconn->inflight[30], req);
    assert_int_equal(req->deadline_ms, deadline);
    assert_int_equal(req->tries, tries);
    assert_int_equal(wserver()->health, RG_BACKEND_DEAD); /* proves nothing */
    assert_false(rg_backend_signs(wserver()->shared));
    backend_answers(30, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_null(wconn->inflight[30]);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    worker_down();
}

/* A verified reply that cannot be used ends its request at once: no retransmission. */
static void test_worker_unusable_reply_finishes(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("false");
    make_pap_request(pkt, 40);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(40, RG_RADIUS_ACCOUNTING_RESPONSE, false, false);
    assert_null(wconn->inflight[40]);
    assert_int_equal(STAT(drop_unusable), 1);
    assert_null(rg_proxy_heap_peek(&wk.proxy));

    /* A Tunnel-Password that does not decrypt (length not 2 + n*16 after the tag). */
    make_pap_request(pkt, 41);
    assert_int_equal(ap_sends(pkt), 0);
    struct rg_request *req = wconn->inflight[41];
    uint8_t buf[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, req->id, NULL);
    rg_radius_msgauth_add_first(&p);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, "\x01\x80\x01xyz", 6);
    rg_radius_msgauth_sign(buf, req->sent_auth, BE_SECRET, strlen(BE_SECRET));
    rg_radius_auth_response_sign(buf, req->sent_auth, BE_SECRET, strlen(BE_SECRET));
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_null(wconn->inflight[41]);
    assert_int_equal(STAT(drop_unusable), 2);

    /* Too big to take the Message-Authenticator for the AP. */
    make_pap_request(pkt, 42);
    assert_int_equal(ap_sends(pkt), 0);
    req = wconn->inflight[42];
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, req->id, NULL);
    uint8_t filler[253];
    memset(filler, 'c', sizeof(filler));
    while ((size_t)rg_radius_len(buf) + 255 + 3 <= RG_RADIUS_MAX_LEN)
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, filler, 253);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, filler,
                       RG_RADIUS_MAX_LEN - rg_radius_len(buf) - 2);
    assert_int_equal(rg_radius_len(buf), RG_RADIUS_MAX_LEN);
    rg_radius_auth_response_sign(buf, req->sent_auth, BE_SECRET, strlen(BE_SECRET));
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_null(wconn->inflight[42]);
    assert_int_equal(STAT(drop_unusable), 3);
    assert_int_equal(STAT(outstanding), 0);
    worker_down();
}

/* RFC 5080 §2.2.2: the same ID with a new Request Authenticator is a new request; the old
 * one is abandoned and its late reply dropped. The same ID and authenticator is a duplicate. */
static void test_worker_reused_id_is_new_request(void **state)
{
    (void)state;
    uint8_t a[RG_RADIUS_MAX_LEN], b[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_pap_request(a, 50);
    assert_int_equal(ap_sends(a), 0);
    struct rg_request *old = wconn->inflight[50];
    uint8_t old_id = old->id;
    uint8_t old_auth[16];
    memcpy(old_auth, old->sent_auth, 16);
    struct rg_backend_sock *old_sock = old->sock;

    assert_int_equal(ap_sends(a), 0); /* the same packet again */
    assert_int_equal(STAT(duplicates), 1);
    assert_ptr_equal(wconn->inflight[50], old);

    make_pap_request(b, 50); /* fresh authenticator */
    assert_memory_not_equal(a + 4, b + 4, 16);
    assert_int_equal(ap_sends(b), 0);
    assert_int_equal(STAT(abandoned), 1);
    assert_int_equal(STAT(forwarded), 2);
    struct rg_request *now = wconn->inflight[50];
    assert_non_null(now);
    assert_ptr_not_equal(now, old);
    assert_memory_equal(now->ap_auth, b + 4, 16);
    assert_null(old->conn);

    /* The old request's reply arrives late: dropped, the new one still waits. */
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, old_id, old_auth, true, false);
    rg_proxy_on_reply(&wk.proxy, old_sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)old_sock->dest->addr);
    assert_int_equal(STAT(drop_late_reply), 1);
    assert_ptr_equal(wconn->inflight[50], now);
    backend_answers(50, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_null(wconn->inflight[50]);
    worker_down();
}

/* Requests that cannot take the added attributes are dropped at once: never -EAGAIN (that
 * pauses the connection until replies drain, and none are coming), never -EBADMSG. */
static void test_worker_near_4096_dropped_not_paused(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_big_request(pkt, RG_RADIUS_ACCESS_REQUEST, 4090, false);
    int rc = ap_sends(pkt);
    assert_int_not_equal(rc, -EAGAIN);
    assert_int_not_equal(rc, -EBADMSG);
    assert_int_equal(STAT(drop_invalid), 1);
    assert_int_equal(STAT(outstanding), 0);
    assert_int_equal(wk.backends->outstanding, 0);
    make_big_request(pkt, RG_RADIUS_ACCESS_REQUEST, 4070, true);
    rc = ap_sends(pkt);
    assert_int_not_equal(rc, -EAGAIN);
    assert_int_equal(STAT(drop_invalid), 2);
    /* A full-size Accounting-Request goes out (nothing is added to it). */
    make_big_request(pkt, RG_RADIUS_ACCOUNTING_REQUEST, 4096, false);
    assert_int_equal(ap_sends(pkt), 0);
    assert_int_equal(STAT(forwarded), 1);
    worker_down();
}

/* A badly shaped User-Password: discarded and counted, -EINVAL (the connection stays), not
 * the -EBADMSG that closes it. */
static void test_worker_bad_user_password_keeps_connection(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    static const struct {
        size_t len;
        bool twice;
    } bad[] = {{0, false}, {144, false}, {20, false}, {16, true}};
    worker_up("auto");
    for (unsigned i = 0; i < 4; i++) {
        make_password_request(pkt, bad[i].len, bad[i].twice);
        assert_int_equal(ap_sends(pkt), -EINVAL);
        assert_int_equal(STAT(drop_invalid), i + 1);
    }
    assert_int_equal(STAT(drop_bad_request), 0);
    assert_int_equal(STAT(forwarded), 0);
    make_password_request(pkt, 32, false);
    assert_int_equal(ap_sends(pkt), 0);
    assert_int_equal(STAT(forwarded), 1);
    worker_down();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_bounded_and_recycled),
        cmocka_unit_test(test_packet_buffers_sized_and_recycled),
        cmocka_unit_test(test_heap_orders_deadlines),
        cmocka_unit_test(test_translate_access_request),
        cmocka_unit_test(test_translate_chap_adds_challenge),
        cmocka_unit_test(test_translate_accounting_request),
        cmocka_unit_test(test_translate_reply_reencrypts),
        cmocka_unit_test(test_check_reply_verification),
        cmocka_unit_test(test_check_reply_policy_auto_learns),
        cmocka_unit_test(test_check_reply_policy_true_false),
        cmocka_unit_test(test_accounting_response_msgauth),
        cmocka_unit_test(test_translate_request_no_room),
        cmocka_unit_test(test_local_reply_echoes_proxy_state),
        cmocka_unit_test(test_request_invalid_user_password),
        cmocka_unit_test(test_worker_auto_eap_then_pap),
        cmocka_unit_test(test_worker_true_unsigned_server_stays_alive),
        cmocka_unit_test(test_worker_unverified_changes_nothing),
        cmocka_unit_test(test_worker_unusable_reply_finishes),
        cmocka_unit_test(test_worker_reused_id_is_new_request),
        cmocka_unit_test(test_worker_near_4096_dropped_not_paused),
        cmocka_unit_test(test_worker_bad_user_password_keeps_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
