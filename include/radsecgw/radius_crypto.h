/* RADIUS cryptography: Request/Response Authenticators, Message-Authenticator, and the
 * hiding of User-Password, Tunnel-Password and Microsoft MPPE keys. MD5 and HMAC-MD5 come
 * from wolfCrypt. Pure: no I/O. */
#ifndef RADSECGW_RADIUS_CRYPTO_H
#define RADSECGW_RADIUS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"

#define RG_RADIUS_PASSWORD_MAX 128 /* RFC 2865 §5.2 */

/* Set a fresh random Request Authenticator (Access-Request, Status-Server). */
void rg_radius_auth_random(uint8_t *pkt);

/* Request Authenticator of Accounting-Request (RFC 2866 §3) and CoA/Disconnect-Request
 * (RFC 5176 §2.3): MD5(Code+ID+Length+16 zero octets+attributes+secret). Writes it. */
void rg_radius_auth_request_sign(uint8_t *pkt, rg_secret secret);

/* Verify such a computed Request Authenticator; 0 if good, -EBADMSG if not. */
int rg_radius_auth_request_verify(const uint8_t *pkt, rg_secret secret);

/* Response Authenticator (RFC 2865 §3): MD5(Code+ID+Length+RequestAuth+Attributes+Secret),
 * written into the reply's authenticator field. */
void rg_radius_auth_response_sign(uint8_t *reply, const uint8_t *request_auth, rg_secret secret);

/* Verify the Response Authenticator of reply against the request's authenticator. */
int rg_radius_auth_response_verify(const uint8_t *reply, const uint8_t *request_auth,
                                   rg_secret secret);

/* Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 over the packet with the attribute's
 * value zeroed, and the authenticator field holding: for replies, the request's
 * authenticator (pass it as request_auth); with request_auth NULL, 16 zero octets for
 * Accounting-Request, Disconnect-Request and CoA-Request (RFC 5176 §3) and the packet's
 * own field otherwise (Access-Request, Status-Server).
 * Computed before the Response / accounting Request Authenticator is filled in.
 * Both return -EINVAL if the attribute's length is not 18 or it appears more than once.
 * rg_radius_msgauth_sign fills in an existing Message-Authenticator attribute; returns
 * -ENOENT if there is none. */
int rg_radius_msgauth_sign(uint8_t *pkt, const uint8_t *request_auth, rg_secret secret);

/* Verify: 0 if present and good, -ENOENT if absent, -EBADMSG if wrong, -EINVAL if the
 * attribute's length is not 18 or it appears more than once. */
int rg_radius_msgauth_verify(const uint8_t *pkt, const uint8_t *request_auth, rg_secret secret);

/* Add a zeroed Message-Authenticator as the first attribute (removing any existing ones),
 * ready for rg_radius_msgauth_sign. */
int rg_radius_msgauth_add_first(struct rg_radius_pkt *p);

/* User-Password (RFC 2865 §5.2). hide: plain (1..128 octets) -> out (padded to 16,
 * *out_len set). unhide: hidden (16..128, multiple of 16) -> out with trailing NULs
 * stripped. Return 0 or -EINVAL. */
int rg_radius_password_hide(const uint8_t *plain, size_t plain_len, const uint8_t *auth,
                            rg_secret secret, uint8_t *out, size_t *out_len);
int rg_radius_password_unhide(const uint8_t *hidden, size_t hidden_len, const uint8_t *auth,
                              rg_secret secret, uint8_t *out, size_t *out_len);

/* Tunnel-Password (RFC 2868 §3.5) and MS-MPPE-Send/Recv-Key (RFC 2548 §2.4.2/2.4.3) share
 * one salted scheme: value = [tag] salt(2, top bit set) + hidden(len octet + key + pad).
 * These work on the salt+hidden part (no tag). auth is the Request Authenticator of the
 * request the reply answers. hide takes the salt the caller chose (see rg_radius_salt_new;
 * -EINVAL without the top bit) and writes 2 + roundup16(1 + key_len) octets (<= 258).
 * unhide returns the key without the length octet or padding into key (room for in_len - 3
 * octets); -EINVAL unless in_len is 2 + a non-zero multiple of 16 (<= 258), -EBADMSG if the
 * hidden length octet exceeds the data after it. Max key 253 octets. */
int rg_radius_salted_hide(const uint8_t *key, size_t key_len, const uint8_t salt[2],
                          const uint8_t *auth, rg_secret secret, uint8_t *out, size_t *out_len);
int rg_radius_salted_unhide(const uint8_t *in, size_t in_len, const uint8_t *auth, rg_secret secret,
                            uint8_t *key, size_t *key_len);

/* A salt unique per packet: top bit set (RFC 2868 §3.5); *counter advances each call
 * so two salts in one packet differ (32768 in a row). A zero counter is first seeded at
 * random, so a per-worker counter also varies salts between packets. */
void rg_radius_salt_new(uint8_t salt[2], unsigned *counter);

/* MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): 32 octets hidden like User-Password (keyed with
 * the request's authenticator), no salt. hide takes 1..32 octets (LM-Key + NT-Key, zero
 * padded to 32); unhide takes exactly 32 and returns all 32 (nothing stripped). */
int rg_radius_mppe_keys_hide(const uint8_t *plain, size_t len, const uint8_t *auth,
                             rg_secret secret, uint8_t *out, size_t *out_len);
int rg_radius_mppe_keys_unhide(const uint8_t *hidden, size_t len, const uint8_t *auth,
                               rg_secret secret, uint8_t *out, size_t *out_len);

/* Re-encrypt every hidden attribute of a reply from one secret/authenticator to another:
 * Tunnel-Password (tag kept, fresh salt), MS-MPPE-Send-Key, MS-MPPE-Recv-Key,
 * MS-CHAP-MPPE-Keys. In place (lengths do not change): the same plaintext blocks (length
 * octet, key and padding) under the new salt, authenticator and secret. 0, or -EBADMSG on
 * a malformed value or a Microsoft VSA whose sub-attributes do not exactly fill it; the
 * reply may then be partly rewritten (the caller drops it). Packet must be validated. */
int rg_radius_reply_recrypt(uint8_t *reply, const uint8_t *from_auth, rg_secret from,
                            const uint8_t *to_auth, rg_secret to, unsigned *salt_counter);

/* Re-hide User-Password of a request from one secret/authenticator to another, in place
 * (same length). 0 if done or absent, -EBADMSG (packet untouched) if it appears more than
 * once (RFC 2865 §5.44) or is not 16..128 octets in whole blocks. */
int rg_radius_request_recrypt(uint8_t *pkt, const uint8_t *from_auth, rg_secret from,
                              const uint8_t *to_auth, rg_secret to);

#endif
