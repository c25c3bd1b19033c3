/* The state table's bookkeeping of each origin (origin.h): its requests in flight by AP ID
 * (RADIUS/1.1: by Token), in a 256-slot table from the table's pool while any is in flight,
 * and the requests it abandoned by reusing their ID that still hold backend IDs. The origin
 * only reads how many are in flight; what goes in and out is proxy.c's decision. */
#include <string.h>

#include "radsecgw/proxy.h"
#include "proxy_internal.h"

/* Whether req sits in its origin's table away from its Token's own slot (RADIUS/1.1). */
static bool displaced(const struct rg_request *req, uint8_t slot)
{
    return req->v11 && slot != (uint8_t)req->token;
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
}

void rg_proxy_inflight_release(struct rg_origin *o, uint8_t slot, const struct rg_request *req)
{
    if (o->inflight[slot] != req)
        return;
    o->inflight[slot] = NULL;
    o->ninflight--;
    if (displaced(req, slot))
        o->displaced--;
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
    if (o->abandon_wait && o->nabandoned <= RG_PROXY_ABANDONED_MAX / 2) {
        o->abandon_wait = false;
        o->ops->drained(o->arg);
    }
}

void rg_proxy_origin_closed(struct rg_proxy *px, struct rg_origin *o)
{
    /* radiusdtls-bis §6.2.2: nothing more is sent for a closed connection; the requests
     * keep their IDs until their deadlines so late replies are recognised and dropped. */
    rg_proxy_fair_held(&px->fair, o->ninflight + o->nabandoned, 0);
    o->share_wait = false;
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
