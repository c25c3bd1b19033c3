/* Prometheus exposition: per-worker shards written lock-free by their worker, the catalogue
 * of configured names the main thread replaces, and the libmicrohttpd endpoint (one thread)
 * that sums both into text on every scrape. Knows nothing of the protocol. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/backend_shared.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/log.h"
#include "radsecgw/metrics.h"
#include "radsecgw/tls.h"

/* Request latency buckets, in milliseconds (le= in seconds). */
static const unsigned duration_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBUCKETS (RG_ARRAY_SIZE(duration_ms) + 1) /* the last is +Inf */

struct cat_server {
    char *pool, *server;             /* malloced, owned */
    struct rg_backend_shared *share; /* reference held: learned Message-Authenticator state */
};

struct cat_expiry {
    char *org, *kind, *path; /* malloced, owned; org "" for the server certificate */
    time_t when;             /* earliest notAfter / nextUpdate in the file */
};

/* What a configuration names: replaced whole by the main thread, read under cat_lock. */
struct catalog {
    char **orgs; /* malloced array of malloced names */
    size_t norgs;
    char **pools;
    size_t npools;
    struct cat_server *servers;
    size_t nservers;
    struct cat_expiry *expiry;
    size_t nexpiry;
    uint64_t generation;
};

static struct {
    struct rg_metrics_shard *shards; /* malloced array, owned */
    unsigned nshards;
    const struct rg_stats *const *stats; /* not owned */
    size_t nstats;
    struct MHD_Daemon *mhd;
    time_t started;
} M;

static pthread_mutex_t cat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct catalog *cat; /* guarded by cat_lock */

/* ---- the worker side ---- */

int rg_metrics_init(unsigned nworkers)
{
    M.shards = calloc(nworkers ? nworkers : 1, sizeof(*M.shards));
    if (!M.shards)
        return -ENOMEM;
    M.nshards = nworkers;
    M.started = time(NULL);
    return 0;
}

struct rg_metrics_shard *rg_metrics_shard(unsigned index)
{
    return M.shards && index < M.nshards ? &M.shards[index] : NULL;
}

static uint32_t key_hash(uint8_t family, uint8_t sub, const char *labels)
{
    uint32_t h = 2166136261u;
    h = (h ^ family) * 16777619u;
    h = (h ^ sub) * 16777619u;
    for (const char *c = labels; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h;
}

static void update(struct rg_metrics_shard *sh, enum rg_metric_family f, uint8_t sub,
                   const char *labels, uint64_t v, bool set)
{
    uint32_t h = key_hash((uint8_t)f, sub, labels);
    for (size_t i = 0; i < RG_METRICS_SLOTS; i++) {
        struct rg_metric_slot *s = &sh->slots[(h + i) % RG_METRICS_SLOTS];
        /* Only this worker writes the shard: a plain read of used is its own store. */
        if (!s->used) {
            s->family = (uint8_t)f;
            s->sub = sub;
            s->hash = h;
            snprintf(s->labels, sizeof(s->labels), "%s", labels);
            __atomic_store_n(&s->value, v, __ATOMIC_RELAXED);
            __atomic_store_n(&s->used, true, __ATOMIC_RELEASE);
            return;
        }
        if (s->hash == h && s->family == f && s->sub == sub &&
            strncmp(s->labels, labels, sizeof(s->labels) - 1) == 0) {
            if (set)
                __atomic_store_n(&s->value, v, __ATOMIC_RELAXED);
            else
                __atomic_fetch_add(&s->value, v, __ATOMIC_RELAXED);
            return;
        }
    }
    __atomic_fetch_add(&sh->overflow, 1, __ATOMIC_RELAXED);
}

void rg_metrics_add(struct rg_metrics_shard *sh, enum rg_metric_family f, uint8_t sub,
                    const char *labels, int64_t delta)
{
    if (sh)
        update(sh, f, sub, labels, (uint64_t)delta, false);
}

void rg_metrics_set(struct rg_metrics_shard *sh, enum rg_metric_family f, uint8_t sub,
                    const char *labels, uint64_t value)
{
    if (sh)
        update(sh, f, sub, labels, value, true);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static size_t label_value(char *out, size_t len, const char *v)
{
    size_t n = 0;
    for (const char *c = v ? v : ""; *c && n + 3 < len; c++) {
        if (*c == '\\' || *c == '"') {
            out[n++] = '\\';
            out[n++] = *c;
        } else if (*c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
    return n;
}

/* 'k1="v1",k2="v2"' from key, value pairs ended by LABELS_END. */
#define LABELS_END ((const char *)NULL)
__attribute__((sentinel)) static void labels_of(char *out, size_t len, ...)
{
    va_list ap;
    size_t n = 0;
    out[0] = '\0';
    va_start(ap, len);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        char esc[96];
        label_value(esc, sizeof(esc), v);
        int w = snprintf(out + n, len - n, "%s%s=\"%s\"", n ? "," : "", k, esc);
        if (w < 0 || (size_t)w >= len - n) {
            out[n] = '\0'; /* whole pairs only */
            break;
        }
        n += (size_t)w;
    }
    va_end(ap);
}

void rg_metrics_request(struct rg_metrics_shard *sh, const char *org, const char *pool,
                        const char *code, const char *result, int64_t latency_ms)
{
    if (!sh)
        return;
    char l[RG_METRICS_LABELS_MAX];
    labels_of(l, sizeof(l), "org", org, "pool", pool, "code", code, "result", result, LABELS_END);
    rg_metrics_add(sh, RG_METRIC_REQUESTS, 0, l, 1);
    if (latency_ms < 0)
        return;
    size_t b = 0;
    while (b < RG_ARRAY_SIZE(duration_ms) && (uint64_t)latency_ms > duration_ms[b])
        b++;
    labels_of(l, sizeof(l), "pool", pool, LABELS_END);
    rg_metrics_add(sh, RG_METRIC_DURATION, (uint8_t)b, l, 1);
    rg_metrics_add(sh, RG_METRIC_DURATION_SUM, 0, l, latency_ms);
}

void rg_metrics_conn(struct rg_metrics_shard *sh, const char *org, int delta)
{
    if (!sh)
        return;
    char l[RG_METRICS_LABELS_MAX];
    labels_of(l, sizeof(l), "org", org, LABELS_END);
    rg_metrics_add(sh, RG_METRIC_CONNECTIONS, 0, l, delta);
}

void rg_metrics_reason_label(const char *text, char *out, size_t len)
{
    size_t n = 0;
    bool sep = false;
    for (const char *c = text ? text : ""; *c && *c != ':' && *c != '(' && n + 1 < len; c++) {
        char ch = *c;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (sep && n)
                out[n++] = '_';
            sep = false;
            if (n + 1 < len)
                out[n++] = ch;
        } else {
            sep = true;
        }
    }
    if (n == 0 && len > 5)
        memcpy(out, "other", 5), n = 5;
    out[n] = '\0';
}

void rg_metrics_refused(struct rg_metrics_shard *sh, const char *reason)
{
    if (!sh)
        return;
    char r[48], l[RG_METRICS_LABELS_MAX];
    rg_metrics_reason_label(reason, r, sizeof(r));
    labels_of(l, sizeof(l), "reason", r, LABELS_END);
    rg_metrics_add(sh, RG_METRIC_TLS_REFUSED, 0, l, 1);
}

void rg_metrics_backend(struct rg_metrics_shard *sh, enum rg_metric_family f, const char *pool,
                        const char *server, int64_t delta)
{
    if (!sh)
        return;
    char l[RG_METRICS_LABELS_MAX];
    labels_of(l, sizeof(l), "pool", pool, "server", server, LABELS_END);
    if (f == RG_METRIC_BACKEND_DOWN)
        rg_metrics_set(sh, f, 0, l, (uint64_t)delta);
    else
        rg_metrics_add(sh, f, 0, l, delta);
}

/* ---- the catalogue (main thread) ---- */

void rg_metrics_set_stats(const struct rg_stats *const *blocks, size_t n)
{
    pthread_mutex_lock(&cat_lock);
    M.stats = blocks;
    M.nstats = n;
    pthread_mutex_unlock(&cat_lock);
}

static void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->norgs; i++)
        free(c->orgs[i]);
    for (size_t i = 0; i < c->npools; i++)
        free(c->pools[i]);
    for (size_t i = 0; i < c->nservers; i++) {
        free(c->servers[i].pool);
        free(c->servers[i].server);
        if (c->servers[i].share)
            rg_backend_shared_put(c->servers[i].share);
    }
    for (size_t i = 0; i < c->nexpiry; i++) {
        free(c->expiry[i].org);
        free(c->expiry[i].kind);
        free(c->expiry[i].path);
    }
    free(c->orgs);
    free(c->pools);
    free(c->servers);
    free(c->expiry);
    free(c);
}

struct expiry_walk {
    const struct rg_config *cfg;
    struct catalog *c;
    size_t cap;
};

static void on_expiry(const struct rg_tls_expiry *e, void *arg)
{
    struct expiry_walk *w = arg;
    if (e->unreadable)
        return;
    const char *org = "", *kind = strcmp(e->kind, "CRL") == 0 ? "crl" : "server";
    for (size_t i = 0; i < w->cfg->norgs; i++) {
        const struct rg_org *o = &w->cfg->orgs[i];
        for (size_t k = 0; k < o->nca; k++)
            if (o->ca[k] == e->path)
                org = o->name, kind = "ca";
        for (size_t k = 0; k < o->ncrl; k++)
            if (o->crl[k] == e->path)
                org = o->name;
    }
    /* A chain file holds several certificates: the file expires with its first one. */
    for (size_t i = 0; i < w->c->nexpiry; i++) {
        struct cat_expiry *x = &w->c->expiry[i];
        if (strcmp(x->path, e->path) == 0 && strcmp(x->org, org) == 0) {
            if (e->when < x->when)
                x->when = e->when;
            return;
        }
    }
    if (w->c->nexpiry == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        struct cat_expiry *n = realloc(w->c->expiry, cap * sizeof(*n));
        if (!n)
            return;
        w->c->expiry = n;
        w->cap = cap;
    }
    struct cat_expiry *x = &w->c->expiry[w->c->nexpiry];
    x->org = strdup(org);
    x->kind = strdup(kind);
    x->path = strdup(e->path);
    x->when = e->when;
    if (!x->org || !x->kind || !x->path) {
        free(x->org);
        free(x->kind);
        free(x->path);
        return;
    }
    w->c->nexpiry++;
}

void rg_metrics_catalog(const struct rg_config *cfg, uint64_t generation, time_t now)
{
    struct catalog *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->generation = generation;
    c->orgs = calloc(cfg->norgs ? cfg->norgs : 1, sizeof(*c->orgs));
    c->pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*c->pools));
    size_t nservers = 0;
    for (size_t p = 0; p < cfg->npools; p++)
        nservers += cfg->pools[p].nservers;
    c->servers = calloc(nservers ? nservers : 1, sizeof(*c->servers));
    if (!c->orgs || !c->pools || !c->servers) {
        catalog_free(c);
        return;
    }
    for (size_t i = 0; i < cfg->norgs; i++)
        if ((c->orgs[c->norgs] = strdup(cfg->orgs[i].name)) != NULL)
            c->norgs++;
    for (size_t p = 0; p < cfg->npools; p++) {
        const struct rg_pool *pool = &cfg->pools[p];
        if ((c->pools[c->npools] = strdup(pool->name)) != NULL)
            c->npools++;
        for (size_t s = 0; s < pool->nservers; s++) {
            struct cat_server *cs = &c->servers[c->nservers];
            cs->pool = strdup(pool->name);
            cs->server = strdup(pool->servers[s].name);
            cs->share = rg_backend_shared_get(pool, &pool->servers[s]);
            if (!cs->pool || !cs->server) {
                free(cs->pool);
                free(cs->server);
                if (cs->share)
                    rg_backend_shared_put(cs->share);
                continue;
            }
            c->nservers++;
        }
    }
    /* Every file, whatever its date: a check as of the far future reports them all. */
    struct expiry_walk w = {.cfg = cfg, .c = c};
    (void)now;
    rg_tls_expiry_check(cfg, (time_t)INT32_MAX * 4, on_expiry, &w);

    pthread_mutex_lock(&cat_lock);
    struct catalog *old = cat;
    cat = c;
    pthread_mutex_unlock(&cat_lock);
    catalog_free(old);
}

/* ---- rendering (the endpoint's thread) ---- */

struct text {
    char *buf; /* malloced, owned until handed to the response */
    size_t len, cap;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One labelled sample summed over the shards. */
struct sample {
    const char *labels; /* points into a slot: fixed once the slot is used */
    uint8_t sub;
    uint64_t value;
};

static int sample_cmp(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    int c = strcmp(x->labels, y->labels);
    return c ? c : (int)x->sub - (int)y->sub;
}

/* Every sample of family f, summed over the workers and sorted by labels: malloced. */
static struct sample *collect(enum rg_metric_family f, size_t *n)
{
    size_t cap = 64, k = 0;
    struct sample *s = malloc(cap * sizeof(*s));
    for (unsigned w = 0; s && w < M.nshards; w++) {
        const struct rg_metrics_shard *sh = &M.shards[w];
        for (size_t i = 0; i < RG_METRICS_SLOTS; i++) {
            const struct rg_metric_slot *slot = &sh->slots[i];
            if (!__atomic_load_n(&slot->used, __ATOMIC_ACQUIRE) || slot->family != f)
                continue;
            if (k == cap) {
                struct sample *ns = realloc(s, 2 * cap * sizeof(*s));
                if (!ns) {
                    free(s);
                    *n = 0;
                    return NULL;
                }
                s = ns;
                cap *= 2;
            }
            s[k++] = (struct sample){slot->labels, slot->sub,
                                     __atomic_load_n(&slot->value, __ATOMIC_RELAXED)};
        }
    }
    if (!s) {
        *n = 0;
        return NULL;
    }
    qsort(s, k, sizeof(*s), sample_cmp);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (m && sample_cmp(&s[m - 1], &s[i]) == 0)
            s[m - 1].value += s[i].value;
        else
            s[m++] = s[i];
    }
    *n = m;
    return s;
}

static uint64_t lookup(const struct sample *s, size_t n, const char *labels, uint8_t sub)
{
    struct sample key = {labels, sub, 0};
    const struct sample *hit = bsearch(&key, s, n, sizeof(*s), sample_cmp);
    return hit ? hit->value : 0;
}

static void render_stats(struct text *t)
{
    static const struct {
        enum rg_stat_kind kind;
        const char *metric, *labels, *help;
        size_t offset;
    } rows[] = {
#define RG_METRIC_ROW(name, ...)                                                                   \
    RG_METRIC_ROW_(name, ##__VA_ARGS__, RG_COUNTER, "radsecgw_" #name "_total", "", #name)
#define RG_METRIC_ROW_(name, kind, metric, labels, help, ...)                                      \
    {kind, metric, labels, help, offsetof(struct rg_stats, name)},
        RG_STATS_FIELDS(RG_METRIC_ROW)
#undef RG_METRIC_ROW
#undef RG_METRIC_ROW_
    };
    struct rg_stats total;
    memset(&total, 0, sizeof(total));
    for (size_t i = 0; i < M.nstats; i++)
        rg_stats_sum(&total, M.stats[i]);
    bool done[RG_ARRAY_SIZE(rows)] = {false};
    for (size_t i = 0; i < RG_ARRAY_SIZE(rows); i++) {
        if (done[i])
            continue;
        const char *help = "";
        for (size_t j = i; j < RG_ARRAY_SIZE(rows) && !*help; j++)
            if (strcmp(rows[j].metric, rows[i].metric) == 0)
                help = rows[j].help;
        header(t, rows[i].metric, rows[i].kind == RG_GAUGE ? "gauge" : "counter", help);
        for (size_t j = i; j < RG_ARRAY_SIZE(rows); j++) {
            if (strcmp(rows[j].metric, rows[i].metric) != 0)
                continue;
            done[j] = true;
            uint64_t v = *(const uint64_t *)((const char *)&total + rows[j].offset);
            if (rows[j].kind == RG_GAUGE)
                put(t, "%s%s%s%s %lld\n", rows[j].metric, *rows[j].labels ? "{" : "",
                    rows[j].labels, *rows[j].labels ? "}" : "", (long long)v);
            else
                put(t, "%s%s%s%s %llu\n", rows[j].metric, *rows[j].labels ? "{" : "",
                    rows[j].labels, *rows[j].labels ? "}" : "", (unsigned long long)v);
        }
    }
}

static void render_family(struct text *t, enum rg_metric_family f, const char *name,
                          const char *type, const char *help)
{
    size_t n;
    struct sample *s = collect(f, &n);
    header(t, name, type, help);
    for (size_t i = 0; i < n; i++)
        put(t, "%s{%s} %llu\n", name, s[i].labels, (unsigned long long)s[i].value);
    free(s);
}

static void render_duration(struct text *t)
{
    size_t nb, ns;
    struct sample *b = collect(RG_METRIC_DURATION, &nb);
    struct sample *sum = collect(RG_METRIC_DURATION_SUM, &ns);
    header(t, "radsecgw_request_duration_seconds", "histogram",
           "Time from a request's arrival to its reply, by pool");
    for (size_t i = 0; i < ns; i++) {
        const char *l = sum[i].labels;
        uint64_t cum = 0;
        for (size_t k = 0; k < NBUCKETS; k++) {
            cum += lookup(b, nb, l, (uint8_t)k);
            if (k < RG_ARRAY_SIZE(duration_ms))
                put(t, "radsecgw_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", l,
                    duration_ms[k] / 1000.0, (unsigned long long)cum);
            else
                put(t, "radsecgw_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", l,
                    (unsigned long long)cum);
        }
        put(t, "radsecgw_request_duration_seconds_sum{%s} %.3f\n", l, sum[i].value / 1000.0);
        put(t, "radsecgw_request_duration_seconds_count{%s} %llu\n", l, (unsigned long long)cum);
    }
    free(b);
    free(sum);
}

/* Families whose label sets the catalogue names: every configured org, pool and server has
 * a sample, 0 when nothing happened yet. */
static void render_catalog(struct text *t, const struct catalog *c)
{
    char l[RG_METRICS_LABELS_MAX];
    size_t n;
    struct sample *s = collect(RG_METRIC_CONNECTIONS, &n);
    header(t, "radsecgw_connections", "gauge", "Established AP connections, by org");
    for (size_t i = 0; c && i < c->norgs; i++) {
        labels_of(l, sizeof(l), "org", c->orgs[i], LABELS_END);
        put(t, "radsecgw_connections{%s} %lld\n", l, (long long)lookup(s, n, l, 0));
    }
    free(s);

    struct sample *down = collect(RG_METRIC_BACKEND_DOWN, &n);
    size_t nsent;
    struct sample *sent = collect(RG_METRIC_BACKEND_SENT, &nsent);
    header(t, "radsecgw_backend_up", "gauge",
           "1 while every worker counts the server alive, 0 once one marked it dead");
    for (size_t i = 0; c && i < c->nservers; i++) {
        labels_of(l, sizeof(l), "pool", c->servers[i].pool, "server", c->servers[i].server,
                  LABELS_END);
        put(t, "radsecgw_backend_up{%s} %d\n", l, lookup(down, n, l, 0) == 0);
    }
    header(t, "radsecgw_backend_requests_total", "counter",
           "Requests sent to a server, first tries and failovers");
    for (size_t i = 0; c && i < c->nservers; i++) {
        labels_of(l, sizeof(l), "pool", c->servers[i].pool, "server", c->servers[i].server,
                  LABELS_END);
        put(t, "radsecgw_backend_requests_total{%s} %llu\n", l,
            (unsigned long long)lookup(sent, nsent, l, 0));
    }
    header(t, "radsecgw_backend_signs_replies", "gauge",
           "1 once the server signed a reply to an Access-Request without EAP-Message "
           "(require-message-authenticator = auto then drops unsigned ones)");
    for (size_t i = 0; c && i < c->nservers; i++) {
        labels_of(l, sizeof(l), "pool", c->servers[i].pool, "server", c->servers[i].server,
                  LABELS_END);
        put(t, "radsecgw_backend_signs_replies{%s} %d\n", l,
            c->servers[i].share && rg_backend_signs(c->servers[i].share));
    }
    free(down);
    free(sent);

    header(t, "radsecgw_certificate_expiry_timestamp_seconds", "gauge",
           "notAfter of the server certificate and org CAs, nextUpdate of CRLs (Unix time)");
    for (size_t i = 0; c && i < c->nexpiry; i++) {
        labels_of(l, sizeof(l), "org", c->expiry[i].org, "kind", c->expiry[i].kind, "path",
                  c->expiry[i].path, LABELS_END);
        put(t, "radsecgw_certificate_expiry_timestamp_seconds{%s} %lld\n", l,
            (long long)c->expiry[i].when);
    }
    header(t, "radsecgw_config_generation", "gauge",
           "Configuration generation in force (1 at start, +1 per reload or CRL refresh)");
    put(t, "radsecgw_config_generation %llu\n", c ? (unsigned long long)c->generation : 0ull);
}

char *rg_metrics_render(size_t *len)
{
    struct text t = {.cap = 16384};
    t.buf = malloc(t.cap);
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    pthread_mutex_lock(&cat_lock);
    header(&t, "radsecgw_build_info", "gauge", "Always 1; the version in a label");
    put(&t, "radsecgw_build_info{version=\"%s\"} 1\n", RG_VERSION);
    header(&t, "radsecgw_start_time_seconds", "gauge", "When the gateway started (Unix time)");
    put(&t, "radsecgw_start_time_seconds %lld\n", (long long)M.started);
    render_stats(&t);
    render_family(&t, RG_METRIC_REQUESTS, "radsecgw_requests_total", "counter",
                  "Requests that ended, by org, pool, request code and result (reply code, "
                  "timeout, discarded, no_server)");
    render_duration(&t);
    render_family(&t, RG_METRIC_TLS_REFUSED, "radsecgw_tls_refused_total", "counter",
                  "Connections refused, by reason");
    render_catalog(&t, cat);
    uint64_t overflow = 0;
    for (unsigned w = 0; w < M.nshards; w++)
        overflow += __atomic_load_n(&M.shards[w].overflow, __ATOMIC_RELAXED);
    header(&t, "radsecgw_metrics_overflow_total", "counter",
           "Labelled updates lost: more label sets than a worker's slots");
    put(&t, "radsecgw_metrics_overflow_total %llu\n", (unsigned long long)overflow);
    pthread_mutex_unlock(&cat_lock);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}

/* ---- the endpoint ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ptr)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)ptr;
    struct MHD_Response *resp;
    enum MHD_Result rc;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        rc = resp ? MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp) : MHD_NO;
    } else if (strcmp(url, "/metrics") != 0) {
        static const char body[] = "radsecgw: metrics at /metrics\n";
        resp =
            MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
        rc = resp ? MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp) : MHD_NO;
    } else {
        size_t len = 0;
        char *text = rg_metrics_render(&len);
        if (!text)
            return MHD_NO;
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    }
    if (resp)
        MHD_destroy_response(resp);
    return rc;
}

int rg_metrics_start(const struct rg_config *cfg)
{
    if (!cfg->metrics.enabled)
        return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    /* epoll: the gateway holds far more descriptors than select() can watch. */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->metrics.address, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(cfg->metrics.port);
    } else if (inet_pton(AF_INET6, cfg->metrics.address, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(cfg->metrics.port);
        flags |= MHD_USE_IPv6;
    } else {
        rg_err("event=metrics_listen_failed address=\"%s\" reason=\"not an IP address\"",
               RG_LOG_ESC(cfg->metrics.address));
        return -EINVAL;
    }
    /* One thread, a few connections: Prometheus scrapes every few seconds at most. */
    M.mhd =
        MHD_start_daemon(flags, cfg->metrics.port, NULL, NULL, on_request, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                         16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!M.mhd) {
        int err = errno ? errno : EADDRINUSE;
        rg_err("event=metrics_listen_failed address=%s port=%u error=\"%s\"", cfg->metrics.address,
               cfg->metrics.port, strerror(err));
        return -err;
    }
    rg_notice("event=metrics_listening address=%s port=%u path=/metrics", cfg->metrics.address,
              cfg->metrics.port);
    return 0;
}

void rg_metrics_stop(void)
{
    if (M.mhd)
        MHD_stop_daemon(M.mhd);
    M.mhd = NULL;
    pthread_mutex_lock(&cat_lock);
    struct catalog *old = cat;
    cat = NULL;
    M.stats = NULL;
    M.nstats = 0;
    pthread_mutex_unlock(&cat_lock);
    catalog_free(old);
    free(M.shards);
    M.shards = NULL;
    M.nshards = 0;
}
