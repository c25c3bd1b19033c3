/* TLS policy from the config snapshot: the server WOLFSSL_CTX (certificate chain, key,
 * versions, ciphers, no renegotiation), the per-org trust (CAs, CRLs) and the peer
 * identity: which org a verified client belongs to, or why it is refused.
 * Knows nothing of RADIUS or sockets. Implemented by src/tls_ctx.c (contexts), tls_verify.c
 * (verify callback, reasons), tls_alpn.c (RFC 9765), tls_peer.c (org decision) and
 * tls_expiry.c (expiry watch). */
#ifndef RADSECGW_TLS_H
#define RADSECGW_TLS_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "radsecgw/config.h"

struct rg_tls_ctx; /* opaque: server WOLFSSL_CTX + per-org trust; one per config snapshot */

/* Process-wide wolfSSL_Init/Cleanup. */
int rg_tls_global_init(void);
void rg_tls_global_cleanup(void);

/* Build the server context: load tls.certificate (leaf + intermediates), tls.key, every
 * org's CAs and CRLs; TLS 1.2/1.3 per min-version; ECDHE+AEAD ciphers by default;
 * VERIFY_PEER | FAIL_IF_NO_PEER_CERT; wolfSSL's session cache off; tickets into the
 * gateway's own session cache when tls.session-cache > 0 (see "session resumption" below).
 * On error returns negative and writes a reason naming the file into err. cfg must outlive the
 * context (it points into it). A CRL whose nextUpdate has passed is not loaded (a warning is
 * logged) and that CA's clients are refused with "CRL missing or stale"; when an org lists CRLs,
 * every CA of a client's chain must have a current one. A CRL issued by an intermediate CA (not a
 * trust anchor) is applied when a client presents that intermediate. */
int rg_tls_ctx_new(const struct rg_config *cfg, struct rg_tls_ctx **out, char *err, size_t errlen);
void rg_tls_ctx_free(struct rg_tls_ctx *ctx);

/* A new server-side WOLFSSL for one connection (verification state attached). Free it with
 * rg_tls_ssl_free (rg_tls_stream_free does). NULL on allocation failure. */
WOLFSSL *rg_tls_ssl_new(struct rg_tls_ctx *ctx);
/* Frees ssl and the verification state of rg_tls_ssl_new; fine for any WOLFSSL or NULL. */
void rg_tls_ssl_free(WOLFSSL *ssl);

/* ---- ALPN (RFC 9765): decided on the ClientHello, before any certificate is seen ---- */

/* Read the ClientHello at the start of in (the ciphertext received so far, before wolfSSL
 * reads it): alpn gets the client's ALPN names, comma separated (names holding a comma are
 * left out; cut to alpn_cap), *has_alpn whether it sent the extension, *tls13 whether it
 * offers TLS 1.3. 1: not all there yet, 0: read, -EBADMSG: not a readable ClientHello. */
int rg_tls_hello_peek(const uint8_t *in, size_t len, char *alpn, size_t alpn_cap, bool *has_alpn,
                      bool *tls13);

/* Before the first handshake step of a server ssl: read the ClientHello in in and answer it
 * under listen radius-1.1 (rg_radius11_alpn_choose), leaving wolfSSL the one ALPN name to
 * select. 1: wait for more input; 0: go on; -EPROTO: refuse the client, why saying so ("ALPN:
 * ..."): send it rg_tls_alert_no_application_protocol and close. wolfSSL 5.5's own hooks for
 * this (ALPN select, SNI callbacks) are absent from the tailored build, and its own choice
 * follows the client's order and ignores the version. */
int rg_tls_alpn_prepare(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const uint8_t *in, size_t len,
                        char *why, size_t whylen);

/* A plaintext fatal alert record no_application_protocol (120), sent before the ServerHello. */
extern const uint8_t rg_tls_alert_no_application_protocol[7];

/* After a successful handshake: what the connection carries (enum rg_radius_proto, from the
 * negotiated ALPN name), or -EPROTO when it does not satisfy mode: radius/1.1 only over
 * TLS 1.3 and not under forbid, only radius/1.1 under require. rg_tls_alpn_prepare already
 * ensures both; this checks the finished handshake, resumed ones too (RFC 9765 §"Session
 * Resumption"; that a radius/1.1 session resumes only as radius/1.1 is
 * rg_tls_resume_downgraded's, in the handshake). */
int rg_tls_protocol(WOLFSSL *ssl, enum rg_radius11_mode mode);

/* Whether wolfSSL runs AES-GCM in hardware here (AES-NI and PCLMULQDQ on x86 with a wolfSSL
 * built with AES-NI; ARMv8 crypto extensions). */
bool rg_tls_aes_in_hardware(void);

/* The built-in cipher list (tls ciphers = ""), in server preference order: AES-GCM first
 * when rg_tls_aes_in_hardware(), ChaCha20-Poly1305 first otherwise. */
const char *rg_tls_default_ciphers(void);

/* Client side, for tools and tests: trust ca_file for the server, present cert_file (leaf
 * first, then intermediates) with key_file when cert_file is not NULL. version: 0 for
 * TLS 1.2 or newer, 12 or 13 for exactly that one. Same error convention as above. */
int rg_tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                          int version, WOLFSSL_CTX **out, char *err, size_t errlen);

#define RG_TLS_NAME_MAX 256

/* The verified identity of a TLS peer, decided once after the handshake. */
struct rg_tls_peer {
    const struct rg_org *org; /* points into the snapshot; NULL when refused */
    char subject[RG_TLS_NAME_MAX];
    char issuer[RG_TLS_NAME_MAX];
    char cn[RG_TLS_NAME_MAX];
    char reason[128]; /* why refused: "unknown CA", "expired", "no match", ... */
    time_t not_after; /* earliest notAfter in the chain the peer sent; 0 if unknown */
    bool resumed;     /* a resumed session, identified from the chain its cache entry kept */
};

/* Why the handshake failed, when it was certificate verification (from the verify
 * callback): fills peer->reason/subject/issuer if known, returns 1, else 0. */
int rg_tls_handshake_failure(WOLFSSL *ssl, struct rg_tls_peer *peer);

/* After a successful handshake: decide the org (the org whose CA verified the chain; among
 * several, allow prefixes and match rules decide). 0 with peer->org set, or -EACCES with
 * peer->reason set ("no match", "prefix not allowed", "ambiguous org", "revoked", ...).
 * Intermediates the client sent are used when they chain to the org's CAs. The chosen org's
 * allow prefixes and every match rule must pass; addr NULL skips the prefix check (tools).
 * subject/issuer/cn are filled whenever the peer sent a certificate. */
int rg_tls_peer_identify(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct sockaddr *addr,
                         struct rg_tls_peer *peer);

/* Re-check an open connection against another context (a reload or a CRL refresh built a new
 * one; radiusdtls-bis §3.3): the peer chain kept for the connection (copied as DER by the
 * verify callback, so wolfSSL needs no session certificate copies) goes through the same decision
 * as rg_tls_peer_identify, from addr. 0 with now->org set (an org of ctx's snapshot with the
 * same name as old->org), or -EACCES with now->reason: the handshake reasons ("revoked",
 * "unknown CA" when the CA was removed or the org is gone, "no match", "prefix not allowed",
 * "expired", "CRL missing or stale", ...) or "now matches org X, not Y". old may be NULL. */
int rg_tls_peer_recheck(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct sockaddr *addr,
                        const struct rg_tls_peer *old, struct rg_tls_peer *now);

/* ---- session resumption (tls_session.c; radiusdtls-bis "TLS Session Resumption") ----
 * With tls.session-cache > 0 every accepted connection gets one ticket (TLS 1.2 RFC 5077,
 * TLS 1.3 NewSessionTicket; never early data). The ticket is a random handle into one bounded
 * cache for the process (all workers, all generations), which keeps wolfSSL's session secrets
 * and the chain the client presented. A resumption puts that chain back on the WOLFSSL, so
 * rg_tls_peer_identify judges it as at a full handshake, under the context in force: CAs,
 * CRLs, dates, allow, match; a resumed session must also land in the org it was accepted for.
 * A TLS 1.3 entry is used once (a resumption gets a new ticket; a TLS 1.2 one is offered
 * again until it ends: wolfSSL 5.5 issues none on a resumed TLS 1.2 session); it ends at
 * tls.session-lifetime, at the chain's earliest notAfter, when its org is gone or its org's CA
 * files changed (refused then: a full handshake follows), or when the cache is full (oldest first).
 */

/* After the connection was accepted under ctx (identified as peer, carrying proto): the
 * ticket it was given may be resumed from now on. A ticket of a refused connection never is. */
void rg_tls_session_confirm(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct rg_tls_peer *peer,
                            int proto);

/* The connection on ssl failed a security check after its handshake (refused, or no longer
 * verifying after a reload): the ticket it was given and, once its handshake finished, the
 * session it resumed are discarded (radiusdtls-bis: its resumption parameters MUST be). */
void rg_tls_session_forget(WOLFSSL *ssl);

/* After a handshake: -1 when it was not a resumption; else the enum rg_radius_proto the resumed
 * session was accepted with (RFC 9765 §"Session Resumption": a radius/1.1 session resumes only
 * as radius/1.1), or -EPROTO when wolfSSL resumed a session that is not from the cache. */
int rg_tls_resumed(WOLFSSL *ssl);

/* During a handshake: whether the client offered the ticket of a radius/1.1 session without
 * offering radius/1.1 (RFC 9765 §"Session Resumption": the server MUST close the connection
 * with a TLS error). The ticket is refused and kept; the caller closes. */
bool rg_tls_resume_downgraded(const WOLFSSL *ssl);

/* A new generation is in force (reload, CRL refresh): drop the entries that could no longer
 * resume under now (org gone, its CA files changed, expired) and those over its
 * session-cache. now NULL drops everything. Returns how many went. */
size_t rg_tls_session_prune(const struct rg_tls_ctx *now);

struct rg_tls_session_stats {
    uint64_t issued;   /* tickets given */
    uint64_t resumed;  /* tickets that brought their session back */
    uint64_t unknown;  /* tickets offered that the cache does not know (or forged) */
    uint64_t rejected; /* known but refused: not accepted, expired, org gone, CAs changed */
    uint64_t evicted;  /* dropped for room, or by rg_tls_session_prune */
    size_t kept;       /* entries now */
};
void rg_tls_session_stats(struct rg_tls_session_stats *out);

/* Is the source address allowed by at least one org (checked before the handshake)?
 * An org with no allow prefixes accepts any source. */
bool rg_tls_addr_allowed(const struct rg_config *cfg, const struct sockaddr *addr);

/* ---- expiry watch (main thread: at start and every day) ---- */

#define RG_TLS_EXPIRY_WARN_DAYS 30

/* One file the watch has something to say about. */
struct rg_tls_expiry {
    const char *path;           /* the file, as configured */
    const char *kind;           /* "certificate" or "CRL" */
    char name[RG_TLS_NAME_MAX]; /* "CN=..." (subject; a CRL's issuer) or the read error */
    time_t when;                /* notAfter, or the CRL's nextUpdate */
    long days;                  /* whole days until when, or since when once expired */
    bool expired;               /* when has passed */
    bool unreadable;            /* the file could not be read or parsed (name says why) */
};

typedef void (*rg_tls_expiry_cb)(const struct rg_tls_expiry *e, void *arg);

/* Check every certificate of tls.certificate (the whole chain file), every org CA and every
 * CRL against now: cb for each one expired, or expiring within RG_TLS_EXPIRY_WARN_DAYS (a CRL:
 * within half its validity period when that is shorter, so a weekly CRL renewed daily never
 * warns). Returns how many cb calls were made. */
int rg_tls_expiry_check(const struct rg_config *cfg, time_t now, rg_tls_expiry_cb cb, void *arg);

/* "certificate /path (CN=...) expires in N days on DATE", "... expired N days ago on DATE",
 * "CRL /path (CN=issuer) needs renewal: nextUpdate in N days on DATE", "... is stale: ...". */
void rg_tls_expiry_format(const struct rg_tls_expiry *e, char *buf, size_t len);

/* rg_tls_expiry_check with each finding logged: LOG_WARNING ahead of time, LOG_ERR once
 * expired or unreadable. Returns the number of lines. */
int rg_tls_expiry_log(const struct rg_config *cfg, time_t now);

/* The warning rg_tls_ctx_new logs for each stale CRL it skips, for a CRL refresh that found
 * no file changed (and so built no context). */
void rg_tls_crl_stale_log(const struct rg_config *cfg);

#endif
