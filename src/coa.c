/* Reverse CoA: the UDP listener for Dynamic Authorization Clients (RFC 5176) on the main
 * loop, the NAS registry, and the relay of CoA/Disconnect-Requests down the NAS's own TLS
 * connection (draft-ietf-radext-reverse-coa) on the worker that owns it, with the answer sent
 * back over UDP. Does not touch TLS internals or backends. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/cluster.h"
#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/log.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"
#include "radsecgw/worker.h"

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

/* The socket replies leave from: a dup of the listener's descriptor, shared by every request
 * in flight (sendto is thread-safe), closed when the last one lets go. */
struct coa_out {
    int fd;
    int refs; /* atomic */
};

/* One request from a DAC, from acceptance to its answer. malloced with its packet. */
struct rg_coa_req {
    struct sockaddr_storage client_addr;
    socklen_t client_addr_len;
    uint8_t client_id;
    uint8_t client_auth[RG_RADIUS_AUTH_LEN];
    char *client_secret; /* malloced, owned */
    size_t client_secret_len;
    struct coa_out *out; /* reference held */
    char desc[768];      /* log fields: client=rad1 client_src=ADDR code=CoA-Request id=3
                            nas_identifier="x" (conn=N ... once sent) */
    unsigned worker;
    uint64_t conn_id;
    /* worker side, once sent on the connection */
    struct rg_coa_conn *cc; /* not owned */
    uint8_t id;
    uint32_t token; /* on a RADIUS/1.1 connection: the Token sent (its low octet is id) */
    uint8_t sent_auth[RG_RADIUS_AUTH_LEN];
    uint64_t deadline_ms;
    struct rg_coa_req *next, *prev;           /* worker queue, then worker's active list */
    struct rg_coa_req *pend_next, *pend_prev; /* global pending list (duplicates) */
    uint16_t len;
    uint8_t pkt[]; /* the DAC's request, then as sent to the NAS */
};

struct rg_coa_worker {
    uv_async_t async; /* main -> worker: requests queued */
    uv_timer_t timer; /* timeouts of requests in flight */
    struct rg_worker *w;
    struct rg_coa_req *queue;                     /* guarded by coa.lock */
    bool closed;                                  /* guarded by coa.lock */
    struct rg_coa_req *active_head, *active_tail; /* worker only: by deadline */
};

static struct {
    uv_mutex_t lock; /* guards pending, npending and the worker queues */
    bool lock_init;
    struct rg_coa_registry registry;
    bool registry_init;
    struct rg_coa_req *pending; /* every accepted request not yet finished */
    unsigned npending;
    struct rg_stats stats;
    /* main thread only */
    uv_loop_t *loop;
    struct rg_config *cfg; /* reference held */
    struct rg_worker *workers;
    unsigned nworkers;
    uv_udp_t *udp; /* malloced, freed in its close callback */
    struct coa_out *out;
    char bound_addr[64];
    uint16_t bound_port;
    uint8_t rbuf[65536];
} coa;

/* ---- registry ---- */

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
    uv_mutex_unlock(&r->lock);
    free(fresh);
    rg_cluster_note(true, cc->org, kind, value, len);
    return 1;
}

void rg_coa_registry_each(struct rg_coa_registry *r,
                          void (*fn)(void *arg, const char *org, enum rg_coa_key_kind kind,
                                     const uint8_t *value, size_t len),
                          void *arg)
{
    uv_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nbuckets; i++)
        for (const struct rg_coa_name *n = r->buckets[i]; n; n = n->next)
            fn(arg, n->holders->owner->org, (enum rg_coa_key_kind)n->kind, n->value, n->len);
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
            /* no connection here holds it any more: out of the cluster's registry */
            rg_cluster_note(false, cc->org, (enum rg_coa_key_kind)n->kind, n->value, n->len);
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

/* rg_coa_route's reason when no connection of any org matches: the one case another
 * instance of the cluster may hold the NAS. */
static const char no_connected_nas[] = "no connected NAS";

/* ---- translation ---- */

const char *rg_coa_check_request(const uint8_t *pkt, const char *secret, size_t secret_len)
{
    if (pkt[0] != RG_RADIUS_DISCONNECT_REQUEST && pkt[0] != RG_RADIUS_COA_REQUEST)
        return "not a CoA-Request or Disconnect-Request";
    /* RFC 5176 §2.3: computed like an Accounting-Request's (RFC 2866 §3). */
    if (rg_radius_auth_request_verify(pkt, secret, secret_len) < 0)
        return "bad Request Authenticator";
    int rc = rg_radius_msgauth_verify(pkt, NULL, secret, secret_len);
    if (rc == -EBADMSG)
        return "bad Message-Authenticator";
    if (rc == -EINVAL)
        return "malformed or repeated Message-Authenticator";
    return NULL;
}

const char *rg_coa_hidden_attr(const uint8_t *pkt)
{
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a))
        return "User-Password";
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a))
        return "Tunnel-Password";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY, NULL, &a))
        return "MS-MPPE-Send-Key";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, NULL, &a))
        return "MS-MPPE-Recv-Key";
    if (rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_CHAP_MPPE_KEYS, NULL, &a))
        return "MS-CHAP-MPPE-Keys";
    return NULL;
}

int rg_coa_translate_request(const uint8_t *in, size_t len, uint8_t id, const char *secret,
                             size_t secret_len, uint8_t *out, size_t cap,
                             uint8_t sent_auth[RG_RADIUS_AUTH_LEN])
{
    if (len < RG_RADIUS_HDR_LEN || len > cap || rg_radius_len(in) != len)
        return -EINVAL;
    memmove(out, in, len);
    out[1] = id;
    memset(out + 4, 0, RG_RADIUS_AUTH_LEN);
    /* RFC 5176 §3 / RFC 3579 §3.2: Message-Authenticator over the packet with a zero
     * authenticator, before the Request Authenticator is computed (RFC 5176 §2.3). */
    int rc = rg_radius_msgauth_sign(out, NULL, secret, secret_len);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    rg_radius_auth_request_sign(out, secret, secret_len);
    memcpy(sent_auth, out + 4, RG_RADIUS_AUTH_LEN);
    return (int)len;
}

void rg_coa_translate_reply(uint8_t *pkt, uint8_t client_id, const uint8_t *client_auth,
                            const char *secret, size_t secret_len)
{
    pkt[1] = client_id;
    /* RFC 3579 §3.2: a reply's Message-Authenticator uses the request's authenticator; then
     * the Response Authenticator (RFC 2865 §3) over the signed packet. */
    rg_radius_msgauth_sign(pkt, client_auth, secret, secret_len);
    rg_radius_auth_response_sign(pkt, client_auth, secret, secret_len);
}

int rg_coa_build_nak(const uint8_t *req, uint32_t error_cause, const char *secret,
                     size_t secret_len, uint8_t *out, size_t cap)
{
    struct rg_radius_pkt p = {.data = out, .cap = cap};
    uint8_t code =
        req[0] == RG_RADIUS_DISCONNECT_REQUEST ? RG_RADIUS_DISCONNECT_NAK : RG_RADIUS_COA_NAK;
    uint8_t ec[4] = {(uint8_t)(error_cause >> 24), (uint8_t)(error_cause >> 16),
                     (uint8_t)(error_cause >> 8), (uint8_t)error_cause};
    int rc = rg_radius_init(&p, code, req[1], req + 4);
    if (rc == 0)
        rc = rg_radius_msgauth_add_first(&p);
    if (rc == 0)
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_ERROR_CAUSE, ec, sizeof(ec));
    /* RFC 5176 §3.1: Proxy-State attributes of the request go back, in order. */
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && rg_radius_attr_find(req, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, a.value, a.value_len);
    if (rc < 0)
        return rc;
    rg_radius_msgauth_sign(out, req + 4, secret, secret_len);
    rg_radius_auth_response_sign(out, req + 4, secret, secret_len);
    return rg_radius_len(out);
}

/* ---- shared helpers ---- */

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(s->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(s->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

static struct coa_out *out_ref(struct coa_out *o)
{
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
    return o;
}

static void out_unref(struct coa_out *o)
{
    if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    close(o->fd);
    free(o);
}

static void send_to_client(struct rg_coa_req *req, const uint8_t *pkt, size_t len)
{
    /* Non-blocking: a full socket buffer drops the answer; the DAC retransmits. */
    if (sendto(req->out->fd, pkt, len, 0, (const struct sockaddr *)&req->client_addr,
               req->client_addr_len) < 0)
        rg_log_limited("coa-send", LOG_WARNING, "event=coa_send_failed %s error=\"%s\"", req->desc,
                       strerror(errno));
}

static void send_nak(struct rg_coa_req *req, uint32_t cause)
{
    uint8_t nak[RG_RADIUS_MAX_LEN];
    /* The DAC's request as it arrived: the NAK answers its ID and authenticator. */
    uint8_t orig[RG_RADIUS_HDR_LEN];
    memcpy(orig, req->pkt, RG_RADIUS_HDR_LEN);
    orig[1] = req->client_id;
    memcpy(orig + 4, req->client_auth, RG_RADIUS_AUTH_LEN);
    uint8_t *copy = malloc(req->len);
    if (!copy)
        return;
    memcpy(copy, req->pkt, req->len);
    memcpy(copy, orig, RG_RADIUS_HDR_LEN);
    int n =
        rg_coa_build_nak(copy, cause, req->client_secret, req->client_secret_len, nak, sizeof(nak));
    free(copy);
    if (n > 0)
        send_to_client(req, nak, (size_t)n);
}

/* Remove from the pending list and free. */
static void req_finish(struct rg_coa_req *req)
{
    uv_mutex_lock(&coa.lock);
    if (req->pend_prev)
        req->pend_prev->pend_next = req->pend_next;
    else if (coa.pending == req)
        coa.pending = req->pend_next;
    if (req->pend_next)
        req->pend_next->pend_prev = req->pend_prev;
    coa.npending--;
    uv_mutex_unlock(&coa.lock);
    out_unref(req->out);
    free(req->client_secret);
    free(req);
}

static uint32_t error_cause_of(const uint8_t *pkt)
{
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_ERROR_CAUSE, NULL, &a) && a.value_len == 4)
        return (uint32_t)a.value[0] << 24 | (uint32_t)a.value[1] << 16 | (uint32_t)a.value[2] << 8 |
               a.value[3];
    return 0;
}

/* ---- main thread: the listener ---- */

static const struct rg_coa_client *find_client(const struct sockaddr *sa)
{
    /* Clients are known by source address only; the port is the DAC's choice. */
    for (size_t i = 0; coa.cfg && i < coa.cfg->coa.nclients; i++) {
        const struct rg_coa_client *c = &coa.cfg->coa.clients[i];
        if (c->addr.ss_family != sa->sa_family)
            continue;
        if (sa->sa_family == AF_INET &&
            ((const struct sockaddr_in *)(const void *)&c->addr)->sin_addr.s_addr ==
                ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr)
            return c;
        if (sa->sa_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)(const void *)&c->addr)->sin6_addr,
                   &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                   sizeof(struct in6_addr)) == 0)
            return c;
    }
    return NULL;
}

/* RFC 5176 §3 identification: every NAS-Identifier, NAS-IP-Address, NAS-IPv6-Address and
 * Operator-NAS-Identifier (RFC 8559) of the request, described for the log. -E2BIG when
 * there are more than RG_COA_MAX_IDENTS. */
static int idents_of(const uint8_t *pkt, struct rg_coa_ident *ids, size_t *nids, char *desc,
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
        switch (a.type) {
        case RG_RADIUS_ATTR_NAS_IDENTIFIER:
            kind = RG_COA_KEY_NAS_ID;
            name = "nas_identifier";
            break;
        case RG_RADIUS_ATTR_NAS_IP_ADDRESS:
            kind = RG_COA_KEY_NAS_IP;
            name = "nas_ip_address";
            break;
        case RG_RADIUS_ATTR_NAS_IPV6_ADDRESS:
            kind = RG_COA_KEY_NAS_IPV6;
            name = "nas_ipv6_address";
            break;
        case RG_RADIUS_ATTR_OPERATOR_NAS_IDENTIFIER:
            kind = RG_COA_KEY_OPERATOR_NAS_ID;
            name = "operator_nas_identifier";
            break;
        default:
            continue;
        }
        if (*nids == RG_COA_MAX_IDENTS)
            return -E2BIG;
        ids[*nids] = (struct rg_coa_ident){.kind = kind, .value = a.value, .len = a.value_len};
        (*nids)++;
        char val[RG_LOG_ESC_BUF];
        if (kind == RG_COA_KEY_NAS_IP && a.value_len == 4)
            inet_ntop(AF_INET, a.value, val, sizeof(val));
        else if (kind == RG_COA_KEY_NAS_IPV6 && a.value_len == 16)
            inet_ntop(AF_INET6, a.value, val, sizeof(val));
        else
            rg_log_escape(a.value, a.value_len, val, 100);
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
    if (idents_of(pkt, ids, &nids, nas, naslen) < 0) {
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
    snprintf(why, whylen, "%s", no_connected_nas);
    return 0;
}

static void nak_local(const uint8_t *pkt, size_t len, const struct sockaddr *addr,
                      const struct rg_coa_client *cl, const char *secret, size_t secret_len,
                      uint32_t cause)
{
    uint8_t nak[RG_RADIUS_MAX_LEN];
    (void)len;
    int n = rg_coa_build_nak(pkt, cause, secret, secret_len, nak, sizeof(nak));
    if (n > 0 && coa.out &&
        sendto(coa.out->fd, nak, (size_t)n, 0, addr,
               addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6)) < 0)
        rg_log_limited("coa-send", LOG_WARNING, "event=coa_send_failed client=%s error=\"%s\"",
                       cl->name, strerror(errno));
}

static bool push_to_worker(struct rg_coa_req *req)
{
    bool ok = false;
    uv_mutex_lock(&coa.lock);
    struct rg_coa_worker *cw = req->worker < coa.nworkers ? coa.workers[req->worker].coa : NULL;
    if (cw && !cw->closed) {
        req->next = cw->queue; /* LIFO; the worker reverses it */
        cw->queue = req;
        /* Under the lock: the worker closes the handle only after marking itself closed. */
        uv_async_send(&cw->async);
        ok = true;
    }
    uv_mutex_unlock(&coa.lock);
    return ok;
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)coa.rbuf, sizeof(coa.rbuf));
}

static const struct rg_coa_client *find_client_named(const char *name, size_t len)
{
    for (size_t i = 0; coa.cfg && i < coa.cfg->coa.nclients; i++) {
        const struct rg_coa_client *c = &coa.cfg->coa.clients[i];
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

/* A request accepted from a DAC (or handed over by another instance): its answer goes to
 * sa, signed with secret. On the pending list (duplicates, RG_COA_MAX_PENDING). */
static struct rg_coa_req *req_new(const uint8_t *pkt, size_t len, const struct sockaddr *sa,
                                  const char *secret, size_t secret_len, const char *desc)
{
    struct rg_coa_req *req = calloc(1, sizeof(*req) + len);
    char *sec = malloc(secret_len + 1);
    if (!req || !sec || !coa.out) {
        free(req);
        free(sec);
        return NULL;
    }
    memcpy(sec, secret, secret_len);
    sec[secret_len] = '\0';
    req->client_addr_len =
        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memcpy(&req->client_addr, sa, req->client_addr_len);
    req->client_id = pkt[1];
    memcpy(req->client_auth, pkt + 4, RG_RADIUS_AUTH_LEN);
    req->client_secret = sec;
    req->client_secret_len = secret_len;
    req->out = out_ref(coa.out);
    snprintf(req->desc, sizeof(req->desc), "%s", desc);
    req->len = (uint16_t)len;
    memcpy(req->pkt, pkt, len);
    uv_mutex_lock(&coa.lock);
    req->pend_next = coa.pending;
    if (coa.pending)
        coa.pending->pend_prev = req;
    coa.pending = req;
    coa.npending++;
    uv_mutex_unlock(&coa.lock);
    return req;
}

/* The NAS's answer (from this instance's AP or from the instance holding it) to the DAC:
 * re-signed for the client's ID, authenticator and secret, sent, counted, one line;
 * instance names the holder when it came back through the cluster. */
static void answer_client(struct rg_coa_req *req, uint8_t *out, size_t len, const char *instance)
{
    uint32_t cause = error_cause_of(out);
    uint8_t code = out[0];
    rg_coa_translate_reply(out, req->client_id, req->client_auth, req->client_secret,
                           req->client_secret_len);
    send_to_client(req, out, len);
    RG_STAT_INC(&coa.stats, coa_replies);
    char ec[32] = "";
    if (cause)
        snprintf(ec, sizeof(ec), " error_cause=%u", cause);
    rg_notice("event=coa_reply %s%s%s reply=%s%s", req->desc, instance ? " instance=" : "",
              instance ? instance : "", rg_radius_code_name(code), ec);
}

/* The instance holding the NAS answered a hand-off (or nobody holds it, or it timed out). */
static void on_handed_back(void *arg, int status, const uint8_t *reply, size_t len, const char *why)
{
    struct rg_coa_req *req = arg;
    if (status == 1) {
        uint8_t out[RG_RADIUS_MAX_LEN];
        memcpy(out, reply, len);
        answer_client(req, out, len, why);
    } else if (status == 0) {
        RG_STAT_INC(&coa.stats, coa_nak_unroutable);
        char r[300];
        snprintf(r, sizeof(r), "%s here; cluster: %s", no_connected_nas, why);
        rg_log_limited("coa-unroutable", LOG_NOTICE,
                       "event=coa_nak %s error_cause=%u reason=\"%s\"", req->desc,
                       RG_COA_ERR_NOT_ROUTABLE, RG_LOG_ESC(r));
        send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
    } else {
        RG_STAT_INC(&coa.stats, coa_timeouts);
        rg_notice("event=coa_timeout %s instance=%s timeout_s=%u reason=\"no answer from the "
                  "instance holding the NAS\"",
                  req->desc, why, RG_CLUSTER_HANDOFF_MS / 1000);
    }
    req_finish(req);
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *sa,
                        unsigned flags)
{
    (void)u;
    (void)flags;
    if (nread <= 0 || !sa)
        return;
    uint8_t *pkt = (uint8_t *)buf->base;
    char from[80];
    addr_text(sa, from, sizeof(from));
    struct rg_radius_error err;
    char why[128];
    bool valid = rg_radius_validate(pkt, (size_t)nread, &err) == 0;
    /* Another instance handing over a request for one of our NASes: signed with the cluster
     * secret, naming the DAC's client, whose orgs are checked here again. */
    const char *cname = NULL;
    size_t cname_len = 0;
    int handoff = valid ? rg_cluster_handoff_check(pkt, &cname, &cname_len) : 0;
    const struct rg_coa_client *cl;
    const char *secret;
    size_t secret_len;
    if (handoff < 0) {
        RG_STAT_INC(&coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded src=%s reason=\"hand-off does not verify with the "
                       "cluster secret\"",
                       from);
        return;
    }
    if (handoff) {
        cl = find_client_named(cname, cname_len);
        if (!cl) {
            char n[RG_LOG_ESC_BUF];
            rg_log_escape((const uint8_t *)cname, cname_len, n, 64);
            RG_STAT_INC(&coa.stats, coa_drop_bad);
            rg_log_limited("coa-bad", LOG_WARNING,
                           "event=coa_discarded src=%s client=\"%s\" reason=\"hand-off for a "
                           "coa client not configured here (clients must be the same on every "
                           "instance)\"",
                           from, n);
            return;
        }
        secret = rg_cluster_secret(&secret_len);
    } else {
        cl = find_client(sa);
        if (!cl) {
            RG_STAT_INC(&coa.stats, coa_drop_bad);
            rg_log_limited("coa-unknown-client", LOG_WARNING,
                           "event=coa_discarded src=%s reason=\"not a configured coa client\"",
                           from);
            return;
        }
        secret = cl->secret;
        secret_len = cl->secret_len;
    }
    if (!valid) {
        RG_STAT_INC(&coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded client=%s src=%s reason=\"malformed packet: %s\"",
                       cl->name, from, rg_radius_error_str(&err, why, sizeof(why)));
        return;
    }
    size_t len = rg_radius_len(pkt); /* RFC 2865 §3: octets past Length are padding */
    const char *bad = handoff ? NULL : rg_coa_check_request(pkt, cl->secret, cl->secret_len);
    if (bad) {
        /* RFC 5176 §3: silently discarded (no NAK: the sender is not authenticated). */
        RG_STAT_INC(&coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded client=%s src=%s code=%s id=%u reason=\"%s\"", cl->name,
                       from, rg_radius_code_name(pkt[0]), pkt[1], bad);
        return;
    }
    if (handoff)
        len = rg_cluster_handoff_strip(pkt); /* the NAS is not told about the cluster */
    RG_STAT_INC(&coa.stats, coa_requests);

    /* RFC 5176 §2.3: a retransmission (same source, ID and authenticator) in flight is not
     * sent to the NAS twice. */
    uv_mutex_lock(&coa.lock);
    bool dup = false;
    for (struct rg_coa_req *r = coa.pending; r && !dup; r = r->pend_next)
        dup = r->client_id == pkt[1] &&
              rg_sockaddr_equal((const struct sockaddr *)&r->client_addr, sa) &&
              memcmp(r->client_auth, pkt + 4, RG_RADIUS_AUTH_LEN) == 0;
    bool full = coa.npending >= RG_COA_MAX_PENDING;
    uv_mutex_unlock(&coa.lock);
    char head[200];
    snprintf(head, sizeof(head), "client=%s src=%s%s code=%s id=%u", cl->name, from,
             handoff ? " via=cluster" : "", rg_radius_code_name(pkt[0]), pkt[1]);
    if (dup) {
        RG_STAT_INC(&coa.stats, coa_duplicates);
        rg_log_limited("coa-dup", LOG_INFO,
                       "event=coa_duplicate %s reason=\"retransmission of a request in flight\"",
                       head);
        return;
    }
    const char *hidden = rg_coa_hidden_attr(pkt);
    if (hidden) {
        /* RFC 5176 §3.6 lets CoA-Request carry Tunnel-Password (and MPPE VSAs), but defines
         * no Request Authenticator to hide them with; re-encrypting for the NAS would be a
         * guess. Refuse rather than forward garbage (RFC 5176 §3.5: 401). */
        RG_STAT_INC(&coa.stats, coa_nak_local);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"%s cannot be re-encrypted for the "
                  "NAS\"",
                  head, RG_COA_ERR_UNSUPPORTED_ATTRIBUTE, hidden);
        nak_local(pkt, len, sa, cl, secret, secret_len, RG_COA_ERR_UNSUPPORTED_ATTRIBUTE);
        return;
    }
    if (full) {
        RG_STAT_INC(&coa.stats, coa_nak_local);
        rg_log_limited("coa-full", LOG_WARNING,
                       "event=coa_nak %s error_cause=%u reason=\"%u requests pending\"", head,
                       RG_COA_ERR_RESOURCES, RG_COA_MAX_PENDING);
        nak_local(pkt, len, sa, cl, secret, secret_len, RG_COA_ERR_RESOURCES);
        return;
    }
    struct rg_coa_target t = {0};
    char nas[280], unrouted[400], desc[768];
    if (!rg_coa_route(&coa.registry, coa.cfg, cl, pkt, &t, nas, sizeof(nas), unrouted,
                      sizeof(unrouted))) {
        snprintf(desc, sizeof(desc), "%s %s", head, nas);
        /* Not here: another instance may hold it (a hand-off is never handed on again). */
        struct rg_coa_ident ids[RG_COA_MAX_IDENTS];
        size_t nids = 0;
        char scratch[8];
        if (!handoff && rg_cluster_enabled() && strcmp(unrouted, no_connected_nas) == 0) {
            struct rg_coa_req *req = req_new(pkt, len, sa, secret, secret_len, desc);
            /* ids point into req->pkt, which lives as long as the hand-off */
            if (req && idents_of(req->pkt, ids, &nids, scratch, sizeof(scratch)) == 0 && nids > 0) {
                int rc = rg_cluster_forward(cl, req->pkt, req->len, ids, nids, on_handed_back, req);
                if (rc == 0) {
                    RG_STAT_INC(&coa.stats, coa_handoffs);
                    return;
                }
                snprintf(unrouted, sizeof(unrouted), "%s; cluster: %s", no_connected_nas,
                         rc == -ENOTCONN ? "Redis down, local registry only"
                         : rc == -EBUSY  ? "too many hand-offs in flight"
                                         : rg_strerror(rc));
            }
            if (req)
                req_finish(req);
        }
        /* reverse-coa §"Errors and Fail Over": MUST NAK with 502 (Request Not Routable). */
        RG_STAT_INC(&coa.stats, coa_nak_unroutable);
        rg_log_limited("coa-unroutable", LOG_NOTICE,
                       "event=coa_nak %s error_cause=%u reason=\"%s\"", desc,
                       RG_COA_ERR_NOT_ROUTABLE, RG_LOG_ESC(unrouted));
        nak_local(pkt, len, sa, cl, secret, secret_len, RG_COA_ERR_NOT_ROUTABLE);
        return;
    }
    snprintf(desc, sizeof(desc), "%s %s", head, nas);
    struct rg_coa_req *req = req_new(pkt, len, sa, secret, secret_len, desc);
    if (!req) {
        RG_STAT_INC(&coa.stats, coa_nak_local);
        nak_local(pkt, len, sa, cl, secret, secret_len, RG_COA_ERR_RESOURCES);
        return;
    }
    req->worker = t.worker;
    req->conn_id = t.conn_id;
    if (!push_to_worker(req)) {
        RG_STAT_INC(&coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"worker %u is stopping\"", req->desc,
                  RG_COA_ERR_NOT_ROUTABLE, t.worker);
        send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        req_finish(req);
    }
}

static void on_udp_closed(uv_handle_t *h)
{
    free(h);
}

static void close_socket(void)
{
    if (coa.udp) {
        uv_close((uv_handle_t *)coa.udp, on_udp_closed);
        coa.udp = NULL;
    }
    out_unref(coa.out);
    coa.out = NULL;
    coa.bound_addr[0] = '\0';
    coa.bound_port = 0;
}

static int open_socket(const struct rg_config *cfg)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(cfg->coa.address, cfg->coa.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(cfg->coa.address, cfg->coa.port, (struct sockaddr_in6 *)&ss) != 0) {
        rg_err("event=coa_listen_failed address=\"%s\" reason=\"bad address\"",
               RG_LOG_ESC(cfg->coa.address));
        return -EINVAL;
    }
    uv_udp_t *u = calloc(1, sizeof(*u));
    struct coa_out *o = calloc(1, sizeof(*o));
    if (!u || !o) {
        free(u);
        free(o);
        return -ENOMEM;
    }
    uv_udp_init(coa.loop, u);
    int rc = uv_udp_bind(u, (const struct sockaddr *)&ss, 0);
    uv_os_fd_t fd = -1;
    if (rc == 0)
        rc = uv_fileno((uv_handle_t *)u, &fd);
    if (rc == 0 && (o->fd = dup(fd)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_udp_recv_start(u, on_udp_alloc, on_udp_recv);
    if (rc < 0) {
        rg_err("event=coa_listen_failed address=%s port=%u error=\"%s\"", cfg->coa.address,
               cfg->coa.port, rg_strerror(rc));
        if (o->fd > 0)
            close(o->fd);
        free(o);
        uv_close((uv_handle_t *)u, on_udp_closed);
        return rc;
    }
    o->refs = 1;
    coa.udp = u;
    coa.out = o;
    snprintf(coa.bound_addr, sizeof(coa.bound_addr), "%s", cfg->coa.address);
    coa.bound_port = cfg->coa.port;
    rg_notice("event=coa_listening address=%s port=%u clients=%zu", cfg->coa.address, cfg->coa.port,
              cfg->coa.nclients);
    return 0;
}

/* Main thread, before any worker runs: the lock and the registry. */
static int ensure_init(void)
{
    if (!coa.lock_init) {
        uv_mutex_init(&coa.lock);
        coa.lock_init = true;
    }
    if (!coa.registry_init) {
        int rc = rg_coa_registry_init(&coa.registry);
        if (rc < 0)
            return rc;
        coa.registry_init = true;
    }
    return 0;
}

int rg_coa_start(uv_loop_t *loop, struct rg_config *cfg, struct rg_worker *workers,
                 unsigned nworkers)
{
    int rc = ensure_init();
    if (rc < 0)
        return rc;
    coa.loop = loop;
    uv_mutex_lock(&coa.lock);
    coa.workers = workers;
    coa.nworkers = nworkers;
    uv_mutex_unlock(&coa.lock);
    coa.cfg = rg_config_ref(cfg);
    rc = cfg->coa.enabled ? open_socket(cfg) : 0;
    if (rc == 0)
        rc = rg_cluster_start(loop, cfg, &coa.registry);
    return rc;
}

int rg_coa_reload(struct rg_config *cfg)
{
    struct rg_config *old = coa.cfg;
    coa.cfg = rg_config_ref(cfg);
    if (old)
        rg_config_unref(old);
    rg_cluster_reload(cfg);
    bool same = cfg->coa.enabled && coa.udp && cfg->coa.port == coa.bound_port &&
                strcmp(cfg->coa.address, coa.bound_addr) == 0;
    if (same)
        return 0;
    close_socket();
    return cfg->coa.enabled ? open_socket(cfg) : 0;
}

void rg_coa_stop(void)
{
    rg_cluster_stop();
    close_socket();
}

void rg_coa_shutdown(void)
{
    rg_cluster_stop();
    rg_cluster_shutdown();
    close_socket();
    if (coa.registry_init) {
        rg_coa_registry_free(&coa.registry);
        coa.registry_init = false;
    }
    if (coa.cfg)
        rg_config_unref(coa.cfg);
    coa.cfg = NULL;
    uv_mutex_lock(&coa.lock);
    coa.workers = NULL;
    coa.nworkers = 0;
    uv_mutex_unlock(&coa.lock);
}

const struct rg_stats *rg_coa_stats(void)
{
    return &coa.stats;
}

/* ---- worker thread ---- */

static void active_unlink(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        cw->active_head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        cw->active_tail = req->prev;
    req->next = req->prev = NULL;
}

/* Out of the connection's ID space and the active list, then freed. */
static void inflight_finish(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    struct rg_coa_conn *cc = req->cc;
    if (cc && cc->inflight && cc->inflight[req->id] == req) {
        cc->inflight[req->id] = NULL;
        cc->ninflight--;
    }
    active_unlink(cw, req);
    req_finish(req);
}

static void on_timeout(uv_timer_t *t)
{
    struct rg_coa_worker *cw = t->data;
    uint64_t now = rg_now_ms();
    while (cw->active_head && cw->active_head->deadline_ms <= now) {
        struct rg_coa_req *req = cw->active_head;
        RG_STAT_INC(&coa.stats, coa_timeouts);
        rg_notice("event=coa_timeout %s timeout_s=%u reason=\"no answer from the NAS\"", req->desc,
                  RG_COA_TIMEOUT_MS / 1000);
        inflight_finish(cw, req);
    }
    if (!cw->active_head)
        uv_timer_stop(&cw->timer);
}

static struct rg_conn *find_conn(struct rg_worker *w, uint64_t id)
{
    /* O(connections) per CoA: low volume, no index kept on the hot path. */
    for (struct rg_conn *c = w->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void dispatch(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    struct rg_conn *c = find_conn(cw->w, req->conn_id);
    if (!c || c->state != RG_CONN_OPEN || !c->coa || !c->peer.org || !c->peer.org->coa) {
        RG_STAT_INC(&coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"connection gone or CoA off for its "
                  "org\"",
                  req->desc, RG_COA_ERR_NOT_ROUTABLE);
        send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        req_finish(req);
        return;
    }
    struct rg_coa_conn *cc = c->coa;
    bool v11 = c->proto == RG_PROTO_RADIUS_11;
    if (!cc->inflight && !(cc->inflight = calloc(256, sizeof(*cc->inflight)))) {
        RG_STAT_INC(&coa.stats, coa_nak_local);
        send_nak(req, RG_COA_ERR_RESOURCES);
        req_finish(req);
        return;
    }
    /* Our own ID space on this connection (reverse-coa: the server's requests are matched to
     * its own IDs, apart from the NAS's requests). RADIUS/1.1: Tokens from a counter (RFC
     * 9765 §"Sending Packets"), skipping those whose slot is still busy. */
    int id = -1;
    uint32_t token = 0;
    for (unsigned i = 0; i < 256 && id < 0; i++) {
        uint32_t cand = v11 ? cc->next_token++ : cc->next_id++;
        if (!cc->inflight[(uint8_t)cand]) {
            id = (uint8_t)cand;
            token = cand;
        }
    }
    if (id < 0) {
        RG_STAT_INC(&coa.stats, coa_nak_local);
        rg_log_limited("coa-ids", LOG_WARNING,
                       "event=coa_nak %s error_cause=%u reason=\"256 requests in flight to this "
                       "NAS\"",
                       req->desc, RG_COA_ERR_RESOURCES);
        send_nak(req, RG_COA_ERR_RESOURCES);
        req_finish(req);
        return;
    }
    size_t slen;
    const char *secret = rg_conn_secret(c, &slen);
    int n = v11 ? rg_radius11_coa_request(req->pkt, token)
                : rg_coa_translate_request(req->pkt, req->len, (uint8_t)id, secret, slen, req->pkt,
                                           req->len, req->sent_auth);
    if (n < 0 || !rg_conn_send(c, req->pkt, (size_t)n)) {
        /* The packet was rewritten: answer from the saved ID and authenticator. */
        RG_STAT_INC(&coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"cannot write to the NAS\"", req->desc,
                  RG_COA_ERR_NOT_ROUTABLE);
        send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        req_finish(req);
        return;
    }
    req->cc = cc;
    req->id = (uint8_t)id;
    req->token = token;
    cc->inflight[id] = req;
    cc->ninflight++;
    req->deadline_ms = rg_now_ms() + RG_COA_TIMEOUT_MS;
    req->next = NULL;
    req->prev = cw->active_tail;
    if (cw->active_tail)
        cw->active_tail->next = req;
    else
        cw->active_head = req;
    cw->active_tail = req;
    if (!uv_is_active((uv_handle_t *)&cw->timer))
        uv_timer_start(&cw->timer, on_timeout, 1000, 1000);
    RG_STAT_INC(&coa.stats, coa_forwarded);
    size_t dl = strlen(req->desc);
    if (dl < sizeof(req->desc))
        snprintf(req->desc + dl, sizeof(req->desc) - dl,
                 v11 ? " conn=%llu conn_src=%s cn=\"%s\" org=%s sent_token=%08x"
                     : " conn=%llu conn_src=%s cn=\"%s\" org=%s sent_id=%u",
                 (unsigned long long)c->id, c->addr_text, RG_LOG_ESC(c->peer.cn), c->peer.org->name,
                 v11 ? token : (uint32_t)id);
    rg_debug("event=coa_sent %s", req->desc);
}

static void on_async(uv_async_t *a)
{
    struct rg_coa_worker *cw = a->data;
    uv_mutex_lock(&coa.lock);
    struct rg_coa_req *q = cw->queue;
    cw->queue = NULL;
    uv_mutex_unlock(&coa.lock);
    struct rg_coa_req *fifo = NULL;
    while (q) { /* back to arrival order */
        struct rg_coa_req *next = q->next;
        q->next = fifo;
        fifo = q;
        q = next;
    }
    while (fifo) {
        struct rg_coa_req *next = fifo->next;
        fifo->next = NULL;
        dispatch(cw, fifo);
        fifo = next;
    }
}

int rg_coa_worker_init(struct rg_worker *w)
{
    struct rg_coa_worker *cw = calloc(1, sizeof(*cw));
    if (!cw)
        return -ENOMEM;
    if (ensure_init() < 0) {
        free(cw);
        return -ENOMEM;
    }
    cw->w = w;
    uv_async_init(&w->loop, &cw->async, on_async);
    cw->async.data = cw;
    uv_timer_init(&w->loop, &cw->timer);
    cw->timer.data = cw;
    /* Workers start before rg_coa_start (ensure_init above, on the main thread), so the
     * connections they accept register at once. */
    uv_mutex_lock(&coa.lock);
    w->coa = cw;
    uv_mutex_unlock(&coa.lock);
    return 0;
}

void rg_coa_worker_close(struct rg_worker *w)
{
    struct rg_coa_worker *cw = w->coa;
    if (!cw || cw->closed)
        return;
    uv_mutex_lock(&coa.lock);
    cw->closed = true;
    struct rg_coa_req *q = cw->queue;
    cw->queue = NULL;
    uv_mutex_unlock(&coa.lock);
    while (q) {
        /* Never handed to a NAS: tell the DAC now rather than let it retransmit into a
         * stopping gateway. */
        struct rg_coa_req *next = q->next;
        send_nak(q, RG_COA_ERR_NOT_ROUTABLE);
        req_finish(q);
        q = next;
    }
    while (cw->active_head) /* connections closed first; anything left is freed here */
        inflight_finish(cw, cw->active_head);
    uv_close((uv_handle_t *)&cw->async, NULL);
    uv_close((uv_handle_t *)&cw->timer, NULL);
}

void rg_coa_worker_free(struct rg_worker *w)
{
    uv_mutex_lock(&coa.lock);
    struct rg_coa_worker *cw = w->coa;
    w->coa = NULL;
    uv_mutex_unlock(&coa.lock);
    free(cw);
}

void rg_coa_conn_open(struct rg_conn *c)
{
    struct rg_coa_conn *cc = calloc(1, sizeof(*cc));
    if (!cc || !coa.registry_init) {
        free(cc);
        return;
    }
    cc->worker = c->worker->index;
    cc->conn_id = c->id;
    cc->org = strdup(c->peer.org->name);
    if (!cc->org) {
        free(cc);
        return;
    }
    snprintf(cc->addr, sizeof(cc->addr), "%s", c->addr_text);
    rg_random_bytes(&cc->next_id, 1);
    rg_random_bytes((uint8_t *)&cc->next_token, sizeof(cc->next_token));
    c->coa = cc;
    if (c->peer.cn[0])
        rg_coa_registry_add(&coa.registry, cc, RG_COA_KEY_CERT_NAME, c->peer.cn,
                            strlen(c->peer.cn));
}

void rg_coa_conn_closed(struct rg_conn *c)
{
    struct rg_coa_conn *cc = c->coa;
    if (!cc)
        return;
    c->coa = NULL;
    rg_coa_registry_remove_conn(&coa.registry, cc);
    struct rg_coa_worker *cw = c->worker->coa;
    for (unsigned i = 0; i < 256 && cc->ninflight; i++) {
        struct rg_coa_req *req = cc->inflight[i];
        if (!req)
            continue;
        rg_notice("event=coa_dropped %s reason=\"connection closed before the NAS answered\"",
                  req->desc);
        inflight_finish(cw, req);
    }
    free(cc->inflight);
    free(cc->org);
    free(cc);
}

void rg_coa_learn(struct rg_conn *c, const uint8_t *pkt)
{
    struct rg_coa_conn *cc = c->coa;
    if (!cc || (pkt[0] != RG_RADIUS_ACCESS_REQUEST && pkt[0] != RG_RADIUS_ACCOUNTING_REQUEST))
        return;
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(pkt, &pos, &a)) {
        enum rg_coa_key_kind kind;
        switch (a.type) {
        case RG_RADIUS_ATTR_NAS_IDENTIFIER:
            kind = RG_COA_KEY_NAS_ID;
            break;
        case RG_RADIUS_ATTR_NAS_IP_ADDRESS:
            kind = RG_COA_KEY_NAS_IP;
            break;
        case RG_RADIUS_ATTR_NAS_IPV6_ADDRESS:
            kind = RG_COA_KEY_NAS_IPV6;
            break;
        case RG_RADIUS_ATTR_OPERATOR_NAS_IDENTIFIER:
            kind = RG_COA_KEY_OPERATOR_NAS_ID;
            break;
        default:
            continue;
        }
        /* Hot path: a hash compare against what this connection already registered. */
        uint64_t h = rg_coa_key_hash(cc->org, kind, a.value, a.value_len);
        bool known = false;
        for (unsigned i = 0; i < cc->nkeys && !known; i++)
            known = cc->key_hash[i] == h;
        if (known)
            continue;
        int rc = rg_coa_registry_add(&coa.registry, cc, kind, a.value, a.value_len);
        if (rc == -ENOSPC && !cc->full_logged) {
            cc->full_logged = true;
            rg_notice("event=coa_registry_full " RG_CONN_LOG_FMT " org=%s limit=%u "
                      "effect=\"no more NAS identities learned\"",
                      RG_CONN_LOG_ARGS(c), cc->org, RG_COA_CONN_KEYS);
        } else if (rc == 1) {
            char val[96] = "";
            if (kind == RG_COA_KEY_NAS_IP && a.value_len == 4)
                inet_ntop(AF_INET, a.value, val, sizeof(val));
            else if (kind == RG_COA_KEY_NAS_IPV6 && a.value_len == 16)
                inet_ntop(AF_INET6, a.value, val, sizeof(val));
            else
                rg_log_escape(a.value, a.value_len, val, sizeof(val));
            rg_debug("event=coa_registered " RG_CONN_LOG_FMT " org=%s %s=\"%s\"",
                     RG_CONN_LOG_ARGS(c), cc->org,
                     kind == RG_COA_KEY_NAS_ID     ? "nas_identifier"
                     : kind == RG_COA_KEY_NAS_IP   ? "nas_ip_address"
                     : kind == RG_COA_KEY_NAS_IPV6 ? "nas_ipv6_address"
                                                   : "operator_nas_identifier",
                     val);
        }
    }
}

int rg_coa_on_reply(struct rg_conn *c, const uint8_t *pkt, size_t len)
{
    struct rg_coa_conn *cc = c->coa;
    bool v11 = c->proto == RG_PROTO_RADIUS_11;
    uint32_t token = v11 ? rg_radius11_token(pkt) : 0;
    struct rg_coa_req *req =
        cc && cc->inflight ? cc->inflight[v11 ? (uint8_t)token : pkt[1]] : NULL;
    if (req && v11 && req->token != token)
        req = NULL;
    if (!req || !rg_translate_reply_matches(req->pkt[0], pkt[0])) {
        /* reverse-coa §"Errors and Fail Over": an unexpected reply is silently discarded. */
        RG_STAT_INC(&coa.stats, coa_drop_reply);
        rg_log_limited("coa-unmatched", LOG_NOTICE,
                       "event=coa_reply_discarded " RG_CONN_LOG_FMT " code=%s %s=%u "
                       "reason=\"matches no request in flight\"",
                       RG_CONN_LOG_ARGS(c), rg_radius_code_name(pkt[0]), v11 ? "token" : "id",
                       v11 ? token : pkt[1]);
        return 0;
    }
    size_t slen;
    const char *secret = rg_conn_secret(c, &slen);
    const char *why = NULL;
    /* RFC 9765: nothing to verify on RADIUS/1.1 (TLS authenticates it). */
    if (!v11 && rg_translate_verify_reply(pkt, len, req->sent_auth, secret, slen, &why) < 0) {
        /* RFC 6613 §2.6.4: failed authentication closes the connection (the caller does;
         * the request is dropped with it). */
        RG_STAT_INC(&coa.stats, coa_drop_bad);
        rg_warn("event=coa_reply_bad %s reply=%s reason=\"%s\" action=close", req->desc,
                rg_radius_code_name(pkt[0]), why);
        return -EBADMSG;
    }
    uint8_t out[RG_RADIUS_MAX_LEN];
    memcpy(out, pkt, len);
    if (v11) {
        /* Signed for the DAC with its secret: Message-Authenticator first. */
        int n = rg_radius11_reply_to_udp(out, sizeof(out));
        if (n < 0) {
            RG_STAT_INC(&coa.stats, coa_drop_bad);
            rg_warn("event=coa_reply_bad %s reply=%s reason=\"no room for Message-Authenticator\" "
                    "action=drop",
                    req->desc, rg_radius_code_name(pkt[0]));
            inflight_finish(c->worker->coa, req);
            return 0;
        }
        len = (size_t)n;
    }
    answer_client(req, out, len, NULL);
    inflight_finish(c->worker->coa, req);
    return 0;
}
