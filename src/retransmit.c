/* RFC 5080 §2.2.1 retransmission schedule for the UDP side: pure arithmetic over the pool's
 * timeout and retries (IRT, MRC) and fixed MRT/MRD; the caller supplies RAND. */
#include "radsecgw/config.h"
#include "radsecgw/retransmit.h"

/* RFC 5080 §2.2.1: MRT and MRD are not configured per pool; these bound the schedule. */
#define RG_RT_MRT_MS 16000
#define RG_RT_MRD_MS 30000

void rg_rt_params_from_pool(const struct rg_pool *pool, struct rg_rt_params *rt)
{
    rt->irt = (uint64_t)pool->timeout_s * 1000u;
    rt->mrc = pool->retries;
    rt->mrt = RG_RT_MRT_MS;
    rt->mrd = RG_RT_MRD_MS;
    if (rt->mrt < rt->irt)
        rt->mrt = rt->irt;
}

uint64_t rg_rt_next(const struct rg_rt_params *p, uint64_t prev_rt, int rand_permille)
{
    int64_t rt;
    if (prev_rt == 0)
        rt = (int64_t)p->irt + (int64_t)p->irt * rand_permille / 1000;
    else
        rt = 2 * (int64_t)prev_rt + (int64_t)prev_rt * rand_permille / 1000;
    if (p->mrt && rt > (int64_t)p->mrt)
        rt = (int64_t)p->mrt + (int64_t)p->mrt * rand_permille / 1000;
    return rt < 1 ? 1 : (uint64_t)rt;
}

bool rg_rt_may_retransmit(const struct rg_rt_params *p, unsigned transmissions, uint64_t first_ms,
                          uint64_t now)
{
    /* RFC 5080 §2.2.1: the exchange fails after MRC retransmissions or once MRD seconds
     * have elapsed since the first transmission, whichever comes first. The RFC lets MRC 0
     * mean "bounded by MRD only"; here MRC is the pool's `retries`, and retries = 0 means
     * what an operator writes: no retransmission. */
    if (p->mrd && now - first_ms >= p->mrd)
        return false;
    return transmissions <= p->mrc;
}

uint64_t rg_rt_deadline(const struct rg_rt_params *p, uint64_t first_ms, uint64_t now, uint64_t rt)
{
    uint64_t at = now + rt;
    if (p->mrd && at > first_ms + p->mrd)
        at = first_ms + p->mrd;
    return at;
}
