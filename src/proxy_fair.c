/* Fair shares of the backends between a worker's connections (proxy_fair.h): the latency
 * of the replies judged once per interval against a baseline, the budget of requests held
 * in flight that follows from it (twice what is held while not congested, AIMD while
 * congested), and each connection's share of that budget. Pure:
 * proxy.c feeds it the counts and the reply latencies, and acts on its answers. */
#include "radsecgw/proxy_fair.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

void rg_proxy_fair_init(struct rg_proxy_fair *f)
{
    *f = (struct rg_proxy_fair){
        .budget = RG_PROXY_FAIR_BUDGET_MIN,
        .interval_min_ms = UINT64_MAX,
        .window_min_ms = UINT64_MAX,
        .prev_window_min_ms = UINT64_MAX,
    };
}

void rg_proxy_fair_inherit(struct rg_proxy_fair *f, const struct rg_proxy_fair *old)
{
    rg_proxy_fair_init(f);
    f->budget = old->budget;
    f->limiting = old->limiting;
    f->window_min_ms = old->window_min_ms;
    f->prev_window_min_ms = old->prev_window_min_ms;
    f->congested = f->reported_congested = old->congested;
    f->reported_limiting = old->limiting;
}

uint64_t rg_proxy_fair_baseline(const struct rg_proxy_fair *f)
{
    return min_u64(f->window_min_ms, f->prev_window_min_ms);
}

/* Every budget lies in [RG_PROXY_FAIR_BUDGET_MIN, UINT32_MAX / 2]: at least the floor, and
 * room to grow by an eighth without overflowing. */
static uint32_t clamp_budget(uint64_t b)
{
    b = min_u64(b, UINT32_MAX / 2);
    return b < RG_PROXY_FAIR_BUDGET_MIN ? RG_PROXY_FAIR_BUDGET_MIN : (uint32_t)b;
}

/* Not congested: twice what was held (at most double per interval while it is used up and
 * the replies keep up, so a flood from idle is judged before it queues much more than the
 * floor), falling by a quarter per interval towards that once the connections ask for less. */
static void free_budget(struct rg_proxy_fair *f)
{
    uint64_t b = f->budget - f->budget / 4;
    b = b > 2 * (uint64_t)f->max_held ? b : 2 * (uint64_t)f->max_held;
    f->budget = clamp_budget(b);
}

/* The end of an interval whose lowest latency was m and that had f->replies replies. A
 * standing queue at a server shows in the lowest latency: every reply waited in it. */
static bool judge(struct rg_proxy_fair *f, uint64_t now_ms, uint64_t m)
{
    uint32_t before = f->budget;
    uint64_t base = rg_proxy_fair_baseline(f);
    f->judged_ms = m;
    bool congested = base != UINT64_MAX && m > base + RG_PROXY_FAIR_TARGET_MS;
    uint64_t len = now_ms > f->interval_start_ms ? now_ms - f->interval_start_ms : 1;
    if (congested) {
        f->calm = 0;
        f->congested++;
        f->limiting = true;
        /* What the servers answered in the interval, queued for no longer than the target
         * above the baseline (Little's law), and at least a quarter less than was held: the
         * queue is gone within an interval or two, not after a slow descent. */
        uint64_t bdp = (uint64_t)f->replies * (base + RG_PROXY_FAIR_TARGET_MS) / len;
        uint64_t b = min_u64(f->budget, f->max_held);
        b -= b / 4;
        f->budget = clamp_budget(min_u64(b, bdp));
    } else if (f->limiting) {
        f->calm++;
        if (f->calm >= RG_PROXY_FAIR_LIFT_AFTER && f->max_held < f->budget / 2)
            f->limiting = false; /* the connections no longer ask for it */
        else if (f->budget < UINT32_MAX / 2)
            f->budget += f->budget / 8; /* probe for room: about twice as much per 0.6 s */
    } else if (base == UINT64_MAX || f->interval_last_ms <= base + RG_PROXY_FAIR_TARGET_MS) {
        free_budget(f);
    }
    if (!congested && base != UINT64_MAX) {
        /* Whatever the lowest latency says, no more in flight than the servers answer in
         * twice (baseline + target): while the replies keep up that is at least twice what is
         * held (Little's law), but a queue that comes and goes within an interval (bursts of
         * many connections let go at once, a server that stalls now and then) is not let
         * grow with it, and a quiet AP's request never waits behind more than that. */
        uint64_t cap = 2 * (uint64_t)f->replies * (base + RG_PROXY_FAIR_TARGET_MS) / len;
        cap = cap < RG_PROXY_FAIR_BUDGET_MIN ? RG_PROXY_FAIR_BUDGET_MIN : cap;
        if (f->budget > cap)
            f->budget = (uint32_t)cap;
    }
    /* else: not congested, but the interval's last replies came late: a queue is building
     * (a flood that started within it), so no more room until the next interval says. */
    /* The baseline: while congested the queue the budget leaves would become the new
     * baseline, so the windows only turn while not, or when a whole window was congested
     * with the budget at its floor (the latency is not this worker's doing). As the budget
     * starts at its floor, a worker started in the middle of a flood learns the latency of
     * at most the floor in flight, not of the queue the flood would build. */
    if (!(congested && before == RG_PROXY_FAIR_BUDGET_MIN))
        f->window_stuck = false;
    f->window_min_ms = min_u64(f->window_min_ms, m);
    if (now_ms >= f->window_end_ms) {
        if (!f->limiting || f->window_stuck) {
            f->prev_window_min_ms = f->window_min_ms;
            f->window_min_ms = UINT64_MAX;
        }
        f->window_end_ms = now_ms + RG_PROXY_FAIR_WINDOW_MS;
        f->window_stuck = true;
    }
    return f->budget != before;
}

bool rg_proxy_fair_tick(struct rg_proxy_fair *f, uint64_t now_ms)
{
    if (f->interval_end_ms == 0) {
        f->interval_start_ms = now_ms;
        f->interval_end_ms = now_ms + RG_PROXY_FAIR_INTERVAL_MS;
        f->window_end_ms = now_ms + RG_PROXY_FAIR_WINDOW_MS;
        f->max_held = f->held;
        return false;
    }
    if (now_ms < f->interval_end_ms)
        return false;
    uint32_t before = f->budget;
    if (f->replies)
        judge(f, now_ms, f->interval_min_ms);
    else if (!f->limiting)
        free_budget(f); /* a slow server: the budget follows what is held, no later */
    if (!f->limiting && now_ms >= f->interval_end_ms + RG_PROXY_FAIR_INTERVAL_MS) {
        /* A whole interval went by with nothing asked (idle): what is held now, so a flood
         * that starts from idle starts from the floor. */
        f->budget = clamp_budget(2 * (uint64_t)f->held);
    }
    bool changed = f->budget != before;
    f->interval_min_ms = UINT64_MAX;
    f->replies = 0;
    f->interval_start_ms = now_ms;
    f->interval_end_ms = now_ms + RG_PROXY_FAIR_INTERVAL_MS;
    f->max_held = f->held;
    return changed;
}

bool rg_proxy_fair_sample(struct rg_proxy_fair *f, uint64_t now_ms, uint64_t latency_ms)
{
    bool changed = rg_proxy_fair_tick(f, now_ms);
    f->replies++;
    f->interval_min_ms = min_u64(f->interval_min_ms, latency_ms);
    f->interval_last_ms = latency_ms;
    return changed;
}

uint32_t rg_proxy_fair_share(const struct rg_proxy_fair *f)
{
    uint32_t share = f->budget / (f->active ? f->active : 1);
    return share < RG_PROXY_FAIR_SHARE_MIN ? RG_PROXY_FAIR_SHARE_MIN : share;
}

bool rg_proxy_fair_may_add(const struct rg_proxy_fair *f, uint32_t held)
{
    return f->held < f->budget || held < rg_proxy_fair_share(f);
}

bool rg_proxy_fair_may_resume(const struct rg_proxy_fair *f, uint32_t held)
{
    uint32_t share = rg_proxy_fair_share(f);
    return f->held < f->budget || held + share / 4 < share;
}

void rg_proxy_fair_held(struct rg_proxy_fair *f, uint32_t before, uint32_t after)
{
    if (before == after)
        return;
    f->held += after - before; /* unsigned: wraps back for a decrease */
    if (before == 0)
        f->active++;
    else if (after == 0)
        f->active--;
    if (f->held > f->max_held)
        f->max_held = f->held;
}
