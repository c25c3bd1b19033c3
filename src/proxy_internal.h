/* What proxy.c (requests) and proxy_reply.c (replies) share inside the state table. */
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
void rg_proxy_give_up11(struct rg_request *req, uint32_t cause, const char *message);
/* The request leaves the table: IDs and slot released, paused connections woken. */
void rg_proxy_finish(struct rg_proxy *px, struct rg_request *req);
/* A verified reply to req arrived: its latency judges the backends' congestion (the fair
 * shares, proxy_fair.h). */
void rg_proxy_fair_reply(struct rg_proxy *px, const struct rg_request *req);

#endif
