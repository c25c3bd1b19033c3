/* A worker: one libuv loop with its own listening sockets (SO_REUSEPORT), connections,
 * backend sockets and state table. Workers share nothing on the request path; the main
 * thread hands them new config generations through uv_async. */
#ifndef RADSECGW_WORKER_H
#define RADSECGW_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "radsecgw/config.h"
#include "radsecgw/conn.h"
#include "radsecgw/gen.h"
#include "radsecgw/listener.h"
#include "radsecgw/proxy.h"
#include "radsecgw/metrics.h"
#include "radsecgw/stats.h"
#include "radsecgw/tls.h"

struct rg_conn;
struct rg_backend_set;
struct rg_backend_sock;
struct rg_coa_worker;

/* The worker's buffer pool: each buffer holds a whole TLS record (RFC 8446 §5.2: 2^14 octets
 * plus header and expansion); up to RG_WORKER_BUF_KEEP idle ones are kept for reuse. */
#define RG_WORKER_BUF_SIZE (17u * 1024u)
#define RG_WORKER_BUF_KEEP 64u
/* Connections closed (or pooled buffers freed past RG_WORKER_BUF_KEEP) since memory was last
 * returned that make the next health tick return it (malloc_trim). */
#define RG_WORKER_TRIM_CLOSES 1024u

struct rg_worker {
    unsigned index;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wakeup;          /* main -> worker: new generation or stop */
    uv_mutex_t lock;            /* guards pending_gen and stop only */
    struct rg_gen *pending_gen; /* reference held; handed over by the main thread */
    bool stop;
    bool stopping;
    struct rg_gen *gen;              /* reference held: current generation */
    struct rg_backend_set *backends; /* owned: current backend set */
    struct rg_proxy proxy;
    struct rg_conn_set conns;      /* the connections (conn.h's), wired to the handles below */
    struct rg_listener_set listen; /* its listening sockets (listener.h's) */
    uv_check_t
        flush_check; /* after the turn's I/O: wakes paused connections, encrypts and writes */
    struct rg_backend_io backend_io; /* lent to the backend sets (backend.c's to use) */
    uv_timer_t admit_timer;          /* hands freed slots to waiting connections */
    /* Fairness (conn_fairness.c): a loop turn is counted by turn_prepare; connections that
     * used their share of one wait in the more list for the next, run from more_idle (which
     * also keeps the poll from blocking while any wait). */
    uv_prepare_t turn_prepare;
    uv_idle_t more_idle;
    uv_timer_t health_timer; /* probes and hold-down */
    uint64_t beat_ms;        /* atomic: when health_timer last ran (the loop turns); main's
                                watchdog reads it */
    struct rg_stats stats;
    struct rg_metrics_shard *metrics; /* not owned (metrics.c); NULL without a metrics block */
    struct rg_coa_worker *coa;        /* owned by coa_worker.c: CoA queue, timeouts */
    uv_check_t trim_check;            /* runs rg_conn_trim_idle after the poll */
    uv_timer_t drain_timer;           /* graceful stop */
    uint64_t stop_deadline_ms;
};

/* Create and bind (listening sockets with SO_REUSEPORT), then run in a thread. */
int rg_worker_start(struct rg_worker *w, unsigned index, struct rg_gen *gen);
/* Main thread: hand a new generation (the worker takes its own reference). */
void rg_worker_reload(struct rg_worker *w, struct rg_gen *gen);
/* Main thread: graceful stop (stop accepting, drain in-flight up to a few seconds). */
void rg_worker_stop(struct rg_worker *w);
void rg_worker_join(struct rg_worker *w);

/* Requests the worker's table may hold for cfg (every server's max-outstanding, auth
 * and accounting). */
unsigned rg_worker_table_limit(const struct rg_config *cfg);

#endif
