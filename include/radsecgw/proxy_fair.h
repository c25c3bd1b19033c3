/* Fair shares of the backends between the connections of one worker: the requests the
 * worker's connections hold in flight are bounded by a budget, and no connection may hold
 * more than its share of it (budget / connections with requests in flight), so a few peers
 * that pipeline without end cannot queue thousands of requests at a server in front of
 * another AP's. While the replies come back at their baseline the budget is generous (twice
 * what was held in the last interval, at least the floor) and may at most double per
 * interval, so a flood that starts from idle queues at most the floor before it is judged;
 * while they come back later than the baseline (a standing queue at a server) it shrinks
 * until the queue is gone (AIMD). Pure: no sockets, the clock is the caller's. */
#ifndef RADSECGW_PROXY_FAIR_H
#define RADSECGW_PROXY_FAIR_H

#include <stdbool.h>
#include <stdint.h>

/* A share without a bound (rg_proxy_fair_share, never the budget). */
#define RG_PROXY_FAIR_UNLIMITED UINT32_MAX
/* How often the latency of the replies is judged. */
#define RG_PROXY_FAIR_INTERVAL_MS 100u
/* Queueing a reply may show above the baseline before the backend counts as congested. */
#define RG_PROXY_FAIR_TARGET_MS 5u
/* The baseline is the lowest reply latency seen over the last two windows of this length. */
#define RG_PROXY_FAIR_WINDOW_MS 10000u
/* The budget never falls below this many requests (one backend socket's ID space; it is
 * also the budget at start and after idle), and a connection's share below this many. */
#define RG_PROXY_FAIR_BUDGET_MIN 256u
#define RG_PROXY_FAIR_SHARE_MIN  8u
/* Uncongested intervals in a row, with the budget not used up, before the congestion ends
 * (the budget follows what is held again). */
#define RG_PROXY_FAIR_LIFT_AFTER 10u

struct rg_proxy_fair {
    uint32_t budget;   /* requests the connections may hold together */
    bool limiting;     /* congested: the budget is set by the AIMD, not by what is held */
    uint32_t held;     /* requests connections hold (in flight + abandoned with a backend ID) */
    uint32_t active;   /* connections holding at least one */
    uint32_t max_held; /* the most held in the current interval */
    uint32_t replies;  /* replies in the current interval */
    uint64_t interval_start_ms, interval_end_ms;
    uint64_t interval_min_ms;  /* lowest latency of the interval's replies; UINT64_MAX: none */
    uint64_t interval_last_ms; /* latency of the interval's latest reply */
    uint64_t window_end_ms;
    uint64_t window_min_ms, prev_window_min_ms; /* UINT64_MAX: none yet */
    bool window_stuck;  /* every interval of this window congested with the budget at its floor */
    unsigned calm;      /* uncongested intervals in a row */
    uint64_t congested; /* intervals judged congested, since start */
    uint64_t judged_ms; /* the lowest latency of the last interval judged */
    /* The caller's: what it last counted and logged of congested and limiting. */
    uint64_t reported_congested;
    bool reported_limiting;
};

void rg_proxy_fair_init(struct rg_proxy_fair *f);

/* A reload's new copy of a server: what was learned of it (baseline, budget, congestion)
 * carries over; its counts start at zero (what is held stays counted at the old copy). */
void rg_proxy_fair_inherit(struct rg_proxy_fair *f, const struct rg_proxy_fair *old);

/* A backend reply arrived latency_ms after its request was sent. True when the interval
 * that ended before it (rg_proxy_fair_tick) changed the budget. */
bool rg_proxy_fair_sample(struct rg_proxy_fair *f, uint64_t now_ms, uint64_t latency_ms);

/* When an interval has ended by now_ms, the budget is set from its replies' lowest latency
 * (an interval without replies judges nothing). True when that changed the budget. */
bool rg_proxy_fair_tick(struct rg_proxy_fair *f, uint64_t now_ms);

/* The lowest reply latency of the last windows (UINT64_MAX: none yet). */
uint64_t rg_proxy_fair_baseline(const struct rg_proxy_fair *f);

/* A connection's share of the budget. */
uint32_t rg_proxy_fair_share(const struct rg_proxy_fair *f);

/* May a connection holding held requests put one more in flight? No only while the
 * connections together are at the budget and this one holds its share. */
bool rg_proxy_fair_may_add(const struct rg_proxy_fair *f, uint32_t held);

/* A connection held back by its share holding held requests: may it be read again (with
 * some room, so that it is not woken for every single reply)? */
bool rg_proxy_fair_may_resume(const struct rg_proxy_fair *f, uint32_t held);

/* A connection's count went from before to after: the totals follow. */
void rg_proxy_fair_held(struct rg_proxy_fair *f, uint32_t before, uint32_t after);

#endif
