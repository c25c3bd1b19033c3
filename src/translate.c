/* The trust-boundary translation (pure): a request re-signed and re-encrypted from the
 * AP's RadSec secret for a backend's, a backend reply checked and translated back, the
 * gateway's own replies, the checks on what an AP sends, and CoA/Disconnect packets between
 * a DAC's secret and the RadSec secret (RFC 5176). No uv, no worker, no conn. */
#include <errno.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

int rg_translate_request(const uint8_t *in, size_t in_len, rg_secret ap, uint8_t id, rg_secret be,
                         uint8_t *out, size_t out_cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN])
{
    if (in_len > out_cap || in_len < RG_RADIUS_HDR_LEN)
        return -EINVAL;
    memcpy(out, in, in_len);
    struct rg_radius_pkt p = {.data = out, .cap = out_cap};
    uint8_t code = out[0];
    const uint8_t *ap_auth = in + 4;
    struct rg_radius_attr a;
    int rc;

    out[1] = id;
    /* The AP's Message-Authenticator was verified with its secret; it is recomputed for the
     * backend secret (Access-Request, Status-Server) or dropped (Accounting-Request). */
    rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);

    if (code == RG_RADIUS_ACCESS_REQUEST || code == RG_RADIUS_STATUS_SERVER) {
        /* A fresh Request Authenticator per backend request (RFC 2865 §3: unpredictable). */
        rg_random_bytes(out + 4, RG_RADIUS_AUTH_LEN);
        /* RFC 2865 §5.3: without CHAP-Challenge the Request Authenticator is the challenge;
         * keep the AP's so CHAP-Password still verifies at the backend. */
        if (rg_radius_attr_find(out, RG_RADIUS_ATTR_CHAP_PASSWORD, NULL, &a) &&
            !rg_radius_attr_find(out, RG_RADIUS_ATTR_CHAP_CHALLENGE, NULL, &a)) {
            rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_CHALLENGE, ap_auth, RG_RADIUS_AUTH_LEN);
            if (rc < 0)
                return rc == -ENOSPC ? -EMSGSIZE : rc;
        }
        rc = rg_radius_request_recrypt(out, ap_auth, ap, out + 4, be);
        if (rc < 0)
            return rc;
        /* deprecating-radius §5.2 (BlastRADIUS): first, so no forged prefix precedes it. */
        rc = rg_radius_msgauth_add_first(&p);
        if (rc < 0)
            return rc == -ENOSPC ? -EMSGSIZE : rc;
        rc = rg_radius_msgauth_sign(out, NULL, be);
        if (rc < 0)
            return rc;
    } else if (code == RG_RADIUS_ACCOUNTING_REQUEST) {
        /* RFC 3579 §3.3: Message-Authenticator MUST NOT be in an Accounting-Request. RFC 2866
         * §3: the digest is computed over a zeroed authenticator field. */
        memset(out + 4, 0, RG_RADIUS_AUTH_LEN);
        rg_radius_auth_request_sign(out, be);
    } else {
        return -EPROTONOSUPPORT;
    }
    memcpy(sent_auth, out + 4, RG_RADIUS_AUTH_LEN);
    return (int)rg_radius_len(out);
}

bool rg_translate_reply_matches(uint8_t req_code, uint8_t code)
{
    switch (req_code) {
    case RG_RADIUS_ACCESS_REQUEST:
        return code == RG_RADIUS_ACCESS_ACCEPT || code == RG_RADIUS_ACCESS_REJECT ||
               code == RG_RADIUS_ACCESS_CHALLENGE;
    case RG_RADIUS_ACCOUNTING_REQUEST:
        return code == RG_RADIUS_ACCOUNTING_RESPONSE;
    case RG_RADIUS_STATUS_SERVER:
        return code == RG_RADIUS_ACCESS_ACCEPT || code == RG_RADIUS_ACCOUNTING_RESPONSE;
    case RG_RADIUS_DISCONNECT_REQUEST:
        return code == RG_RADIUS_DISCONNECT_ACK || code == RG_RADIUS_DISCONNECT_NAK;
    case RG_RADIUS_COA_REQUEST:
        return code == RG_RADIUS_COA_ACK || code == RG_RADIUS_COA_NAK;
    default:
        return false;
    }
}

int rg_translate_verify_reply(const uint8_t *pkt, size_t len, const uint8_t *sent_auth,
                              rg_secret be, const char **why)
{
    static const uint8_t zeros[RG_RADIUS_AUTH_LEN];
    struct rg_radius_error err;
    if (rg_radius_validate(pkt, len, &err) < 0) {
        *why = "malformed";
        return -EBADMSG;
    }
    if (rg_radius_auth_response_verify(pkt, sent_auth, be) < 0) {
        *why = "bad Response Authenticator";
        return -EBADMSG;
    }
    int ma = rg_radius_msgauth_verify(pkt, sent_auth, be);
    /* RFC 2866 defines no Message-Authenticator on Accounting-Response: FreeRADIUS 3.2.1-3.2.8
     * compute it over a zeroed authenticator field, 3.2.9+, radsecproxy and hostapd over the
     * request's. Either proves the secret; it is removed before the AP sees the reply. */
    if (ma == -EBADMSG && pkt[0] == RG_RADIUS_ACCOUNTING_RESPONSE)
        ma = rg_radius_msgauth_verify(pkt, zeros, be);
    if (ma < 0 && ma != -ENOENT) {
        *why = "bad Message-Authenticator";
        return -EBADMSG;
    }
    return ma == 0 ? 1 : 0;
}

enum rg_reply_verdict rg_translate_check_reply(const uint8_t *pkt, size_t len, uint8_t req_code,
                                               bool req_eap, const uint8_t *sent_auth, rg_secret be,
                                               enum rg_require_ma mode, bool server_signs,
                                               struct rg_reply_check *out)
{
    struct rg_radius_attr a;
    memset(out, 0, sizeof(*out));
    int ma = rg_translate_verify_reply(pkt, len, sent_auth, be, &out->why);
    if (ma < 0)
        return RG_REPLY_UNVERIFIED;
    uint8_t code = pkt[0];
    /* Verified from here on: whatever follows, the server answered. */
    if (!rg_translate_reply_matches(req_code, code)) {
        out->why = req_code == RG_RADIUS_ACCOUNTING_REQUEST
                       ? "reply code does not answer an Accounting-Request"
                       : "reply code does not answer an Access-Request";
        out->warn = RG_BACKEND_WARN_UNUSABLE;
        return RG_REPLY_DISCARD;
    }
    if (req_code != RG_RADIUS_ACCESS_REQUEST)
        return RG_REPLY_FORWARD; /* Accounting-Response, or a Status-Server answer */
    if (ma == 1) {
        /* Every server signs EAP replies: only a signed reply to a request without
         * EAP-Message shows that this server signs all of them. */
        out->learned = !req_eap;
        return RG_REPLY_FORWARD;
    }
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_EAP_MESSAGE, NULL, &a)) {
        out->why = "EAP-Message without Message-Authenticator (RFC 3579 §3.2)";
        out->warn = RG_BACKEND_WARN_EAP_UNSIGNED;
        return RG_REPLY_DISCARD;
    }
    switch (mode) {
    case RG_REQUIRE_MA_FALSE:
        break;
    case RG_REQUIRE_MA_TRUE:
        out->why = "no Message-Authenticator (require-message-authenticator = true)";
        out->warn = RG_BACKEND_WARN_UNSIGNED_DROPPED;
        return RG_REPLY_DISCARD;
    case RG_REQUIRE_MA_AUTO:
        if (server_signs) {
            out->why = "no Message-Authenticator, though this server signed such replies before "
                       "(require-message-authenticator = auto)";
            out->warn = RG_BACKEND_WARN_UNSIGNED_DROPPED;
            return RG_REPLY_DISCARD;
        }
        break;
    }
    out->unsigned_passed = true;
    return RG_REPLY_FORWARD;
}

int rg_translate_reply(uint8_t *pkt, size_t len, size_t cap, const uint8_t *sent_auth, rg_secret be,
                       uint8_t ap_id, const uint8_t *ap_auth, rg_secret ap, unsigned *salt_counter)
{
    struct rg_radius_pkt p = {.data = pkt, .cap = cap};
    int rc = rg_radius_reply_recrypt(pkt, sent_auth, be, ap_auth, ap, salt_counter);
    if (rc < 0)
        return -EBADMSG;
    (void)len;
    pkt[1] = ap_id;
    if (pkt[0] == RG_RADIUS_ACCOUNTING_RESPONSE) {
        /* No single Message-Authenticator on an Accounting-Response satisfies every RadSec
         * client (see rg_translate_check_reply); over TLS it adds nothing. */
        rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    } else {
        /* The Message-Authenticator of a reply is computed with the request's authenticator
         * in the authenticator field (RFC 3579 §3.2), then the Response Authenticator. */
        rc = rg_radius_msgauth_add_first(&p);
        if (rc < 0)
            return rc == -ENOSPC ? -EMSGSIZE : rc;
        rc = rg_radius_msgauth_sign(pkt, ap_auth, ap);
        if (rc < 0)
            return rc;
    }
    rg_radius_auth_response_sign(pkt, ap_auth, ap);
    return 0;
}

int rg_translate_local_reply(uint8_t *buf, size_t cap, uint8_t code, uint8_t id,
                             const uint8_t *auth, const uint8_t *request, const char *message,
                             rg_secret secret)
{
    struct rg_radius_pkt p = {.data = buf, .cap = cap};
    struct rg_radius_attr a;
    size_t pos = 0;
    int rc = rg_radius_init(&p, code, id, NULL);
    if (rc == 0)
        rc = rg_radius_msgauth_add_first(&p);
    if (rc == 0 && message)
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE, message, strlen(message));
    /* RFC 2865 §5.33: Proxy-State is copied unmodified and in order into the reply. */
    while (rc == 0 && rg_radius_attr_find(request, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, a.value, a.value_len);
    if (rc < 0)
        return rc;
    rg_radius_msgauth_sign(buf, auth, secret);
    rg_radius_auth_response_sign(buf, auth, secret);
    return (int)rg_radius_len(buf);
}

const char *rg_translate_check_request(const uint8_t *pkt, rg_secret secret)
{
    struct rg_radius_attr a;
    int rc;
    switch (pkt[0]) {
    case RG_RADIUS_ACCESS_REQUEST:
        rc = rg_radius_msgauth_verify(pkt, NULL, secret);
        if (rc == -ENOENT) {
            /* RFC 3579 §3.1: EAP-Message without Message-Authenticator is discarded. */
            if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_EAP_MESSAGE, NULL, &a))
                return "EAP-Message without Message-Authenticator";
            return NULL;
        }
        return rc < 0 ? "bad Message-Authenticator" : NULL;
    case RG_RADIUS_ACCOUNTING_REQUEST:
        if (rg_radius_auth_request_verify(pkt, secret) < 0)
            return "bad Accounting Request Authenticator";
        rc = rg_radius_msgauth_verify(pkt, NULL, secret);
        return (rc < 0 && rc != -ENOENT) ? "bad Message-Authenticator" : NULL;
    case RG_RADIUS_STATUS_SERVER:
        /* RFC 5997 §3: Status-Server without a valid Message-Authenticator is discarded. */
        return rg_radius_msgauth_verify(pkt, NULL, secret) < 0
                   ? "Status-Server without valid Message-Authenticator"
                   : NULL;
    default:
        return NULL;
    }
}

const char *rg_translate_request_invalid(const uint8_t *pkt)
{
    struct rg_radius_attr a;
    size_t pos = 0;
    if (!rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &a))
        return NULL;
    /* RFC 2865 §5.44: zero or one; §5.2: 16 to 128 octets, a multiple of 16. */
    if (a.value_len == 0)
        return "empty User-Password";
    if (a.value_len > RG_RADIUS_PASSWORD_MAX)
        return "User-Password over 128 octets (RFC 2865 §5.2)";
    if (a.value_len % 16 != 0)
        return "User-Password not a multiple of 16 octets (RFC 2865 §5.2)";
    struct rg_radius_attr again;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &again))
        return "User-Password more than once (RFC 2865 §5.44)";
    return NULL;
}

/* ---- CoA and Disconnect (RFC 5176) ---- */

const char *rg_translate_coa_check_request(const uint8_t *pkt, rg_secret secret)
{
    if (pkt[0] != RG_RADIUS_DISCONNECT_REQUEST && pkt[0] != RG_RADIUS_COA_REQUEST)
        return "not a CoA-Request or Disconnect-Request";
    /* RFC 5176 §2.3: computed like an Accounting-Request's (RFC 2866 §3). */
    if (rg_radius_auth_request_verify(pkt, secret) < 0)
        return "bad Request Authenticator";
    int rc = rg_radius_msgauth_verify(pkt, NULL, secret);
    if (rc == -EBADMSG)
        return "bad Message-Authenticator";
    if (rc == -EINVAL)
        return "malformed or repeated Message-Authenticator";
    return NULL;
}

const char *rg_translate_coa_hidden_attr(const uint8_t *pkt)
{
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a))
        return "User-Password";
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a))
        return "Tunnel-Password";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY, NULL, &a))
        return "MS-MPPE-Send-Key";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, NULL, &a))
        return "MS-MPPE-Recv-Key";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_CHAP_MPPE_KEYS, NULL, &a))
        return "MS-CHAP-MPPE-Keys";
    return NULL;
}

int rg_translate_coa_request(const uint8_t *in, size_t len, uint8_t id, rg_secret secret,
                             uint8_t *out, size_t cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN])
{
    if (len < RG_RADIUS_HDR_LEN || len > cap || rg_radius_len(in) != len)
        return -EINVAL;
    memmove(out, in, len);
    out[1] = id;
    memset(out + 4, 0, RG_RADIUS_AUTH_LEN);
    /* RFC 5176 §3 / RFC 3579 §3.2: Message-Authenticator over the packet with a zero
     * authenticator, before the Request Authenticator is computed (RFC 5176 §2.3). */
    int rc = rg_radius_msgauth_sign(out, NULL, secret);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    rg_radius_auth_request_sign(out, secret);
    memcpy(sent_auth, out + 4, RG_RADIUS_AUTH_LEN);
    return (int)len;
}

void rg_translate_coa_reply(uint8_t *pkt, uint8_t client_id, const uint8_t *client_auth,
                            rg_secret secret)
{
    pkt[1] = client_id;
    /* RFC 3579 §3.2: a reply's Message-Authenticator uses the request's authenticator; then
     * the Response Authenticator (RFC 2865 §3) over the signed packet. */
    rg_radius_msgauth_sign(pkt, client_auth, secret);
    rg_radius_auth_response_sign(pkt, client_auth, secret);
}

int rg_translate_coa_nak(const uint8_t *req, uint32_t error_cause, rg_secret secret, uint8_t *out,
                         size_t cap)
{
    struct rg_radius_pkt p = {.data = out, .cap = cap};
    uint8_t code =
        req[0] == RG_RADIUS_DISCONNECT_REQUEST ? RG_RADIUS_DISCONNECT_NAK : RG_RADIUS_COA_NAK;
    uint8_t ec[4] = {(uint8_t)(error_cause >> 24), (uint8_t)(error_cause >> 16),
                     (uint8_t)(error_cause >> 8), (uint8_t)error_cause};
    int rc = rg_radius_init(&p, code, req[1], req + 4);
    if (rc == 0)
        rc = rg_radius_msgauth_add_first(&p);
    if (rc == 0)
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_ERROR_CAUSE, ec, sizeof(ec));
    /* RFC 5176 §3.1: Proxy-State attributes of the request go back, in order. */
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && rg_radius_attr_find(req, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, a.value, a.value_len);
    if (rc < 0)
        return rc;
    rg_radius_msgauth_sign(out, req + 4, secret);
    rg_radius_auth_response_sign(out, req + 4, secret);
    return rg_radius_len(out);
}
