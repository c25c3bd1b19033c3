/* Tests of src/translate.c (pure): the translation of requests and replies between the
 * RadSec secret and a backend secret, the reply checks and the
 * require-message-authenticator policy, the gateway's own replies, the User-Password checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_packets.h"
#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

static void test_translate_access_request(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    const char *pw = "correct horse battery staple";
    size_t len = make_ap_access_request(in, pw, false);
    int n = rg_translate_request(in, len, RG_SECRET_LIT(AP_SECRET), 77,
                                 (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out, sizeof(out),
                                 sent_auth);
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
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, rg_secret_str(BE_SECRET)), 0);
    assert_int_not_equal(rg_radius_msgauth_verify(out, NULL, RG_SECRET_LIT(AP_SECRET)), 0);
    /* User-Password unhides with the backend secret to the AP's password. */
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a), 1);
    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    size_t pl;
    assert_int_equal(rg_radius_password_unhide(a.value, a.value_len, out + 4,
                                               rg_secret_str(BE_SECRET), plain, &pl),
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
    int n = rg_translate_request(in, len, RG_SECRET_LIT(AP_SECRET), 1,
                                 (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out, sizeof(out),
                                 sent_auth);
    assert_true(n > 0);
    struct rg_radius_attr a;
    /* RFC 2865 §5.3: the AP's authenticator was the CHAP challenge; it travels on. */
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_CHAP_CHALLENGE, NULL, &a), 1);
    assert_int_equal(a.value_len, 16);
    assert_memory_equal(a.value, in + 4, 16);
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, rg_secret_str(BE_SECRET)), 0);
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
    rg_radius_auth_request_sign(in, RG_SECRET_LIT(AP_SECRET));
    assert_int_equal(rg_radius_auth_request_verify(in, RG_SECRET_LIT(AP_SECRET)), 0);
    int n = rg_translate_request(in, rg_radius_len(in), RG_SECRET_LIT(AP_SECRET), 3,
                                 (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out, sizeof(out),
                                 sent_auth);
    assert_true(n > 0);
    assert_int_equal(out[1], 3);
    /* RFC 2866 §3: recomputed for the backend secret. */
    assert_int_equal(rg_radius_auth_request_verify(out, rg_secret_str(BE_SECRET)), 0);
    assert_int_not_equal(rg_radius_auth_request_verify(out, RG_SECRET_LIT(AP_SECRET)), 0);
    /* RFC 3579 §3.3: Message-Authenticator MUST NOT be in an Accounting-Request. */
    assert_int_equal(rg_radius_msgauth_verify(out, NULL, rg_secret_str(BE_SECRET)), -ENOENT);

    /* One from the AP is verified on the way in (by the caller) and never forwarded. */
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(in, NULL, RG_SECRET_LIT(AP_SECRET));
    rg_radius_auth_request_sign(in, RG_SECRET_LIT(AP_SECRET));
    n = rg_translate_request(in, rg_radius_len(in), RG_SECRET_LIT(AP_SECRET), 4,
                             (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out, sizeof(out),
                             sent_auth);
    assert_int_equal(n, rg_radius_len(in) - 18);
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a), 0);
    assert_int_equal(rg_radius_auth_request_verify(out, rg_secret_str(BE_SECRET)), 0);
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
        rg_radius_salted_hide(key, 32, salt, sent_auth, rg_secret_str(BE_SECRET), hidden, &hl), 0);
    rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, hidden, hl);
    rg_radius_salt_new(salt, &ctr);
    rg_radius_salted_hide(key, 16, salt, sent_auth, rg_secret_str(BE_SECRET), hidden, &hl);
    tp[0] = 1; /* tag */
    memcpy(tp + 1, hidden, hl);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, tp, hl + 1);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, "hi", 2);
    rg_radius_msgauth_sign(buf, sent_auth, rg_secret_str(BE_SECRET));
    rg_radius_auth_response_sign(buf, sent_auth, rg_secret_str(BE_SECRET));

    const char *why = NULL;
    size_t len = rg_radius_len(buf);
    assert_int_equal(rg_translate_verify_reply(buf, len, sent_auth,
                                               (rg_secret){BE_SECRET, strlen(BE_SECRET)}, &why),
                     1);
    assert_int_equal(rg_translate_reply(buf, len, sizeof(buf), sent_auth,
                                        (rg_secret){BE_SECRET, strlen(BE_SECRET)}, 9, ap_auth,
                                        RG_SECRET_LIT(AP_SECRET), &ctr),
                     0);
    assert_int_equal(buf[1], 9);
    assert_int_equal(rg_radius_auth_response_verify(buf, ap_auth, RG_SECRET_LIT(AP_SECRET)), 0);
    assert_int_equal(rg_radius_msgauth_verify(buf, ap_auth, RG_SECRET_LIT(AP_SECRET)), 0);
    /* The keys unhide with the AP's secret and authenticator to the same octets. */
    struct rg_radius_attr a;
    size_t pos = 0;
    uint8_t out[64];
    size_t ol;
    assert_int_equal(
        rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, &pos, &a),
        1);
    assert_int_equal(
        rg_radius_salted_unhide(a.value, a.value_len, ap_auth, RG_SECRET_LIT(AP_SECRET), out, &ol),
        0);
    assert_int_equal(ol, 32);
    assert_memory_equal(out, key, 32);
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a), 1);
    assert_int_equal(a.value[0], 1); /* tag kept */
    assert_true(a.value[1] & 0x80);  /* RFC 2868 §3.5: salt top bit set */
    assert_int_equal(rg_radius_salted_unhide(a.value + 1, a.value_len - 1, ap_auth,
                                             RG_SECRET_LIT(AP_SECRET), out, &ol),
                     0);
    assert_int_equal(ol, 16);
    assert_memory_equal(out, key, 16);
}

static enum rg_reply_verdict check(const uint8_t *buf, uint8_t req_code, bool req_eap,
                                   const uint8_t *sent_auth, enum rg_require_ma mode, bool signs,
                                   struct rg_reply_check *chk)
{
    return rg_translate_check_reply(buf, rg_radius_len(buf), req_code, req_eap, sent_auth,
                                    (rg_secret){BE_SECRET, strlen(BE_SECRET)}, mode, signs, chk);
}

static void test_check_reply_verification(void **state)
{
    (void)state;
    uint8_t sent_auth[16], buf[RG_RADIUS_MAX_LEN];
    rg_random_bytes(sent_auth, 16);
    struct rg_reply_check chk;

    /* Wrong secret: the Response Authenticator fails, whatever the policy. */
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_auth_response_sign(buf, sent_auth, RG_SECRET_LIT("other"));
    assert_int_equal(
        check(buf, RG_RADIUS_ACCESS_REQUEST, false, sent_auth, RG_REQUIRE_MA_FALSE, false, &chk),
        RG_REPLY_UNVERIFIED);
    assert_string_equal(chk.why, "bad Response Authenticator");

    /* A tampered Message-Authenticator fails even under false. */
    make_reply(buf, RG_RADIUS_ACCESS_REJECT, 1, sent_auth, true, false);
    buf[22] ^= 1;
    rg_radius_auth_response_sign(buf, sent_auth, RG_SECRET_LIT(BE_SECRET));
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
    struct rg_reply_check chk;
    const uint8_t *conventions[] = {sent_auth, zeros};
    for (unsigned i = 0; i < 2; i++) {
        struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
        rg_radius_init(&p, RG_RADIUS_ACCOUNTING_RESPONSE, 8, NULL);
        rg_radius_msgauth_add_first(&p);
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "ps", 2);
        rg_radius_msgauth_sign(buf, conventions[i], RG_SECRET_LIT(BE_SECRET));
        rg_radius_auth_response_sign(buf, sent_auth, RG_SECRET_LIT(BE_SECRET));
        assert_int_equal(check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth,
                               RG_REQUIRE_MA_TRUE, false, &chk),
                         RG_REPLY_FORWARD);
        unsigned ctr = 0;
        assert_int_equal(rg_translate_reply(buf, rg_radius_len(buf), sizeof(buf), sent_auth,
                                            RG_SECRET_LIT(BE_SECRET), 9, ap_auth,
                                            RG_SECRET_LIT(AP_SECRET), &ctr),
                         0);
        struct rg_radius_attr a;
        assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a),
                         0);
        assert_int_equal(rg_radius_len(buf), 20 + 4);
        assert_int_equal(rg_radius_auth_response_verify(buf, ap_auth, RG_SECRET_LIT(AP_SECRET)), 0);
    }
    /* Signed with something else: fails verification. */
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCOUNTING_RESPONSE, 8, NULL);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, ap_auth, RG_SECRET_LIT(BE_SECRET));
    rg_radius_auth_response_sign(buf, sent_auth, RG_SECRET_LIT(BE_SECRET));
    assert_int_equal(
        check(buf, RG_RADIUS_ACCOUNTING_REQUEST, false, sent_auth, RG_REQUIRE_MA_AUTO, false, &chk),
        RG_REPLY_UNVERIFIED);
    /* Access-* replies keep theirs, re-signed for the AP. */
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, 1, sent_auth, false, false);
    unsigned ctr = 0;
    assert_int_equal(rg_translate_reply(buf, rg_radius_len(buf), sizeof(buf), sent_auth,
                                        RG_SECRET_LIT(BE_SECRET), 9, ap_auth,
                                        RG_SECRET_LIT(AP_SECRET), &ctr),
                     0);
    assert_int_equal(rg_radius_msgauth_verify(buf, ap_auth, RG_SECRET_LIT(AP_SECRET)), 0);
    assert_int_equal(buf[20], RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
}

static void test_translate_request_no_room(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent_auth[16];
    size_t len = make_big_request(in, RG_RADIUS_ACCESS_REQUEST, 4090, false);
    assert_true(len > 4078);
    assert_int_equal(rg_translate_request(in, len, RG_SECRET_LIT(AP_SECRET), 1,
                                          (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out,
                                          sizeof(out), sent_auth),
                     -EMSGSIZE);
    len = make_big_request(in, RG_RADIUS_ACCESS_REQUEST, 4070, true);
    assert_int_equal(rg_translate_request(in, len, RG_SECRET_LIT(AP_SECRET), 1,
                                          (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out,
                                          sizeof(out), sent_auth),
                     -EMSGSIZE);
    /* Accounting gets nothing added: a full-size Accounting-Request goes through. */
    len = make_big_request(in, RG_RADIUS_ACCOUNTING_REQUEST, 4096, false);
    assert_int_equal(len, 4096);
    assert_int_equal(rg_translate_request(in, len, RG_SECRET_LIT(AP_SECRET), 1,
                                          (rg_secret){BE_SECRET, strlen(BE_SECRET)}, out,
                                          sizeof(out), sent_auth),
                     4096);
}

/* RFC 2865 §5.33: replies the gateway makes itself carry the request's Proxy-State, in order. */
static void test_local_reply_echoes_proxy_state(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN];
    size_t len = make_ap_access_request(in, "pw", false);
    (void)len;
    int n = rg_translate_local_reply(out, sizeof(out), RG_RADIUS_ACCESS_REJECT, in[1], in + 4, in,
                                     "No RADIUS server available", RG_SECRET_LIT(AP_SECRET));
    assert_true(n > 0);
    assert_int_equal(out[1], in[1]);
    assert_int_equal(rg_radius_auth_response_verify(out, in + 4, RG_SECRET_LIT(AP_SECRET)), 0);
    assert_int_equal(rg_radius_msgauth_verify(out, in + 4, RG_SECRET_LIT(AP_SECRET)), 0);
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
    n = rg_translate_local_reply(out, sizeof(out), RG_RADIUS_ACCESS_ACCEPT, 7, in + 4, in, NULL,
                                 RG_SECRET_LIT(AP_SECRET));
    assert_true(n > 0);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_PROXY_STATE, NULL, &a), 1);
    assert_int_equal(rg_radius_attr_find(out, RG_RADIUS_ATTR_REPLY_MESSAGE, NULL, &a), 0);
}

static void test_request_invalid_user_password(void **state)
{
    (void)state;
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_password_request(buf, 16, false);
    assert_null(rg_translate_request_invalid(buf));
    make_password_request(buf, 128, false);
    assert_null(rg_translate_request_invalid(buf));
    make_password_request(buf, 0, false);
    assert_string_equal(rg_translate_request_invalid(buf), "empty User-Password");
    make_password_request(buf, 144, false);
    assert_non_null(strstr(rg_translate_request_invalid(buf), "over 128"));
    make_password_request(buf, 20, false);
    assert_non_null(strstr(rg_translate_request_invalid(buf), "multiple of 16"));
    make_password_request(buf, 16, true);
    assert_non_null(strstr(rg_translate_request_invalid(buf), "more than once"));
}

/* One reply-code check for the proxy and for CoA: each request code has its own answers. */
static void test_reply_matches_each_request_code(void **state)
{
    (void)state;
    static const struct {
        uint8_t req, code;
        bool ok;
    } cases[] = {
        {RG_RADIUS_ACCESS_REQUEST, RG_RADIUS_ACCESS_ACCEPT, true},
        {RG_RADIUS_ACCESS_REQUEST, RG_RADIUS_ACCESS_REJECT, true},
        {RG_RADIUS_ACCESS_REQUEST, RG_RADIUS_ACCESS_CHALLENGE, true},
        {RG_RADIUS_ACCESS_REQUEST, RG_RADIUS_ACCOUNTING_RESPONSE, false},
        {RG_RADIUS_ACCOUNTING_REQUEST, RG_RADIUS_ACCOUNTING_RESPONSE, true},
        {RG_RADIUS_ACCOUNTING_REQUEST, RG_RADIUS_ACCESS_ACCEPT, false},
        {RG_RADIUS_STATUS_SERVER, RG_RADIUS_ACCESS_ACCEPT, true},
        {RG_RADIUS_STATUS_SERVER, RG_RADIUS_ACCOUNTING_RESPONSE, true},
        {RG_RADIUS_STATUS_SERVER, RG_RADIUS_ACCESS_REJECT, false},
        {RG_RADIUS_DISCONNECT_REQUEST, RG_RADIUS_DISCONNECT_ACK, true},
        {RG_RADIUS_DISCONNECT_REQUEST, RG_RADIUS_DISCONNECT_NAK, true},
        {RG_RADIUS_DISCONNECT_REQUEST, RG_RADIUS_COA_ACK, false},
        {RG_RADIUS_COA_REQUEST, RG_RADIUS_COA_ACK, true},
        {RG_RADIUS_COA_REQUEST, RG_RADIUS_COA_NAK, true},
        {RG_RADIUS_COA_REQUEST, RG_RADIUS_DISCONNECT_ACK, false},
        {RG_RADIUS_ACCESS_ACCEPT, RG_RADIUS_ACCESS_ACCEPT, false}, /* not a request */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(rg_translate_reply_matches(cases[i].req, cases[i].code), cases[i].ok);
}

/* What an AP sends is verified with the RadSec secret first: a wrong secret, an unsigned
 * EAP-Message or Status-Server, a bad Accounting Request Authenticator each give a reason. */
static void test_check_request_with_radsec_secret(void **state)
{
    (void)state;
    rg_secret ap = {AP_SECRET, 6}, other = {"other!", 6};
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_ap_access_request(buf, "wonderland", false);
    assert_null(rg_translate_check_request(buf, ap));
    assert_string_equal(rg_translate_check_request(buf, other), "bad Message-Authenticator");

    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    assert_null(rg_translate_check_request(buf, ap)); /* unsigned PAP: allowed */
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE, "\x02\x01\x00\x04", 4);
    assert_string_equal(rg_translate_check_request(buf, ap),
                        "EAP-Message without Message-Authenticator");

    rg_radius_init(&p, RG_RADIUS_STATUS_SERVER, 2, NULL);
    rg_radius_auth_random(buf);
    assert_non_null(rg_translate_check_request(buf, ap));
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, RG_SECRET_LIT(AP_SECRET));
    assert_null(rg_translate_check_request(buf, ap));

    rg_radius_init(&p, RG_RADIUS_ACCOUNTING_REQUEST, 3, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    rg_radius_auth_request_sign(buf, RG_SECRET_LIT(AP_SECRET));
    assert_null(rg_translate_check_request(buf, ap));
    assert_string_equal(rg_translate_check_request(buf, other),
                        "bad Accounting Request Authenticator");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        cmocka_unit_test(test_reply_matches_each_request_code),
        cmocka_unit_test(test_check_request_with_radsec_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
