/* Peer identity: which org a verified client chain belongs to (the org's CAs, its CRLs,
 * intermediates the client sent, allow prefixes and match rules), decided after the
 * handshake and again at every reload and CRL refresh; or why the client is refused. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/openssl/x509v3.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

/* ---- peer identity ------------------------------------------------------------------------ */

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

static bool asn1_match(const struct rg_match *m, WOLFSSL_ASN1_STRING *s)
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
    return rg_config_match_string(m, buf);
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
            ok = cn[0] && rg_config_match_string(m, cn);
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
                                       : asn1_match(m, gn->d.ia5);
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
    struct peer_chain pc;
    rg_tls_peer_chain(ssl, &pc);
    if (pc.n <= 0)
        return refuse(peer, "no certificate");
    WOLFSSL_X509 *leaf = wolfSSL_X509_d2i(NULL, pc.der[0], pc.len[0]);
    if (!leaf)
        return refuse(peer, "unreadable certificate");
    /* radiusdtls-bis §3.3: the connection must not outlive the peer's certificates. */
    for (int i = 0; i < pc.n; i++) {
        WOLFSSL_X509 *x = i == 0 ? leaf : wolfSSL_X509_d2i(NULL, pc.der[i], pc.len[i]);
        time_t t;
        if (x && rg_tls_asn1_time(wolfSSL_X509_get_notAfter(x), &t) &&
            (peer->not_after == 0 || t < peer->not_after))
            peer->not_after = t;
        if (x && x != leaf)
            wolfSSL_X509_free(x);
    }
    rg_tls_name_text(wolfSSL_X509_get_subject_name(leaf), peer->subject, sizeof(peer->subject));
    rg_tls_name_text(wolfSSL_X509_get_issuer_name(leaf), peer->issuer, sizeof(peer->issuer));
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
            const char *r = rg_tls_reason_for(v, leaf);
            if (rg_tls_reason_rank(r) < rg_tls_reason_rank(why))
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
    if (wolfSSL_session_reused(ssl)) {
        /* radiusdtls-bis "TLS Session Resumption": the chain came back from the session cache
         * and was judged above as at a full handshake, now; it must also still be the tenant
         * the session was accepted for (another org's secret and pool are not to be reached
         * by a session resumed from this one). */
        const struct resume_state *rs = rg_tls_resume_of(ssl);
        if (!rs || !rs->restored || !rs->org)
            return refuse(peer, "resumed session without its cached identity");
        if (strcmp(rs->org, chosen->name) != 0) {
            char text[128];
            snprintf(text, sizeof(text), "resumed session of another org: %s, now %s", rs->org,
                     chosen->name);
            return refuse(peer, text);
        }
        peer->resumed = true;
    }
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
