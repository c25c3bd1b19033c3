/* TLS policy from the config snapshot: the server WOLFSSL_CTX (certificate chain, key,
 * versions, ciphers, no renegotiation), the per-org trust (CAs, CRLs) and the peer
 * identity: which org a verified client belongs to, or why it is refused.
 * Knows nothing of RADIUS or sockets. */
#ifndef RADSECGW_TLS_H
#define RADSECGW_TLS_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "radsecgw/config.h"

struct rg_tls_ctx; /* opaque: server WOLFSSL_CTX + per-org trust; one per config snapshot */

/* Process-wide wolfSSL_Init/Cleanup. */
int rg_tls_global_init(void);
void rg_tls_global_cleanup(void);

/* Build the server context: load tls.certificate (leaf + intermediates), tls.key, every
 * org's CAs and CRLs; TLS 1.2/1.3 per min-version; ECDHE+AEAD ciphers by default;
 * VERIFY_PEER | FAIL_IF_NO_PEER_CERT. On error returns negative and writes a reason naming
 * the file into err. */
int rg_tls_ctx_new(const struct rg_config *cfg, struct rg_tls_ctx **out, char *err,
                   size_t errlen);
void rg_tls_ctx_free(struct rg_tls_ctx *ctx);
WOLFSSL_CTX *rg_tls_ctx_wolfssl(struct rg_tls_ctx *ctx);

/* A new server-side WOLFSSL for one connection (verification state attached). */
WOLFSSL *rg_tls_ssl_new(struct rg_tls_ctx *ctx);

#define RG_TLS_NAME_MAX 256

/* The verified identity of a TLS peer, decided once after the handshake. */
struct rg_tls_peer {
    const struct rg_org *org; /* points into the snapshot; NULL when refused */
    char subject[RG_TLS_NAME_MAX];
    char issuer[RG_TLS_NAME_MAX];
    char cn[RG_TLS_NAME_MAX];
    char reason[128]; /* why refused: "unknown CA", "expired", "no match", ... */
};

/* Why the handshake failed, when it was certificate verification (from the verify
 * callback): fills peer->reason/subject/issuer if known, returns 1, else 0. */
int rg_tls_handshake_failure(WOLFSSL *ssl, struct rg_tls_peer *peer);

/* After a successful handshake: decide the org (the org whose CA verified the chain; among
 * several, allow prefixes and match rules decide). 0 with peer->org set, or -EACCES with
 * peer->reason set. */
int rg_tls_peer_identify(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct sockaddr *addr,
                         struct rg_tls_peer *peer);

/* Is the source address allowed by at least one org (checked before the handshake)? */
bool rg_tls_addr_allowed(const struct rg_config *cfg, const struct sockaddr *addr);

#endif
