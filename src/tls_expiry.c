/* The expiry watch (main thread, at start and every day): the certificates and CRLs of a
 * config snapshot that have expired or soon will, as findings and as log lines. Reads the
 * files itself; builds no context. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radsecgw/log.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

/* ---- expiry watch ------------------------------------------------------------------------ */

bool rg_tls_asn1_time(const WOLFSSL_ASN1_TIME *t, time_t *out)
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
        rg_tls_name_text(name, raw, sizeof(raw));
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
    if (rg_tls_blob_read(path, &b, err, sizeof(err)) < 0) {
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
        if (rg_tls_asn1_time(wolfSSL_X509_get_notAfter(x), &e.when))
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
    if (rg_tls_blob_read(path, &b, err, sizeof(err)) < 0 || !(crl = rg_tls_crl_parse(&b))) {
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
    if (rg_tls_asn1_time(wolfSSL_X509_CRL_get_nextUpdate(crl), &e.when)) {
        if (rg_tls_asn1_time(wolfSSL_X509_CRL_get_lastUpdate(crl), &last) && e.when > last &&
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
