/* The state table's bookkeeping of each origin (origin.h): its requests in flight by AP ID
 * (RADIUS/1.1: by Token), in a 256-slot table from the table's pool while any is in flight,
 * the requests it abandoned by reusing their ID that still hold backend IDs, and what it
 * holds at each backend server for its fair share there (proxy_fair.h): every change of
 * those counts is reported here, once, to the server's shares. The origin only reads how
 * many are in flight; what goes in and out is proxy.c's decision. */
#include <string.h>

#include "radsecgw/proxy.h"
#include "proxy_internal.h"

/* Whether req sits in its origin's table away from its Token's own slot (RADIUS/1.1). */
static bool displaced(const struct rg_request *req, uint8_t slot)
{
    return req->v11 && slot != (uint8_t)req->token;
}

uint32_t rg_proxy_held_at(const struct rg_origin *o, const struct rg_backend_server *srv)
{
    for (unsigned i = 0; i < RG_ORIGIN_SERVERS; i++)
        if (o->held[i].srv == srv)
            return o->held[i].n;
    return 0;
}

/* req (at req->server) is held by o from now on. */
static void held_add(struct rg_origin *o, struct rg_request *req)
{
    struct rg_backend_server *srv = req->server;
    if (!srv || req->held_at)
        return;
    unsigned i, free = RG_ORIGIN_SERVERS;
    for (i = 0; i < RG_ORIGIN_SERVERS && o->held[i].srv != srv; i++)
        if (!o->held[i].srv && free == RG_ORIGIN_SERVERS)
            free = i;
    if (i == RG_ORIGIN_SERVERS)
        i = free;
    req->held_at = srv;
    if (i == RG_ORIGIN_SERVERS) {
        /* At more servers at once than o counts: held at srv, not as a connection. */
        req->held_slot = 0;
        rg_proxy_fair_held(&srv->fair, 1, 2);
        return;
    }
    struct rg_origin_held *h = &o->held[i];
    h->srv = srv;
    req->held_slot = (uint8_t)(i + 1);
    rg_proxy_fair_held(&srv->fair, h->n, h->n + 1);
    h->n++;
}

/* req is no longer held by o; o, held back at that server's share, may be read again. */
static void held_drop(struct rg_origin *o, struct rg_request *req)
{
    struct rg_backend_server *srv = req->held_at;
    if (!srv)
        return;
    req->held_at = NULL;
    if (req->held_slot) {
        struct rg_origin_held *h = &o->held[req->held_slot - 1];
        rg_proxy_fair_held(&srv->fair, h->n, h->n - 1);
        if (--h->n == 0)
            h->srv = NULL;
        req->held_slot = 0;
    } else {
        rg_proxy_fair_held(&srv->fair, 2, 1);
    }
    /* proxy_fair.h: with some room, not for every single reply. */
    if (o->share_wait == srv && rg_proxy_fair_may_resume(&srv->fair, rg_proxy_held_at(o, srv))) {
        o->share_wait = NULL;
        o->ops->drained(o->arg);
    }
}

void rg_proxy_held_moved(struct rg_request *req)
{
    struct rg_origin *o = req->origin;
    if (!o || !req->held_at || req->held_at == req->server)
        return;
    held_drop(o, req);
    held_add(o, req);
}

int rg_proxy_inflight_table(struct rg_proxy *px, struct rg_origin *o)
{
    if (o->inflight)
        return 0;
    if (!(o->inflight = rg_buf_pool_get(&px->inflight_pool)))
        return -ENOMEM;
    memset(o->inflight, 0, px->inflight_pool.size);
    return 0;
}

void rg_proxy_inflight_claim(struct rg_origin *o, uint8_t slot, struct rg_request *req)
{
    o->inflight[slot] = req;
    o->ninflight++;
    if (displaced(req, slot))
        o->displaced++;
    held_add(o, req);
}

void rg_proxy_inflight_release(struct rg_origin *o, uint8_t slot, struct rg_request *req)
{
    if (o->inflight[slot] != req)
        return;
    o->inflight[slot] = NULL;
    o->ninflight--;
    if (displaced(req, slot))
        o->displaced--;
    held_drop(o, req);
}

struct rg_request *rg_proxy_find_token(const struct rg_origin *o, uint32_t token)
{
    struct rg_request *r = o->inflight[(uint8_t)token];
    if (r && r->v11 && r->token == token)
        return r;
    for (unsigned i = 0; o->displaced && i < 256; i++) {
        r = o->inflight[i];
        if (r && r->v11 && r->token == token)
            return r;
    }
    return NULL;
}

int rg_proxy_token_slot(const struct rg_origin *o, uint32_t token)
{
    for (unsigned i = 0; i < 256; i++) {
        uint8_t slot = (uint8_t)(token + i);
        if (!o->inflight[slot])
            return slot;
    }
    return -1;
}

void rg_proxy_abandoned_link(struct rg_origin *o, struct rg_request *req)
{
    req->abandoned_by = o;
    req->ab_prev = NULL;
    req->ab_next = o->abandoned;
    if (o->abandoned)
        o->abandoned->ab_prev = req;
    o->abandoned = req;
    o->nabandoned++;
    held_add(o, req);
}

void rg_proxy_abandoned_unlink(struct rg_request *req)
{
    struct rg_origin *o = req->abandoned_by;
    if (!o)
        return;
    if (req->ab_prev)
        req->ab_prev->ab_next = req->ab_next;
    else
        o->abandoned = req->ab_next;
    if (req->ab_next)
        req->ab_next->ab_prev = req->ab_prev;
    req->abandoned_by = NULL;
    req->ab_prev = req->ab_next = NULL;
    o->nabandoned--;
    held_drop(o, req);
    if (o->abandon_wait && o->nabandoned <= RG_PROXY_ABANDONED_MAX / 2) {
        o->abandon_wait = false;
        o->ops->drained(o->arg);
    }
}

static void on_share_timer(uv_timer_t *t)
{
    rg_proxy_share_tick(t->data);
}

void rg_proxy_share_wait(struct rg_proxy *px, struct rg_origin *o,
                         const struct rg_backend_server *srv)
{
    o->share_wait = srv;
    if (!o->share_listed) {
        o->share_listed = true;
        o->share_next = px->share_waiting;
        px->share_waiting = o;
    }
    if (px->share_timer.loop && !uv_is_active((uv_handle_t *)&px->share_timer))
        uv_timer_start(&px->share_timer, on_share_timer, RG_PROXY_FAIR_INTERVAL_MS,
                       RG_PROXY_FAIR_INTERVAL_MS);
}

void rg_proxy_share_tick(struct rg_proxy *px)
{
    uint64_t now = rg_proxy_now(px);
    struct rg_origin **pp = &px->share_waiting;
    while (*pp) {
        struct rg_origin *o = *pp;
        struct rg_backend_server *srv = (struct rg_backend_server *)o->share_wait;
        if (srv) {
            rg_proxy_fair_tick(&srv->fair, now);
            rg_proxy_fair_judged(px, srv);
            if (!rg_proxy_fair_may_resume(&srv->fair, rg_proxy_held_at(o, srv))) {
                pp = &o->share_next;
                continue;
            }
            o->share_wait = NULL;
            o->ops->drained(o->arg);
        }
        *pp = o->share_next; /* no longer waiting: off the list */
        o->share_listed = false;
        o->share_next = NULL;
    }
    if (!px->share_waiting && px->share_timer.loop)
        uv_timer_stop(&px->share_timer);
}

void rg_proxy_origin_closed(struct rg_proxy *px, struct rg_origin *o)
{
    for (struct rg_origin **pp = &px->share_waiting; o->share_listed && *pp;
         pp = &(*pp)->share_next) {
        if (*pp == o) {
            *pp = o->share_next;
            o->share_listed = false;
            o->share_next = NULL;
            break;
        }
    }
    /* radiusdtls-bis §6.2.2: nothing more is sent for a closed connection; the requests
     * keep their IDs until their deadlines so late replies are recognised and dropped. */
    o->share_wait = NULL;
    for (unsigned i = 0; i < 256 && o->ninflight; i++) {
        struct rg_request *req = o->inflight[i];
        if (!req)
            continue;
        req->origin = NULL;
        rg_proxy_inflight_release(o, (uint8_t)i, req);
    }
    while (o->abandoned) {
        struct rg_request *req = o->abandoned;
        o->abandoned = req->ab_next;
        req->abandoned_by = NULL;
        req->ab_prev = req->ab_next = NULL;
        held_drop(o, req);
    }
    o->nabandoned = 0;
    o->abandon_wait = false;
    rg_buf_pool_put(&px->inflight_pool, o->inflight);
    o->inflight = NULL;
}

void rg_proxy_origin_trim(struct rg_proxy *px, struct rg_origin *o)
{
    if (o->ninflight == 0) {
        rg_buf_pool_put(&px->inflight_pool, o->inflight);
        o->inflight = NULL;
    }
}
