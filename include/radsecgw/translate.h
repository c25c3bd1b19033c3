/* The trust-boundary translation (src/translate.c, pure): requests re-encrypted and re-signed
 * from the AP's RadSec secret for a backend's, backend replies checked and translated back,
 * the gateway's own replies, the checks on what an AP sends, and CoA/Disconnect packets
 * between a DAC's secret and the RadSec secret (RFC 5176). */
#ifndef RADSECGW_TRANSLATE_H
#define RADSECGW_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "radsecgw/backend_shared.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/radius.h"

/* Translate a request from the AP's secret to the backend's (pure): out gets the packet to
 * send with id and a fresh authenticator (Access-Request, Status-Server) or the computed
 * one (Accounting-Request): User-Password re-hidden, CHAP-Challenge added when needed,
 * Message-Authenticator first and signed in Access-Request and Status-Server, and none in
 * Accounting-Request (RFC 3579 §3.3). Returns the length, -EMSGSIZE when the added
 * attributes would take it past 4096 octets, or another negative code. */
int rg_translate_request(const uint8_t *in, size_t in_len, rg_secret ap, uint8_t id, rg_secret be,
                         uint8_t *out, size_t out_cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN]);

/* Translate a backend reply (already checked) to the AP (pure): hidden attributes
 * re-encrypted, ID and authenticator restored, Message-Authenticator first and signed on
 * Access-* replies, removed from Accounting-Response (implementations disagree on how it is
 * computed there), Response Authenticator with the AP's secret. In place. 0, -EMSGSIZE
 * when Message-Authenticator does not fit, -EBADMSG for a hidden attribute that does not
 * decrypt. */
int rg_translate_reply(uint8_t *pkt, size_t len, size_t cap, const uint8_t *sent_auth, rg_secret be,
                       uint8_t ap_id, const uint8_t *ap_auth, rg_secret ap, unsigned *salt_counter);

/* Does a reply of code answer a request of req_code? Access-Request: Access-Accept, -Reject,
 * -Challenge; Accounting-Request: Accounting-Response; Status-Server: Access-Accept or
 * Accounting-Response (RFC 5997 §3); Disconnect-Request: Disconnect-ACK/NAK; CoA-Request:
 * CoA-ACK/NAK (RFC 5176 §3). */
bool rg_translate_reply_matches(uint8_t req_code, uint8_t code);

/* Verify a reply's authenticators against the request sent with sent_auth (pure): the
 * Response Authenticator, and Message-Authenticator when present (on an Accounting-Response
 * either convention: the request authenticator or zeros in the field). 1 if signed, 0 if
 * verified without Message-Authenticator, negative with *why set. */
int rg_translate_verify_reply(const uint8_t *pkt, size_t len, const uint8_t *sent_auth,
                              rg_secret be, const char **why);

/* What to do with a backend reply. */
enum rg_reply_verdict {
    RG_REPLY_FORWARD,    /* verified and acceptable */
    RG_REPLY_UNVERIFIED, /* fails verification: as if it never arrived (deprecating-radius) */
    RG_REPLY_DISCARD,    /* verified, so the server is alive, but not usable: the request ends */
};

struct rg_reply_check {
    const char *why;              /* UNVERIFIED, DISCARD: the reason for the log line */
    enum rg_backend_warning warn; /* DISCARD: which operator warning it is */
    bool learned;                 /* a signed reply to an Access-Request without EAP-Message */
    bool unsigned_passed;         /* FORWARD of an Access-* reply without Message-Authenticator */
};

/* Check a backend reply to a request of req_code (req_eap: it carried EAP-Message) sent with
 * sent_auth (pure): Response Authenticator, then Message-Authenticator when present (on an
 * Accounting-Response either convention: request authenticator or zeros in the field), then
 * the reply code, then the policy: EAP-Message needs Message-Authenticator (RFC 3579 §3.2);
 * without one an Access-* reply passes under false, under auto until the server is known to
 * sign (server_signs), never under true. */
enum rg_reply_verdict rg_translate_check_reply(const uint8_t *pkt, size_t len, uint8_t req_code,
                                               bool req_eap, const uint8_t *sent_auth, rg_secret be,
                                               enum rg_require_ma mode, bool server_signs,
                                               struct rg_reply_check *out);

/* A reply of the gateway's own (Status-Server answer, when-dead Access-Reject) to the AP's
 * request id / auth (pure): Message-Authenticator first, Reply-Message when message is set,
 * the Proxy-State attributes of request (the AP's packet or its translation) in order
 * (RFC 2865 §5.33), signed with the AP's secret. Length or -ENOSPC. */
int rg_translate_local_reply(uint8_t *buf, size_t cap, uint8_t code, uint8_t id,
                             const uint8_t *auth, const uint8_t *request, const char *message,
                             rg_secret secret);

/* Verify what an AP sent with the RadSec secret before anything else uses it (pure): an
 * Access-Request's Message-Authenticator when present (EAP-Message needs one, RFC 3579
 * §3.1), an Accounting-Request's Request Authenticator, a Status-Server's
 * Message-Authenticator (RFC 5997 §3). A reason (discard it, close the connection) or NULL. */
const char *rg_translate_check_request(const uint8_t *pkt, rg_secret secret);

/* An AP request that is well formed but invalid: a reason (discard it, keep the
 * connection) or NULL. User-Password: at most one, 16..128 octets in whole blocks (RFC 2865
 * §5.2, §5.44). */
const char *rg_translate_request_invalid(const uint8_t *pkt);

/* ---- CoA and Disconnect (RFC 5176), between a DAC's secret and the RadSec secret ---- */

/* A request from a DAC: code 40/43, computed Request Authenticator (RFC 5176 §2.3) and
 * Message-Authenticator if present. NULL if good, else the reason. Packet validated. */
const char *rg_translate_coa_check_request(const uint8_t *pkt, rg_secret secret);

/* The first attribute hidden with the shared secret (RFC 5176 §3.6 allows Tunnel-Password
 * and VSAs in CoA-Request), by name, or NULL. Such a request is not forwarded: RFC 5176
 * defines no key for hiding in a CoA-Request (its authenticator is computed over the hidden
 * value), so the gateway cannot re-encrypt it for the NAS correctly. */
const char *rg_translate_coa_hidden_attr(const uint8_t *pkt);

/* The request as the NAS gets it: id, Message-Authenticator re-signed if present, Request
 * Authenticator computed with the RadSec secret (RFC 5176 §2.3). Length or negative. */
int rg_translate_coa_request(const uint8_t *in, size_t len, uint8_t id, rg_secret secret,
                             uint8_t *out, size_t cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN]);

/* The NAS's ACK/NAK (already verified) as the DAC gets it, in place: its ID, Message-
 * Authenticator if present and Response Authenticator with the DAC's secret. */
void rg_translate_coa_reply(uint8_t *pkt, uint8_t client_id, const uint8_t *client_auth,
                            rg_secret secret);

/* A NAK of the gateway's own for req (Disconnect-NAK or CoA-NAK): Message-Authenticator,
 * Error-Cause, the request's Proxy-State attributes in order (RFC 5176 §3.1), signed with
 * the DAC's secret. Length or negative. */
int rg_translate_coa_nak(const uint8_t *req, uint32_t error_cause, rg_secret secret, uint8_t *out,
                         size_t cap);

#endif
