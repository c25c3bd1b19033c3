/* Shared by test_translate.c and test_proxy.c: the secrets and the packets an AP and a
 * backend send in their tests. Include after <cmocka.h> (the builders assert). */
#ifndef RG_TEST_PROXY_PACKETS_H
#define RG_TEST_PROXY_PACKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"

#define AP_SECRET "radsec"
#define BE_SECRET "backend-secret-0123456789"

/* An AP's Access-Request: User-Name, User-Password, Proxy-State x2, hidden with "radsec". */
static inline size_t make_ap_access_request(uint8_t *buf, const char *password, bool chap)
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
                                                 buf + 4, RG_SECRET_LIT(AP_SECRET), hidden, &hl),
                         0);
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, hidden, hl);
    }
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "one", 3);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "two", 3);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, RG_SECRET_LIT(AP_SECRET));
    return rg_radius_len(buf);
}

/* A backend reply to a request sent with sent_auth: code, optional EAP-Message, signed with
 * Message-Authenticator when ma, Response Authenticator with the backend secret. */
static inline size_t make_reply(uint8_t *buf, uint8_t code, uint8_t id, const uint8_t *sent_auth,
                                bool ma, bool eap)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    rg_radius_init(&p, code, id, NULL);
    if (ma)
        rg_radius_msgauth_add_first(&p);
    if (eap)
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE, "\x01\x02\x00\x04", 4);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, "hi", 2);
    if (ma)
        rg_radius_msgauth_sign(buf, sent_auth, RG_SECRET_LIT(BE_SECRET));
    rg_radius_auth_response_sign(buf, sent_auth, RG_SECRET_LIT(BE_SECRET));
    return rg_radius_len(buf);
}

/* An Access-Request of nearly 4096 octets that cannot take the Message-Authenticator or the
 * CHAP-Challenge: -EMSGSIZE (dropped by the caller), not -ENOSPC (which means "wait for IDs"). */
static inline size_t make_big_request(uint8_t *buf, uint8_t code, size_t target, bool chap)
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
        rg_radius_auth_request_sign(buf, RG_SECRET_LIT(AP_SECRET));
    return rg_radius_len(buf);
}

/* An Access-Request with one User-Password attribute of raw value v (len n), or two. */
static inline size_t make_password_request(uint8_t *buf, size_t n, bool twice)
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
    rg_radius_msgauth_sign(buf, NULL, RG_SECRET_LIT(AP_SECRET));
    return rg_radius_len(buf);
}

#endif
