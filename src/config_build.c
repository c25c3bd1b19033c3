/* Configuration: the immutable rg_config snapshot built from the parsed libconfuse tree
 * (names resolved, secrets, pools, orgs and realms, CoA, cluster, logging), the checks that
 * span several blocks, and freeing a snapshot. */
#include <regex.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/log.h"
#include "config_internal.h"

/* deprecating-radius §7.1: secrets this short fall to brute force from one packet. */
#define SHORT_SECRET_OCTETS 12

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void rg_config_free(struct rg_config *cfg)
{
    free(cfg->path);
    free_strv(cfg->includes, cfg->nincludes);
    free(cfg->user);
    free(cfg->pidfile);
    free_strv(cfg->listen.address, cfg->listen.naddress);
    free(cfg->listen.proxy_from);
    free(cfg->tls.certificate);
    free(cfg->tls.key);
    free(cfg->tls.ciphers);
    for (size_t i = 0; i < cfg->norgs; i++) {
        struct rg_org *o = &cfg->orgs[i];
        free(o->name);
        free_strv(o->ca, o->nca);
        free_strv(o->crl, o->ncrl);
        free(o->secret);
        free(o->allow);
        for (size_t j = 0; j < o->nmatch; j++)
            rg_config_match_free(&o->match[j]);
        free(o->match);
        for (size_t j = 0; j < o->nrealms; j++)
            free(o->realms[j].name);
        free(o->realms);
    }
    free(cfg->orgs);
    for (size_t i = 0; i < cfg->npools; i++) {
        struct rg_pool *p = &cfg->pools[i];
        free(p->name);
        for (size_t j = 0; j < p->nservers; j++) {
            free(p->servers[j].name);
            free(p->servers[j].host);
            free(p->servers[j].secret);
        }
        free(p->servers);
    }
    free(cfg->pools);
    free(cfg->coa.address);
    for (size_t i = 0; i < cfg->coa.nclients; i++) {
        free(cfg->coa.clients[i].name);
        free(cfg->coa.clients[i].host);
        free(cfg->coa.clients[i].secret);
        free(cfg->coa.clients[i].orgs);
    }
    free(cfg->coa.clients);
    free(cfg->metrics.address);
    if (cfg->log.hash_key)
        memset(cfg->log.hash_key, 0, cfg->log.hash_key_len);
    free(cfg->log.hash_key);
    free(cfg->cluster.instance);
    free(cfg->cluster.redis_host);
    free(cfg->cluster.redis_password);
    free(cfg->cluster.secret);
    free(cfg->cluster.address);
    free(cfg);
}

static char *dup_str(struct load *ld, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        ld->nomem = true;
    return d;
}

static char **dup_list(struct load *ld, cfg_t *sec, const char *name, size_t *n)
{
    *n = cfg_size(sec, name);
    if (*n == 0)
        return NULL;
    char **v = calloc(*n, sizeof(*v));
    if (!v) {
        ld->nomem = true;
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        v[i] = dup_str(ld, cfg_getnstr(sec, name, (unsigned)i));
    return v;
}

static void *alloc_array(struct load *ld, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p)
        ld->nomem = true;
    return p;
}

/* Numeric address first, then a name lookup; the first answer wins. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                   char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);

    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        snprintf(why, whylen, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -EINVAL;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* A secret must be set and not empty; on the UDP side a short one is only warned about. */
static char *get_secret(struct load *ld, cfg_t *sec, const char *what, size_t *len, bool udp)
{
    const char *s = cfg_getstr(sec, "secret");
    if (!s || !*s) {
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "secret"),
                           "%s \"%s\": secret is not set or empty", what, cfg_title(sec));
        return NULL;
    }
    *len = strlen(s);
    if (udp && *len <= SHORT_SECRET_OCTETS)
        rg_config_warn_at(
            ld, rg_config_opt_line(ld, sec, "secret"),
            "%s \"%s\": secret is only %zu octets; a RADIUS/UDP secret of %d octets or "
            "fewer can be brute-forced from one captured packet "
            "(draft-ietf-radext-deprecating-radius §7.1), use a long random one",
            what, cfg_title(sec), *len, SHORT_SECRET_OCTETS);
    return dup_str(ld, s);
}

/* Names appear in log lines and in references: an empty one is a typo. */
static void check_name(struct load *ld, cfg_t *sec)
{
    if (!cfg_title(sec) || !*cfg_title(sec))
        rg_config_error_at(ld, rg_config_sec_line(ld, sec), "%s name is empty", cfg_name(sec));
}

static void build_server(struct load *ld, cfg_t *sec, struct rg_server *s)
{
    check_name(ld, sec);
    char why[256];
    s->name = dup_str(ld, cfg_title(sec));
    s->host = dup_str(ld, cfg_getstr(sec, "host"));
    s->auth_port = (uint16_t)cfg_getint(sec, "auth-port");
    s->acct_port = (uint16_t)cfg_getint(sec, "acct-port");
    s->secret = get_secret(ld, sec, "server", &s->secret_len, true);

    if (!s->host || !*s->host) {
        rg_config_error_at(ld, rg_config_sec_line(ld, sec), "server \"%s\": host is not set",
                           cfg_title(sec));
        return;
    }
    if (resolve(s->host, s->auth_port, &s->auth_addr, &s->addr_len, why, sizeof(why)) != 0) {
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "host"),
                           "server \"%s\": cannot resolve host '%s': %s", cfg_title(sec), s->host,
                           why);
        return;
    }
    s->acct_addr = s->auth_addr;
    set_port(&s->acct_addr, s->acct_port);
}

static enum rg_policy policy_of(const char *s)
{
    if (strcmp(s, "round-robin") == 0)
        return RG_POLICY_ROUND_ROBIN;
    if (strcmp(s, "least-outstanding") == 0)
        return RG_POLICY_LEAST_OUTSTANDING;
    return RG_POLICY_FAILOVER;
}

static void build_pools(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    cfg->npools = cfg_size(root, "pool");
    if (cfg->npools == 0) {
        rg_config_error_at(ld, ld->eof_line,
                           "no pool block: at least one pool of RADIUS servers is "
                           "required");
        return;
    }
    cfg->pools = alloc_array(ld, cfg->npools, sizeof(*cfg->pools));
    if (!cfg->pools) {
        cfg->npools = 0;
        return;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        cfg_t *sec = cfg_getnsec(root, "pool", (unsigned)i);
        struct rg_pool *p = &cfg->pools[i];
        check_name(ld, sec);
        p->name = dup_str(ld, cfg_title(sec));
        p->policy = policy_of(cfg_getstr(sec, "policy"));
        p->timeout_s = (unsigned)cfg_getint(sec, "timeout");
        p->retries = (unsigned)cfg_getint(sec, "retries");
        p->status_server = cfg_getbool(sec, "status-server");
        const char *ma = cfg_getstr(sec, "require-message-authenticator");
        p->require_message_authenticator =
            rg_config_in_list(ma, rg_config_require_ma_true)    ? RG_REQUIRE_MA_TRUE
            : rg_config_in_list(ma, rg_config_require_ma_false) ? RG_REQUIRE_MA_FALSE
                                                                : RG_REQUIRE_MA_AUTO;
        p->max_outstanding = (unsigned)cfg_getint(sec, "max-outstanding");
        p->dead_time_s = (unsigned)cfg_getint(sec, "dead-time");
        p->when_dead = strcmp(cfg_getstr(sec, "when-dead"), "reject") == 0 ? RG_WHEN_DEAD_REJECT
                                                                           : RG_WHEN_DEAD_SILENT;
        size_t n = cfg_size(sec, "server");
        if (n == 0) {
            rg_config_error_at(ld, rg_config_sec_line(ld, sec), "pool \"%s\" has no server",
                               cfg_title(sec));
            continue;
        }
        p->servers = alloc_array(ld, n, sizeof(*p->servers));
        if (!p->servers)
            continue;
        p->nservers = n;
        for (size_t j = 0; j < n; j++)
            build_server(ld, cfg_getnsec(sec, "server", (unsigned)j), &p->servers[j]);
    }
}

/* The pool a block's `pool` key names: required, and must exist. With a single pool
 * defined, an org may leave it out. */
static struct rg_pool *pool_ref(struct load *ld, struct rg_config *cfg, cfg_t *sec,
                                const char *what, bool default_single)
{
    const char *name = cfg_getstr(sec, "pool");
    if (!name || !*name) {
        if (default_single && cfg->npools == 1)
            return &cfg->pools[0];
        rg_config_error_at(ld, rg_config_sec_line(ld, sec), "%s \"%s\": pool is not set", what,
                           cfg_title(sec));
        return NULL;
    }
    struct rg_pool *p = rg_config_find_pool(cfg, name);
    if (!p && cfg->npools > 0)
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "pool"),
                           "%s \"%s\": pool \"%s\" is not defined", what, cfg_title(sec), name);
    return p;
}

/* The realm blocks of sec (an org block, or the root when there is a single org) appended
 * to org's table. Realms match case-insensitively (RFC 4282 §2.1), so names differing in
 * case only would shadow each other within one org; two orgs may use the same name. */
static void add_realms(struct load *ld, cfg_t *sec, struct rg_config *cfg, struct rg_org *o)
{
    size_t n = cfg_size(sec, "realm");
    if (n == 0)
        return;
    struct rg_realm *r = realloc(o->realms, (o->nrealms + n) * sizeof(*r));
    if (!r) {
        ld->nomem = true;
        return;
    }
    o->realms = r;
    for (size_t i = 0; i < n; i++) {
        cfg_t *rsec = cfg_getnsec(sec, "realm", (unsigned)i);
        struct rg_realm *realm = &o->realms[o->nrealms];
        check_name(ld, rsec);
        realm->name = dup_str(ld, cfg_title(rsec));
        realm->pool = NULL;
        o->nrealms++;
        for (size_t j = 0; j + 1 < o->nrealms && realm->name; j++)
            if (o->realms[j].name && strcasecmp(o->realms[j].name, realm->name) == 0)
                rg_config_error_at(ld, rg_config_sec_line(ld, rsec), "duplicate realm \"%s\"%s%s%s",
                                   realm->name, cfg->norgs > 1 ? " in org \"" : "",
                                   cfg->norgs > 1 ? o->name : "", cfg->norgs > 1 ? "\"" : "");
        realm->pool = pool_ref(ld, cfg, rsec, "realm", false);
    }
}

static void build_org(struct load *ld, cfg_t *sec, struct rg_config *cfg, struct rg_org *o)
{
    char why[256];
    check_name(ld, sec);
    o->name = dup_str(ld, cfg_title(sec));
    o->line = rg_config_sec_line(ld, sec);
    o->ca = dup_list(ld, sec, "ca", &o->nca);
    if (o->nca == 0)
        rg_config_error_at(ld, o->line,
                           "org \"%s\" has no ca: the root CA that signed its access "
                           "points' certificates is required",
                           o->name);
    o->crl = dup_list(ld, sec, "crl", &o->ncrl);
    o->crl_refresh_s = (unsigned)cfg_getint(sec, "crl-refresh");
    o->secret = get_secret(ld, sec, "org", &o->secret_len, false);
    o->coa = cfg_getbool(sec, "coa");

    size_t n = cfg_size(sec, "allow");
    if (n == 0)
        rg_config_warn_at(ld, rg_config_opt_line(ld, sec, "allow"),
                          "org \"%s\": allow is empty, no access point can connect", o->name);
    o->allow = alloc_array(ld, n, sizeof(*o->allow));
    if (o->allow) {
        o->nallow = n;
        for (size_t i = 0; i < n; i++)
            if (rg_prefix_parse(cfg_getnstr(sec, "allow", (unsigned)i), &o->allow[i]) != 0)
                rg_config_error_at(ld, rg_config_opt_line_idx(ld, sec, "allow", (unsigned)i),
                                   "bad allow prefix");
    }
    n = cfg_size(sec, "match");
    o->match = alloc_array(ld, n, sizeof(*o->match));
    if (o->match) {
        o->nmatch = n;
        for (size_t i = 0; i < n; i++) {
            int rc = rg_config_match_parse(cfg_getnstr(sec, "match", (unsigned)i), &o->match[i],
                                           why, sizeof(why));
            if (rc == -ENOMEM)
                ld->nomem = true;
            else if (rc != 0)
                rg_config_error_at(ld, rg_config_opt_line_idx(ld, sec, "match", (unsigned)i),
                                   "match rule %s", why);
        }
    }
    o->pool = pool_ref(ld, cfg, sec, "org", true);
    add_realms(ld, sec, cfg, o);
}

/* A top-level realm routes every org's APs: with several tenants that would let one org's
 * AP reach another's servers, so it is accepted only when there is one org. */
static void build_top_realms(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    size_t n = cfg_size(root, "realm");
    if (n == 0)
        return;
    if (cfg->norgs == 1) {
        add_realms(ld, root, cfg, &cfg->orgs[0]);
        return;
    }
    for (size_t i = 0; i < n && cfg->norgs > 1; i++) {
        cfg_t *rsec = cfg_getnsec(root, "realm", (unsigned)i);
        rg_config_error_at(
            ld, rg_config_sec_line(ld, rsec),
            "realm \"%s\" is outside any org block: with %zu orgs, each realm must be "
            "inside the org whose access points it routes",
            cfg_title(rsec), cfg->norgs);
    }
}

/* A client's orgs: each must exist; left out, it reaches every org, which is a choice
 * only while at most one org accepts CoA (otherwise one tenant's RADIUS server could
 * disconnect another tenant's users). */
static void coa_client_orgs(struct load *ld, cfg_t *csec, struct rg_config *cfg,
                            struct rg_coa_client *c)
{
    size_t n = cfg_size(csec, "orgs");
    if (n == 0) {
        size_t ncoa = 0;
        char names[256] = "";
        for (size_t i = 0; i < cfg->norgs; i++) {
            if (!cfg->orgs[i].coa)
                continue;
            size_t l = strlen(names);
            if (l + 4 < sizeof(names))
                snprintf(names + l, sizeof(names) - l, "%s\"%s\"", ncoa ? ", " : "",
                         cfg->orgs[i].name);
            ncoa++;
        }
        if (ncoa > 1) {
            rg_config_error_at(
                ld, rg_config_sec_line(ld, csec),
                "client \"%s\": orgs is not set: %zu orgs have coa = true (%s), so each "
                "coa client must name the orgs whose NASes it may reach, e.g. orgs = "
                "{\"%s\"}",
                c->name, ncoa, names, cfg->orgs[0].name);
            return;
        }
        n = cfg->norgs;
        c->orgs = alloc_array(ld, n, sizeof(*c->orgs));
        if (!c->orgs)
            return;
        for (size_t i = 0; i < n; i++)
            c->orgs[c->norgs++] = &cfg->orgs[i];
        return;
    }
    c->orgs = alloc_array(ld, n, sizeof(*c->orgs));
    if (!c->orgs)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *name = cfg_getnstr(csec, "orgs", (unsigned)i);
        int line = rg_config_opt_line_idx(ld, csec, "orgs", (unsigned)i);
        const struct rg_org *o = rg_config_find_org(cfg, name);
        if (!o) {
            rg_config_error_at(ld, line, "client \"%s\": org \"%s\" is not defined", c->name, name);
            continue;
        }
        if (rg_config_coa_client_reaches(c, o))
            continue; /* listed twice */
        if (!o->coa)
            rg_config_warn_at(
                ld, line,
                "client \"%s\": org \"%s\" has coa = false: its NASes will not be sent "
                "CoA",
                c->name, name);
        c->orgs[c->norgs++] = o;
    }
}

/* log { hash-user-names hash-macs hash-key }: the same key on every instance and across
 * restarts keeps hashes comparable ("${VAR}" keeps it out of the file: libconfuse reads the
 * environment). */
static void build_log_hash(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->log.hash_user_names = cfg_getbool(sec, "hash-user-names");
    cfg->log.hash_macs = cfg_getbool(sec, "hash-macs");
    const char *key = cfg_getstr(sec, "hash-key");
    cfg->log.hash_key = dup_str(ld, key ? key : "");
    cfg->log.hash_key_len = cfg->log.hash_key ? strlen(cfg->log.hash_key) : 0;
    if ((cfg->log.hash_user_names || cfg->log.hash_macs) && cfg->log.hash_key_len < 16)
        rg_config_error_at(
            ld, rg_config_opt_line(ld, sec, "hash-key"),
            "hash-key must have at least 16 characters when hash-user-names or hash-macs "
            "is true");
}

static void build_coa(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    char why[256];
    cfg->coa.address = dup_str(ld, cfg_getstr(sec, "address"));
    cfg->coa.port = (uint16_t)cfg_getint(sec, "port");
    size_t n = cfg_size(sec, "client");
    if (cfg->coa.enabled && n == 0)
        rg_config_warn_at(ld, rg_config_sec_line(ld, sec),
                          "coa has no client: every CoA/Disconnect request will be dropped");
    cfg->coa.clients = alloc_array(ld, n, sizeof(*cfg->coa.clients));
    if (!cfg->coa.clients)
        return;
    cfg->coa.nclients = n;
    for (size_t i = 0; i < n; i++) {
        cfg_t *csec = cfg_getnsec(sec, "client", (unsigned)i);
        struct rg_coa_client *c = &cfg->coa.clients[i];
        check_name(ld, csec);
        c->name = dup_str(ld, cfg_title(csec));
        c->host = dup_str(ld, cfg_getstr(csec, "host"));
        /* A CoA client speaks RADIUS/UDP like a backend: the same short-secret warning. */
        c->secret = get_secret(ld, csec, "client", &c->secret_len, true);
        if (!c->host || !*c->host) {
            rg_config_error_at(ld, rg_config_sec_line(ld, csec), "client \"%s\": host is not set",
                               c->name);
            continue;
        }
        if (resolve(c->host, 0, &c->addr, &c->addr_len, why, sizeof(why)) != 0) {
            rg_config_error_at(ld, rg_config_opt_line(ld, csec, "host"),
                               "client \"%s\": cannot resolve host '%s': %s", c->name, c->host,
                               why);
            continue;
        }
        /* Clients are told apart by source address: a second one there would never be
         * matched, and its orgs would silently not apply. */
        for (size_t j = 0; j < i; j++)
            if (cfg->coa.clients[j].addr_len &&
                rg_sockaddr_equal((const struct sockaddr *)&cfg->coa.clients[j].addr,
                                  (const struct sockaddr *)&c->addr))
                rg_config_error_at(
                    ld, rg_config_opt_line(ld, csec, "host"),
                    "client \"%s\": host '%s' is also client \"%s\" (clients are told "
                    "apart by source address)",
                    c->name, c->host, cfg->coa.clients[j].name);
    }
    for (size_t i = 0; i < n; i++)
        coa_client_orgs(ld, cfg_getnsec(sec, "client", (unsigned)i), cfg, &cfg->coa.clients[i]);
}

static void build_proxy_protocol(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->listen.proxy_protocol = cfg_getbool(sec, "proxy-protocol");
    size_t n = cfg_size(sec, "proxy-from");
    cfg->listen.proxy_from = alloc_array(ld, n, sizeof(*cfg->listen.proxy_from));
    if (cfg->listen.proxy_from) {
        cfg->listen.nproxy_from = n;
        for (size_t i = 0; i < n; i++)
            rg_prefix_parse(cfg_getnstr(sec, "proxy-from", (unsigned)i),
                            &cfg->listen.proxy_from[i]); /* checked while parsing */
    }
    if (cfg->listen.proxy_protocol && n == 0)
        rg_config_error_at(
            ld, rg_config_opt_line(ld, sec, "proxy-protocol"),
            "proxy-protocol = true needs proxy-from: the balancers' addresses (no one "
            "else may connect then)");
    else if (!cfg->listen.proxy_protocol && n > 0)
        rg_config_warn_at(ld, rg_config_opt_line(ld, sec, "proxy-from"),
                          "proxy-from is set but proxy-protocol = false: it has no effect");
}

/* "host:port" / "[v6]:port" with a numeric host, as the cluster keys take it. */
static int host_port_parse(const char *text, char **host, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1])
        return -EINVAL;
    const char *h = text, *he = colon;
    if (*h == '[') {
        if (he[-1] != ']')
            return -EINVAL;
        h++;
        he--;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -EINVAL;
    char *d = strndup(h, (size_t)(he - h));
    if (!d)
        return -ENOMEM;
    uint8_t a[16];
    if (inet_pton(AF_INET, d, a) != 1 && inet_pton(AF_INET6, d, a) != 1) {
        free(d);
        return -EINVAL;
    }
    *host = d;
    *port = (uint16_t)p;
    return 0;
}

static bool wildcard_host(const char *h)
{
    return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static void build_cluster(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->cluster.instance = dup_str(ld, cfg_getstr(sec, "instance"));
    if (cfg->cluster.instance && !*cfg->cluster.instance)
        rg_config_error_at(ld, rg_config_sec_line(ld, sec),
                           "cluster instance is not set (a name unique in the "
                           "cluster, e.g. \"gw-a\")");
    else if (cfg->cluster.instance && strpbrk(cfg->cluster.instance, " \t\r\n"))
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "instance"),
                           "cluster instance may not contain spaces");
    const char *redis = cfg_getstr(sec, "redis");
    if (host_port_parse(redis, &cfg->cluster.redis_host, &cfg->cluster.redis_port) != 0)
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "redis"),
                           "cluster redis '%s' is not a numeric host:port (like 127.0.0.1:6379)",
                           redis);
    cfg->cluster.redis_password = dup_str(ld, cfg_getstr(sec, "redis-password"));
    const char *secret = cfg_getstr(sec, "secret");
    if (!secret || !*secret)
        rg_config_error_at(ld, rg_config_sec_line(ld, sec),
                           "cluster secret is not set (the same long random "
                           "secret on every instance)");
    else if (strlen(secret) <= SHORT_SECRET_OCTETS)
        rg_config_warn_at(ld, rg_config_opt_line(ld, sec, "secret"),
                          "cluster secret is only %zu octets; use a long random one (it signs CoA "
                          "handed between instances over UDP)",
                          strlen(secret));
    cfg->cluster.secret = dup_str(ld, secret);
    cfg->cluster.secret_len = cfg->cluster.secret ? strlen(cfg->cluster.secret) : 0;
    if (!cfg->coa.enabled)
        rg_config_warn_at(
            ld, rg_config_sec_line(ld, sec),
            "cluster without a coa block: NASes are published, but no CoA is handed on");
    const char *addr = cfg_getstr(sec, "coa-address");
    if (addr && *addr) {
        if (host_port_parse(addr, &cfg->cluster.address, &cfg->cluster.port) != 0)
            rg_config_error_at(ld, rg_config_opt_line(ld, sec, "coa-address"),
                               "cluster coa-address '%s' is not a numeric host:port", addr);
    } else if (cfg->coa.enabled && cfg->coa.address && !wildcard_host(cfg->coa.address)) {
        cfg->cluster.address = dup_str(ld, cfg->coa.address);
        cfg->cluster.port = cfg->coa.port;
    } else if (cfg->coa.enabled) {
        rg_config_error_at(
            ld, rg_config_sec_line(ld, sec),
            "cluster coa-address is not set and coa address is a wildcard: say where the "
            "other instances reach this one's CoA port, e.g. coa-address = "
            "\"10.0.0.1:%u\"",
            cfg->coa.port);
    }
}

/* An unnamed block: at most one; when absent, one with the defaults is added. */
static cfg_t *single_section(struct load *ld, cfg_t *root, const char *name, bool *present)
{
    unsigned n = cfg_size(root, name);
    if (n > 1)
        rg_config_error_at(ld, rg_config_sec_line(ld, cfg_getnsec(root, name, 1)),
                           "second %s block (only one is allowed)", name);
    if (present)
        *present = n > 0;
    if (n > 0)
        return cfg_getnsec(root, name, 0);
    cfg_value_t *val = cfg_setopt(root, cfg_getopt(root, name), NULL);
    if (!val) {
        ld->nomem = true;
        return NULL;
    }
    return val->section;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

void rg_config_build(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    long workers = cfg_getint(root, "workers");
    cfg->workers = workers > 0 ? (unsigned)workers : cpu_count();
    if (cfg_getstr(root, "user"))
        cfg->user = dup_str(ld, cfg_getstr(root, "user"));
    if (cfg_getstr(root, "pidfile"))
        cfg->pidfile = dup_str(ld, cfg_getstr(root, "pidfile"));

    cfg_t *sec = single_section(ld, root, "listen", NULL);
    if (!sec)
        return;
    cfg->listen.address = dup_list(ld, sec, "address", &cfg->listen.naddress);
    if (cfg->listen.naddress == 0)
        rg_config_error_at(ld, rg_config_opt_line(ld, sec, "address"),
                           "listen address list is empty");
    cfg->listen.port = (uint16_t)cfg_getint(sec, "port");
    cfg->listen.max_connections = (unsigned)cfg_getint(sec, "max-connections");
    cfg->listen.max_connections_per_ip = (unsigned)cfg_getint(sec, "max-connections-per-ip");
    cfg->listen.max_handshakes = (unsigned)cfg_getint(sec, "max-handshakes");
    cfg->listen.max_handshakes_per_ip = (unsigned)cfg_getint(sec, "max-handshakes-per-ip");
    cfg->listen.idle_timeout_s = (unsigned)cfg_getint(sec, "idle-timeout");
    cfg->listen.handshake_timeout_s = (unsigned)cfg_getint(sec, "handshake-timeout");
    cfg->listen.packet_timeout_s = (unsigned)cfg_getint(sec, "packet-timeout");
    cfg->listen.max_requests_per_second = (unsigned)cfg_getint(sec, "max-requests-per-second");
    const char *r11 = cfg_getstr(sec, "radius-1.1");
    for (unsigned i = 0; r11 && rg_config_radius11_names[i]; i++)
        if (strcmp(r11, rg_config_radius11_names[i]) == 0)
            cfg->listen.radius11 = (enum rg_radius11_mode)i;
    build_proxy_protocol(ld, sec, cfg);

    bool present;
    sec = single_section(ld, root, "tls", &present);
    if (!sec)
        return;
    cfg->tls.certificate = dup_str(ld, cfg_getstr(sec, "certificate"));
    cfg->tls.key = dup_str(ld, cfg_getstr(sec, "key"));
    cfg->tls.min_version = strcmp(cfg_getstr(sec, "min-version"), "1.3") == 0 ? 13 : 12;
    cfg->tls.ciphers = dup_str(ld, cfg_getstr(sec, "ciphers"));
    cfg->tls.session_cache = (unsigned)cfg_getint(sec, "session-cache");
    cfg->tls.session_lifetime_s = (unsigned)cfg_getint(sec, "session-lifetime");
    if (!present)
        rg_config_error_at(ld, ld->eof_line,
                           "no tls block: the server certificate and key are required");
    else if (cfg->tls.certificate && !*cfg->tls.certificate)
        rg_config_error_at(ld, rg_config_sec_line(ld, sec), "tls certificate is not set");
    else if (cfg->tls.key && !*cfg->tls.key)
        rg_config_error_at(ld, rg_config_sec_line(ld, sec), "tls key is not set");

    build_pools(ld, root, cfg);

    cfg->norgs = cfg_size(root, "org");
    if (cfg->norgs == 0)
        rg_config_error_at(ld, ld->eof_line, "no org block: at least one organisation is required");
    cfg->orgs = alloc_array(ld, cfg->norgs, sizeof(*cfg->orgs));
    if (!cfg->orgs)
        cfg->norgs = 0;
    for (size_t i = 0; i < cfg->norgs; i++)
        build_org(ld, cfg_getnsec(root, "org", (unsigned)i), cfg, &cfg->orgs[i]);

    build_top_realms(ld, root, cfg);

    sec = single_section(ld, root, "coa", &cfg->coa.enabled);
    if (!sec)
        return;
    build_coa(ld, sec, cfg);

    sec = single_section(ld, root, "cluster", &cfg->cluster.enabled);
    if (!sec)
        return;
    if (cfg->cluster.enabled)
        build_cluster(ld, sec, cfg);

    sec = single_section(ld, root, "log", NULL);
    if (!sec)
        return;
    cfg->log.facility = rg_log_facility_parse(cfg_getstr(sec, "facility"));
    cfg->log.level = rg_log_level_parse(cfg_getstr(sec, "level"));
    cfg->log.requests = cfg_getbool(sec, "requests");
    build_log_hash(ld, sec, cfg);

    sec = single_section(ld, root, "metrics", &cfg->metrics.enabled);
    if (!sec)
        return;
    cfg->metrics.address = dup_str(ld, cfg_getstr(sec, "address"));
    cfg->metrics.port = (uint16_t)cfg_getint(sec, "port");

    sec = single_section(ld, root, "stats", NULL);
    if (!sec)
        return;
    cfg->stats.interval_s = (unsigned)cfg_getint(sec, "interval");
}
