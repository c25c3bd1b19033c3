/* Tests of src/proxy_fair.c: a generous budget (twice what is held) while replies come back
 * at their baseline, a flood from idle or at start bounded by the floor before it is judged,
 * a budget sized from what the servers answer once a queue stands, never above what they
 * answer in twice (baseline + target) even while the lowest latency sees no queue, the share
 * it leaves each connection (a light AP is never held back, a flooder is), and the budget
 * lifted once the connections stop asking for it. On a fake clock: times are arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "radsecgw/proxy_fair.h"

/* n replies of latency lat spread over one interval from *now; the clock moves on to the
 * interval's end, where it is judged. */
static void interval(struct rg_proxy_fair *f, uint64_t *now, unsigned n, uint64_t lat)
{
    rg_proxy_fair_tick(f, *now);
    for (unsigned i = 0; i < n; i++)
        rg_proxy_fair_sample(f, *now + i * RG_PROXY_FAIR_INTERVAL_MS / n, lat);
    *now += RG_PROXY_FAIR_INTERVAL_MS;
    rg_proxy_fair_tick(f, *now);
}

/* The replies of one interval from a server that answers what is held after lat ms (Little's
 * law: held / lat per ms). */
static unsigned answered(const struct rg_proxy_fair *f, uint64_t lat)
{
    return (unsigned)(f->held * RG_PROXY_FAIR_INTERVAL_MS / (lat ? lat : 1));
}

/* conns connections holding each requests. */
static void hold(struct rg_proxy_fair *f, unsigned conns, uint32_t each)
{
    for (unsigned i = 0; i < conns; i++)
        rg_proxy_fair_held(f, 0, each);
}

static void test_no_budget_at_baseline(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    hold(&f, 4, 256); /* a heavy but legitimate load: 1,024 in flight */
    uint64_t now = 1000;
    for (int i = 0; i < 50; i++) { /* 1-3 ms: jitter, no queue */
        uint64_t lat = 1 + (uint64_t)(i % 3);
        interval(&f, &now, answered(&f, lat), lat);
    }
    assert_int_equal(f.budget, 2 * 1024); /* twice what is held: room to grow */
    assert_false(f.limiting);
    assert_int_equal(f.congested, 0);
    assert_int_equal(rg_proxy_fair_baseline(&f), 1);
    assert_true(rg_proxy_fair_may_add(&f, 256));
    assert_int_equal(rg_proxy_fair_share(&f), 2 * 1024 / 4);
}

static void test_queue_sets_budget_and_shares(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    rg_proxy_fair_held(&f, 0, 2); /* the legitimate AP */
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 0);
    hold(&f, 20, 320); /* 20 flooders at 256 in flight + 64 abandoned each */
    assert_int_equal(f.active, 21);
    assert_int_equal(f.held, 6402);
    /* The server answers 6,000 a second, 45 ms late: a standing queue. */
    interval(&f, &now, 600, 45);
    assert_int_equal(f.congested, 1);
    /* 600 replies in 100 ms, 5 ms target: 30 requests would do; the floor is higher. */
    assert_int_equal(f.budget, RG_PROXY_FAIR_BUDGET_MIN);
    uint32_t share = rg_proxy_fair_share(&f);
    assert_int_equal(share, RG_PROXY_FAIR_BUDGET_MIN / 21);
    assert_false(rg_proxy_fair_may_add(&f, 320)); /* a flooder is held back */
    assert_true(rg_proxy_fair_may_add(&f, 2));    /* the AP below its share is not */
    assert_false(rg_proxy_fair_may_resume(&f, share));
    assert_true(rg_proxy_fair_may_resume(&f, share / 2));
    /* A faster server: the budget follows what it answers (Little's law), 25 % down at
     * least while the queue stands. */
    struct rg_proxy_fair g;
    rg_proxy_fair_init(&g);
    now = 1000;
    hold(&g, 20, 320); /* reached while the server kept up: the budget grew with it */
    for (int i = 0; i < 20; i++)
        interval(&g, &now, answered(&g, 1), 1);
    assert_int_equal(g.budget, 2 * 6400);
    interval(&g, &now, 20000, 40); /* 200,000 a second */
    assert_int_equal(g.budget, 20000 * (1 + RG_PROXY_FAIR_TARGET_MS) / RG_PROXY_FAIR_INTERVAL_MS);
    uint32_t b = g.budget;
    interval(&g, &now, 20000, 20);
    assert_int_equal(g.budget, b - b / 4);
}

static void test_budget_probes_then_lifts(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 0);
    hold(&f, 20, 320);
    interval(&f, &now, 600, 45);
    uint32_t b = f.budget;
    /* The queue is gone but the flooders still ask for all of it: the budget grows by an
     * eighth per interval and is not lifted. */
    for (unsigned i = 0; i < 3 * RG_PROXY_FAIR_LIFT_AFTER; i++) {
        interval(&f, &now, answered(&f, 1), 1);
        assert_true(f.budget > b && f.limiting);
        b = f.budget;
        if (f.budget >= f.held) /* as a flooder would: it takes what the budget allows */
            hold(&f, 1, f.budget - f.held + 1);
    }
    /* Once a queue stands again the budget falls again. */
    interval(&f, &now, 600, 30);
    assert_true(f.budget < b);
    /* The flooders leave: calm, and the connections hold far less than the budget. */
    for (int i = 0; i < 20; i++)
        rg_proxy_fair_held(&f, 320, 0);
    rg_proxy_fair_held(&f, f.held, 0);
    assert_int_equal(f.held, 0);
    for (unsigned i = 0; i < RG_PROXY_FAIR_LIFT_AFTER + 1; i++)
        interval(&f, &now, 50, 0);
    assert_false(f.limiting);
    /* ... and the budget falls back to its floor, where the next flood starts. */
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 0);
    assert_int_equal(f.budget, RG_PROXY_FAIR_BUDGET_MIN);
}

/* Flooders that each put requests in flight while rg_proxy_fair_may_add lets them, up to
 * the 256 their IDs allow: held[i] is flooder i's count. */
static void flood(struct rg_proxy_fair *f, uint32_t *held, unsigned n)
{
    for (bool more = true; more;) {
        more = false;
        for (unsigned i = 0; i < n; i++) {
            if (held[i] < 256 && rg_proxy_fair_may_add(f, held[i])) {
                rg_proxy_fair_held(f, held[i], held[i] + 1);
                held[i]++;
                more = true;
            }
        }
    }
}

static void test_flood_from_idle_bounded(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    rg_proxy_fair_held(&f, 0, 2); /* the legitimate AP, at its baseline for 2 s */
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 1);
    /* 20 flooders start: before any interval is judged they hold the floor together, not
     * the 5,120 their IDs allow, so the queue in front of the AP's requests is short. */
    uint32_t held[20] = {0};
    flood(&f, held, 20);
    assert_false(f.limiting);
    assert_true(f.held <= RG_PROXY_FAIR_BUDGET_MIN + 20 * RG_PROXY_FAIR_SHARE_MIN);
    for (unsigned i = 0; i < 20; i++)
        assert_true(held[i] <= RG_PROXY_FAIR_BUDGET_MIN / 21 + 1);
    assert_true(rg_proxy_fair_may_add(&f, 2)); /* the AP below its share still sends */
    /* The interval the flood started in: its first replies were prompt (the lowest latency
     * judges no congestion), its last ones late: a queue is building, so the budget does not
     * double for the flooders to fill. */
    uint32_t b = f.budget;
    rg_proxy_fair_sample(&f, now + 10, 1);
    rg_proxy_fair_sample(&f, now + 90, 1 + 4 * RG_PROXY_FAIR_TARGET_MS);
    now += RG_PROXY_FAIR_INTERVAL_MS;
    rg_proxy_fair_tick(&f, now);
    assert_int_equal(f.congested, 0);
    assert_int_equal(f.budget, b);
    /* Had the last replies kept up, it would have. */
    for (unsigned i = 0, n = answered(&f, 1); i < n; i++)
        rg_proxy_fair_sample(&f, now + 10, 1);
    rg_proxy_fair_sample(&f, now + 90, 2);
    now += RG_PROXY_FAIR_INTERVAL_MS;
    rg_proxy_fair_tick(&f, now);
    assert_int_equal(f.budget, 2 * f.max_held);
    assert_true(f.budget > b);
}

/* A server that stops for 40 ms out of every 100 and then answers everything at once: the
 * replies of requests sent between its pauses come back at the baseline, so no interval's
 * lowest latency (nor, often, its last) shows a queue, but a request sent in a pause waits
 * behind everything in flight. Flooders take all the budget allows. The servers answer 6,000
 * per interval: no more in flight than what they answer in twice (baseline + target), where
 * twice what was held would let the flooders' 20 x 256 wait in every pause. */
static void test_queue_that_comes_and_goes_bounded(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    rg_proxy_fair_held(&f, 0, 2); /* the legitimate AP, at its 1 ms baseline */
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 1);
    uint32_t held[20] = {0};
    const uint64_t cap = 2 * 6000 * (1 + RG_PROXY_FAIR_TARGET_MS) / RG_PROXY_FAIR_INTERVAL_MS;
    uint32_t worst = 0;
    for (int i = 0; i < 50; i++) {
        flood(&f, held, 20);
        if (f.held > worst)
            worst = f.held;
        rg_proxy_fair_tick(&f, now);
        for (unsigned k = 0; k < 6000; k++) /* the pause's replies late, the rest prompt */
            rg_proxy_fair_sample(&f, now + k / 60, k < 2400 ? 1 + (2400 - k) / 60 : 1);
        now += RG_PROXY_FAIR_INTERVAL_MS;
        rg_proxy_fair_tick(&f, now);
        assert_int_equal(f.congested, 0);
        assert_true(f.budget <= cap);
        /* The server answered: what each flooder holds leaves (it puts as much in again). */
        for (unsigned k = 0; k < 20; k++) {
            rg_proxy_fair_held(&f, held[k], 0);
            held[k] = 0;
        }
    }
    assert_true(worst <= cap + 20 * RG_PROXY_FAIR_SHARE_MIN);
    assert_true(rg_proxy_fair_may_add(&f, 2)); /* the AP below its share still sends */
}

/* A server answering rate requests per ms after 1 ms, behind a queue of what is held. */
static uint64_t queue_latency(const struct rg_proxy_fair *f, uint32_t rate)
{
    return 1 + f->held / rate;
}

static void test_started_mid_flood(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    uint32_t held[20] = {0};
    const uint32_t rate = 20; /* 20,000 a second */
    /* The worker starts with 20 flooders already connected: without a budget at start they
     * would hold 5,120 and the first latency, 257 ms, would be the baseline for good. */
    uint64_t worst = 0;
    for (int i = 0; i < 100; i++) {
        flood(&f, held, 20);
        uint64_t lat = queue_latency(&f, rate);
        if (i >= 50 && lat > worst)
            worst = lat;
        interval(&f, &now, rate * RG_PROXY_FAIR_INTERVAL_MS, lat);
        /* The server answered what it could: the oldest requests leave, round robin. */
        uint32_t done = rate * RG_PROXY_FAIR_INTERVAL_MS;
        for (unsigned k = 0; done && f.held; k = (k + 1) % 20) {
            if (held[k]) {
                rg_proxy_fair_held(&f, held[k], held[k] - 1);
                held[k]--;
                done--;
            }
        }
    }
    /* The baseline is the latency of the floor in flight, not of the flood's queue. */
    assert_true(rg_proxy_fair_baseline(&f) <= 1 + RG_PROXY_FAIR_BUDGET_MIN / rate);
    assert_true(f.congested > 0);
    /* And the queue stays near the baseline once the budget has settled. */
    assert_true(worst <= rg_proxy_fair_baseline(&f) + 4 * RG_PROXY_FAIR_TARGET_MS);
}

static void test_baseline_frozen_under_budget(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    for (int i = 0; i < 20; i++)
        interval(&f, &now, 50, 1);
    hold(&f, 20, 320);
    /* Congested for three windows with the budget above its floor (a fast server): the
     * queue the budget leaves never becomes the baseline. */
    for (uint64_t t = 0; t < 3 * RG_PROXY_FAIR_WINDOW_MS; t += RG_PROXY_FAIR_INTERVAL_MS) {
        interval(&f, &now, 20000, 1 + RG_PROXY_FAIR_TARGET_MS + 1);
        if (f.budget < 2 * RG_PROXY_FAIR_BUDGET_MIN)
            f.budget = 4 * RG_PROXY_FAIR_BUDGET_MIN; /* keep it off the floor */
    }
    assert_int_equal(rg_proxy_fair_baseline(&f), 1);
    /* At its floor for whole windows and still late: the latency is not the budget's doing
     * (a slower server), and the baseline moves to it. */
    f.budget = RG_PROXY_FAIR_BUDGET_MIN;
    for (uint64_t t = 0; t < 3 * RG_PROXY_FAIR_WINDOW_MS; t += RG_PROXY_FAIR_INTERVAL_MS)
        interval(&f, &now, 100, 50);
    assert_int_equal(rg_proxy_fair_baseline(&f), 50);
}

static void test_active_connections_counted(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    rg_proxy_fair_held(&f, 0, 1);
    rg_proxy_fair_held(&f, 1, 5);
    rg_proxy_fair_held(&f, 0, 3);
    assert_int_equal(f.active, 2);
    assert_int_equal(f.held, 8);
    rg_proxy_fair_held(&f, 5, 0);
    assert_int_equal(f.active, 1);
    assert_int_equal(f.held, 3);
    rg_proxy_fair_held(&f, 3, 3); /* no change */
    assert_int_equal(f.active, 1);
    f.budget = 64; /* one connection: its share is the whole budget */
    assert_int_equal(rg_proxy_fair_share(&f), 64);
    f.active = 100; /* many: never below the minimum share */
    assert_int_equal(rg_proxy_fair_share(&f), RG_PROXY_FAIR_SHARE_MIN);
}

/* A slow server (test_load_20000_inflight: 8 s before any reply) and a legitimate load of
 * 80 connections x 250 in flight: with no reply to judge, the budget still follows what is
 * held, doubling per interval, so the whole load is in flight within a second. */
static void test_slow_server_budget_grows_without_replies(void **state)
{
    (void)state;
    struct rg_proxy_fair f;
    rg_proxy_fair_init(&f);
    uint64_t now = 1000;
    rg_proxy_fair_tick(&f, now);
    uint32_t held[80] = {0};
    unsigned intervals = 0;
    for (; intervals < 10 && f.held < 80 * 250; intervals++) {
        for (bool more = true; more;) {
            more = false;
            for (unsigned i = 0; i < 80; i++) {
                if (held[i] < 250 && rg_proxy_fair_may_add(&f, held[i])) {
                    rg_proxy_fair_held(&f, held[i], held[i] + 1);
                    held[i]++;
                    more = true;
                }
            }
        }
        now += RG_PROXY_FAIR_INTERVAL_MS;
        rg_proxy_fair_tick(&f, now); /* the share timer: no reply came */
    }
    assert_int_equal(f.held, 80 * 250);
    assert_true(intervals <= 7);
    assert_false(f.limiting);
    assert_int_equal(f.congested, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_budget_at_baseline),
        cmocka_unit_test(test_queue_sets_budget_and_shares),
        cmocka_unit_test(test_budget_probes_then_lifts),
        cmocka_unit_test(test_baseline_frozen_under_budget),
        cmocka_unit_test(test_active_connections_counted),
        cmocka_unit_test(test_flood_from_idle_bounded),
        cmocka_unit_test(test_started_mid_flood),
        cmocka_unit_test(test_queue_that_comes_and_goes_bounded),
        cmocka_unit_test(test_slow_server_budget_grows_without_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
