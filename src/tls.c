/* TLS policy from a config snapshot: the server WOLFSSL_CTX, one certificate manager per org
 * (its CAs and CRLs) to decide which org a client belongs to, and the operator-readable
 * reason when a client is refused. Knows nothing of sockets or RADIUS. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/openssl/x509v3.h>

#include <arpa/inet.h>
#include <regex.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/radius11.h"
#include "radsecgw/tls.h"

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

#define FILE_MAX  (16u << 20) /* CA and CRL files larger than this are refused */
#define CHAIN_MAX 10          /* certificates of a client chain we look at */

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
    bool crl_enabled; /* the org lists CRLs: every CA in a chain needs a current one */
    regex_t **re;     /* malloced array (nmatch): the config's regex or own_re[i] */
    regex_t *own_re;  /* malloced array, owned: compiled here when config left it NULL */
    bool *own_re_set; /* malloced array: own_re[i] needs regfree */
};

struct rg_tls_ctx {
    WOLFSSL_CTX *ctx;            /* owned */
    const struct rg_config *cfg; /* borrowed: the snapshot outlives the context */
    struct org_trust *orgs;      /* malloced array, owned, one per cfg->orgs */
    size_t norgs;
};

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

static int blob_read(const char *path, struct blob *b, char *err, size_t errlen)
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

/* ---- operator-readable reasons ---------------------------------------------------------- */

static bool asn1_time_t(const WOLFSSL_ASN1_TIME *t, time_t *out);

static bool cert_expired(WOLFSSL_X509 *cert)
{
    WOLFSSL_ASN1_TIME *t = cert ? wolfSSL_X509_get_notAfter(cert) : NULL;
    return t && wolfSSL_X509_cmp_current_time(t) < 0;
}

/* wolfSSL reports its own codes or, built with WOLFSSL_ERROR_CODE_OPENSSL, the X509_V_ERR_*
 * of OpenSSL for some of them; both map here. An "after date" error on a certificate that
 * has not expired comes from its issuer's CRL being past nextUpdate. */
static const char *reason_for(int err, WOLFSSL_X509 *cert)
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
static int reason_rank(const char *r)
{
    static const char *const order[] = {"revoked",       "CRL missing or stale", "expired",
                                        "not yet valid", "invalid chain",        "unknown CA"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(order); i++)
        if (strcmp(r, order[i]) == 0)
            return (int)i;
    return (int)RG_ARRAY_SIZE(order);
}

static void name_text(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
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
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
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
            snprintf(f->reason, sizeof(f->reason), "%s", reason_for(err, cert));
            if (cert) {
                name_text(wolfSSL_X509_get_subject_name(cert), f->subject, sizeof(f->subject));
                name_text(wolfSSL_X509_get_issuer_name(cert), f->issuer, sizeof(f->issuer));
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
        free(vs->chain);
        free(vs->failure);
    }
    free(vs);
    wolfSSL_free(ssl);
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

/* ---- ALPN (RFC 9765) ------------------------------------------------------------------------ */

/* The ClientHello as it arrives (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), read before wolfSSL
 * sees it: the ALPN list (RFC 7301 §3.1) and whether TLS 1.3 is offered (supported_versions,
 * RFC 8446 §4.2.1; this server always supports 1.3, so offered means negotiated). The
 * handshake message may span several records; at most HELLO_MAX octets are looked at.
 * 1: incomplete, 0: parsed, -EBADMSG: not a ClientHello we can read. */
#define HELLO_MAX 16384

struct reader {
    const uint8_t *p;
    size_t len;
    bool bad;
};

static size_t rd_n(struct reader *r, size_t n)
{
    size_t v = 0;
    if (r->len < n) {
        r->bad = true;
        r->len = 0;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    r->len -= n;
    return v;
}

static struct reader rd_sub(struct reader *r, size_t n)
{
    struct reader sub = {r->p, n <= r->len ? n : 0, n > r->len};
    if (n > r->len) {
        r->bad = true;
        n = r->len;
    }
    r->p += n;
    r->len -= n;
    return sub;
}

int rg_tls_hello_peek(const uint8_t *in, size_t len, char *alpn, size_t alpn_cap, bool *has_alpn,
                      bool *tls13)
{
    uint8_t hs[HELLO_MAX];
    size_t hs_len = 0, need = 0;
    *has_alpn = *tls13 = false;
    alpn[0] = '\0';
    /* Gather the handshake message from consecutive handshake records. */
    for (size_t off = 0;;) {
        if (len - off < 5)
            return 1;
        if (in[off] != 22 || in[off + 1] != 3)
            return -EBADMSG;
        size_t rlen = (size_t)in[off + 3] << 8 | in[off + 4];
        if (rlen == 0 || rlen > 16384 + 256)
            return -EBADMSG;
        if (len - off - 5 < rlen)
            return 1;
        size_t take = rlen < sizeof(hs) - hs_len ? rlen : sizeof(hs) - hs_len;
        memcpy(hs + hs_len, in + off + 5, take);
        hs_len += take;
        off += 5 + rlen;
        if (hs_len >= 4) {
            if (hs[0] != 1)
                return -EBADMSG;
            need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
            if (need > sizeof(hs))
                return -EBADMSG;
            if (hs_len >= need)
                break;
        }
    }
    struct reader r = {hs + 4, need - 4, false};
    rd_n(&r, 2 + 32);        /* legacy_version, random */
    rd_sub(&r, rd_n(&r, 1)); /* legacy_session_id */
    rd_sub(&r, rd_n(&r, 2)); /* cipher_suites */
    rd_sub(&r, rd_n(&r, 1)); /* legacy_compression_methods */
    if (r.bad)
        return -EBADMSG;
    if (r.len == 0)
        return 0; /* no extensions: no ALPN, TLS 1.2 */
    struct reader ext = rd_sub(&r, rd_n(&r, 2));
    size_t n = 0;
    while (!ext.bad && ext.len) {
        size_t type = rd_n(&ext, 2);
        struct reader body = rd_sub(&ext, rd_n(&ext, 2));
        if (type == 16 && !*has_alpn) { /* application_layer_protocol_negotiation */
            struct reader list = rd_sub(&body, rd_n(&body, 2));
            *has_alpn = true;
            while (!list.bad && list.len) {
                struct reader name = rd_sub(&list, rd_n(&list, 1));
                if (name.bad || name.len == 0)
                    return -EBADMSG;
                /* A comma or NUL inside a name would read as two names: keep it out. */
                if (memchr(name.p, ',', name.len) || memchr(name.p, '\0', name.len))
                    continue;
                if (n + name.len + 2 > alpn_cap)
                    continue;
                if (n)
                    alpn[n++] = ',';
                memcpy(alpn + n, name.p, name.len);
                n += name.len;
                alpn[n] = '\0';
            }
            if (list.bad)
                return -EBADMSG;
        } else if (type == 43) { /* supported_versions */
            struct reader vers = rd_sub(&body, rd_n(&body, 1));
            while (!vers.bad && vers.len >= 2)
                if (rd_n(&vers, 2) == 0x0304)
                    *tls13 = true;
        }
    }
    return ext.bad ? -EBADMSG : 0;
}

int rg_tls_alpn_prepare(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const uint8_t *in, size_t len,
                        char *why, size_t whylen)
{
    char offered[256];
    bool has_alpn, tls13;
    int rc = rg_tls_hello_peek(in, len, offered, sizeof(offered), &has_alpn, &tls13);
    if (rc > 0)
        return 1;
    if (rc < 0) /* wolfSSL refuses it in its own words; decide as without ALPN */
        has_alpn = tls13 = false;
    const char *alpn, *reason;
    int proto = rg_radius11_alpn_choose(ctx->cfg->listen.radius11, has_alpn ? offered : NULL, tls13,
                                        &alpn, &reason);
    if (proto < 0) {
        char esc[128];
        /* why goes into a quoted log value: no quotes of its own, the peer's names escaped. */
        snprintf(why, whylen, "ALPN: %s; offered %s over TLS %s", reason,
                 has_alpn ? rg_log_escape_str(offered, esc, sizeof(esc)) : "nothing",
                 tls13 ? "1.3" : "1.2");
        return -EPROTO;
    }
    /* wolfSSL alone would answer with the client's first name it knows, whatever the
     * version; leaving it exactly the chosen one makes the answer ours. */
    if (alpn && wolfSSL_UseALPN(ssl, (char *)alpn, (word32)strlen(alpn),
                                WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
        snprintf(why, whylen, "ALPN: cannot configure %s", alpn);
        return -EPROTO;
    }
    return 0;
}

const uint8_t rg_tls_alert_no_application_protocol[7] = {
    21, 3, 3, 0, 2, 2 /* fatal */, 120 /* no_application_protocol (RFC 7301 §3.2) */};

int rg_tls_protocol(WOLFSSL *ssl, enum rg_radius11_mode mode)
{
    char *name = NULL;
    word16 len = 0;
    int proto = RG_PROTO_HISTORIC;
    if (wolfSSL_ALPN_GetProtocol(ssl, &name, &len) == WOLFSSL_SUCCESS && name) {
        if (len == strlen(RG_RADIUS11_ALPN_11) && memcmp(name, RG_RADIUS11_ALPN_11, len) == 0)
            proto = RG_PROTO_RADIUS_11;
        else if (len == strlen(RG_RADIUS11_ALPN_10) && memcmp(name, RG_RADIUS11_ALPN_10, len) == 0)
            proto = RG_PROTO_RADIUS_10;
        else
            return -EPROTO;
    }
    /* What rg_tls_alpn_prepare decided, checked again on the finished handshake (and, were
     * resumption ever enabled, on a resumed one: RFC 9765 §"Session Resumption"). */
    if (proto == RG_PROTO_RADIUS_11 &&
        (wolfSSL_GetVersion(ssl) != WOLFSSL_TLSV1_3 || mode == RG_RADIUS11_FORBID))
        return -EPROTO;
    if (proto != RG_PROTO_RADIUS_11 && mode == RG_RADIUS11_REQUIRE)
        return -EPROTO;
    return proto;
}

/* ---- context ------------------------------------------------------------------------------ */

static void org_trust_free(struct org_trust *ot)
{
    if (ot->cm)
        wolfSSL_CertManagerFree(ot->cm);
    blobs_free(ot->ca, ot->nca);
    blobs_free(ot->crl, ot->ncrl);
    blobs_free(ot->crl_deferred, ot->ncrl_deferred);
    if (ot->own_re) {
        for (size_t i = 0; i < ot->org->nmatch; i++)
            if (ot->own_re_set[i])
                regfree(&ot->own_re[i]);
    }
    free(ot->own_re);
    free(ot->own_re_set);
    free(ot->re);
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

WOLFSSL_CTX *rg_tls_ctx_wolfssl(struct rg_tls_ctx *ctx)
{
    return ctx->ctx;
}

static int org_regex_prepare(struct org_trust *ot, char *err, size_t errlen)
{
    const struct rg_org *org = ot->org;
    if (org->nmatch == 0)
        return 0;
    ot->re = calloc(org->nmatch, sizeof(*ot->re));
    ot->own_re = calloc(org->nmatch, sizeof(*ot->own_re));
    ot->own_re_set = calloc(org->nmatch, sizeof(*ot->own_re_set));
    if (!ot->re || !ot->own_re || !ot->own_re_set)
        return -ENOMEM;
    for (size_t i = 0; i < org->nmatch; i++) {
        const struct rg_match *m = &org->match[i];
        if (m->kind == RG_MATCH_SAN_IP)
            continue;
        if (m->regex) {
            ot->re[i] = m->regex;
            continue;
        }
        int rc = regcomp(&ot->own_re[i], m->pattern ? m->pattern : "", REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &ot->own_re[i], msg, sizeof(msg));
            errf(err, errlen, "org \"%s\": match \"%s\": %s", org->name, m->pattern, msg);
            return -EINVAL;
        }
        ot->own_re_set[i] = true;
        ot->re[i] = &ot->own_re[i];
    }
    return 0;
}

static WOLFSSL_X509_CRL *crl_parse(const struct blob *b)
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
    WOLFSSL_X509_CRL *crl = crl_parse(b);
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
        int ret = blob_read(org->ca[i], &b, err, errlen);
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
    return 0;
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
        int ret = blob_read(org->crl[i], &b, err, errlen);
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
 * first of the client's groups that is in this list (test_tls test_server_preference). */
static int set_groups(WOLFSSL_CTX *ctx)
{
    int groups[] = {
        WOLFSSL_ECC_X25519,
        WOLFSSL_ECC_SECP256R1,
        WOLFSSL_ECC_SECP384R1,
        WOLFSSL_ECC_SECP521R1,
    };
    return wolfSSL_CTX_set_groups(ctx, groups, (int)(sizeof(groups) / sizeof(groups[0]))) ==
                   WOLFSSL_SUCCESS
               ? 0
               : -1;
}

int rg_tls_ctx_new(const struct rg_config *cfg, struct rg_tls_ctx **out, char *err, size_t errlen)
{
    char text[96];
    int ret = -EINVAL;
    *out = NULL;
    if (verify_ex_idx < 0 && rg_tls_global_init() < 0) { /* a caller that skipped it */
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
    if (set_groups(tc->ctx) < 0) {
        errf(err, errlen, "tls: key-exchange groups not supported by this wolfSSL");
        goto fail;
    }
    /* No renegotiation: this wolfSSL build only answers renegotiation_info (RFC 5746) and
     * never renegotiates; we do not enable wolfSSL_UseSecureRenegotiation. */

    /* No resumption: wolfSSL 5.5 does not restore the client certificate on a resumed
     * session, and identity is decided from it on every connection. */
    wolfSSL_CTX_set_session_cache_mode(tc->ctx, WOLFSSL_SESS_CACHE_OFF);
    wolfSSL_CTX_NoTicketTLSv12(tc->ctx);
    wolfSSL_CTX_no_ticket_TLSv13(tc->ctx);

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
                           verify_cb);

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
        if ((ret = org_regex_prepare(&tc->orgs[i], err, errlen)) < 0)
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

/* ---- peer identity ------------------------------------------------------------------------ */

struct peer_chain {
    const uint8_t *der[CHAIN_MAX]; /* borrowed from the verify state's copy */
    int len[CHAIN_MAX];
    int n;
};

static bool der_is_ca(const uint8_t *der, int len)
{
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, len);
    bool ca = x && wolfSSL_X509_get_isCA(x);
    wolfSSL_X509_free(x);
    return ca;
}

static void cm_load_crls(WOLFSSL_CERT_MANAGER *cm, const struct blob *b, size_t n, bool *done)
{
    for (size_t i = 0; i < n; i++) {
        if (done && done[i])
            continue;
        int ret = wolfSSL_CertManagerLoadCRLBuffer(cm, b[i].data, (long)b[i].len, b[i].format);
        if (done && ret == WOLFSSL_SUCCESS)
            done[i] = true;
    }
}

/* A chain with intermediates: a scratch manager holding the org's CAs grows by every
 * intermediate that verifies against it (and is a CA), closest to the root first, until the
 * leaf verifies or nothing more can be added. CRLs of an intermediate apply once it is in. */
static int org_verify_via_intermediates(const struct org_trust *ot, const struct peer_chain *pc)
{
    WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
    if (!cm)
        return MEMORY_E;
    bool added[CHAIN_MAX] = {false};
    bool crl_done[16] = {false};
    bool *done = ot->ncrl_deferred <= RG_ARRAY_SIZE(crl_done) ? crl_done : NULL;
    int ret = ASN_NO_SIGNER_E;

    for (size_t i = 0; i < ot->nca; i++)
        wolfSSL_CertManagerLoadCABuffer(cm, ot->ca[i].data, (long)ot->ca[i].len, ot->ca[i].format);
    if (ot->crl_enabled) {
        wolfSSL_CertManagerEnableCRL(cm, WOLFSSL_CRL_CHECKALL);
        cm_load_crls(cm, ot->crl, ot->ncrl, NULL);
    }
    for (bool progress = true; progress;) {
        progress = false;
        for (int i = pc->n - 1; i >= 1; i--) {
            if (added[i])
                continue;
            int r =
                wolfSSL_CertManagerVerifyBuffer(cm, pc->der[i], pc->len[i], WOLFSSL_FILETYPE_ASN1);
            if (r != WOLFSSL_SUCCESS) {
                if (r != ASN_NO_SIGNER_E)
                    ret = r; /* chains to the org but refused: revoked, expired, ... */
                continue;
            }
            if (!der_is_ca(pc->der[i], pc->len[i]))
                continue;
            if (wolfSSL_CertManagerLoadCABuffer(cm, pc->der[i], pc->len[i],
                                                WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS)
                continue;
            added[i] = true;
            progress = true;
            if (ot->crl_enabled)
                cm_load_crls(cm, ot->crl_deferred, ot->ncrl_deferred, done);
        }
    }
    int r = wolfSSL_CertManagerVerifyBuffer(cm, pc->der[0], pc->len[0], WOLFSSL_FILETYPE_ASN1);
    if (r == WOLFSSL_SUCCESS || r != ASN_NO_SIGNER_E || ret == ASN_NO_SIGNER_E)
        ret = r;
    wolfSSL_CertManagerFree(cm);
    return ret;
}

/* WOLFSSL_SUCCESS when the chain leads to one of the org's CAs, else the wolfSSL error. */
static int org_verify(const struct org_trust *ot, const struct peer_chain *pc)
{
    int ret =
        wolfSSL_CertManagerVerifyBuffer(ot->cm, pc->der[0], pc->len[0], WOLFSSL_FILETYPE_ASN1);
    if (ret == ASN_NO_SIGNER_E && pc->n > 1)
        ret = org_verify_via_intermediates(ot, pc);
    return ret;
}

static bool addr_in(const struct rg_prefix *p, size_t n, const struct sockaddr *addr)
{
    for (size_t i = 0; i < n; i++)
        if (rg_prefix_contains(&p[i], addr))
            return true;
    return false;
}

static bool org_addr_allowed(const struct rg_org *org, const struct sockaddr *addr)
{
    return !addr || org->nallow == 0 || addr_in(org->allow, org->nallow, addr);
}

static bool asn1_regex(const regex_t *re, WOLFSSL_ASN1_STRING *s)
{
    char buf[512];
    int len = wolfSSL_ASN1_STRING_length(s);
    const unsigned char *d = wolfSSL_ASN1_STRING_get0_data(s);
    if (!d || len < 0 || (size_t)len >= sizeof(buf))
        return false;
    memcpy(buf, d, (size_t)len);
    buf[len] = '\0';
    if (strlen(buf) != (size_t)len) /* embedded NUL: never a name we should match */
        return false;
    return regexec(re, buf, 0, NULL, 0) == 0;
}

static bool san_ip_in(const struct rg_prefix *p, WOLFSSL_ASN1_STRING *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int len = wolfSSL_ASN1_STRING_length(s);
    const unsigned char *d = wolfSSL_ASN1_STRING_get0_data(s);
    if (!d)
        return false;
    if (len == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, d, 4);
    } else if (len == 16) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, d, 16);
    } else {
        return false;
    }
    return rg_prefix_contains(p, (const struct sockaddr *)&ss);
}

/* Every match rule must hold (DESIGN.md: "every rule must match"); a SAN rule holds when any
 * subjectAltName of its type matches. */
static bool org_rules_match(const struct org_trust *ot, const char *cn,
                            WOLF_STACK_OF(WOLFSSL_GENERAL_NAME) * sans)
{
    const struct rg_org *org = ot->org;
    for (size_t i = 0; i < org->nmatch; i++) {
        const struct rg_match *m = &org->match[i];
        bool ok = false;
        if (m->kind == RG_MATCH_CN) {
            ok = cn[0] && regexec(ot->re[i], cn, 0, NULL, 0) == 0;
        } else {
            int type = m->kind == RG_MATCH_SAN_DNS   ? GEN_DNS
                       : m->kind == RG_MATCH_SAN_URI ? GEN_URI
                                                     : GEN_IPADD;
            int n = sans ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
            for (int k = 0; k < n && !ok; k++) {
                WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(sans, k);
                if (!gn || gn->type != type || !gn->d.ia5)
                    continue;
                ok = type == GEN_IPADD ? san_ip_in(&m->prefix, gn->d.iPAddress)
                                       : asn1_regex(ot->re[i], gn->d.ia5);
            }
        }
        if (!ok)
            return false;
    }
    return true;
}

static int refuse(struct rg_tls_peer *peer, const char *reason)
{
    peer->org = NULL;
    snprintf(peer->reason, sizeof(peer->reason), "%s", reason);
    return -EACCES;
}

int rg_tls_peer_identify(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct sockaddr *addr,
                         struct rg_tls_peer *peer)
{
    memset(peer, 0, sizeof(*peer));
    const struct verify_state *vs = verify_state_of(ssl);
    struct peer_chain pc = {.n = vs ? vs->nchain : 0};
    if (pc.n <= 0)
        return refuse(peer, "no certificate");
    const uint8_t *der = vs->chain;
    for (int i = 0; i < pc.n; i++) {
        pc.der[i] = der;
        pc.len[i] = vs->chain_len[i];
        der += vs->chain_len[i];
    }
    WOLFSSL_X509 *leaf = wolfSSL_X509_d2i(NULL, pc.der[0], pc.len[0]);
    if (!leaf)
        return refuse(peer, "unreadable certificate");
    /* radiusdtls-bis §3.3: the connection must not outlive the peer's certificates. */
    for (int i = 0; i < pc.n; i++) {
        WOLFSSL_X509 *x = i == 0 ? leaf : wolfSSL_X509_d2i(NULL, pc.der[i], pc.len[i]);
        time_t t;
        if (x && asn1_time_t(wolfSSL_X509_get_notAfter(x), &t) &&
            (peer->not_after == 0 || t < peer->not_after))
            peer->not_after = t;
        if (x && x != leaf)
            wolfSSL_X509_free(x);
    }
    name_text(wolfSSL_X509_get_subject_name(leaf), peer->subject, sizeof(peer->subject));
    name_text(wolfSSL_X509_get_issuer_name(leaf), peer->issuer, sizeof(peer->issuer));
    if (wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(leaf), NID_commonName,
                                          peer->cn, (int)sizeof(peer->cn)) < 0)
        peer->cn[0] = '\0';
    WOLF_STACK_OF(WOLFSSL_GENERAL_NAME) *sans =
        wolfSSL_X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);

    /* Orgs whose trust verifies the chain, then those whose prefixes and rules agree. */
    const char *why = "unknown CA";
    size_t nverified = 0, nallowed = 0, nmatched = 0;
    const struct rg_org *chosen = NULL;
    for (size_t i = 0; i < ctx->norgs; i++) {
        const struct org_trust *ot = &ctx->orgs[i];
        int v = org_verify(ot, &pc);
        if (v != WOLFSSL_SUCCESS) {
            const char *r = reason_for(v, leaf);
            if (reason_rank(r) < reason_rank(why))
                why = r;
            continue;
        }
        nverified++;
        if (!org_addr_allowed(ot->org, addr))
            continue;
        nallowed++;
        if (!org_rules_match(ot, peer->cn, sans))
            continue;
        nmatched++;
        chosen = ot->org;
    }
    if (sans)
        wolfSSL_sk_GENERAL_NAME_pop_free(sans, wolfSSL_GENERAL_NAME_free);
    wolfSSL_X509_free(leaf);

    if (nverified == 0)
        return refuse(peer, why);
    if (nallowed == 0)
        return refuse(peer, "prefix not allowed");
    if (nmatched == 0)
        return refuse(peer, "no match");
    if (nmatched > 1)
        return refuse(peer, "ambiguous org");
    peer->org = chosen;
    return 0;
}

int rg_tls_peer_recheck(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct sockaddr *addr,
                        const struct rg_tls_peer *old, struct rg_tls_peer *now)
{
    /* radiusdtls-bis §3.3: "reassess the continued validity of the certificate path of all
     * connected peers" from the certificate kept for the connection's lifetime (the chain
     * the verify callback copied), with the same decision as at the handshake. */
    int ret = rg_tls_peer_identify(ctx, ssl, addr, now);
    if (ret < 0)
        return ret;
    if (old && old->org && strcmp(old->org->name, now->org->name) != 0) {
        /* Another tenant's secret and pool: not a connection to carry over silently. */
        snprintf(now->reason, sizeof(now->reason), "now matches org %s, not %s", now->org->name,
                 old->org->name);
        now->org = NULL;
        return -EACCES;
    }
    return 0;
}

bool rg_tls_addr_allowed(const struct rg_config *cfg, const struct sockaddr *addr)
{
    for (size_t i = 0; i < cfg->norgs; i++)
        if (org_addr_allowed(&cfg->orgs[i], addr))
            return true;
    return false;
}

/* ---- expiry watch ------------------------------------------------------------------------ */

static bool asn1_time_t(const WOLFSSL_ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS)
        return false;
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

/* For the expiry lines: an org's CA comes from the tenant, so its name is escaped like any
 * other peer string. */
static void cn_or_name(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
{
    char cn[RG_TLS_NAME_MAX - 3], raw[RG_TLS_NAME_MAX];
    if (name && wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)sizeof(cn)) > 0)
        snprintf(raw, sizeof(raw), "CN=%s", cn);
    else
        name_text(name, raw, sizeof(raw));
    rg_log_escape_str(raw, out, outlen);
}

/* Report e when it is past or within its warning window; counts what it reported. */
static int expiry_report(struct rg_tls_expiry *e, time_t now, time_t window, rg_tls_expiry_cb cb,
                         void *arg)
{
    e->expired = e->when <= now;
    if (!e->expired && e->when - now >= window)
        return 0;
    time_t d = e->expired ? now - e->when : e->when - now;
    e->days = (long)(d / 86400);
    cb(e, arg);
    return 1;
}

/* Every certificate of a file (a chain file holds several; DER holds one). */
static int expiry_cert_file(const char *path, time_t now, rg_tls_expiry_cb cb, void *arg)
{
    struct blob b;
    char err[256];
    struct rg_tls_expiry e = {.path = path, .kind = "certificate"};
    if (blob_read(path, &b, err, sizeof(err)) < 0) {
        snprintf(e.name, sizeof(e.name), "%s", err);
        e.unreadable = true;
        cb(&e, arg);
        return 1;
    }
    int n = 0;
    WOLFSSL_BIO *bio =
        b.format == WOLFSSL_FILETYPE_PEM ? wolfSSL_BIO_new_mem_buf(b.data, (int)b.len) : NULL;
    for (int i = 0;; i++) {
        WOLFSSL_X509 *x = bio      ? wolfSSL_PEM_read_bio_X509(bio, NULL, NULL, NULL)
                          : i == 0 ? wolfSSL_X509_d2i(NULL, b.data, (int)b.len)
                                   : NULL;
        if (!x)
            break;
        cn_or_name(wolfSSL_X509_get_subject_name(x), e.name, sizeof(e.name));
        if (asn1_time_t(wolfSSL_X509_get_notAfter(x), &e.when))
            n += expiry_report(&e, now, (time_t)RG_TLS_EXPIRY_WARN_DAYS * 86400, cb, arg);
        wolfSSL_X509_free(x);
    }
    wolfSSL_BIO_free(bio);
    free(b.data);
    return n;
}

/* A CRL warns when less than half its validity is left (at most RG_TLS_EXPIRY_WARN_DAYS):
 * a 7-day CRL renewed daily never warns, one that stopped being renewed does, days ahead. */
static int expiry_crl_file(const char *path, time_t now, rg_tls_expiry_cb cb, void *arg)
{
    struct blob b;
    char err[256];
    struct rg_tls_expiry e = {.path = path, .kind = "CRL"};
    WOLFSSL_X509_CRL *crl = NULL;
    if (blob_read(path, &b, err, sizeof(err)) < 0 || !(crl = crl_parse(&b))) {
        snprintf(e.name, sizeof(e.name), "%s", b.data ? "not a CRL" : err);
        free(b.data);
        e.unreadable = true;
        cb(&e, arg);
        return 1;
    }
    int n = 0;
    time_t last = 0;
    time_t window = (time_t)RG_TLS_EXPIRY_WARN_DAYS * 86400;
    cn_or_name(wolfSSL_X509_CRL_get_issuer_name(crl), e.name, sizeof(e.name));
    if (asn1_time_t(wolfSSL_X509_CRL_get_nextUpdate(crl), &e.when)) {
        if (asn1_time_t(wolfSSL_X509_CRL_get_lastUpdate(crl), &last) && e.when > last &&
            (e.when - last) / 2 < window)
            window = (e.when - last) / 2;
        n = expiry_report(&e, now, window, cb, arg);
    }
    wolfSSL_X509_CRL_free(crl);
    free(b.data);
    return n;
}

int rg_tls_expiry_check(const struct rg_config *cfg, time_t now, rg_tls_expiry_cb cb, void *arg)
{
    int n = 0;
    if (cfg->tls.certificate)
        n += expiry_cert_file(cfg->tls.certificate, now, cb, arg);
    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *org = &cfg->orgs[i];
        for (size_t k = 0; k < org->nca; k++)
            n += expiry_cert_file(org->ca[k], now, cb, arg);
        for (size_t k = 0; k < org->ncrl; k++)
            n += expiry_crl_file(org->crl[k], now, cb, arg);
    }
    return n;
}

void rg_tls_expiry_format(const struct rg_tls_expiry *e, char *buf, size_t len)
{
    char date[32];
    struct tm tm;
    if (e->unreadable) {
        snprintf(buf, len, "%s %s: cannot check its expiry: %s", e->kind, e->path, e->name);
        return;
    }
    gmtime_r(&e->when, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
    bool crl = strcmp(e->kind, "CRL") == 0;
    if (e->expired)
        snprintf(buf, len, "%s %s (%s) %s %ld day%s ago on %s", e->kind, e->path, e->name,
                 crl ? "is stale: nextUpdate passed" : "expired", e->days, e->days == 1 ? "" : "s",
                 date);
    else
        snprintf(buf, len, "%s %s (%s) %s in %ld day%s on %s", e->kind, e->path, e->name,
                 crl ? "needs renewal: nextUpdate" : "expires", e->days, e->days == 1 ? "" : "s",
                 date);
}

static void expiry_log_one(const struct rg_tls_expiry *e, void *arg)
{
    char line[768], esc[RG_LOG_ESC_BUF * 2];
    (void)arg;
    rg_tls_expiry_format(e, line, sizeof(line));
    rg_log(e->expired || e->unreadable ? LOG_ERR : LOG_WARNING,
           "event=cert_expiry kind=%s path=\"%s\" state=%s expiry=%lld days=%ld msg=\"%s\"",
           strcmp(e->kind, "CRL") == 0 ? "crl" : "certificate", RG_LOG_ESC(e->path),
           e->unreadable ? "unreadable"
           : e->expired  ? "expired"
                         : "expiring",
           e->unreadable ? 0LL : (long long)e->when, e->unreadable ? 0L : e->days,
           rg_log_escape_str(line, esc, sizeof(esc)));
}

int rg_tls_expiry_log(const struct rg_config *cfg, time_t now)
{
    return rg_tls_expiry_check(cfg, now, expiry_log_one, NULL);
}

void rg_tls_crl_stale_log(const struct rg_config *cfg)
{
    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *org = &cfg->orgs[i];
        for (size_t k = 0; k < org->ncrl; k++) {
            struct blob b;
            char err[256];
            if (blob_read(org->crl[k], &b, err, sizeof(err)) < 0)
                continue; /* the next context build names the file */
            if (crl_stale(&b) == 1)
                log_crl_stale(org, org->crl[k]);
            free(b.data);
        }
    }
}
