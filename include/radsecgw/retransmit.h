/* RFC 5080 §2.2.1 retransmission schedule (retransmit.c). */
#ifndef RADSECGW_RETRANSMIT_H
#define RADSECGW_RETRANSMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rg_pool;

/* RFC 5080 §2.2.1 parameters, in milliseconds. */
struct rg_rt_params {
    uint64_t irt; /* initial retransmission time (pool timeout) */
    uint64_t mrt; /* maximum retransmission time */
    uint64_t mrd; /* maximum retransmission duration */
    unsigned mrc; /* maximum retransmission count (pool retries) */
};

void rg_rt_params_from_pool(const struct rg_pool *pool, struct rg_rt_params *rt);

/* Next RT: the first is IRT + RAND*IRT, each next 2*RT + RAND*RT, capped at MRT + RAND*MRT,
 * RAND uniform in [-0.1, +0.1]; rand_permille is RAND*1000 (the caller supplies it so
 * tests are deterministic). prev_rt 0 means the first. */
uint64_t rg_rt_next(const struct rg_rt_params *p, uint64_t prev_rt, int rand_permille);

/* At an RT expiry, after `transmissions` sends since first_ms: may the request be sent
 * again? Not once MRC retransmissions were made (MRC = pool retries, counted as
 * retransmissions after the first transmission; 0 = none) or MRD has elapsed. */
bool rg_rt_may_retransmit(const struct rg_rt_params *p, unsigned transmissions, uint64_t first_ms,
                          uint64_t now);

/* When to look again after a transmission at now with interval rt: now + rt, but never past
 * first_ms + MRD, where the exchange with this server fails. */
uint64_t rg_rt_deadline(const struct rg_rt_params *p, uint64_t first_ms, uint64_t now, uint64_t rt);

#endif
