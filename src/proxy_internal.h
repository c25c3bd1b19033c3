/* What proxy.c (requests), proxy_reply.c (replies) and proxy_origin.c (each origin's
 * requests) share inside the state table. */
#ifndef RADSECGW_PROXY_INTERNAL_H
#define RADSECGW_PROXY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "radsecgw/proxy.h"

/* How often each operator warning about one server's replies may repeat. */
#define RG_PROXY_WARN_HOURLY_MS (3600u * 1000u)
#define RG_PROXY_WARN_MINUTE_MS (60u * 1000u)

/* The table's clock (rg_proxy_ops: the real one or a test's). */
static inline uint64_t rg_proxy_now(const struct rg_proxy *px)
{
    return px->ops->now_ms(px->ops_arg);
}

/* Every request that leaves the table with an outcome: counted for /metrics, and logged with
 * log { requests = true }. timed: a reply arrived, its latency goes into the histogram. */
void rg_proxy_log_request(struct rg_proxy *px, const struct rg_request *req, const char *result,
                          const uint8_t *pkt, bool timed);
/* A request the gateway gives up on: a RADIUS/1.1 client is told (Protocol-Error). */
void rg_proxy_give_up11(struct rg_proxy *px, struct rg_request *req, uint32_t cause,
                        const char *message);
/* The request leaves the table: IDs and slot released, paused connections woken. */
void rg_proxy_finish(struct rg_proxy *px, struct rg_request *req);
/* A verified reply to req arrived: its latency judges the backends' congestion (the fair
 * shares, proxy_fair.h). */
void rg_proxy_fair_reply(struct rg_proxy *px, const struct rg_request *req);
/* srv's shares may just have been judged: count and log what changed of its congestion
 * since the last call (latency_ms: the lowest of the interval judged). */
void rg_proxy_fair_judged(struct rg_proxy *px, struct rg_backend_server *srv);
/* o is held back at srv's share until it may resume (rg_proxy_share_tick, or a release of
 * one of its requests there). */
void rg_proxy_share_wait(struct rg_proxy *px, struct rg_origin *o,
                         const struct rg_backend_server *srv);

/* proxy_origin.c: an origin's requests. Its in-flight table, had from the pool at its first
 * request (0, -ENOMEM); req claims a free slot / gives slot back if it still holds it; the
 * RADIUS/1.1 request holding token (or NULL) and a free slot for token (its own, else the
 * next free one; -1 when 256 are in flight); an abandoned request that still holds its
 * backend ID joins / leaves the origin's list (leaving tells a waiting origin once half of
 * RG_PROXY_ABANDONED_MAX are gone: o->ops->drained). req->server is set before a claim or
 * link. */
int rg_proxy_inflight_table(struct rg_proxy *px, struct rg_origin *o);
void rg_proxy_inflight_claim(struct rg_origin *o, uint8_t slot, struct rg_request *req);
void rg_proxy_inflight_release(struct rg_origin *o, uint8_t slot, struct rg_request *req);
struct rg_request *rg_proxy_find_token(const struct rg_origin *o, uint32_t token);
int rg_proxy_token_slot(const struct rg_origin *o, uint32_t token);
void rg_proxy_abandoned_link(struct rg_origin *o, struct rg_request *req);
void rg_proxy_abandoned_unlink(struct rg_request *req);
/* req failed over to another server (req->server): its origin's count moves with it. */
void rg_proxy_held_moved(struct rg_request *req);

#endif
