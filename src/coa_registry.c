/* The NAS registry, the one structure shared between threads: which connection of which org
 * holds each NAS identity (certificate CN, NAS-Identifier, NAS-IP(v6)-Address,
 * Operator-NAS-Identifier), and the routing of a CoA to the one connection carrying every
 * identity the request names. Pure over a registry and a config: no sockets, no loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "coa_internal.h"

/* One identity (org, kind, value) and the connections that registered it. Many connections
 * share one (APs behind one NAT address send the same NAS-IP-Address; a fleet may share a
 * certificate name), so a connection's key is unlinked from its name in O(1), never found
 * by walking a chain. */
struct rg_coa_name {
    struct rg_coa_name *next, **pprev; /* bucket chain */
    struct rg_coa_key *holders;        /* the connections' keys, newest first; never empty */
    size_t nholders;
    uint64_t hash;
    uint8_t kind;
    uint8_t len;
    uint8_t value[];
};

/* A connection holding a name. The org is the holders' (cc->org): part of the hash and
 * compared on lookup. */
struct rg_coa_key {
    struct rg_coa_key *next, **pprev; /* the name's holders */
    struct rg_coa_name *name;         /* owned by the registry while it has holders */
    struct rg_coa_conn *owner;        /* not owned */
};

uint64_t rg_coa_key_hash(const char *org, enum rg_coa_key_kind kind, const void *value, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *p = value;
    for (const char *o = org; *o; o++)
        h = (h ^ (uint8_t)*o) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull; /* not an octet of a name: ends it */
    h = (h ^ (uint8_t)kind) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int rg_coa_registry_init(struct rg_coa_registry *r)
{
    memset(r, 0, sizeof(*r));
    r->nbuckets = 1024;
    r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
    if (!r->buckets)
        return -ENOMEM;
    uv_mutex_init(&r->lock);
    return 0;
}

void rg_coa_registry_free(struct rg_coa_registry *r)
{
    if (!r->buckets)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        for (struct rg_coa_name *n = r->buckets[i], *next; n; n = next) {
            next = n->next;
            for (struct rg_coa_key *k = n->holders, *knext; k; k = knext) {
                knext = k->next;
                free(k);
            }
            free(n);
        }
    free(r->buckets);
    uv_mutex_destroy(&r->lock);
    memset(r, 0, sizeof(*r));
}

static void bucket_link(struct rg_coa_name **head, struct rg_coa_name *n)
{
    n->next = *head;
    if (n->next)
        n->next->pprev = &n->next;
    n->pprev = head;
    *head = n;
}

/* Double the table at a load of 1 key per bucket (never shrinks; bounded by connections x
 * keys). */
static void registry_grow(struct rg_coa_registry *r)
{
    size_t nb = r->nbuckets * 2;
    struct rg_coa_name **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the longer chains */
    for (size_t i = 0; i < r->nbuckets; i++)
        for (struct rg_coa_name *n = r->buckets[i], *next; n; n = next) {
            next = n->next;
            bucket_link(&b[n->hash & (nb - 1)], n);
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
}

/* The name (org, kind, value) with hash h, or NULL. Under the lock. */
static struct rg_coa_name *name_find(const struct rg_coa_registry *r, uint64_t h, const char *org,
                                     enum rg_coa_key_kind kind, const void *value, size_t len)
{
    for (struct rg_coa_name *n = r->buckets[h & (r->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && n->kind == kind && n->len == len && memcmp(n->value, value, len) == 0 &&
            strcmp(n->holders->owner->org, org) == 0)
            return n;
    return NULL;
}

int rg_coa_registry_add(struct rg_coa_registry *r, struct rg_coa_conn *cc,
                        enum rg_coa_key_kind kind, const void *value, size_t len)
{
    if (len == 0 || len > 253 || !cc->org)
        return -EINVAL;
    uint64_t h = rg_coa_key_hash(cc->org, kind, value, len);
    for (unsigned i = 0; i < cc->nkeys; i++)
        if (cc->key_hash[i] == h)
            return 0;
    if (cc->nkeys >= RG_COA_CONN_KEYS)
        return -ENOSPC;
    /* Allocated outside the lock; the name is dropped if another connection has it. */
    struct rg_coa_key *k = malloc(sizeof(*k));
    struct rg_coa_name *fresh = malloc(sizeof(*fresh) + len);
    if (!k || !fresh) {
        free(k);
        free(fresh);
        return -ENOMEM;
    }
    k->owner = cc;
    uv_mutex_lock(&r->lock);
    struct rg_coa_name *n = name_find(r, h, cc->org, kind, value, len);
    if (!n) {
        n = fresh;
        fresh = NULL;
        n->holders = NULL;
        n->nholders = 0;
        n->hash = h;
        n->kind = (uint8_t)kind;
        n->len = (uint8_t)len;
        memcpy(n->value, value, len);
        if (r->nkeys >= r->nbuckets)
            registry_grow(r);
        bucket_link(&r->buckets[h & (r->nbuckets - 1)], n);
    }
    k->name = n;
    k->next = n->holders;
    if (k->next)
        k->next->pprev = &k->next;
    k->pprev = &n->holders;
    n->holders = k;
    n->nholders++;
    r->nkeys++;
    /* Under the lock: rg_coa_registry_match reads the keys of other connections. */
    cc->key_hash[cc->nkeys] = h;
    cc->keys[cc->nkeys++] = k;
    rg_coa_key_fn on_change = r->on_change;
    void *on_change_arg = r->on_change_arg;
    uv_mutex_unlock(&r->lock);
    free(fresh);
    if (on_change)
        on_change(on_change_arg, true, cc->org, kind, value, len);
    return 1;
}

void rg_coa_registry_watch(struct rg_coa_registry *r, rg_coa_key_fn fn, void *arg)
{
    uv_mutex_lock(&r->lock);
    r->on_change = fn;
    r->on_change_arg = arg;
    uv_mutex_unlock(&r->lock);
}

void rg_coa_registry_each(struct rg_coa_registry *r, rg_coa_key_fn fn, void *arg)
{
    uv_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nbuckets; i++)
        for (const struct rg_coa_name *n = r->buckets[i]; n; n = n->next)
            fn(arg, true, n->holders->owner->org, (enum rg_coa_key_kind)n->kind, n->value, n->len);
    uv_mutex_unlock(&r->lock);
}

void rg_coa_registry_remove_conn(struct rg_coa_registry *r, struct rg_coa_conn *cc)
{
    if (!cc->nkeys)
        return;
    uv_mutex_lock(&r->lock);
    for (unsigned i = 0; i < cc->nkeys; i++) {
        struct rg_coa_key *k = cc->keys[i];
        struct rg_coa_name *n = k->name;
        *k->pprev = k->next;
        if (k->next)
            k->next->pprev = k->pprev;
        if (--n->nholders == 0) {
            *n->pprev = n->next;
            if (n->next)
                n->next->pprev = n->pprev;
            /* no connection here holds it any more (the cluster takes it out of Redis) */
            if (r->on_change)
                r->on_change(r->on_change_arg, false, cc->org, (enum rg_coa_key_kind)n->kind,
                             n->value, n->len);
            free(n);
        }
        r->nkeys--;
        free(k);
        cc->keys[i] = NULL;
    }
    cc->nkeys = 0;
    uv_mutex_unlock(&r->lock);
}

static bool key_is(const struct rg_coa_key *k, enum rg_coa_key_kind kind, const uint8_t *value,
                   size_t len)
{
    const struct rg_coa_name *n = k->name;
    return n->kind == kind && n->len == len && memcmp(n->value, value, len) == 0;
}

/* Does a key of cc carry id? (Under the lock.) */
static bool conn_has(const struct rg_coa_conn *cc, const struct rg_coa_ident *id)
{
    for (unsigned i = 0; i < cc->nkeys; i++) {
        const struct rg_coa_key *k = cc->keys[i];
        if (key_is(k, id->kind, id->value, id->len) ||
            (id->kind == RG_COA_KEY_NAS_ID && key_is(k, RG_COA_KEY_CERT_NAME, id->value, id->len)))
            return true;
    }
    return false;
}

/* The names an identity matches: itself, and for a NAS-Identifier the certificate name with
 * the same octets. Returns how many connections hold them (under the lock). */
static size_t ident_names(const struct rg_coa_registry *r, const char *org,
                          const struct rg_coa_ident *id, struct rg_coa_name *names[2])
{
    size_t holders = 0;
    names[0] = name_find(r, rg_coa_key_hash(org, id->kind, id->value, id->len), org, id->kind,
                         id->value, id->len);
    names[1] = NULL;
    if (id->kind == RG_COA_KEY_NAS_ID)
        names[1] = name_find(r, rg_coa_key_hash(org, RG_COA_KEY_CERT_NAME, id->value, id->len), org,
                             RG_COA_KEY_CERT_NAME, id->value, id->len);
    for (int i = 0; i < 2; i++)
        holders += names[i] ? names[i]->nholders : 0;
    return holders;
}

size_t rg_coa_registry_match(struct rg_coa_registry *r, const char *org,
                             const struct rg_coa_ident *ids, size_t nids, struct rg_coa_target *out,
                             size_t max)
{
    if (nids == 0 || max == 0)
        return 0;
    const struct rg_coa_conn *seen[RG_COA_MAX_MATCHES];
    size_t n = 0;
    if (max > RG_COA_MAX_MATCHES)
        max = RG_COA_MAX_MATCHES;
    uv_mutex_lock(&r->lock);
    /* The candidates are the holders of the identity fewest connections have (an AP's own
     * NAS-Identifier rather than the NAT address a thousand share); each must carry every
     * other identity too. */
    struct rg_coa_name *best[2] = {NULL, NULL};
    size_t best_holders = SIZE_MAX;
    for (size_t i = 0; i < nids && best_holders; i++) {
        struct rg_coa_name *names[2];
        size_t holders = ident_names(r, org, &ids[i], names);
        if (holders < best_holders) {
            best_holders = holders;
            best[0] = names[0];
            best[1] = names[1];
        }
    }
    for (int b = 0; b < 2 && best_holders && n < max; b++) {
        if (!best[b])
            continue;
        for (const struct rg_coa_key *k = best[b]->holders; k && n < max; k = k->next) {
            const struct rg_coa_conn *cc = k->owner;
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = seen[i] == cc;
            bool all = !dup;
            for (size_t i = 0; i < nids && all; i++)
                all = conn_has(cc, &ids[i]);
            if (!all)
                continue;
            seen[n] = cc;
            out[n].worker = cc->worker;
            out[n].conn_id = cc->conn_id;
            memcpy(out[n].addr, cc->addr, sizeof(out[n].addr));
            n++;
        }
    }
    uv_mutex_unlock(&r->lock);
    return n;
}

const char rg_coa_no_connected_nas[] = "no connected NAS";

bool rg_coa_ident_kind(uint8_t type, enum rg_coa_key_kind *kind, const char **log_key)
{
    static const struct {
        uint8_t type;
        enum rg_coa_key_kind kind;
        const char *log_key;
    } map[] = {
        {RG_RADIUS_ATTR_NAS_IDENTIFIER, RG_COA_KEY_NAS_ID, "nas_identifier"},
        {RG_RADIUS_ATTR_NAS_IP_ADDRESS, RG_COA_KEY_NAS_IP, "nas_ip_address"},
        {RG_RADIUS_ATTR_NAS_IPV6_ADDRESS, RG_COA_KEY_NAS_IPV6, "nas_ipv6_address"},
        {RG_RADIUS_ATTR_OPERATOR_NAS_IDENTIFIER, RG_COA_KEY_OPERATOR_NAS_ID,
         "operator_nas_identifier"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].type == type) {
            *kind = map[i].kind;
            *log_key = map[i].log_key;
            return true;
        }
    return false;
}

const char *rg_coa_ident_text(enum rg_coa_key_kind kind, const uint8_t *value, size_t len,
                              char *buf, size_t cap)
{
    if (kind == RG_COA_KEY_NAS_IP && len == 4 && inet_ntop(AF_INET, value, buf, (socklen_t)cap))
        return buf;
    if (kind == RG_COA_KEY_NAS_IPV6 && len == 16 && inet_ntop(AF_INET6, value, buf, (socklen_t)cap))
        return buf;
    return rg_log_escape(value, len, buf, cap);
}

int rg_coa_idents_of(const uint8_t *pkt, struct rg_coa_ident *ids, size_t *nids, char *desc,
                     size_t desclen)
{
    size_t pos = 0, used = 0;
    bool cut = false;
    struct rg_radius_attr a;
    *nids = 0;
    desc[0] = '\0';
    while (rg_radius_attr_next(pkt, &pos, &a)) {
        enum rg_coa_key_kind kind;
        const char *name; /* the log key */
        if (!rg_coa_ident_kind(a.type, &kind, &name))
            continue;
        if (*nids == RG_COA_MAX_IDENTS)
            return -E2BIG;
        ids[*nids] = (struct rg_coa_ident){.kind = kind, .value = a.value, .len = a.value_len};
        (*nids)++;
        char val[100];
        rg_coa_ident_text(kind, a.value, a.value_len, val, sizeof(val));
        /* Whole items only, so an escape or a quote is never cut in half. */
        char item[RG_LOG_ESC_BUF + 40];
        int w = snprintf(item, sizeof(item), "%s%s=\"%s\"", used ? " " : "", name, val);
        if (!cut && w > 0 && used + (size_t)w + 7 < desclen) {
            memcpy(desc + used, item, (size_t)w + 1);
            used += (size_t)w;
        } else if (!cut && used + 7 < desclen) {
            memcpy(desc + used, " cut=1", 7);
            used += 6;
            cut = true;
        }
    }
    if (*nids == 0)
        snprintf(desc, desclen, "nas=none");
    return 0;
}

int rg_coa_route(struct rg_coa_registry *r, const struct rg_config *cfg,
                 const struct rg_coa_client *cl, const uint8_t *pkt, struct rg_coa_target *t,
                 char *nas, size_t naslen, char *why, size_t whylen)
{
    struct rg_coa_ident ids[RG_COA_MAX_IDENTS];
    size_t nids;
    if (rg_coa_idents_of(pkt, ids, &nids, nas, naslen) < 0) {
        snprintf(why, whylen, "more than %d NAS identification attributes", RG_COA_MAX_IDENTS);
        return 0;
    }
    if (nids == 0) {
        snprintf(why, whylen, "nothing to find the NAS by");
        return 0;
    }
    struct rg_coa_target found[RG_COA_MAX_MATCHES];
    const struct rg_org *found_org[RG_COA_MAX_MATCHES];
    size_t nfound = 0;
    for (size_t i = 0; i < cl->norgs && nfound < RG_COA_MAX_MATCHES; i++) {
        const struct rg_org *o = cl->orgs[i];
        if (!o->coa)
            continue;
        size_t n = rg_coa_registry_match(r, o->name, ids, nids, found + nfound,
                                         RG_COA_MAX_MATCHES - nfound);
        for (size_t k = 0; k < n; k++)
            found_org[nfound++] = o;
    }
    if (nfound == 1) {
        *t = found[0];
        return 1;
    }
    if (nfound > 1) {
        /* Meraki APs may share one certificate and NATed sites reuse private NAS-IP-
         * Addresses: several connections matching is not a reason to pick one. */
        size_t used = (size_t)snprintf(why, whylen, "ambiguous: %s%zu connections match (",
                                       nfound == RG_COA_MAX_MATCHES ? "at least " : "", nfound);
        for (size_t k = 0; k < nfound && used < whylen; k++)
            used += (size_t)snprintf(why + used, whylen - used, "%s%s org %s", k ? ", " : "",
                                     found[k].addr, found_org[k]->name);
        if (used < whylen)
            snprintf(why + used, whylen - used, ")");
        return 0;
    }
    /* For the operator only: is the NAS connected under an org this client may not reach,
     * or one with coa = false? */
    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *o = &cfg->orgs[i];
        bool reachable = rg_config_coa_client_reaches(cl, o);
        if (reachable && o->coa)
            continue;
        struct rg_coa_target other;
        if (rg_coa_registry_match(r, o->name, ids, nids, &other, 1) == 0)
            continue;
        if (!reachable)
            snprintf(why, whylen,
                     "no connected NAS in the orgs client %s may reach (a NAS of org %s "
                     "matches)",
                     cl->name, o->name);
        else
            snprintf(why, whylen, "org %s has coa = false", o->name);
        return 0;
    }
    snprintf(why, whylen, "%s", rg_coa_no_connected_nas);
    return 0;
}
