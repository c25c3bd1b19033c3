/* Building the TLS contexts from a config snapshot: the server WOLFSSL_CTX (chain, key,
 * versions, ciphers, verify callback) with one certificate manager per org holding its CAs
 * and CRLs, and the client context for tools and tests. Identity is tls_peer.c's, the
 * verify callback tls_verify.c's. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

/* RFC 6614 §2.3 asks for strong suites; we take ECDHE (forward secrecy) with AEAD only.
 * wolfSSL picks in the server's order (it follows the client's only after
 * wolfSSL_CTX_UseClientSuites), so the list is ordered by what is cheapest here: AES-GCM
 * first where wolfSSL runs it on AES-NI, ChaCha20-Poly1305 first where AES-GCM would be
 * software (several times slower per octet). */
#define DEFAULT_CIPHERS_AES                                                                        \
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_CIPHERS_CHACHA                                                                     \
    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"              \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

#define FILE_MAX (16u << 20) /* CA and CRL files larger than this are refused */

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *wolf_text(int code, char *buf, size_t len)
{
    wolfSSL_ERR_error_string_n((unsigned long)(long)code, buf, len);
    return buf;
}

/* PEM has "-----BEGIN" somewhere (maybe after comments); DER starts with a SEQUENCE. */
static bool looks_pem(const struct blob *b)
{
    static const char tag[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(tag) - 1 <= b->len; i++)
        if (memcmp(b->data + i, tag, sizeof(tag) - 1) == 0)
            return true;
    return false;
}

int rg_tls_blob_read(const char *path, struct blob *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        errf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 0;
    int ret = 0;
    for (;;) {
        if (b->len == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > FILE_MAX + 1)
                cap = FILE_MAX + 1;
            uint8_t *d = realloc(b->data, cap);
            if (!d) {
                ret = -ENOMEM;
                errf(err, errlen, "%s: out of memory", path);
                break;
            }
            b->data = d;
        }
        size_t n = fread(b->data + b->len, 1, cap - b->len, f);
        b->len += n;
        if (b->len > FILE_MAX) {
            ret = -EFBIG;
            errf(err, errlen, "%s: larger than %u octets", path, FILE_MAX);
            break;
        }
        if (n == 0) {
            if (ferror(f)) {
                ret = -EIO;
                errf(err, errlen, "%s: read error", path);
            }
            break;
        }
    }
    fclose(f);
    if (ret == 0 && b->len == 0) {
        ret = -EINVAL;
        errf(err, errlen, "%s: empty file", path);
    }
    if (ret < 0) {
        free(b->data);
        b->data = NULL;
        return ret;
    }
    b->format = looks_pem(b) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
    return 0;
}

static void blobs_free(struct blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b);
}

static int blobs_push(struct blob **arr, size_t *n, const struct blob *b)
{
    struct blob *a = realloc(*arr, (*n + 1) * sizeof(*a));
    if (!a)
        return -ENOMEM;
    a[(*n)++] = *b;
    *arr = a;
    return 0;
}

/* ---- context ------------------------------------------------------------------------------ */

static void org_trust_free(struct org_trust *ot)
{
    if (ot->cm)
        wolfSSL_CertManagerFree(ot->cm);
    blobs_free(ot->ca, ot->nca);
    blobs_free(ot->crl, ot->ncrl);
    blobs_free(ot->crl_deferred, ot->ncrl_deferred);
    memset(ot, 0, sizeof(*ot));
}

void rg_tls_ctx_free(struct rg_tls_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->norgs; i++)
        org_trust_free(&ctx->orgs[i]);
    free(ctx->orgs);
    if (ctx->ctx)
        wolfSSL_CTX_free(ctx->ctx);
    free(ctx);
}

WOLFSSL_X509_CRL *rg_tls_crl_parse(const struct blob *b)
{
    WOLFSSL_X509_CRL *crl = NULL;
    if (b->format == WOLFSSL_FILETYPE_PEM) {
        WOLFSSL_BIO *bio = wolfSSL_BIO_new_mem_buf(b->data, (int)b->len);
        if (bio) {
            crl = wolfSSL_PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
            wolfSSL_BIO_free(bio);
        }
    } else {
        crl = wolfSSL_d2i_X509_CRL(NULL, b->data, (int)b->len);
    }
    return crl;
}

/* Is the CRL's nextUpdate in the past? (-1: cannot parse) */
static int crl_stale(const struct blob *b)
{
    WOLFSSL_X509_CRL *crl = rg_tls_crl_parse(b);
    if (!crl)
        return -1;
    WOLFSSL_ASN1_TIME *next = wolfSSL_X509_CRL_get_nextUpdate(crl);
    int stale = next && wolfSSL_X509_cmp_current_time(next) < 0;
    wolfSSL_X509_CRL_free(crl);
    return stale;
}

static void log_crl_stale(const struct rg_org *org, const char *path)
{
    rg_log(LOG_WARNING,
           "event=crl_stale org=%s path=\"%s\" reason=\"nextUpdate passed\" "
           "effect=\"not loaded, clients of its CA are refused until it is renewed\"",
           org->name, RG_LOG_ESC(path));
}

/* What a resumed session is tied to: the org's CA files as loaded. */
static int ca_digest(struct org_trust *ot)
{
    wc_Sha256 sha;
    if (wc_InitSha256(&sha) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < ot->nca; i++)
        wc_Sha256Update(&sha, ot->ca[i].data, (word32)ot->ca[i].len);
    int ret = wc_Sha256Final(&sha, ot->ca_digest);
    wc_Sha256Free(&sha);
    return ret == 0 ? 0 : -EIO;
}

static int org_load(struct rg_tls_ctx *tc, struct org_trust *ot, char *err, size_t errlen)
{
    const struct rg_org *org = ot->org;
    char text[96];

    ot->cm = wolfSSL_CertManagerNew();
    if (!ot->cm)
        return -ENOMEM;
    if (org->nca == 0) {
        errf(err, errlen, "org \"%s\": no ca file", org->name);
        return -EINVAL;
    }
    for (size_t i = 0; i < org->nca; i++) {
        struct blob b;
        int ret = rg_tls_blob_read(org->ca[i], &b, err, errlen);
        if (ret < 0)
            return ret;
        if ((ret = blobs_push(&ot->ca, &ot->nca, &b)) < 0) {
            free(b.data);
            return ret;
        }
        ret = wolfSSL_CertManagerLoadCABuffer(ot->cm, b.data, (long)b.len, b.format);
        if (ret == WOLFSSL_SUCCESS)
            ret = wolfSSL_CTX_load_verify_buffer(tc->ctx, b.data, (long)b.len, b.format);
        if (ret != WOLFSSL_SUCCESS) {
            errf(err, errlen, "org \"%s\": ca %s: %s", org->name, org->ca[i],
                 wolf_text(ret, text, sizeof(text)));
            return -EINVAL;
        }
    }
    return ca_digest(ot);
}

/* CRLs after every org's CAs are in the CTX (a CRL only loads once its issuer is known). */
static int org_load_crls(struct rg_tls_ctx *tc, struct org_trust *ot, char *err, size_t errlen)
{
    const struct rg_org *org = ot->org;
    char text[96];

    if (org->ncrl == 0)
        return 0;
    ot->crl_enabled = true;
    if (wolfSSL_CertManagerEnableCRL(ot->cm, WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS)
        return -ENOMEM;
    for (size_t i = 0; i < org->ncrl; i++) {
        struct blob b;
        int ret = rg_tls_blob_read(org->crl[i], &b, err, errlen);
        if (ret < 0)
            return ret;
        int stale = crl_stale(&b);
        if (stale < 0) {
            errf(err, errlen, "org \"%s\": crl %s: not a CRL", org->name, org->crl[i]);
            free(b.data);
            return -EINVAL;
        }
        if (stale) {
            log_crl_stale(org, org->crl[i]);
            free(b.data);
            continue;
        }
        ret = wolfSSL_CertManagerLoadCRLBuffer(ot->cm, b.data, (long)b.len, b.format);
        struct blob **dst = &ot->crl;
        size_t *ndst = &ot->ncrl;
        if (ret == ASN_CRL_NO_SIGNER_E) {
            /* Issued by an intermediate CA: applied once a client presents it. */
            dst = &ot->crl_deferred;
            ndst = &ot->ncrl_deferred;
        } else if (ret == WOLFSSL_SUCCESS) {
            ret = wolfSSL_CTX_LoadCRLBuffer(tc->ctx, b.data, (long)b.len, b.format);
        }
        if (ret != WOLFSSL_SUCCESS && ret != ASN_CRL_NO_SIGNER_E) {
            errf(err, errlen, "org \"%s\": crl %s: %s", org->name, org->crl[i],
                 wolf_text(ret, text, sizeof(text)));
            free(b.data);
            return -EINVAL;
        }
        if ((ret = blobs_push(dst, ndst, &b)) < 0) {
            free(b.data);
            return ret;
        }
    }
    return 0;
}

bool rg_tls_aes_in_hardware(void)
{
#if defined(WOLFSSL_AESNI) && (defined(__x86_64__) || defined(__i386__))
    /* wolfSSL checks the same flags at run time and falls back to its C code without. */
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(WOLFSSL_ARMASM) && defined(__aarch64__)
    return true; /* built for ARMv8 crypto extensions: no fallback */
#else
    return false;
#endif
}

const char *rg_tls_default_ciphers(void)
{
    return rg_tls_aes_in_hardware() ? DEFAULT_CIPHERS_AES : DEFAULT_CIPHERS_CHACHA;
}

/* Key-exchange groups in the server's order: X25519 first (constant-time by construction,
 * one scalar multiplication each way), then P-256 (SP assembly), then the larger curves.
 * TLS 1.3: among the key shares a client sent, the best-ranked one is taken (no
 * HelloRetryRequest while any offered share is acceptable). TLS 1.2: wolfSSL 5.5 takes the
 * first of the client's groups that is in this list (test_tls test_server_preference).
 * A wolfSSL without P-384/P-521 gets the first two; one without either keeps its own order
 * (P-256 first) rather than refusing to start. */
static void set_groups(WOLFSSL_CTX *ctx)
{
    int groups[] = {
        WOLFSSL_ECC_X25519,
        WOLFSSL_ECC_SECP256R1,
        WOLFSSL_ECC_SECP384R1,
        WOLFSSL_ECC_SECP521R1,
    };
    if (wolfSSL_CTX_set_groups(ctx, groups, (int)(sizeof(groups) / sizeof(groups[0]))) !=
        WOLFSSL_SUCCESS)
        wolfSSL_CTX_set_groups(ctx, groups, 2);
}

int rg_tls_ctx_new(const struct rg_config *cfg, struct rg_tls_ctx **out, char *err, size_t errlen)
{
    char text[96];
    int ret = -EINVAL;
    *out = NULL;
    if (!rg_tls_verify_ready() && rg_tls_global_init() < 0) { /* a caller that skipped it */
        errf(err, errlen, "wolfSSL initialisation failed");
        return -EIO;
    }

    struct rg_tls_ctx *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return -ENOMEM;
    tc->cfg = cfg;
    tc->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!tc->ctx) {
        ret = -ENOMEM;
        goto fail;
    }
    int minv = cfg->tls.min_version == 13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
    if (wolfSSL_CTX_SetMinVersion(tc->ctx, minv) != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: min-version %d not supported", cfg->tls.min_version);
        goto fail;
    }
    const char *ciphers =
        cfg->tls.ciphers && cfg->tls.ciphers[0] ? cfg->tls.ciphers : rg_tls_default_ciphers();
    if (wolfSSL_CTX_set_cipher_list(tc->ctx, ciphers) != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: ciphers \"%s\": no usable cipher suite", ciphers);
        goto fail;
    }
    set_groups(tc->ctx);
    /* No renegotiation: this wolfSSL build only answers renegotiation_info (RFC 5746) and
     * never renegotiates; we do not enable wolfSSL_UseSecureRenegotiation. */

    /* wolfSSL's own session cache stays off (a session resumed from it would bring back no
     * client certificate: wolfSSL 5.5 is built without SESSION_CERTS). Resumption, when
     * tls.session-cache allows it, goes through tickets whose state is the gateway's own
     * cache (tls_session.c), which keeps the verified chain to re-authorize from. */
    wolfSSL_CTX_set_session_cache_mode(tc->ctx, WOLFSSL_SESS_CACHE_OFF);
    rg_tls_session_setup(tc);

    if (!cfg->tls.certificate || !cfg->tls.key) {
        errf(err, errlen, "tls: certificate and key are required");
        goto fail;
    }
    ret = wolfSSL_CTX_use_certificate_chain_file(tc->ctx, cfg->tls.certificate);
    if (ret != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: certificate %s: %s", cfg->tls.certificate,
             wolf_text(ret, text, sizeof(text)));
        ret = -EINVAL;
        goto fail;
    }
    ret = wolfSSL_CTX_use_PrivateKey_file(tc->ctx, cfg->tls.key, WOLFSSL_FILETYPE_PEM);
    if (ret != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: key %s: %s", cfg->tls.key, wolf_text(ret, text, sizeof(text)));
        ret = -EINVAL;
        goto fail;
    }
    if (wolfSSL_CTX_check_private_key(tc->ctx) != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: key %s does not match certificate %s", cfg->tls.key,
             cfg->tls.certificate);
        ret = -EINVAL;
        goto fail;
    }
    wolfSSL_CTX_set_verify(tc->ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           rg_tls_verify_cb);

    if (cfg->norgs == 0) {
        errf(err, errlen, "no org: no client could ever be accepted");
        ret = -EINVAL;
        goto fail;
    }
    tc->orgs = calloc(cfg->norgs, sizeof(*tc->orgs));
    if (!tc->orgs) {
        ret = -ENOMEM;
        goto fail;
    }
    tc->norgs = cfg->norgs;
    bool any_crl = false;
    for (size_t i = 0; i < cfg->norgs; i++) {
        tc->orgs[i].org = &cfg->orgs[i];
        any_crl |= cfg->orgs[i].ncrl > 0;
        if ((ret = org_load(tc, &tc->orgs[i], err, errlen)) < 0)
            goto fail;
    }
    /* The CTX checks every CRL it has at the handshake (a revoked client never gets in);
     * a CA without one is let through there and judged per org afterwards. */
    if (any_crl && wolfSSL_CTX_EnableCRL(tc->ctx, WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS) {
        errf(err, errlen, "tls: cannot enable CRL checking");
        ret = -EIO;
        goto fail;
    }
    for (size_t i = 0; i < tc->norgs; i++)
        if ((ret = org_load_crls(tc, &tc->orgs[i], err, errlen)) < 0)
            goto fail;
    *out = tc;
    return 0;

fail:
    if (ret == -ENOMEM)
        errf(err, errlen, "out of memory");
    rg_tls_ctx_free(tc);
    return ret < 0 ? ret : -EINVAL;
}

int rg_tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                          int version, WOLFSSL_CTX **out, char *err, size_t errlen)
{
    char text[96];
    int ret;
    WOLFSSL_METHOD *method = version == 12   ? wolfTLSv1_2_client_method()
                             : version == 13 ? wolfTLSv1_3_client_method()
                                             : wolfSSLv23_client_method();
    *out = NULL;
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(method);
    if (!ctx) {
        errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (version == 0)
        wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
    ret = wolfSSL_CTX_load_verify_locations(ctx, ca_file, NULL);
    if (ret != WOLFSSL_SUCCESS) {
        errf(err, errlen, "ca %s: %s", ca_file, wolf_text(ret, text, sizeof(text)));
        goto fail;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
    if (cert_file) {
        ret = wolfSSL_CTX_use_certificate_chain_file(ctx, cert_file);
        if (ret != WOLFSSL_SUCCESS) {
            errf(err, errlen, "certificate %s: %s", cert_file, wolf_text(ret, text, sizeof(text)));
            goto fail;
        }
        ret = wolfSSL_CTX_use_PrivateKey_file(ctx, key_file, WOLFSSL_FILETYPE_PEM);
        if (ret != WOLFSSL_SUCCESS) {
            errf(err, errlen, "key %s: %s", key_file, wolf_text(ret, text, sizeof(text)));
            goto fail;
        }
    }
    *out = ctx;
    return 0;
fail:
    wolfSSL_CTX_free(ctx);
    return -EINVAL;
}

void rg_tls_crl_stale_log(const struct rg_config *cfg)
{
    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *org = &cfg->orgs[i];
        for (size_t k = 0; k < org->ncrl; k++) {
            struct blob b;
            char err[256];
            if (rg_tls_blob_read(org->crl[k], &b, err, sizeof(err)) < 0)
                continue; /* the next context build names the file */
            if (crl_stale(&b) == 1)
                log_crl_stale(org, org->crl[k]);
            free(b.data);
        }
    }
}
