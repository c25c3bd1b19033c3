/* Tests of src/backend.c: LRU ID allocation (RFC 5080 §2.2.2), wrap-around, pool policies,
 * health and the RFC 5080 §2.2.1 retransmission schedule without sockets; the sockets' pool
 * and the batched receive over loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/backend.h"
#include "radsecgw/proxy.h"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static struct rg_request dummy[RG_BACKEND_IDS + 1];

static void test_idspace_all_ids_then_full(void **state)
{
    (void)state;
    struct rg_idspace ids;
    rg_idspace_init(&ids);
    uint8_t seen[RG_BACKEND_IDS] = {0};
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++) {
        int id = rg_idspace_alloc(&ids, &dummy[i]);
        assert_true(id >= 0 && id < 256);
        assert_int_equal(seen[id], 0); /* never handed out twice while in flight */
        seen[id] = 1;
        assert_ptr_equal(ids.inflight[id], &dummy[i]);
    }
    assert_int_equal(rg_idspace_alloc(&ids, &dummy[256]), -ENOSPC);
    rg_idspace_release(&ids, 42);
    assert_int_equal(rg_idspace_alloc(&ids, &dummy[256]), 42);
}

static void test_idspace_lru_reuse(void **state)
{
    (void)state;
    struct rg_idspace ids;
    rg_idspace_init(&ids);
    int first = rg_idspace_alloc(&ids, &dummy[0]);
    /* Release right away: the ID must not come back before every other ID was used. */
    rg_idspace_release(&ids, (uint8_t)first);
    for (unsigned i = 1; i < RG_BACKEND_IDS; i++) {
        int id = rg_idspace_alloc(&ids, &dummy[i]);
        assert_int_not_equal(id, first);
        rg_idspace_release(&ids, (uint8_t)id);
    }
    assert_int_equal(rg_idspace_alloc(&ids, &dummy[0]), first);
}

static void test_idspace_release_order_is_reuse_order(void **state)
{
    (void)state;
    struct rg_idspace ids;
    rg_idspace_init(&ids);
    int a[RG_BACKEND_IDS];
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++)
        a[i] = rg_idspace_alloc(&ids, &dummy[i]);
    /* Release in a scrambled order; allocation returns them in exactly that order. */
    unsigned order[RG_BACKEND_IDS];
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++)
        order[i] = (i * 97) % RG_BACKEND_IDS;
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++)
        rg_idspace_release(&ids, (uint8_t)a[order[i]]);
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++)
        assert_int_equal(rg_idspace_alloc(&ids, &dummy[i]), a[order[i]]);
}

static void test_idspace_wraparound(void **state)
{
    (void)state;
    struct rg_idspace ids;
    rg_idspace_init(&ids);
    /* 100 in flight all the time while 10,000 requests pass: ring indexes wrap many times. */
    int live[100];
    for (unsigned i = 0; i < 100; i++)
        live[i] = rg_idspace_alloc(&ids, &dummy[i]);
    for (unsigned n = 0; n < 10000; n++) {
        unsigned k = n % 100;
        rg_idspace_release(&ids, (uint8_t)live[k]);
        live[k] = rg_idspace_alloc(&ids, &dummy[k]);
        assert_true(live[k] >= 0);
        assert_int_equal(ids.nfree, RG_BACKEND_IDS - 100);
    }
}

/* A pool of n servers built by hand (no config file, no sockets). */
static struct rg_config cfg;
static struct rg_pool pool;
static struct rg_server servers[4];

static struct rg_backend_set *make_set(enum rg_policy policy, unsigned n, bool status_server)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(&pool, 0, sizeof(pool));
    memset(servers, 0, sizeof(servers));
    static char *names[] = {"rad0", "rad1", "rad2", "rad3"};
    for (unsigned i = 0; i < n; i++) {
        servers[i].name = names[i];
        servers[i].secret = "s";
        servers[i].secret_len = 1;
        struct sockaddr_in *sin = (struct sockaddr_in *)&servers[i].auth_addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)(1812 + 10 * i));
        inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
    }
    pool.name = "corp";
    pool.policy = policy;
    pool.timeout_s = 2;
    pool.retries = 3;
    pool.status_server = status_server;
    pool.max_outstanding = 512;
    pool.dead_time_s = 30;
    pool.servers = servers;
    pool.nservers = n;
    cfg.pools = &pool;
    cfg.npools = 1;
    cfg.refcount = 1000; /* the set's reference never frees this static config */
    return rg_backend_set_new(NULL, &cfg, NULL);
}

static void test_failover_order(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_FAILOVER, 3, true);
    struct rg_backend_pool *p = &set->pools[0];
    assert_ptr_equal(rg_backend_pick(p, 0, 1000), &p->servers[0]);
    assert_ptr_equal(rg_backend_pick(p, 0, 1000), &p->servers[0]);
    assert_ptr_equal(rg_backend_pick(p, 1, 1000), &p->servers[1]);
    assert_ptr_equal(rg_backend_pick(p, 3, 1000), &p->servers[2]);
    assert_null(rg_backend_pick(p, 7, 1000));
    rg_backend_mark_dead(&p->servers[0], 1000, "test");
    assert_ptr_equal(rg_backend_pick(p, 0, 1000), &p->servers[1]);
    /* With Status-Server a dead server stays dead until it answers a probe. */
    assert_ptr_equal(rg_backend_pick(p, 0, 1000000), &p->servers[1]);
    rg_backend_mark_alive(&p->servers[0], "test");
    assert_ptr_equal(rg_backend_pick(p, 0, 1000), &p->servers[0]);
    rg_backend_mark_dead(&p->servers[0], 1000, "test");
    rg_backend_mark_dead(&p->servers[1], 1000, "test");
    rg_backend_mark_dead(&p->servers[2], 1000, "test");
    assert_null(rg_backend_pick(p, 0, 2000));
    rg_backend_set_retire(set);
}

static void test_reload_keeps_health(void **state)
{
    (void)state;
    struct rg_backend_set *old = make_set(RG_POLICY_FAILOVER, 2, true);
    rg_backend_mark_dead(&old->pools[0].servers[0], 5000, "test");
    /* A reload (or CRL refresh) builds a new set from the same servers: rad0 stays dead until
     * it answers a probe, so requests keep going to rad1 without a timeout first. */
    struct rg_backend_set *set = rg_backend_set_new(NULL, &cfg, NULL);
    rg_backend_set_inherit(set, old);
    assert_int_equal(set->pools[0].servers[0].health, RG_BACKEND_DEAD);
    assert_int_equal(set->pools[0].servers[0].dead_since_ms, 5000);
    assert_int_equal(set->pools[0].servers[1].health, RG_BACKEND_ALIVE);
    assert_ptr_equal(rg_backend_pick(&set->pools[0], 0, 6000), &set->pools[0].servers[1]);
    rg_backend_set_retire(old);
    rg_backend_set_retire(set);
}

/* What auto learnt about a server (it signs its replies) is the process's: every set built
 * for the same pool, server name, address and secret shares it (workers, reloads); another
 * secret or address is another server and starts over. */
static void test_shared_state_by_address_and_secret(void **state)
{
    (void)state;
    struct rg_backend_set *old = make_set(RG_POLICY_FAILOVER, 2, true);
    struct rg_backend_shared *sh = old->pools[0].servers[0].shared;
    assert_non_null(sh);
    assert_ptr_not_equal(sh, old->pools[0].servers[1].shared);
    assert_true(rg_backend_learn_signs(sh));
    assert_false(rg_backend_learn_signs(sh)); /* only the first time says so */
    /* The warnings are per server for the whole process: one per interval. */
    assert_true(rg_backend_warn_due(sh, RG_BACKEND_WARN_UNSIGNED_ACCEPTED, 1000, 3600000));
    assert_false(rg_backend_warn_due(sh, RG_BACKEND_WARN_UNSIGNED_ACCEPTED, 2000, 3600000));
    assert_true(rg_backend_warn_due(sh, RG_BACKEND_WARN_UNSIGNED_DROPPED, 2000, 3600000));
    assert_true(rg_backend_warn_due(sh, RG_BACKEND_WARN_UNSIGNED_ACCEPTED, 3601000, 3600000));

    /* Reload with the same servers: the new set sees what was learnt. */
    struct rg_backend_set *set = rg_backend_set_new(NULL, &cfg, NULL);
    assert_ptr_equal(set->pools[0].servers[0].shared, sh);
    assert_true(rg_backend_signs(set->pools[0].servers[0].shared));
    rg_backend_set_retire(old);
    assert_true(rg_backend_signs(set->pools[0].servers[0].shared));

    /* The secret changes: learnt again from scratch. */
    servers[0].secret = "t";
    struct rg_backend_set *rekeyed = rg_backend_set_new(NULL, &cfg, NULL);
    assert_ptr_not_equal(rekeyed->pools[0].servers[0].shared, sh);
    assert_false(rg_backend_signs(rekeyed->pools[0].servers[0].shared));
    rg_backend_set_retire(rekeyed);
    /* The address changes: the same. */
    servers[0].secret = "s";
    ((struct sockaddr_in *)&servers[0].auth_addr)->sin_port = htons(1999);
    struct rg_backend_set *moved = rg_backend_set_new(NULL, &cfg, NULL);
    assert_false(rg_backend_signs(moved->pools[0].servers[0].shared));
    rg_backend_set_retire(moved);
    rg_backend_set_retire(set);
}

static void test_holddown_without_status_server(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_FAILOVER, 2, false);
    struct rg_backend_pool *p = &set->pools[0];
    rg_backend_mark_dead(&p->servers[0], 10000, "test");
    assert_ptr_equal(rg_backend_pick(p, 0, 10000 + 29999), &p->servers[1]);
    /* dead-time (30 s) passed: tried again */
    assert_ptr_equal(rg_backend_pick(p, 0, 10000 + 30000), &p->servers[0]);
    rg_backend_set_retire(set);
}

static void test_round_robin_even(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_ROUND_ROBIN, 2, true);
    struct rg_backend_pool *p = &set->pools[0];
    unsigned count[2] = {0, 0};
    for (unsigned i = 0; i < 1000; i++)
        count[rg_backend_pick(p, 0, 0)->index]++;
    assert_int_equal(count[0], 500);
    assert_int_equal(count[1], 500);
    /* A dead server is skipped; the other takes everything. */
    rg_backend_mark_dead(&p->servers[1], 0, "test");
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(rg_backend_pick(p, 0, 0)->index, 0);
    /* Failover from a tried server goes to the other one. */
    rg_backend_mark_alive(&p->servers[1], "test");
    assert_int_equal(rg_backend_pick(p, 1, 0)->index, 1);
    assert_int_equal(rg_backend_pick(p, 2, 0)->index, 0);
    rg_backend_set_retire(set);
}

static void test_least_outstanding(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_LEAST_OUTSTANDING, 3, true);
    struct rg_backend_pool *p = &set->pools[0];
    p->servers[0].auth.outstanding = 10;
    p->servers[1].auth.outstanding = 3;
    p->servers[1].acct.outstanding = 4;
    p->servers[2].auth.outstanding = 5;
    assert_int_equal(rg_backend_pick(p, 0, 0)->index, 2);
    p->servers[2].auth.outstanding = 8;
    assert_int_equal(rg_backend_pick(p, 0, 0)->index, 1);
    assert_int_equal(rg_backend_pick(p, 2, 0)->index, 2);
    /* Equal load: spread evenly, not always the first. */
    p->servers[0].auth.outstanding = p->servers[1].auth.outstanding = 0;
    p->servers[1].acct.outstanding = p->servers[2].auth.outstanding = 0;
    unsigned count[3] = {0};
    for (unsigned i = 0; i < 300; i++)
        count[rg_backend_pick(p, 0, 0)->index]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
    rg_backend_set_retire(set);
}

static void test_rt_schedule(void **state)
{
    (void)state;
    struct rg_rt_params rt = {.irt = 2000, .mrt = 16000, .mrd = 30000, .mrc = 3};
    /* RFC 5080 §2.2.1 with RAND = 0: 2, 4, 8, 16, 16 s */
    uint64_t t = rg_rt_next(&rt, 0, 0);
    assert_int_equal(t, 2000);
    t = rg_rt_next(&rt, t, 0);
    assert_int_equal(t, 4000);
    t = rg_rt_next(&rt, t, 0);
    assert_int_equal(t, 8000);
    t = rg_rt_next(&rt, t, 0);
    assert_int_equal(t, 16000);
    t = rg_rt_next(&rt, t, 0);
    assert_int_equal(t, 16000);
    /* RAND = +/-0.1 */
    assert_int_equal(rg_rt_next(&rt, 0, 100), 2200);
    assert_int_equal(rg_rt_next(&rt, 0, -100), 1800);
    assert_int_equal(rg_rt_next(&rt, 4000, 100), 8400);
    assert_int_equal(rg_rt_next(&rt, 16000, -100), 14400);
    /* The cap holds at every RAND. */
    for (int r = -100; r <= 100; r += 10)
        assert_true(rg_rt_next(&rt, 16000, r) <= 17600);
}

/* Only the loop is used: the sockets are opened, nothing is sent. */
static uv_loop_t loop;
static struct rg_stats stats;
static struct rg_backend_io io;

static void test_ids_spread_over_sockets(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_FAILOVER, 1, true);
    assert_int_equal(uv_loop_init(&loop), 0);
    rg_backend_io_init(&io, &loop, &stats, NULL, NULL, NULL);
    set->io = &io;
    struct sockaddr_in *sin = (struct sockaddr_in *)&servers[0].auth_addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(9);
    inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
    struct rg_backend_dest *d = &set->pools[0].servers[0].auth;
    assert_int_equal(d->max_socks, 2); /* max-outstanding 512 = two sockets of 256 IDs */

    static struct rg_request reqs[512];
    struct rg_backend_sock *socks[512];
    uint8_t ids[512];
    for (unsigned i = 0; i < 512; i++)
        assert_int_equal(rg_backend_alloc_id(d, &reqs[i], &socks[i], &ids[i]), 0);
    assert_int_equal(d->nsocks, 2);
    assert_int_equal(d->outstanding, 512);
    assert_int_equal(set->outstanding, 512);
    /* (socket, ID) pairs are unique: 256 IDs on each of two source ports */
    assert_ptr_not_equal(socks[0], socks[511]);
    for (unsigned i = 0; i < 512; i++)
        assert_ptr_equal(socks[i]->ids.inflight[ids[i]], &reqs[i]);
    /* max-outstanding reached: no third socket */
    struct rg_backend_sock *s;
    uint8_t id;
    assert_int_equal(rg_backend_alloc_id(d, &reqs[0], &s, &id), -ENOSPC);
    /* a released ID on the first socket makes room again, on that socket */
    rg_backend_release_id(socks[3], ids[3]);
    assert_int_equal(rg_backend_alloc_id(d, &reqs[3], &s, &id), 0);
    assert_ptr_equal(s, socks[3]);
    for (unsigned i = 0; i < 512; i++)
        rg_backend_release_id(i == 3 ? s : socks[i], i == 3 ? id : ids[i]);
    assert_int_equal(d->outstanding, 0);
    /* Retiring an idle set closes its sockets; the loop ends once they are closed. */
    rg_backend_set_retire(set);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- batched receive: every reply arrives, however the batches fall ---- */

static unsigned replies_seen;

static void count_reply(void *arg, struct rg_backend_sock *sock, const uint8_t *pkt, size_t len,
                        const struct sockaddr *addr)
{
    (void)arg;
    (void)sock;
    (void)addr;
    assert_int_equal(len, 20);
    assert_int_equal(pkt[1], (uint8_t)replies_seen); /* in order, none lost */
    replies_seen++;
}

static void count_sent(void *arg, void *owner)
{
    (void)arg;
    (void)owner;
}

/* Send n datagrams of 20 octets to port from fd, numbered from *next. */
static void send_datagrams(int fd, uint16_t port, unsigned n, unsigned *next)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    for (unsigned i = 0; i < n; i++) {
        uint8_t pkt[20] = {2, (uint8_t)(*next)++};
        assert_int_equal(sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)), 20);
    }
}

/* A short recvmmsg batch ends the socket's reading for the turn (no empty call to find
 * EAGAIN, issue 14): what arrives after it is read in the next turn, and a backlog larger
 * than one batch is read in full batches until it runs short. */
static void test_recv_batches(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_FAILOVER, 1, true);
    set->events = (struct rg_backend_events){.reply = count_reply, .sent = count_sent};
    assert_int_equal(uv_loop_init(&loop), 0);
    rg_backend_io_init(&io, &loop, &stats, NULL, NULL, NULL);
    set->io = &io;
    struct rg_backend_dest *d = &set->pools[0].servers[0].auth;
    static struct rg_request req;
    struct rg_backend_sock *s;
    uint8_t id;
    assert_int_equal(rg_backend_alloc_id(d, &req, &s, &id), 0);
    struct sockaddr_storage local;
    int namelen = sizeof(local);
    assert_int_equal(uv_udp_getsockname(&s->udp, (struct sockaddr *)&local, &namelen), 0);
    uint16_t port = ntohs(((struct sockaddr_in *)&local)->sin_port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    unsigned next = 0;
    replies_seen = 0;

    /* A short batch: all three read in one turn. */
    send_datagrams(fd, port, 3, &next);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(replies_seen, 3);
    /* ... and emptied the socket: nothing is left for rg_backend_drain to ask again (an
     * empty recvmmsg per socket and turn is what on_alloc's short-batch stop avoids). */
    assert_null(io.recv_socks);
    /* The short batch did not leave the socket deaf: the next turn reads what came after. */
    send_datagrams(fd, port, 5, &next);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(replies_seen, 8);
    /* A full batch and then a short one, in one turn. */
    send_datagrams(fd, port, RG_BACKEND_RECV_BATCH + 4, &next);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(replies_seen, 8 + RG_BACKEND_RECV_BATCH + 4);
    /* A backlog of 100: libuv reads at most 32 a turn, every one arrives within a few. */
    send_datagrams(fd, port, 100, &next);
    for (int turn = 0; turn < 10 && replies_seen < next; turn++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(replies_seen, next);
    /* ... but the worker's check handle reads what libuv left in the same turn
     * (rg_backend_drain): a backlog of replies does not wait behind the turn's requests. */
    unsigned before = replies_seen;
    send_datagrams(fd, port, 200, &next);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(replies_seen - before <= 40); /* libuv's share of the turn */
    rg_backend_drain(&io);
    assert_int_equal(replies_seen, next);

    close(fd);
    rg_backend_release_id(s, id);
    rg_backend_set_retire(set);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A socket that cannot be opened (EMFILE) is never put in the pool: its IDs would only
 * collect timeouts. Once descriptors are available again the next request opens one. */
static void test_failed_socket_not_in_pool(void **state)
{
    (void)state;
    struct rg_backend_set *set = make_set(RG_POLICY_FAILOVER, 1, true);
    assert_int_equal(uv_loop_init(&loop), 0);
    rg_backend_io_init(&io, &loop, &stats, NULL, NULL, NULL);
    set->io = &io;
    struct rg_backend_dest *d = &set->pools[0].servers[0].auth;
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    /* No descriptor left: the lowest free one is the limit. */
    int probe = dup(0);
    assert_true(probe >= 0);
    close(probe);
    low = saved;
    low.rlim_cur = (rlim_t)probe;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    static struct rg_request req;
    struct rg_backend_sock *s = NULL;
    uint8_t id;
    int rc = rg_backend_alloc_id(d, &req, &s, &id);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(rc < 0);
    assert_int_equal(d->nsocks, 0);
    assert_int_equal(d->outstanding, 0);
    assert_int_equal(rg_backend_alloc_id(d, &req, &s, &id), 0);
    assert_int_equal(d->nsocks, 1);
    assert_ptr_equal(d->socks[0], s);
    rg_backend_release_id(s, id);
    rg_backend_set_retire(set);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Replays the retransmission timeline of one request against a server that never answers,
 * with a fake clock: returns the number of transmissions and the time the exchange failed. */
static unsigned replay(const struct rg_rt_params *rt, int rand_permille, uint64_t *sends,
                       uint64_t *failed_at)
{
    uint64_t now = 1000000, first = now, rtv = rg_rt_next(rt, 0, rand_permille);
    unsigned n = 1;
    sends[0] = 0;
    uint64_t deadline = rg_rt_deadline(rt, first, now, rtv);
    for (;;) {
        now = deadline; /* the timer fires */
        if (!rg_rt_may_retransmit(rt, n, first, now))
            break;
        rtv = rg_rt_next(rt, rtv, rand_permille);
        sends[n++] = now - first;
        deadline = rg_rt_deadline(rt, first, now, rtv);
    }
    *failed_at = now - first;
    return n;
}

static void test_retransmit_timeline(void **state)
{
    (void)state;
    uint64_t sends[64], failed;
    /* timeout 2, retries 3 (RFC 5080 defaults for IRT/MRT/MRD): sent at 0, 2, 6, 14 s; the
     * exchange fails when the RT after the 3rd retransmission expires, capped by MRD. */
    struct rg_rt_params rt = {.irt = 2000, .mrt = 16000, .mrd = 30000, .mrc = 3};
    assert_int_equal(replay(&rt, 0, sends, &failed), 4);
    assert_int_equal(sends[1], 2000);
    assert_int_equal(sends[2], 6000);
    assert_int_equal(sends[3], 14000);
    assert_int_equal(failed, 30000);
    /* With +10% jitter the last RT would end at 14 + 17.6 s: MRD (30 s) cuts it. */
    assert_int_equal(replay(&rt, 100, sends, &failed), 4);
    assert_int_equal(sends[1], 2200);
    assert_int_equal(failed, 30000);
    /* Many retries: MRD stops the retransmissions (0, 2, 6, 14, 30 -> fail at 30). */
    rt.mrc = 10;
    assert_int_equal(replay(&rt, 0, sends, &failed), 4);
    assert_int_equal(failed, 30000);
    /* timeout 1, retries 1 (what the failover tests use): 0, 1 s, fail at 3 s. */
    struct rg_rt_params quick = {.irt = 1000, .mrt = 16000, .mrd = 30000, .mrc = 1};
    assert_int_equal(replay(&quick, 0, sends, &failed), 2);
    assert_int_equal(sends[1], 1000);
    assert_int_equal(failed, 3000);
    /* retries 0: one transmission, the exchange fails when the first RT expires. */
    quick.mrc = 0;
    assert_int_equal(replay(&quick, 0, sends, &failed), 1);
    assert_int_equal(failed, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idspace_all_ids_then_full),
        cmocka_unit_test(test_idspace_lru_reuse),
        cmocka_unit_test(test_idspace_release_order_is_reuse_order),
        cmocka_unit_test(test_idspace_wraparound),
        cmocka_unit_test(test_ids_spread_over_sockets),
        cmocka_unit_test(test_failover_order),
        cmocka_unit_test(test_reload_keeps_health),
        cmocka_unit_test(test_shared_state_by_address_and_secret),
        cmocka_unit_test(test_failed_socket_not_in_pool),
        cmocka_unit_test(test_recv_batches),
        cmocka_unit_test(test_holddown_without_status_server),
        cmocka_unit_test(test_round_robin_even),
        cmocka_unit_test(test_least_outstanding),
        cmocka_unit_test(test_rt_schedule),
        cmocka_unit_test(test_retransmit_timeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
