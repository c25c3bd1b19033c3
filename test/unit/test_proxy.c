/* Tests of src/proxy.c without sockets: slot recycling, the timer heap, and the
 * translation of requests and replies between the RadSec secret and a backend secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/common.h"
#include "radsecgw/proxy.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"

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
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, BE_SECRET, strlen(BE_SECRET)), 0);
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
    assert_int_equal(
        rg_proxy_verify_reply(buf, len, sent_auth, BE_SECRET, strlen(BE_SECRET), true, &why), 0);
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

static void test_verify_reply_rejects(void **state)
{
    (void)state;
    uint8_t sent_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    const char *why = NULL;
    size_t bl = strlen(BE_SECRET);

    /* No Message-Authenticator: fine unless required (BlastRADIUS) */
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_equal(rg_proxy_verify_reply(buf, 20, sent_auth, BE_SECRET, bl, false, &why), 0);
    assert_int_not_equal(rg_proxy_verify_reply(buf, 20, sent_auth, BE_SECRET, bl, true, &why), 0);
    assert_string_equal(why, "no Message-Authenticator");

    /* Accounting-Response never needs one (require applies to Access-* replies) */
    rg_radius_init(&p, RG_RADIUS_ACCOUNTING_RESPONSE, 1, NULL);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_equal(rg_proxy_verify_reply(buf, 20, sent_auth, BE_SECRET, bl, true, &why), 0);

    /* Wrong secret: Response Authenticator fails */
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_not_equal(rg_proxy_verify_reply(buf, 20, sent_auth, "other", 5, false, &why), 0);
    assert_string_equal(why, "bad Response Authenticator");

    /* Tampered Message-Authenticator */
    rg_radius_init(&p, RG_RADIUS_ACCESS_REJECT, 1, NULL);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, sent_auth, BE_SECRET, bl);
    buf[22] ^= 1;
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_not_equal(
        rg_proxy_verify_reply(buf, rg_radius_len(buf), sent_auth, BE_SECRET, bl, true, &why), 0);
    assert_string_equal(why, "bad Message-Authenticator");

    /* EAP-Message without Message-Authenticator is refused even when not required */
    rg_radius_init(&p, RG_RADIUS_ACCESS_CHALLENGE, 1, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE, "\x01\x02\x00\x04", 4);
    rg_radius_auth_response_sign(buf, sent_auth, BE_SECRET, bl);
    assert_int_not_equal(
        rg_proxy_verify_reply(buf, rg_radius_len(buf), sent_auth, BE_SECRET, bl, false, &why), 0);
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
        cmocka_unit_test(test_verify_reply_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
