/* RADIUS/1.1 (RFC 9765): the listener's ALPN decision and the translation of packets between
 * a RADIUS/1.1 connection (Token, attributes in the clear, no Message-Authenticator) and
 * RADIUS/UDP under the backend's secret. No I/O; sockets and TLS belong to conn.c and the
 * tls_*.c files. */
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"

#define MPPE_KEYS_HIDDEN 32 /* RFC 2548 §2.4.1: LM-Key, NT-Key and padding, hidden */
#define MPPE_KEYS_CLEAR  24 /* the 8-octet LM-Key and the 16-octet NT-Key */
#define VSA_HDR_LEN      4

const char *rg_radius_proto_name(enum rg_radius_proto p)
{
    switch (p) {
    case RG_PROTO_RADIUS_10:
        return RG_RADIUS11_ALPN_10;
    case RG_PROTO_RADIUS_11:
        return RG_RADIUS11_ALPN_11;
    default:
        return "historic";
    }
}

static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = list; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == n && memcmp(s, name, n) == 0)
            return true;
        if (!end)
            break;
        s = end + 1;
    }
    return false;
}

int rg_radius11_alpn_choose(enum rg_radius11_mode mode, const char *offered, bool tls13,
                            const char **alpn, const char **why)
{
    *alpn = NULL;
    *why = NULL;
    if (!offered || !*offered) {
        /* RFC 9765: no ALPN is historic RADIUS/TLS; "require" closes ("Close-S"), and the
         * server MAY send no_application_protocol already in the ClientHello. */
        if (mode == RG_RADIUS11_REQUIRE) {
            *why = "no ALPN from the client (radius-1.1 = require)";
            return -1;
        }
        return RG_PROTO_HISTORIC;
    }
    bool has10 = list_has(offered, RG_RADIUS11_ALPN_10);
    bool has11 = list_has(offered, RG_RADIUS11_ALPN_11);
    /* The highest version both ends support; radius/1.1 only over TLS 1.3. */
    if (has11 && tls13 && mode != RG_RADIUS11_FORBID) {
        *alpn = RG_RADIUS11_ALPN_11;
        return RG_PROTO_RADIUS_11;
    }
    if (has10 && mode != RG_RADIUS11_REQUIRE) {
        *alpn = RG_RADIUS11_ALPN_10;
        return RG_PROTO_RADIUS_10;
    }
    /* RFC 7301 §3.2 / RFC 9765: ALPN names offered, none in common: alert 120. */
    if (has11 && mode == RG_RADIUS11_FORBID)
        *why = "the client offers only radius/1.1 (radius-1.1 = forbid)";
    else if (has11 && !tls13)
        *why = mode == RG_RADIUS11_REQUIRE
                   ? "radius/1.1 needs TLS 1.3 (radius-1.1 = require)"
                   : "the client offers only radius/1.1, which needs TLS 1.3";
    else if (has10)
        *why = "the client offers only radius/1.0 (radius-1.1 = require)";
    else
        *why = "no RADIUS version in the client's ALPN list";
    return -1;
}

void rg_radius11_set_header(uint8_t *pkt, uint32_t token)
{
    pkt[1] = 0;
    pkt[4] = (uint8_t)(token >> 24);
    pkt[5] = (uint8_t)(token >> 16);
    pkt[6] = (uint8_t)(token >> 8);
    pkt[7] = (uint8_t)token;
    memset(pkt + 8, 0, RG_RADIUS_AUTH_LEN - 4);
}

const char *rg_radius11_request_invalid(const uint8_t *pkt)
{
    struct rg_radius_attr a, again;
    size_t pos = 0;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &a)) {
        /* RFC 9765 §"User-Password": 1..128 octets, as in RFC 2865 §5.2; §5.44: at most one. */
        if (a.value_len > RG_RADIUS_PASSWORD_MAX)
            return "User-Password over 128 octets (RFC 9765)";
        if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &again))
            return "User-Password more than once (RFC 2865 §5.44)";
    }
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_CHAP_PASSWORD, NULL, &a) &&
        !rg_radius_attr_find(pkt, RG_RADIUS_ATTR_CHAP_CHALLENGE, NULL, &a))
        return "CHAP-Password without CHAP-Challenge (RFC 9765)";
    return NULL;
}

uint64_t rg_radius11_fingerprint(const uint8_t *pkt)
{
    /* FNV-1a over the code, the length and the attributes. */
    uint64_t h = 0xcbf29ce484222325ull;
    size_t len = rg_radius_len(pkt);
    for (size_t i = 0; i < len; i++) {
        if (i == 1 || (i >= 4 && i < RG_RADIUS_HDR_LEN))
            continue;
        h ^= pkt[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int rg_radius11_request_to_udp(const uint8_t *in, size_t in_len, uint8_t id, rg_secret be,
                               uint8_t *out, size_t out_cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN])
{
    uint8_t code = in[0];
    bool signed_req = code == RG_RADIUS_ACCESS_REQUEST || code == RG_RADIUS_STATUS_SERVER;
    if (!signed_req && code != RG_RADIUS_ACCOUNTING_REQUEST)
        return -EPROTONOSUPPORT;
    if (in_len < RG_RADIUS_HDR_LEN || rg_radius_len(in) > in_len || out == in)
        return -EINVAL;
    if (rg_radius11_request_invalid(in))
        return -EINVAL;
    struct rg_radius_pkt p = {.data = out, .cap = out_cap};
    int rc = rg_radius_init(&p, code, id, NULL);
    if (rc < 0)
        return rc;
    if (signed_req) {
        /* RFC 2865 §3: unpredictable; the password below is hidden with it. */
        rg_radius_auth_random(out);
        rc = rg_radius_msgauth_add_first(&p);
    }
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && rg_radius_attr_next(in, &pos, &a)) {
        if (a.type == RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR)
            continue; /* RFC 9765: ignored when received; a fresh one is signed above */
        if (a.type == RG_RADIUS_ATTR_USER_PASSWORD) {
            uint8_t hidden[RG_RADIUS_PASSWORD_MAX];
            size_t hlen;
            rc = rg_radius_password_hide(a.value, a.value_len, out + 4, be, hidden, &hlen);
            if (rc == 0)
                rc = rg_radius_attr_add(&p, a.type, hidden, hlen);
            explicit_bzero(hidden, sizeof(hidden));
            continue;
        }
        rc = rg_radius_attr_add(&p, a.type, a.value, a.value_len);
    }
    if (rc == -ENOSPC)
        return -EMSGSIZE;
    if (rc < 0)
        return rc;
    if (signed_req)
        rc = rg_radius_msgauth_sign(out, NULL, be);
    else
        rg_radius_auth_request_sign(out, be); /* over a zero field */
    if (rc < 0)
        return rc;
    memcpy(sent_auth, out + 4, RG_RADIUS_AUTH_LEN);
    return (int)rg_radius_len(out);
}

/* The sub-attributes of a Microsoft VSA (RFC 2548 §2), keys in the clear, into p as one
 * Vendor-Specific attribute. A layout that does not fill the VSA exactly is malformed. */
static int microsoft_clear(struct rg_radius_pkt *p, const struct rg_radius_attr *vsa,
                           const uint8_t *auth, rg_secret secret)
{
    uint8_t value[253], key[256];
    size_t n = VSA_HDR_LEN, key_len;
    memcpy(value, vsa->value, VSA_HDR_LEN);
    for (size_t off = VSA_HDR_LEN; off < vsa->value_len;) {
        const uint8_t *sub = vsa->value + off;
        if (vsa->value_len - off < 2 || sub[1] < 2 || sub[1] > vsa->value_len - off)
            return -EBADMSG;
        const uint8_t *v = sub + 2;
        size_t vlen = sub[1] - 2u;
        int rc = 0;
        switch (sub[0]) {
        case RG_RADIUS_MS_MPPE_SEND_KEY:
        case RG_RADIUS_MS_MPPE_RECV_KEY:
            rc = rg_radius_salted_unhide(v, vlen, auth, secret, key, &key_len);
            v = key;
            vlen = key_len;
            break;
        case RG_RADIUS_MS_CHAP_MPPE_KEYS:
            rc = rg_radius_mppe_keys_unhide(v, vlen, auth, secret, key, &key_len);
            v = key;
            vlen = MPPE_KEYS_CLEAR;
            break;
        default:
            break;
        }
        if (rc < 0) {
            explicit_bzero(key, sizeof(key));
            return -EBADMSG;
        }
        /* Decoding only shrinks a value, so the VSA still fits in 253 octets. */
        value[n] = sub[0];
        value[n + 1] = (uint8_t)(vlen + 2);
        memcpy(value + n + 2, v, vlen);
        n += vlen + 2;
        off += sub[1];
    }
    int rc = rg_radius_attr_add(p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, value, n);
    explicit_bzero(key, sizeof(key));
    explicit_bzero(value, sizeof(value));
    return rc;
}

static bool is_microsoft(const struct rg_radius_attr *a)
{
    return a->type == RG_RADIUS_ATTR_VENDOR_SPECIFIC && a->value_len >= VSA_HDR_LEN &&
           a->value[0] == 0 && a->value[1] == 0 &&
           a->value[2] == (RG_RADIUS_VENDOR_MICROSOFT >> 8) &&
           a->value[3] == (RG_RADIUS_VENDOR_MICROSOFT & 0xff);
}

int rg_radius11_reply_from_udp(uint8_t *pkt, const uint8_t *sent_auth, rg_secret be, uint32_t token)
{
    uint8_t out[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = out, .cap = sizeof(out)};
    int rc = rg_radius_init(&p, pkt[0], 0, NULL);
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && rg_radius_attr_next(pkt, &pos, &a)) {
        if (a.type == RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR)
            continue; /* RFC 9765: MUST NOT be sent over RADIUS/1.1 */
        if (a.type == RG_RADIUS_ATTR_TUNNEL_PASSWORD) {
            /* RFC 9765 §"Tunnel-Password": the tag, then the password as-is. */
            uint8_t value[256];
            size_t key_len;
            if (a.value_len < 1)
                return -EBADMSG;
            value[0] = a.value[0];
            rc = rg_radius_salted_unhide(a.value + 1, a.value_len - 1, sent_auth, be, value + 1,
                                         &key_len);
            if (rc == 0)
                rc = rg_radius_attr_add(&p, a.type, value, key_len + 1);
            else
                rc = -EBADMSG;
            explicit_bzero(value, sizeof(value));
            continue;
        }
        if (is_microsoft(&a)) {
            rc = microsoft_clear(&p, &a, sent_auth, be);
            continue;
        }
        rc = rg_radius_attr_add(&p, a.type, a.value, a.value_len);
    }
    if (rc < 0) {
        explicit_bzero(out, sizeof(out));
        return -EBADMSG;
    }
    rg_radius11_set_header(out, token);
    size_t len = rg_radius_len(out);
    memcpy(pkt, out, len);
    explicit_bzero(out, len);
    return (int)len;
}

int rg_radius11_local_reply(uint8_t *buf, size_t cap, uint8_t code, uint32_t token,
                            const uint8_t *request, uint32_t error_cause, const char *message)
{
    struct rg_radius_pkt p = {.data = buf, .cap = cap};
    int rc = rg_radius_init(&p, code, 0, NULL);
    if (rc == 0 && error_cause) {
        uint8_t ec[4] = {(uint8_t)(error_cause >> 24), (uint8_t)(error_cause >> 16),
                         (uint8_t)(error_cause >> 8), (uint8_t)error_cause};
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_ERROR_CAUSE, ec, sizeof(ec));
    }
    if (rc == 0 && message)
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, message, strlen(message));
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && request && rg_radius_attr_find(request, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, a.value, a.value_len);
    if (rc < 0)
        return rc;
    rg_radius11_set_header(buf, token);
    return (int)rg_radius_len(buf);
}

int rg_radius11_coa_request(uint8_t *pkt, uint32_t token)
{
    struct rg_radius_pkt p = {.data = pkt, .cap = rg_radius_len(pkt)};
    rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    rg_radius11_set_header(pkt, token);
    return (int)rg_radius_len(pkt);
}

int rg_radius11_reply_to_udp(uint8_t *pkt, size_t cap)
{
    struct rg_radius_pkt p = {.data = pkt, .cap = cap};
    rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    int rc = rg_radius_msgauth_add_first(&p);
    if (rc < 0)
        return rc == -ENOSPC ? -EMSGSIZE : rc;
    return (int)rg_radius_len(pkt);
}
