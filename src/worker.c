/* Worker threads: each runs one libuv loop with its own listeners, connections, backend
 * sockets and state table. The main thread talks to a worker only through its uv_async
 * (new generation, stop). Generations themselves are gen.c's. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/admission.h"
#include "radsecgw/backend.h"
#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/listener.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy_protocol.h"
#include "radsecgw/worker.h"

/* Graceful stop: requests in flight get this long to be answered. */
#define RG_WORKER_DRAIN_MS 5000

unsigned rg_worker_table_limit(const struct rg_config *cfg)
{
    uint64_t n = 1024; /* probes and slack */
    for (size_t p = 0; p < cfg->npools; p++)
        n += 2ull * cfg->pools[p].max_outstanding * cfg->pools[p].nservers;
    return n > 4000000 ? 4000000 : (unsigned)n;
}

/* ---- health ---- */

/* After a mass disconnect, give the memory back: the pool keeps a few buffers, and glibc
 * keeps freed heap (and the top of each thread's arena) unless asked to return it. */
static void return_memory(struct rg_worker *w)
{
    __atomic_store_n(&w->stats.conn_buffers, w->conns.buf_pool.lent, __ATOMIC_RELAXED);
    /* A burst (a thousand APs sending at once) leaves the buffers it freed as holes between
     * the sessions that stay: returned too. */
    struct rg_conn_set *cs = &w->conns;
    if (cs->closes_unreturned < RG_WORKER_TRIM_CLOSES &&
        cs->buf_pool.spilled < RG_WORKER_TRIM_CLOSES)
        return;
    cs->closes_unreturned = 0;
    cs->buf_pool.spilled = 0;
    rg_buf_pool_trim(&cs->buf_pool, RG_WORKER_BUF_KEEP / 8);
    rg_buf_pool_trim(&w->proxy.inflight_pool, RG_WORKER_BUF_KEEP / 8);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void on_health(uv_timer_t *t)
{
    struct rg_worker *w = t->data;
    struct rg_backend_set *set = w->backends;
    uint64_t now = rg_now_ms();
    rg_admission_report(w->gen->cfg);
    rg_pp2_report();
    return_memory(w);
    __atomic_store_n(&w->beat_ms, now, __ATOMIC_RELAXED);
    for (unsigned p = 0; p < set->npools; p++) {
        struct rg_backend_pool *pool = &set->pools[p];
        if (!pool->cfg->status_server)
            continue;
        uint64_t interval = (uint64_t)pool->cfg->timeout_s * 1000u;
        for (unsigned i = 0; i < pool->nservers; i++) {
            struct rg_backend_server *s = &pool->servers[i];
            if (s->health != RG_BACKEND_DEAD || s->probe_inflight ||
                now - s->last_probe_ms < interval)
                continue;
            int rc = rg_proxy_probe(&w->proxy, s);
            if (rc < 0)
                rg_log_limited("probe", LOG_WARNING,
                               "event=probe_failed backend=%s pool=%s error=\"%s\"", s->cfg->name,
                               pool->cfg->name, rg_strerror(rc));
        }
    }
}

/* ---- the connections' hooks (conn.h's struct rg_conn_hooks), wired to the loop ---- */

/* Idle connections give memory back once this loop turn has polled. */
static void on_trim(uv_check_t *h)
{
    struct rg_worker *w = h->data;
    rg_conn_trim_idle(&w->conns);
    uv_check_stop(h);
}

static void schedule_trim(void *arg)
{
    struct rg_worker *w = arg;
    if (!uv_is_closing((uv_handle_t *)&w->trim_check))
        uv_check_start(&w->trim_check, on_trim);
}

/* While connections wait for a handshake slot, look again this often: slots freed by other
 * workers (the limits are global) are noticed by polling, not by a cross-thread wake-up. */
#define RG_WORKER_ADMIT_POLL_MS 20

static void on_admit(uv_timer_t *t)
{
    struct rg_worker *w = t->data;
    rg_conn_admit_waiting(&w->conns);
    if (w->conns.waiting.n == 0)
        uv_timer_stop(t);
}

static void schedule_admit(void *arg)
{
    struct rg_worker *w = arg;
    /* From the loop, not from inside the close or handshake that freed the slot. */
    if (!w->stopping)
        uv_timer_start(&w->admit_timer, on_admit, 0, RG_WORKER_ADMIT_POLL_MS);
}

/* Fairness: loop turns are counted for the connections' shares. */
static void flush_output(struct rg_worker *w);

static void on_turn(uv_prepare_t *p)
{
    struct rg_worker *w = p->data;
    /* One turn per loop iteration: when more_idle began it before the poll, the
     * connections it ran must not get a second share in this iteration's poll. */
    if (!w->conns.more_turn)
        rg_conn_turn_begin(&w->conns);
    w->conns.more_turn = false;
    /* Output produced outside the poll (a retransmission from a timer, requests framed from
     * the "more" list) leaves now: the poll may block, and the check handle would only run
     * after its next event. flush_output first wakes the connections that slots freed outside
     * the poll (a timeout, a deferred connection's drop) let go on, so they are read in this
     * poll already; a freed slot always starts the check handle, except while it closes. */
    if (uv_is_active((uv_handle_t *)&w->flush_check))
        flush_output(w);
    else if (rg_conn_wake_due(&w->conns))
        rg_conn_wake_paused(&w->conns);
}

static void on_more(uv_idle_t *i)
{
    struct rg_worker *w = i->data;
    rg_conn_turn_begin(&w->conns);
    w->conns.more_turn = true;
    rg_conn_run_more(&w->conns);
    if (!w->conns.more_head)
        uv_idle_stop(i);
}

static void schedule_more(void *arg)
{
    struct rg_worker *w = arg;
    uv_idle_start(&w->more_idle, on_more);
}

/* The table freed a slot (rg_proxy_host.slot_freed): a paused connection is woken from the
 * check handle after the poll or the prepare handle before it (rg_conn_slot_freed). */
static void slot_freed(void *arg)
{
    struct rg_worker *w = arg;
    rg_conn_slot_freed(&w->conns);
}

/* ---- batched output ---- */

/* Check handles run once per loop turn, right after the I/O callbacks: connections paused for
 * table room go on first, then everything the turn produced for one connection leaves in one
 * TLS record and one write (issue 14). A send that completes at once can free a slot: the
 * connection it wakes sends in this pass too. */
static void flush_output(struct rg_worker *w)
{
    rg_backend_drain(&w->backend_io);
    do {
        rg_conn_wake_paused(&w->conns);
        rg_backend_flush(&w->backend_io);
    } while (rg_conn_wake_due(&w->conns));
    rg_conn_flush_staged(&w->conns);
    if (!w->conns.staged && !w->backend_io.send_socks && !rg_conn_wake_due(&w->conns))
        uv_check_stop(&w->flush_check);
}

static void on_flush_check(uv_check_t *h)
{
    flush_output(h->data);
}

/* Run flush_output at the end of this loop turn (the check phase): the connections' and the
 * backend sets' flush hook. */
static void schedule_flush(void *arg)
{
    struct rg_worker *w = arg;
    if (!uv_is_closing((uv_handle_t *)&w->flush_check))
        uv_check_start(&w->flush_check, on_flush_check);
}

/* Lend w's loop, counters and metrics shard to its backend sets (w->backend_io), their flush
 * asked for through schedule_flush. */
static void backend_io_init(struct rg_worker *w)
{
    rg_backend_io_init(&w->backend_io, &w->loop, &w->stats, w->metrics, schedule_flush, w);
}

/* ---- lifecycle ---- */

static void close_cb_noop(uv_handle_t *h)
{
    (void)h;
}

static void finish_stop(struct rg_worker *w)
{
    while (w->conns.head)
        rg_conn_close(w->conns.head, "gateway stopping");
    rg_coa_worker_close(w->coa);
    rg_proxy_abort_all(&w->proxy);
    rg_proxy_close(&w->proxy);
    rg_backend_set_retire(w->backends);
    w->backends = NULL;
    rg_proxy_set_backends(&w->proxy, NULL); /* its copy must not outlive the set */
    uv_close((uv_handle_t *)&w->health_timer, close_cb_noop);
    uv_close((uv_handle_t *)&w->admit_timer, close_cb_noop);
    uv_close((uv_handle_t *)&w->turn_prepare, close_cb_noop);
    uv_close((uv_handle_t *)&w->more_idle, close_cb_noop);
    uv_close((uv_handle_t *)&w->trim_check, close_cb_noop);
    uv_close((uv_handle_t *)&w->drain_timer, close_cb_noop);
    uv_close((uv_handle_t *)&w->flush_check, close_cb_noop);
    uv_close((uv_handle_t *)&w->wakeup, close_cb_noop);
}

static void on_drain(uv_timer_t *t)
{
    struct rg_worker *w = t->data;
    if (w->proxy.inuse == 0 || rg_now_ms() >= w->stop_deadline_ms) {
        uv_timer_stop(t);
        finish_stop(w);
    }
}

static void install_gen(struct rg_worker *w, struct rg_gen *g)
{
    const struct rg_config *old = w->gen->cfg, *cfg = g->cfg;
    bool listen_changed =
        old->listen.port != cfg->listen.port || old->listen.naddress != cfg->listen.naddress;
    for (size_t i = 0; !listen_changed && i < cfg->listen.naddress; i++)
        listen_changed = strcmp(old->listen.address[i], cfg->listen.address[i]) != 0;
    if (listen_changed && w->index == 0)
        rg_warn("event=reload_listen_changed reason=\"listen addresses or port changed\" "
                "fix=\"restart radsecgw to apply them\"");
    rg_proxy_set_limit(&w->proxy, rg_worker_table_limit(cfg));
    /* Requests in flight finish on the old backend set; new ones use the new one. */
    struct rg_backend_set *old_set = w->backends;
    struct rg_backend_events ev = rg_proxy_backend_events(&w->proxy);
    w->backends = rg_backend_set_new(&w->backend_io, g->cfg, &ev);
    rg_proxy_set_backends(&w->proxy, w->backends);
    rg_backend_set_inherit(w->backends, old_set);
    rg_backend_set_retire(old_set);
    rg_gen_unref(w->gen);
    w->gen = g;
    w->conns.gen = g;
    /* radiusdtls-bis §3.3: trusted CAs or revocation data may have changed; every connected
     * peer is re-assessed. A close can resume paused connections, which may close (unlink)
     * others: walk a snapshot of the list. Closed ones stay allocated until their close
     * callbacks, which run after this one, and rg_conn_recheck skips them. */
    unsigned before = w->conns.count, n = 0;
    struct rg_conn **all = before ? malloc(before * sizeof(*all)) : NULL;
    for (struct rg_conn *c = w->conns.head; c && all; c = c->next)
        all[n++] = c;
    for (unsigned i = 0; i < n; i++)
        rg_conn_recheck(all[i], g);
    if (!all) { /* out of memory for the snapshot: the plain walk */
        for (struct rg_conn *c = w->conns.head, *next; c; c = next) {
            next = c->next;
            rg_conn_recheck(c, g);
        }
    }
    free(all);
    if (w->conns.waiting.n) /* the limits may have grown */
        schedule_admit(w);
    if (before != w->conns.count)
        rg_notice("event=recheck_closed generation=%llu closed=%u worker=%u",
                  (unsigned long long)g->number, before - w->conns.count, w->index);
}

static void on_wakeup(uv_async_t *a)
{
    struct rg_worker *w = a->data;
    uv_mutex_lock(&w->lock);
    struct rg_gen *g = w->pending_gen;
    w->pending_gen = NULL;
    bool stop = w->stop;
    uv_mutex_unlock(&w->lock);
    if (g && !w->stopping)
        install_gen(w, g);
    else if (g)
        rg_gen_unref(g);
    if (stop && !w->stopping) {
        w->stopping = true;
        rg_listener_close_all(&w->listen);
        w->stop_deadline_ms = rg_now_ms() + RG_WORKER_DRAIN_MS;
        uv_timer_start(&w->drain_timer, on_drain, 0, 100);
    }
}

static void run(void *arg)
{
    struct rg_worker *w = arg;
    /* "radsecgw-w0"...: what top -H, ps -L and /proc/PID/task/TID/comm show (15 octets). */
    char name[16];
    snprintf(name, sizeof(name), "radsecgw-w%u", w->index);
    pthread_setname_np(pthread_self(), name);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    rg_thread_cleanup();
}

/* Once the loop has run to its end (every handle closed): what the worker holds. */
static void release(struct rg_worker *w)
{
    uv_loop_close(&w->loop);
    rg_proxy_free(&w->proxy);
    rg_backend_io_free(&w->backend_io);
    rg_coa_worker_free(w->coa);
    w->coa = NULL;
    rg_buf_pool_trim(&w->conns.buf_pool, 0);
    if (w->pending_gen)
        rg_gen_unref(w->pending_gen);
    w->pending_gen = NULL;
    rg_gen_unref(w->gen);
    w->gen = NULL;
    uv_mutex_destroy(&w->lock);
}

int rg_worker_start(struct rg_worker *w, unsigned index, struct rg_gen *gen)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->metrics = rg_metrics_shard(index);
    backend_io_init(w);
    rg_buf_pool_init(&w->conns.buf_pool, RG_WORKER_BUF_SIZE, RG_WORKER_BUF_KEEP);
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    uv_mutex_init(&w->lock);
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    w->coa = rg_coa_worker_init(&w->loop, index);
    uv_timer_init(&w->loop, &w->health_timer);
    w->health_timer.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_timer_init(&w->loop, &w->admit_timer);
    w->admit_timer.data = w;
    uv_prepare_init(&w->loop, &w->turn_prepare);
    w->turn_prepare.data = w;
    uv_prepare_start(&w->turn_prepare, on_turn);
    uv_unref((uv_handle_t *)&w->turn_prepare); /* counts turns; keeps no loop alive */
    uv_idle_init(&w->loop, &w->more_idle);
    w->more_idle.data = w;
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_init(&w->loop, &w->trim_check);
    w->trim_check.data = w;
    w->gen = rg_gen_ref(gen);
    struct rg_backend_events ev = rg_proxy_backend_events(&w->proxy);
    w->backends = rg_backend_set_new(&w->backend_io, gen->cfg, &ev);
    const struct rg_proxy_host host = {.stats = &w->stats,
                                       .metrics = w->metrics,
                                       .index = index,
                                       .slot_freed = slot_freed,
                                       .arg = w};
    rc = rg_proxy_init(&w->proxy, &host, &w->loop, rg_worker_table_limit(gen->cfg));
    rg_proxy_set_backends(&w->proxy, w->backends);
    w->conns.loop = &w->loop;
    w->conns.index = index;
    w->conns.stats = &w->stats;
    w->conns.metrics = w->metrics;
    w->conns.proxy = &w->proxy;
    w->conns.coa = w->coa;
    w->conns.gen = w->gen;
    w->conns.hooks = (struct rg_conn_hooks){.schedule_admit = schedule_admit,
                                            .schedule_more = schedule_more,
                                            .schedule_flush = schedule_flush,
                                            .schedule_trim = schedule_trim,
                                            .arg = w};
    w->listen.loop = &w->loop;
    w->listen.index = index;
    w->listen.stats = &w->stats;
    w->listen.conns = &w->conns;
    if (rc == 0)
        rc = rg_listener_open(&w->listen, gen->cfg);
    if (rc < 0) {
        w->stop = true;
        w->stopping = true;
        rg_listener_close_all(&w->listen);
        finish_stop(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        release(w); /* what rg_worker_join releases, for a worker that never ran */
        return rc;
    }
    __atomic_store_n(&w->beat_ms, rg_now_ms(), __ATOMIC_RELAXED);
    uv_timer_start(&w->health_timer, on_health, 1000, 1000);
    return uv_thread_create(&w->thread, run, w);
}

void rg_worker_reload(struct rg_worker *w, struct rg_gen *gen)
{
    uv_mutex_lock(&w->lock);
    if (w->pending_gen)
        rg_gen_unref(w->pending_gen);
    w->pending_gen = rg_gen_ref(gen);
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

void rg_worker_stop(struct rg_worker *w)
{
    uv_mutex_lock(&w->lock);
    w->stop = true;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

void rg_worker_join(struct rg_worker *w)
{
    uv_thread_join(&w->thread);
    /* Retired backend sets close their sockets once idle; let those callbacks run. */
    uv_run(&w->loop, UV_RUN_DEFAULT);
    release(w);
}
