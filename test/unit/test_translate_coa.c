/* Tests of the CoA half of src/translate.c (pure): CoA/Disconnect packets between the coa
 * client's secret and the RadSec secret (RFC 5176 §2.3, §3.1, §3.5), the gateway's own NAK,
 * and the hidden attributes it refuses to forward. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

#define DAC_SECRET    "kat-secret"
#define RADSEC_SECRET "radsec"

/* radclient (FreeRADIUS 3.2) Disconnect-Request, secret "kat-secret": NAS-Identifier "ap-1",
 * User-Name "alice", Proxy-State 0x01020304. */
static const char kat_disconnect_hex[] = "282d0027ad6be0e2cafef83629ec5dded90fe5cb2006617"
                                         "02d310107616c696365210601020304";

static size_t from_hex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void test_check_request_radclient_vector(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    size_t len = from_hex(kat_disconnect_hex, pkt);
    assert_int_equal(len, 39);
    assert_int_equal(rg_radius_validate(pkt, len, NULL), 0);
    assert_null(rg_translate_coa_check_request(pkt, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}));
    assert_string_equal(rg_translate_coa_check_request(pkt, (rg_secret){"wrong", 5}),
                        "bad Request Authenticator");
    pkt[0] = RG_RADIUS_ACCOUNTING_REQUEST;
    assert_non_null(
        rg_translate_coa_check_request(pkt, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}));
}

/* A CoA-Request as a DAC would send it, optionally with Message-Authenticator. */
static size_t build_coa(uint8_t *buf, uint8_t code, bool ma, const char *secret)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    assert_int_equal(rg_radius_init(&p, code, 77, NULL), 0);
    if (ma)
        assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, "ap-1", 4), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "\x01\x02", 2), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "\x03", 1), 0);
    if (ma)
        assert_int_equal(rg_radius_msgauth_sign(buf, NULL, rg_secret_str(secret)), 0);
    rg_radius_auth_request_sign(buf, rg_secret_str(secret));
    return rg_radius_len(buf);
}

static void test_check_request_message_authenticator(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    size_t len = build_coa(pkt, RG_RADIUS_COA_REQUEST, true, DAC_SECRET);
    assert_null(rg_translate_coa_check_request(pkt, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}));
    /* A forged Message-Authenticator with a recomputed Request Authenticator. */
    pkt[RG_RADIUS_HDR_LEN + 5] ^= 1;
    rg_radius_auth_request_sign(pkt, rg_secret_str(DAC_SECRET));
    assert_string_equal(
        rg_translate_coa_check_request(pkt, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}),
        "bad Message-Authenticator");
    (void)len;
}

static void test_translate_request_resigns(void **state)
{
    (void)state;
    uint8_t in[RG_RADIUS_MAX_LEN], out[RG_RADIUS_MAX_LEN], sent[RG_RADIUS_AUTH_LEN];
    for (int ma = 0; ma < 2; ma++) {
        size_t len = build_coa(in, RG_RADIUS_DISCONNECT_REQUEST, ma, DAC_SECRET);
        int n = rg_translate_coa_request(in, len, 200,
                                         (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)}, out,
                                         sizeof(out), sent);
        assert_int_equal(n, (int)len);
        assert_int_equal(out[0], RG_RADIUS_DISCONNECT_REQUEST);
        assert_int_equal(out[1], 200);
        assert_memory_equal(out + 4, sent, RG_RADIUS_AUTH_LEN);
        /* RFC 5176 §2.3 with the RadSec secret; no longer good with the DAC's. */
        assert_null(
            rg_translate_coa_check_request(out, (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)}));
        assert_non_null(
            rg_translate_coa_check_request(out, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}));
        assert_int_equal(rg_radius_msgauth_verify(out, NULL, rg_secret_str(RADSEC_SECRET)),
                         ma ? 0 : -ENOENT);
        /* Attributes travel unchanged (Proxy-State in order, RFC 5176 §3.1). */
        size_t a_off = ma ? RG_RADIUS_HDR_LEN + 18 : RG_RADIUS_HDR_LEN;
        assert_memory_equal(out + a_off, in + a_off, len - a_off);
    }
    /* In place, as the worker does it. */
    size_t len = build_coa(in, RG_RADIUS_COA_REQUEST, true, DAC_SECRET);
    assert_int_equal(rg_translate_coa_request(in, len, 9,
                                              (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)}, in,
                                              len, sent),
                     (int)len);
    assert_null(
        rg_translate_coa_check_request(in, (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)}));
    /* A Length that disagrees with the datagram is refused. */
    assert_true(rg_translate_coa_request(in, len - 1, 9,
                                         (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)}, out,
                                         sizeof(out), sent) < 0);
}

static void test_translate_reply_for_client(void **state)
{
    (void)state;
    uint8_t req[RG_RADIUS_MAX_LEN], sent_pkt[RG_RADIUS_MAX_LEN], sent[RG_RADIUS_AUTH_LEN];
    size_t len = build_coa(req, RG_RADIUS_COA_REQUEST, true, DAC_SECRET);
    rg_translate_coa_request(req, len, 5, (rg_secret){RADSEC_SECRET, strlen(RADSEC_SECRET)},
                             sent_pkt, sizeof(sent_pkt), sent);
    /* The NAS's CoA-NAK: Message-Authenticator, Error-Cause 503, signed for the request it
     * got. */
    uint8_t ack[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = ack, .cap = sizeof(ack)};
    uint8_t ec[4] = {0, 0, 1, 247};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_COA_NAK, 5, sent), 0);
    assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_ERROR_CAUSE, ec, 4), 0);
    rg_radius_msgauth_sign(ack, sent, rg_secret_str(RADSEC_SECRET));
    rg_radius_auth_response_sign(ack, sent, rg_secret_str(RADSEC_SECRET));
    assert_true(rg_translate_reply_matches(RG_RADIUS_COA_REQUEST, ack[0]));
    assert_false(rg_translate_reply_matches(RG_RADIUS_DISCONNECT_REQUEST, ack[0]));

    rg_translate_coa_reply(ack, req[1], req + 4, (rg_secret){DAC_SECRET, strlen(DAC_SECRET)});
    assert_int_equal(ack[1], 77);
    assert_int_equal(rg_radius_auth_response_verify(ack, req + 4, rg_secret_str(DAC_SECRET)), 0);
    assert_int_equal(rg_radius_msgauth_verify(ack, req + 4, rg_secret_str(DAC_SECRET)), 0);
    struct rg_radius_attr a;
    assert_true(rg_radius_attr_find(ack, RG_RADIUS_ATTR_ERROR_CAUSE, NULL, &a));
    assert_memory_equal(a.value, ec, 4);
}

static void test_build_nak(void **state)
{
    (void)state;
    uint8_t req[RG_RADIUS_MAX_LEN], nak[RG_RADIUS_MAX_LEN];
    build_coa(req, RG_RADIUS_DISCONNECT_REQUEST, false, DAC_SECRET);
    int n = rg_translate_coa_nak(req, RG_COA_ERR_NOT_ROUTABLE,
                                 (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}, nak, sizeof(nak));
    assert_true(n > 0);
    assert_int_equal(nak[0], RG_RADIUS_DISCONNECT_NAK);
    assert_int_equal(nak[1], req[1]);
    assert_int_equal(rg_radius_auth_response_verify(nak, req + 4, rg_secret_str(DAC_SECRET)), 0);
    assert_int_equal(rg_radius_msgauth_verify(nak, req + 4, rg_secret_str(DAC_SECRET)), 0);
    struct rg_radius_attr a;
    assert_true(rg_radius_attr_find(nak, RG_RADIUS_ATTR_ERROR_CAUSE, NULL, &a));
    assert_int_equal(a.value_len, 4);
    assert_int_equal(a.value[2] << 8 | a.value[3], 502);
    /* RFC 5176 §3.1: Proxy-State back, both, in order. */
    size_t pos = 0;
    assert_true(rg_radius_attr_find(nak, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    assert_memory_equal(a.value, "\x01\x02", 2);
    assert_true(rg_radius_attr_find(nak, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    assert_memory_equal(a.value, "\x03", 1);
    assert_false(rg_radius_attr_find(nak, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    /* No User-Name or NAS-Identifier in a NAK (RFC 5176 §3.6 table). */
    assert_false(rg_radius_attr_find(nak, RG_RADIUS_ATTR_USER_NAME, NULL, &a));

    build_coa(req, RG_RADIUS_COA_REQUEST, true, DAC_SECRET);
    n = rg_translate_coa_nak(req, RG_COA_ERR_UNSUPPORTED_ATTRIBUTE,
                             (rg_secret){DAC_SECRET, strlen(DAC_SECRET)}, nak, sizeof(nak));
    assert_true(n > 0);
    assert_int_equal(nak[0], RG_RADIUS_COA_NAK);
}

static void test_hidden_attributes_detected(void **state)
{
    (void)state;
    uint8_t buf[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_COA_REQUEST, 1, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, "ap-1", 4);
    rg_radius_attr_add(&p, 27 /* Session-Timeout */, "\0\0\0\x3c", 4);
    assert_null(rg_translate_coa_hidden_attr(buf));
    uint8_t salted[19] = {0x80, 0x01};
    assert_int_equal(rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY,
                                       salted, sizeof(salted)),
                     0);
    assert_string_equal(rg_translate_coa_hidden_attr(buf), "MS-MPPE-Recv-Key");
    uint8_t tp[19] = {0x01, 0x80, 0x02};
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, tp, sizeof(tp));
    assert_string_equal(rg_translate_coa_hidden_attr(buf), "Tunnel-Password");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_request_radclient_vector),
        cmocka_unit_test(test_check_request_message_authenticator),
        cmocka_unit_test(test_translate_request_resigns),
        cmocka_unit_test(test_translate_reply_for_client),
        cmocka_unit_test(test_build_nak),
        cmocka_unit_test(test_hidden_attributes_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
