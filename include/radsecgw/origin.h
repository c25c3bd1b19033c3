/* Where a request came from, as the state table sees it (like unbound's struct pending
 * carries cb/cb_arg): the callbacks that answer it, the secret its packets are signed with,
 * its org (routing), protocol, config snapshot (log settings) and log identity, and the
 * table's bookkeeping of its requests in flight. An AP connection (conn.c) embeds one and
 * keeps the description current; the state table (proxy.c) owns the bookkeeping. Knows
 * nothing of connections, TLS or backends. */
#ifndef RADSECGW_ORIGIN_H
#define RADSECGW_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "radsecgw/common.h"

struct rg_backend_server;
struct rg_config;
struct rg_org;
struct rg_request;

/* Backend servers an origin's requests are counted at at once, each for its share of that
 * server (proxy_fair.h); requests at more servers than this count at their server but not
 * as a connection of their own there. */
#define RG_ORIGIN_SERVERS 8
struct rg_origin_held {
    const struct rg_backend_server *srv; /* not owned; NULL: a free entry */
    uint32_t n;                          /* requests held at srv (in flight + abandoned) */
};

/* How the table reports to the origin; arg is rg_origin.arg. */
struct rg_origin_ops {
    /* Send a whole RADIUS packet (a reply) to the origin: false if it is gone. */
    bool (*send)(void *arg, const uint8_t *pkt, size_t len);
    /* pkt passed authentication, before it is answered or forwarded (NULL: nothing to do;
     * the AP connection lets reverse CoA learn the NAS identities it claims). */
    void (*verified)(void *arg, const uint8_t *pkt);
    /* After rg_proxy_on_request returned -EBUSY: the requests it abandoned drained to half
     * of RG_PROXY_ABANDONED_MAX; or -EDQUOT: it holds less than its share of congested
     * backends (proxy_fair.h). It may be read again (called from inside the table). */
    void (*drained)(void *arg);
};

struct rg_origin {
    /* Set by the origin (rg_origin_describe) and kept current by it: a reload that it
     * adopts describes it again before the old snapshot can be freed, so the table never
     * reads a freed secret. */
    const struct rg_origin_ops *ops; /* not owned (static) */
    void *arg;                       /* the origin's (an AP connection) */
    rg_secret secret;                /* the RadSec secret: bytes in cfg, by value */
    const struct rg_org *org;        /* not owned, in cfg: routing, org= of log lines */
    const struct rg_config *cfg;     /* not owned: the snapshot the origin holds a reference to */
    uint8_t proto;                   /* enum rg_radius_proto */
    /* Log identity (RG_ORIGIN_LOG_FMT): not owned, live as long as the origin. */
    uint64_t id;
    const char *addr_text;
    const char *cn;
    /* The state table's, never written by the origin: its requests in flight, by AP ID
     * (RADIUS/1.1: by Token, at slot token & 255 or the next free one), 256 slots from the
     * table's pool while any is in flight (requests not owned); how many of them are not at
     * their Token's own slot; the requests it abandoned by reusing their ID (RFC 5080
     * §2.2.2) that still hold a backend ID (not owned), and whether it waits for them; what
     * it holds at each server (both kinds), and the server at whose share it waits to be
     * read again (proxy_fair.h; NULL: none). */
    struct rg_request **inflight;
    unsigned ninflight;
    unsigned displaced;
    struct rg_request *abandoned;
    unsigned nabandoned;
    bool abandon_wait;
    struct rg_origin_held held[RG_ORIGIN_SERVERS];
    const struct rg_backend_server *share_wait;
    bool share_listed; /* in the table's list of origins held back at a share */
    bool handed_again; /* the next request is one refused with -EBUSY/-EDQUOT: counted then */
    struct rg_origin *share_next; /* that list */
};

/* The fields every log line about an origin carries, after event=NAME: the same as
 * RG_CONN_LOG_FMT (conn.h), from the origin. */
#define RG_ORIGIN_LOG_FMT     "conn=%llu src=%s cn=\"%s\""
#define RG_ORIGIN_LOG_ARGS(o) (unsigned long long)(o)->id, (o)->addr_text, RG_LOG_ESC((o)->cn)

/* What the origin is now: its snapshot, org (whose secret signs its packets) and protocol.
 * Called when it opens and whenever it adopts another snapshot, before the old one is
 * released. */
static inline void rg_origin_describe(struct rg_origin *o, const struct rg_config *cfg,
                                      const struct rg_org *org, rg_secret secret, uint8_t proto)
{
    o->cfg = cfg;
    o->org = org;
    o->secret = secret;
    o->proto = proto;
}

/* Requests of this origin in flight (the idle timer and log lines ask). */
static inline unsigned rg_origin_inflight(const struct rg_origin *o)
{
    return o->ninflight;
}

#endif
