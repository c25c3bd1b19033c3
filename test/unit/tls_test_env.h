/* Shared by test_tls_stream.c and test_tls.c: a test PKI from tools/make-pki.sh in a temp
 * dir, a hand-built config snapshot (config.c is not needed to build one), and a server and
 * a client rg_tls_stream connected over memory. */
#ifndef RG_TEST_TLS_ENV_H
#define RG_TEST_TLS_ENV_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/tls.h"
#include "radsecgw/tls_stream.h"

#define ENV_MAX_ORGS 8

static char env_dir[64];

static inline char *pki_path(const char *name)
{
    char *p = malloc(strlen(env_dir) + strlen(name) + 2);
    if (!p)
        abort();
    sprintf(p, "%s/%s", env_dir, name);
    return p;
}

/* One PKI per test binary (make-pki.sh takes about a second). */
static inline int env_pki_setup(void **state)
{
    (void)state;
    snprintf(env_dir, sizeof(env_dir), "/tmp/rg-tls-test-XXXXXX");
    if (!mkdtemp(env_dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "bash '%s/../tools/make-pki.sh' '%s' >/dev/null", RG_TEST_DIR,
             env_dir);
    if (system(cmd) != 0)
        return -1;
    return rg_tls_global_init();
}

static inline int env_pki_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env_dir);
    rg_tls_global_cleanup();
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a config snapshot built by hand ---- */

static inline struct rg_config *cfg_new(void)
{
    struct rg_config *cfg = calloc(1, sizeof(*cfg));
    cfg->orgs = calloc(ENV_MAX_ORGS, sizeof(*cfg->orgs));
    cfg->tls.certificate = pki_path("server-chain.pem");
    cfg->tls.key = pki_path("server.key");
    cfg->tls.min_version = 12;
    cfg->tls.ciphers = strdup("");
    return cfg;
}

static inline struct rg_org *cfg_org(struct rg_config *cfg, const char *name)
{
    if (cfg->norgs == ENV_MAX_ORGS)
        abort();
    struct rg_org *o = &cfg->orgs[cfg->norgs++];
    o->name = strdup(name);
    return o;
}

static inline void strv_push(char ***v, size_t *n, char *s)
{
    *v = realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

static inline void org_ca(struct rg_org *o, const char *file)
{
    strv_push(&o->ca, &o->nca, pki_path(file));
}

static inline void org_crl(struct rg_org *o, const char *file)
{
    strv_push(&o->crl, &o->ncrl, pki_path(file));
}

static inline void prefix_set(struct rg_prefix *p, const char *text)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(p, 0, sizeof(*p));
    if (inet_pton(AF_INET, buf, p->addr) == 1) {
        p->family = AF_INET;
        p->bits = slash ? (unsigned)atoi(slash + 1) : 32;
    } else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
        p->family = AF_INET6;
        p->bits = slash ? (unsigned)atoi(slash + 1) : 128;
    } else {
        abort();
    }
}

static inline void org_allow(struct rg_org *o, const char *prefix)
{
    o->allow = realloc(o->allow, (o->nallow + 1) * sizeof(*o->allow));
    prefix_set(&o->allow[o->nallow++], prefix);
}

/* "CN:re", "SAN:DNS:re", "SAN:URI:re", "SAN:IP:prefix", as in the config file. */
static inline void org_match(struct rg_org *o, const char *rule)
{
    o->match = realloc(o->match, (o->nmatch + 1) * sizeof(*o->match));
    struct rg_match *m = &o->match[o->nmatch++];
    memset(m, 0, sizeof(*m));
    const char *pat;
    if (strncmp(rule, "CN:", 3) == 0) {
        m->kind = RG_MATCH_CN;
        pat = rule + 3;
    } else if (strncmp(rule, "SAN:DNS:", 8) == 0) {
        m->kind = RG_MATCH_SAN_DNS;
        pat = rule + 8;
    } else if (strncmp(rule, "SAN:URI:", 8) == 0) {
        m->kind = RG_MATCH_SAN_URI;
        pat = rule + 8;
    } else if (strncmp(rule, "SAN:IP:", 7) == 0) {
        m->kind = RG_MATCH_SAN_IP;
        pat = rule + 7;
    } else {
        abort();
    }
    m->pattern = strdup(pat);
    if (m->kind == RG_MATCH_SAN_IP) {
        prefix_set(&m->prefix, pat);
    } else {
        regex_t *re = malloc(sizeof(*re));
        if (regcomp(re, pat, REG_EXTENDED | REG_NOSUB) != 0)
            abort();
        m->regex = re;
    }
}

static inline void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static inline void cfg_free(struct rg_config *cfg)
{
    for (size_t i = 0; i < cfg->norgs; i++) {
        struct rg_org *o = &cfg->orgs[i];
        free(o->name);
        strv_free(o->ca, o->nca);
        strv_free(o->crl, o->ncrl);
        free(o->allow);
        for (size_t k = 0; k < o->nmatch; k++) {
            free(o->match[k].pattern);
            if (o->match[k].regex) {
                regfree(o->match[k].regex);
                free(o->match[k].regex);
            }
        }
        free(o->match);
    }
    free(cfg->orgs);
    free(cfg->tls.certificate);
    free(cfg->tls.key);
    free(cfg->tls.ciphers);
    free(cfg);
}

/* The usual two tenants: acme (two root CAs, CRLs for each CA, Meraki-style CN) and
 * globex (one CA, no CRL). */
static inline struct rg_config *cfg_acme_globex(void)
{
    struct rg_config *cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_ca(acme, "acme-ca-next.pem");
    org_crl(acme, "acme.crl");
    org_crl(acme, "acme-next.crl");
    org_crl(acme, "acme-int.crl");
    org_match(acme, "CN:^Q2[A-Z0-9-]+$");
    struct rg_org *globex = cfg_org(cfg, "globex");
    org_ca(globex, "globex-ca.pem");
    return cfg;
}

/* ---- a server and a client stream over memory ---- */

struct pair {
    struct rg_tls_stream srv;
    struct rg_tls_stream cli;
    WOLFSSL_CTX *cctx;
};

/* certfile / keyfile are PKI file names; certfile NULL: the client presents nothing. */
static inline int pair_open_files(struct pair *p, struct rg_tls_ctx *tls, const char *certfile,
                                  const char *keyfile, int version)
{
    char err[256];
    memset(p, 0, sizeof(*p));
    char *ca = pki_path("server-ca.pem");
    char *cert = certfile ? pki_path(certfile) : NULL;
    char *key = keyfile ? pki_path(keyfile) : NULL;
    int ret = rg_tls_client_ctx_new(ca, cert, key, version, &p->cctx, err, sizeof(err));
    free(ca);
    free(cert);
    free(key);
    if (ret < 0) {
        fprintf(stderr, "client ctx: %s\n", err);
        return ret;
    }
    if ((ret = rg_tls_stream_init(&p->cli, wolfSSL_new(p->cctx))) < 0)
        return ret;
    return rg_tls_stream_init(&p->srv, rg_tls_ssl_new(tls));
}

/* name: "ap-rsa" presents ap-rsa.pem with ap-rsa.key. */
static inline int pair_open(struct pair *p, struct rg_tls_ctx *tls, const char *name, int version)
{
    char cert[64], key[64];
    if (!name)
        return pair_open_files(p, tls, NULL, NULL, version);
    snprintf(cert, sizeof(cert), "%s.pem", name);
    snprintf(key, sizeof(key), "%s.key", name);
    return pair_open_files(p, tls, cert, key, version);
}

static inline void pair_close(struct pair *p)
{
    rg_tls_stream_free(&p->srv);
    rg_tls_stream_free(&p->cli);
    wolfSSL_CTX_free(p->cctx);
}

/* Move src's ciphertext into dst, chunk octets at a time (0: all at once), driving dst after
 * each feed as the connection code does when bytes arrive. Returns octets moved. */
static inline size_t pair_move(struct rg_tls_stream *src, struct rg_tls_stream *dst, size_t chunk)
{
    size_t moved = 0;
    while (src->out.len > 0) {
        size_t n = chunk && chunk < src->out.len ? chunk : src->out.len;
        if (rg_tls_stream_feed(dst, src->out.data, n) < 0)
            abort();
        rg_buf_consume(&src->out, n);
        moved += n;
        rg_tls_stream_drive(dst);
    }
    return moved;
}

/* Run both ends until neither has anything more to say. */
static inline void pair_pump(struct pair *p, size_t chunk)
{
    rg_tls_stream_drive(&p->cli);
    rg_tls_stream_drive(&p->srv);
    for (int round = 0; round < 1000; round++) {
        size_t moved = pair_move(&p->cli, &p->srv, chunk);
        moved += pair_move(&p->srv, &p->cli, chunk);
        if (moved == 0)
            return;
    }
    abort();
}

static inline const struct sockaddr *sa_of(const char *ip, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
        sin->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1)
        sin6->sin6_family = AF_INET6;
    else
        abort();
    return (const struct sockaddr *)ss;
}

#endif
