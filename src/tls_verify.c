/* Handshake verification: the verify callback that keeps the peer's chain and the first
 * failure on each server WOLFSSL (ex_data attached by rg_tls_ssl_new), the operator-readable
 * reasons for a refusal, and the process-wide wolfSSL initialisation that reserves the
 * ex_data index. Which org a verified chain belongs to is tls_peer.c's. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/openssl/x509v3.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

#ifndef WOLFSSL_ALWAYS_VERIFY_CB
#error                                                                                             \
    "radsecgw keeps the peer chain from the verify callback: wolfSSL needs WOLFSSL_ALWAYS_VERIFY_CB"
#endif

/* What the verify callback leaves for after the handshake, attached to each server WOLFSSL
 * as ex_data: why a certificate was refused (read by rg_tls_handshake_failure), and the
 * chain the peer sent as DER, from which rg_tls_peer_identify decides the org after the
 * handshake and rg_tls_peer_recheck again at every reload and CRL refresh (radiusdtls-bis
 * §3.3). Keeping that exact-size copy ourselves lets wolfSSL be built without its session
 * certificate copies (SESSION_CERTS: 9 fixed 2 KB buffers in every session). */
/* The first verification failure of a handshake, for the refusal line. Allocated only when
 * one happens: every open connection keeps its verify_state, most never fail. */
struct verify_failure {
    char reason[64];
    char subject[RG_TLS_NAME_MAX];
    char issuer[RG_TLS_NAME_MAX];
};

struct verify_state {
    bool failed;
    struct verify_failure *failure; /* malloced, owned; NULL if none (or out of memory) */
    uint8_t *chain; /* malloced, owned: the peer's certificates, back to back, leaf first */
    int chain_len[CHAIN_MAX];
    int nchain;
    struct resume_state resume; /* tls_session.c's */
};

static int verify_ex_idx = -1;

int rg_tls_global_init(void)
{
    if (wolfSSL_Init() != WOLFSSL_SUCCESS)
        return -EIO;
    if (verify_ex_idx < 0) {
        /* Index 0 is what wolfSSL_set_app_data uses; keep clear of it. */
        int idx = wolfSSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (idx == 0)
            idx = wolfSSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (idx < 0)
            return -EIO;
        verify_ex_idx = idx;
    }
    return 0;
}

void rg_tls_global_cleanup(void)
{
    wolfSSL_Cleanup();
}

bool rg_tls_verify_ready(void)
{
    return verify_ex_idx >= 0;
}

/* ---- operator-readable reasons ---------------------------------------------------------- */

static bool cert_expired(WOLFSSL_X509 *cert)
{
    WOLFSSL_ASN1_TIME *t = cert ? wolfSSL_X509_get_notAfter(cert) : NULL;
    return t && wolfSSL_X509_cmp_current_time(t) < 0;
}

/* wolfSSL reports its own codes or, built with WOLFSSL_ERROR_CODE_OPENSSL, the X509_V_ERR_*
 * of OpenSSL for some of them; both map here. An "after date" error on a certificate that
 * has not expired comes from its issuer's CRL being past nextUpdate. */
const char *rg_tls_reason_for(int err, WOLFSSL_X509 *cert)
{
    switch (err) {
    case ASN_NO_SIGNER_E:
    case ASN_SELF_SIGNED_E:
    case ASN_SIG_CONFIRM_E:
    case ASN_SIG_KEY_E:
    case ASN_SIG_HASH_E:
    case ASN_SIG_OID_E:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return "unknown CA";
    case ASN_AFTER_DATE_E:
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD: /* what this build maps ASN_AFTER_DATE_E to */
        return cert && !cert_expired(cert) ? "CRL missing or stale" : "expired";
    case ASN_BEFORE_DATE_E:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
        return "not yet valid";
    case CRL_CERT_REVOKED:
    case X509_V_ERR_CERT_REVOKED:
        return "revoked";
    case CRL_MISSING:
    case CRL_CERT_DATE_ERR:
    case ASN_CRL_NO_SIGNER_E:
    case ASN_CRL_CONFIRM_E:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
        return "CRL missing or stale";
    case NO_PEER_CERT:
        return "no certificate";
    case ASN_PATHLEN_INV_E:
    case ASN_PATHLEN_SIZE_E:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return "invalid chain";
    default:
        return "certificate rejected";
    }
}

/* Which reason to report when several orgs refused for different reasons: the most
 * specific one an operator can act on. */
int rg_tls_reason_rank(const char *r)
{
    static const char *const order[] = {"revoked",       "CRL missing or stale", "expired",
                                        "not yet valid", "invalid chain",        "unknown CA"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(order); i++)
        if (strcmp(r, order[i]) == 0)
            return (int)i;
    return (int)RG_ARRAY_SIZE(order);
}

void rg_tls_name_text(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
{
    out[0] = '\0';
    if (name)
        wolfSSL_X509_NAME_oneline(name, out, (int)outlen);
}

/* ---- handshake verification ------------------------------------------------------------- */

static struct verify_state *verify_state_of(const WOLFSSL *ssl)
{
    if (!ssl || verify_ex_idx < 0)
        return NULL;
    return wolfSSL_get_ex_data(ssl, verify_ex_idx);
}

/* Copy the certificates the peer sent (wolfSSL passes them to the verify callback as
 * store->certs, leaf first; there is no accessor) into one exact-size buffer. */
static void chain_keep(struct verify_state *vs, const WOLFSSL_X509_STORE_CTX *store)
{
    int n = store->totalCerts < CHAIN_MAX ? store->totalCerts : CHAIN_MAX;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!store->certs || !store->certs[i].buffer || store->certs[i].length == 0) {
            n = i;
            break;
        }
        total += store->certs[i].length;
    }
    free(vs->chain);
    vs->chain = NULL;
    vs->nchain = 0;
    vs->resume.restored = false; /* a full handshake after all: the chain is the peer's */
    if (n <= 0 || !(vs->chain = malloc(total)))
        return; /* rg_tls_peer_identify then refuses: "no certificate" */
    uint8_t *p = vs->chain;
    for (int i = 0; i < n; i++) {
        memcpy(p, store->certs[i].buffer, store->certs[i].length);
        vs->chain_len[i] = (int)store->certs[i].length;
        p += store->certs[i].length;
    }
    vs->nchain = n;
}

/* Called for every certificate of the chain (WOLFSSL_ALWAYS_VERIFY_CB, VERIFY_CB_ALL_CERTS),
 * the leaf last. Keeps the chain at the leaf; records the first failure; never closes
 * anything. A CRL that is merely absent is let through here: whether the org requires one
 * is decided per org in rg_tls_peer_identify. */
int rg_tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    WOLFSSL *ssl =
        wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
    struct verify_state *vs = verify_state_of(ssl);
    if (vs && wolfSSL_X509_STORE_CTX_get_error_depth(store) == 0)
        chain_keep(vs, store);
    if (preverify)
        return 1;
    int err = wolfSSL_X509_STORE_CTX_get_error(store);
    if (err == CRL_MISSING || err == X509_V_ERR_UNABLE_TO_GET_CRL)
        return 1;
    if (vs && !vs->failed) {
        WOLFSSL_X509 *cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
        struct verify_failure *f = calloc(1, sizeof(*f));
        vs->failed = true;
        vs->failure = f;
        if (f) {
            snprintf(f->reason, sizeof(f->reason), "%s", rg_tls_reason_for(err, cert));
            if (cert) {
                rg_tls_name_text(wolfSSL_X509_get_subject_name(cert), f->subject,
                                 sizeof(f->subject));
                rg_tls_name_text(wolfSSL_X509_get_issuer_name(cert), f->issuer, sizeof(f->issuer));
            }
        }
    }
    return 0;
}

WOLFSSL *rg_tls_ssl_new(struct rg_tls_ctx *ctx)
{
    RG_REQUIRE(verify_ex_idx >= 0); /* rg_tls_global_init first */
    WOLFSSL *ssl = wolfSSL_new(ctx->ctx);
    if (!ssl)
        return NULL;
    struct verify_state *vs = calloc(1, sizeof(*vs));
    if (!vs || wolfSSL_set_ex_data(ssl, verify_ex_idx, vs) != WOLFSSL_SUCCESS) {
        free(vs);
        wolfSSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void rg_tls_ssl_free(WOLFSSL *ssl)
{
    if (!ssl)
        return;
    struct verify_state *vs = verify_state_of(ssl);
    if (vs) {
        rg_tls_session_ssl_gone(ssl, &vs->resume);
        free(vs->resume.org);
        free(vs->chain);
        free(vs->failure);
    }
    free(vs);
    wolfSSL_free(ssl);
}

struct resume_state *rg_tls_resume_of(const WOLFSSL *ssl)
{
    struct verify_state *vs = verify_state_of(ssl);
    return vs ? &vs->resume : NULL;
}

int rg_tls_chain_set(WOLFSSL *ssl, const uint8_t *der, const int *lens, int n)
{
    struct verify_state *vs = verify_state_of(ssl);
    if (!vs)
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)lens[i];
    free(vs->chain);
    vs->chain = NULL;
    vs->nchain = 0;
    if (n <= 0 || n > CHAIN_MAX || !(vs->chain = malloc(total)))
        return -ENOMEM;
    memcpy(vs->chain, der, total);
    memcpy(vs->chain_len, lens, (size_t)n * sizeof(*lens));
    vs->nchain = n;
    return 0;
}

void rg_tls_peer_chain(const WOLFSSL *ssl, struct peer_chain *pc)
{
    const struct verify_state *vs = verify_state_of(ssl);
    pc->n = vs ? vs->nchain : 0;
    const uint8_t *der = pc->n > 0 ? vs->chain : NULL;
    for (int i = 0; i < pc->n; i++) {
        pc->der[i] = der;
        pc->len[i] = vs->chain_len[i];
        der += vs->chain_len[i];
    }
}

int rg_tls_handshake_failure(WOLFSSL *ssl, struct rg_tls_peer *peer)
{
    struct verify_state *vs = verify_state_of(ssl);
    if (vs && vs->failed) {
        const struct verify_failure *f = vs->failure;
        snprintf(peer->reason, sizeof(peer->reason), "%s",
                 f ? f->reason : "certificate verification failed");
        snprintf(peer->subject, sizeof(peer->subject), "%s", f ? f->subject : "");
        snprintf(peer->issuer, sizeof(peer->issuer), "%s", f ? f->issuer : "");
        return 1;
    }
    /* FAIL_IF_NO_PEER_CERT refuses an empty Certificate without calling the callback. */
    int err = wolfSSL_get_error(ssl, WOLFSSL_FATAL_ERROR);
    if (err == NO_PEER_CERT || err == NO_PEER_VERIFY) {
        snprintf(peer->reason, sizeof(peer->reason), "no certificate");
        peer->subject[0] = peer->issuer[0] = '\0';
        return 1;
    }
    return 0;
}
