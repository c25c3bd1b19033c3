/* Reverse CoA (RFC 5176, draft-ietf-radext-reverse-coa): the UDP listener for Dynamic
 * Authorization Clients (main thread, src/coa_listen.c), the NAS registry (the one structure
 * shared between threads, coa_registry.c) and the relay of CoA/Disconnect down the NAS's own
 * TLS connection (its worker, coa_worker.c); coa.c holds the shared state; the packet
 * translation is translate.c's.
 * Knows nothing of connections, TLS or backends: a connection registers its origin
 * (origin.h: send, secret, protocol, org, log identity) with rg_coa_conn_open, and CoA
 * reaches it only through that. */
#ifndef RADSECGW_COA_H
#define RADSECGW_COA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/config.h"
#include "radsecgw/origin.h"
#include "radsecgw/radius.h"
#include "radsecgw/stats.h"

struct rg_coa_worker;
struct rg_coa_req;
struct rg_coa_key;

#define RG_COA_TIMEOUT_MS  10000 /* no ACK/NAK from the NAS: forget it (the DAC retransmits) */
#define RG_COA_MAX_PENDING 4096  /* requests accepted and not yet answered, all workers */
#define RG_COA_CONN_KEYS   16    /* identities learned per connection (CN included) */

/* Error-Cause values (RFC 5176 §3.5) the gateway sends itself. */
#define RG_COA_ERR_UNSUPPORTED_ATTRIBUTE 401
#define RG_COA_ERR_NOT_ROUTABLE          502 /* reverse-coa §"Errors and Fail Over": MUST */
#define RG_COA_ERR_RESOURCES             506

#define RG_COA_MAX_IDENTS  8 /* NAS identification attributes a CoA may carry */
#define RG_COA_MAX_MATCHES 8 /* connections reported for one CoA (2 already is ambiguous) */

/* What a registry key names (RFC 5176 §3: NAS identification attributes, plus the
 * certificate CN, which a CoA names through NAS-Identifier). */
enum rg_coa_key_kind {
    RG_COA_KEY_CERT_NAME = 1,
    RG_COA_KEY_NAS_ID,
    RG_COA_KEY_NAS_IP,
    RG_COA_KEY_NAS_IPV6,
    RG_COA_KEY_OPERATOR_NAS_ID,
};

/* Per-connection CoA state; malloced by rg_coa_conn_open, owned by the connection (c->coa),
 * freed by rg_coa_conn_closed. Touched only on the owning worker's thread, except that
 * registry readers read worker, conn_id, org, addr and keys under the registry lock (keys
 * and nkeys are written only under it). */
struct rg_coa_conn {
    struct rg_origin *origin; /* not owned: the connection's, valid until rg_coa_conn_closed;
                               * how a CoA is sent, with which secret and protocol */
    struct rg_coa_worker *cw; /* not owned: its worker's CoA state */
    struct rg_coa_conn *wprev, *wnext; /* the worker's list of connections (dispatch) */
    unsigned worker;
    uint64_t conn_id;
    char *org;                           /* malloced, owned: the org's name, part of every key */
    char addr[64];                       /* the connection's address, for log lines */
    uint64_t key_hash[RG_COA_CONN_KEYS]; /* hot path: compare, lock only for a new one */
    struct rg_coa_key *keys[RG_COA_CONN_KEYS]; /* registry entries, owned by the registry;
                                                * each unlinks in O(1) when cc closes */
    unsigned nkeys;
    bool full_logged;
    struct rg_coa_req **inflight; /* malloced at the first CoA sent (256 slots, by our ID),
                                   * owned, as are the server-initiated requests in it */
    unsigned ninflight;
    uint8_t next_id;
    uint32_t next_token; /* RADIUS/1.1 connection: Token counter (its low octet is the slot) */
};

/* A connection a CoA matched: copied out under the lock. */
struct rg_coa_target {
    unsigned worker;
    uint64_t conn_id;
    char addr[64];
};

/* One NAS identification attribute of a CoA-Request. RG_COA_KEY_NAS_ID also matches a
 * connection's certificate name (RG_COA_KEY_CERT_NAME): a DAC knows an AP by either. */
struct rg_coa_ident {
    enum rg_coa_key_kind kind;
    const uint8_t *value; /* not owned: points into the request */
    size_t len;
};

/* The kind of a NAS identification attribute (RFC 5176 §3) and its log key
 * ("nas_ip_address"); false for any other attribute type. */
bool rg_coa_ident_kind(uint8_t type, enum rg_coa_key_kind *kind, const char **log_key);
/* An identity as log text into buf (cap octets, NUL included): a NAS-IP-Address (4 octets)
 * or NAS-IPv6-Address (16) in its usual form (192.0.2.7, 2001:db8::7), anything else
 * escaped (rg_log_escape). Returns buf. */
const char *rg_coa_ident_text(enum rg_coa_key_kind kind, const uint8_t *value, size_t len,
                              char *buf, size_t cap);

/* A registry key changed: (org, kind, value) was registered by a connection (added), or the
 * last connection holding it closed (gone). Called on the thread that made the change. */
typedef void (*rg_coa_key_fn)(void *arg, bool added, const char *org, enum rg_coa_key_kind kind,
                              const uint8_t *value, size_t len);

/* The NAS registry: a chained hash table of names (org, kind, value), each with the list of
 * connections holding it. Identities are registered per org, so an AP can never claim
 * another org's NAS. Adding a key and removing a connection's keys are O(1) per key however
 * many connections share a name (thousands of APs behind one NAT address). */
struct rg_coa_name;
struct rg_coa_registry {
    uv_mutex_t lock;
    struct rg_coa_name **buckets; /* malloced, owned (with every name and key) */
    size_t nbuckets;              /* power of two */
    size_t nkeys;                 /* keys of all connections (a shared name counts each) */
    rg_coa_key_fn on_change;      /* guarded by lock: rg_coa_registry_watch's, or NULL */
    void *on_change_arg;
};

int rg_coa_registry_init(struct rg_coa_registry *r);
void rg_coa_registry_free(struct rg_coa_registry *r);
/* Register (cc->org, kind, value) for cc unless cc already holds a key with that hash or is
 * full. 1 if added, 0 if already known, -ENOSPC (cc full), -EINVAL, -ENOMEM. Takes the lock. */
int rg_coa_registry_add(struct rg_coa_registry *r, struct rg_coa_conn *cc,
                        enum rg_coa_key_kind kind, const void *value, size_t len);
/* Report every later change to fn (the cluster's publishing, wired by coa_listen.c; NULL
 * stops). fn is called from any thread, after the lock for an addition and under it for a
 * removal: it must not block or call the registry. Takes the lock. */
void rg_coa_registry_watch(struct rg_coa_registry *r, rg_coa_key_fn fn, void *arg);
/* Call fn (added = true) for every key (the cluster's refresh), under the lock: fn must not
 * block. */
void rg_coa_registry_each(struct rg_coa_registry *r, rg_coa_key_fn fn, void *arg);
/* Remove every key of cc. Takes the lock. */
void rg_coa_registry_remove_conn(struct rg_coa_registry *r, struct rg_coa_conn *cc);
/* The connections of org that registered every one of ids[0..nids) (RFC 5176 §3: the NAS
 * is identified by all the identification attributes the request carries), each once.
 * Returns how many were written (up to max); 0 when nids is 0. Takes the lock. Looks only at
 * the connections holding the identity fewest connections hold. */
size_t rg_coa_registry_match(struct rg_coa_registry *r, const char *org,
                             const struct rg_coa_ident *ids, size_t nids, struct rg_coa_target *out,
                             size_t max);
/* Which connection a CoA/Disconnect-Request (pkt, validated) from client cl goes to: the one
 * connection, among the orgs of cfg that cl may reach and that have coa = true, carrying
 * every NAS identification attribute of the request. 1 routed (*t filled), 0 not. nas
 * describes the request's identification attributes (escaped), why says why it was not
 * routed: no identification attribute, no connected NAS, ambiguous (several connections
 * match: their addresses and orgs), or, for the operator only, that a NAS of an org cl may
 * not reach (or with coa = false) matches. The DAC gets the same NAK 502 whatever the reason,
 * so it learns nothing of other tenants' NASes. */
int rg_coa_route(struct rg_coa_registry *r, const struct rg_config *cfg,
                 const struct rg_coa_client *cl, const uint8_t *pkt, struct rg_coa_target *t,
                 char *nas, size_t naslen, char *why, size_t whylen);
/* The key hash the per-connection cache compares (FNV-1a over org, kind and value). */
uint64_t rg_coa_key_hash(const char *org, enum rg_coa_key_kind kind, const void *value, size_t len);

static inline bool rg_coa_is_reply(uint8_t code)
{
    return code == RG_RADIUS_DISCONNECT_ACK || code == RG_RADIUS_DISCONNECT_NAK ||
           code == RG_RADIUS_COA_ACK || code == RG_RADIUS_COA_NAK;
}

/* ---- main thread ---- */

/* Listen when cfg->coa.enabled; the workers that called rg_coa_worker_init receive the
 * requests routed to their connections. 0 or negative. */
int rg_coa_start(uv_loop_t *loop, struct rg_config *cfg);
/* New config: the socket is recreated only if the address or port changed. */
int rg_coa_reload(struct rg_config *cfg);
/* Stop listening (graceful stop). */
void rg_coa_stop(void);
/* After the workers are joined: free the registry and the config reference. */
void rg_coa_shutdown(void);
/* CoA counters (all threads add to one block). */
const struct rg_stats *rg_coa_stats(void);

/* ---- worker thread ---- */

/* A worker's CoA state on its loop (called from the main thread before the worker's thread
 * runs): the queue the listener fills for worker index and its timeouts. The worker holds
 * the result and calls down with it; coa knows nothing of the worker. NULL: no memory (the
 * worker's connections then take no CoA). */
struct rg_coa_worker *rg_coa_worker_init(uv_loop_t *loop, unsigned index);
/* Stop taking requests (queued ones are dropped) and close the handles. NULL is fine. */
void rg_coa_worker_close(struct rg_coa_worker *cw);
/* After the worker's loop finished. NULL is fine. */
void rg_coa_worker_free(struct rg_coa_worker *cw);

/* Calls from conn.c, which owns the connection. A connection of the worker whose CoA state
 * is cw opened: its origin o (described, kept current by conn.c, valid until
 * rg_coa_conn_closed) is how CoA reaches it. NULL when it cannot take CoA (cw NULL, no
 * memory). */
struct rg_coa_conn *rg_coa_conn_open(struct rg_coa_worker *cw, struct rg_origin *o);
void rg_coa_conn_closed(struct rg_coa_conn *cc); /* NULL is fine */
/* An authenticated Access/Accounting-Request from the NAS: learn its identities. */
void rg_coa_learn(struct rg_coa_conn *cc, const uint8_t *pkt);
/* An ACK/NAK from the NAS on the connection whose origin is o (cc: its CoA state, or NULL):
 * 0 (relayed or discarded), -EBADMSG (failed authentication: close the connection, RFC 6613
 * §2.6.4). */
int rg_coa_on_reply(struct rg_coa_conn *cc, const struct rg_origin *o, const uint8_t *pkt,
                    size_t len);

#endif
