/* RADIUS/1.1 (RFC 9765): the ALPN decision of the listener, the packet header (Token in
 * place of ID and authenticators) and the translation between a RADIUS/1.1 connection,
 * where nothing is obfuscated or signed, and RADIUS/UDP with the backend's secret.
 * Pure: no I/O; MD5 only on the UDP side (radius_crypto.h). */
#ifndef RADSECGW_RADIUS11_H
#define RADSECGW_RADIUS11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/radius.h"

#define RG_RADIUS11_ALPN_10 "radius/1.0"
#define RG_RADIUS11_ALPN_11 "radius/1.1"

/* RFC 7930 §4: Protocol-Error; RFC 5176 §3.5 / RFC 9765: the Error-Cause values it carries. */
#define RG_RADIUS_PROTOCOL_ERROR         52
#define RG_RADIUS11_ERR_UNSUPPORTED_EXT  406 /* "Unsupported Extension": ALPN not negotiated */
#define RG_RADIUS11_ERR_NOT_ROUTABLE     502 /* "Request Not Routable (Proxy)" */
#define RG_RADIUS11_ERR_PROXY_PROCESSING 505 /* "Other Proxy Processing Error" */

/* What a TLS connection carries. */
enum rg_radius_proto {
    RG_PROTO_HISTORIC,  /* RFC 6614 RadSec, the client sent no ALPN */
    RG_PROTO_RADIUS_10, /* RFC 6614 RadSec, ALPN "radius/1.0" */
    RG_PROTO_RADIUS_11, /* RFC 9765, ALPN "radius/1.1" (TLS 1.3 only) */
};

/* "historic", "radius/1.0", "radius/1.1" (for log lines and metrics). */
const char *rg_radius_proto_name(enum rg_radius_proto p);

/* The listener's answer to a ClientHello (RFC 9765 "Configuration of ALPN"): offered is the
 * client's ALPN list, comma separated, or NULL when it sent none; tls13 whether TLS 1.3 is
 * being negotiated. Returns the protocol to select (*alpn: the name to answer with, NULL for
 * none), or -1 when the handshake must fail with no_application_protocol (120), *why saying
 * why for the log line: radius/1.1 only with TLS 1.3; the highest version both support;
 * forbid never radius/1.1; require nothing else, not even a client without ALPN. */
int rg_radius11_alpn_choose(enum rg_radius11_mode mode, const char *offered, bool tls13,
                            const char **alpn, const char **why);

static inline uint32_t rg_radius11_token(const uint8_t *pkt)
{
    return (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7];
}

/* RFC 9765 §"Packet Format": Reserved-1 and Reserved-2 zero, the Token in between. */
void rg_radius11_set_header(uint8_t *pkt, uint32_t token);

/* A request from a RADIUS/1.1 client that cannot be forwarded (the connection stays): a
 * reason, or NULL. User-Password at most once and 1..128 octets in the clear; CHAP-Password
 * needs CHAP-Challenge, there being no Request Authenticator to take the challenge from. */
const char *rg_radius11_request_invalid(const uint8_t *pkt);

/* A digest of what a Token stands for (code, length, attributes; not the header fields
 * RFC 9765 says to ignore): the same Token for another packet is a protocol violation, the
 * same one for the same packet a duplicate. Not cryptographic. */
uint64_t rg_radius11_fingerprint(const uint8_t *pkt);

/* A request received on a RADIUS/1.1 connection (validated), as sent to a RADIUS/UDP server:
 * id; a fresh random Request Authenticator (Access-Request, Status-Server) or the computed
 * one (Accounting-Request, RFC 2866 §3); User-Password hidden with be (RFC 2865 §5.2);
 * any Message-Authenticator received dropped (RFC 9765: ignored), and for Access-Request and
 * Status-Server a new one added first and signed (RFC 9765 §"Message-Authenticator": SHOULD
 * for every Access-Request over UDP). Length, -EMSGSIZE when that outgrows out_cap or 4096
 * octets, -EINVAL for a User-Password rg_radius11_request_invalid refuses,
 * -EPROTONOSUPPORT for another code. */
int rg_radius11_request_to_udp(const uint8_t *in, size_t in_len, uint8_t id, rg_secret be,
                               uint8_t *out, size_t out_cap, uint8_t sent_auth[RG_RADIUS_AUTH_LEN]);

/* A verified RADIUS/UDP reply to the request sent with sent_auth, as sent on the RADIUS/1.1
 * connection, in place (it only shrinks): Tunnel-Password as tag and password,
 * MS-MPPE-Send-Key / MS-MPPE-Recv-Key as the key, MS-CHAP-MPPE-Keys as the 24 octets of
 * LM-Key and NT-Key (RFC 9765 §"Obfuscated Attributes"), Message-Authenticator removed, the
 * Token echoed, Reserved fields zero. New length, or -EBADMSG when a hidden attribute does
 * not decode or a Microsoft VSA is malformed. */
int rg_radius11_reply_from_udp(uint8_t *pkt, const uint8_t *sent_auth, rg_secret be,
                               uint32_t token);

/* A reply of the gateway's own on a RADIUS/1.1 connection: code (Access-Accept for
 * Status-Server, Access-Reject, Protocol-Error), the Token of the request it answers,
 * Error-Cause when error_cause is not 0, Reply-Message when message is set, then the
 * Proxy-State attributes of request (the client's packet or its translation; may be NULL) in
 * order (RFC 2865 §5.33). Length or -ENOSPC. RFC 9765: a Protocol-Error that answers no
 * request has Token 0. */
int rg_radius11_local_reply(uint8_t *buf, size_t cap, uint8_t code, uint32_t token,
                            const uint8_t *request, uint32_t error_cause, const char *message);

/* A CoA-Request or Disconnect-Request from a Dynamic Authorization Client (verified, no
 * hidden attribute: rg_translate_coa_hidden_attr), as sent on a RADIUS/1.1 connection: the Token,
 * Reserved fields zero, Message-Authenticator removed. In place; new length. */
int rg_radius11_coa_request(uint8_t *pkt, uint32_t token);

/* The NAS's ACK/NAK from a RADIUS/1.1 connection, readied for RADIUS/UDP: any
 * Message-Authenticator removed and a zeroed one added first, for rg_translate_coa_reply to
 * sign with the client's secret. In place in a buffer of cap octets; new length or -EMSGSIZE. */
int rg_radius11_reply_to_udp(uint8_t *pkt, size_t cap);

#endif
