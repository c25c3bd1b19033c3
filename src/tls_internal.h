/* Private to the tls_*.c files: the server context's layout (per-org trust), file contents
 * kept for per-connection certificate managers, the peer chain the verify callback keeps,
 * and the helpers the files share. The public interface is include/radsecgw/tls.h. */
#ifndef RADSECGW_TLS_INTERNAL_H
#define RADSECGW_TLS_INTERNAL_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "radsecgw/config.h"
#include "radsecgw/tls.h"

#define CHAIN_MAX 10 /* certificates of a client chain we look at */

/* A file's contents, kept so that per-connection certificate managers load from memory. */
struct blob {
    uint8_t *data; /* malloced, owned */
    size_t len;
    int format; /* WOLFSSL_FILETYPE_PEM or _ASN1 */
};

struct org_trust {
    const struct rg_org *org; /* points into the snapshot */
    WOLFSSL_CERT_MANAGER *cm; /* owned: the org's CAs and the CRLs they signed */
    struct blob *ca;          /* malloced array, owned */
    size_t nca;
    struct blob *crl; /* malloced array, owned: loaded CRLs of the org's own CAs */
    size_t ncrl;
    struct blob *crl_deferred; /* malloced array, owned: CRLs of intermediate CAs */
    size_t ncrl_deferred;
    bool crl_enabled;      /* the org lists CRLs: every CA in a chain needs a current one */
    uint8_t ca_digest[32]; /* SHA-256 over its CA files: a session resumes only under the same */
};

struct rg_tls_ctx {
    WOLFSSL_CTX *ctx;            /* owned */
    const struct rg_config *cfg; /* borrowed: the snapshot outlives the context */
    struct org_trust *orgs;      /* malloced array, owned, one per cfg->orgs */
    size_t norgs;
    uint8_t policy_digest[32]; /* the cipher list and min-version in force: a session
                                * resumes only under the policy it was negotiated under */
};

/* The certificates a peer sent, leaf first, as the verify callback kept them. */
struct peer_chain {
    const uint8_t *der[CHAIN_MAX]; /* borrowed from the verify state's copy */
    int len[CHAIN_MAX];
    int n;
};

/* What resumption (tls_session.c) keeps on a server WOLFSSL, beside the verify state. */
struct resume_state {
    uint8_t issued[16]; /* the cache entry this connection's ticket made, if have_issued */
    bool have_issued;
    bool confirmed;      /* that entry was confirmed: the connection was accepted */
    bool restored;       /* the ticket callback put a cached chain back (resumption offered) */
    char *org;           /* malloced, owned: the org the restored session was accepted for */
    int proto;           /* enum rg_radius_proto the restored session carried */
    uint8_t resumed[16]; /* the cache entry the restored session came from, if restored */
    time_t auth_time;    /* when that session's full handshake verified the peer */
    int offered;         /* enum rg_radius_proto rg_tls_alpn_prepare chose for the ClientHello */
    bool downgraded;     /* a radius/1.1 session offered without radius/1.1: refused */
};

/* ---- tls_ctx.c ---- */

/* Read a CA or CRL file whole (at most 16 MB); format from its contents. 0 or negative
 * errno with err naming the file. */
int rg_tls_blob_read(const char *path, struct blob *b, char *err, size_t errlen);
/* Parse a CRL file's contents; NULL if it is not one. */
WOLFSSL_X509_CRL *rg_tls_crl_parse(const struct blob *b);

/* ---- tls_verify.c ---- */

/* Has rg_tls_global_init attached its ex_data index? */
bool rg_tls_verify_ready(void);
/* The server's verify callback (rg_tls_ctx_new installs it). */
int rg_tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
/* The chain the verify callback kept for ssl; pc->n is 0 when there is none. */
void rg_tls_peer_chain(const WOLFSSL *ssl, struct peer_chain *pc);
/* The resumption state of a server ssl (NULL for other WOLFSSLs). */
struct resume_state *rg_tls_resume_of(const WOLFSSL *ssl);
/* Replace the kept chain with a copy of n certificates (DER, back to back, lens[i] each), as
 * if the peer had sent them. 0 or -ENOMEM (the kept chain is then empty). */
int rg_tls_chain_set(WOLFSSL *ssl, const uint8_t *der, const int *lens, int n);
/* The operator-readable reason for a wolfSSL or X509_V_ERR_* verification error. */
const char *rg_tls_reason_for(int err, WOLFSSL_X509 *cert);
/* Lower is more specific: which of several orgs' reasons to report. */
int rg_tls_reason_rank(const char *r);
/* The one-line text of a certificate name ("" for NULL). */
void rg_tls_name_text(WOLFSSL_X509_NAME *name, char *out, size_t outlen);

/* ---- tls_session.c ---- */

/* Install the resumption cache's ticket callback on tc's server context when
 * tls.session-cache > 0, or turn tickets off. */
void rg_tls_session_setup(struct rg_tls_ctx *tc);
/* A server ssl is being freed: an entry it issued that was never confirmed goes. */
void rg_tls_session_ssl_gone(WOLFSSL *ssl, struct resume_state *rs);

/* ---- tls_expiry.c ---- */

/* An ASN.1 time as time_t (UTC); false when it cannot be read. */
bool rg_tls_asn1_time(const WOLFSSL_ASN1_TIME *t, time_t *out);

#endif
