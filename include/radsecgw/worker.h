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
#include "radsecgw/proxy.h"
#include "radsecgw/metrics.h"
#include "radsecgw/stats.h"
#include "radsecgw/tls.h"

struct rg_conn;
struct rg_backend_set;
struct rg_backend_sock;
struct rg_coa_worker;

struct rg_listener {
    uv_tcp_t tcp;             /* embedded; the struct is freed once tcp and spare are closed */
    uv_tcp_t spare;           /* embedded; takes a connection there is no memory for */
    unsigned open_handles;    /* tcp, and spare while it closes */
    bool closed;              /* tcp closed: free when spare's close completes too */
    bool spare_busy;          /* spare is closing the last dropped connection */
    bool spare_wanted;        /* another connection waits for spare (libuv holds it) */
    struct rg_worker *worker; /* not owned */
    char addr_text[64];
};

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
    struct rg_listener **listeners; /* malloced array, owned; each freed in its close cb */
    unsigned nlisteners;
    struct rg_conn *conns; /* list of open connections (owned, freed in close callbacks) */
    unsigned nconns;
    struct rg_conn *staged; /* connections with packets staged in this loop turn */
    uv_check_t
        flush_check; /* after the turn's I/O: wakes paused connections, encrypts and writes */
    struct rg_backend_io backend_io; /* lent to the backend sets (backend.c's to use) */
    struct rg_conn *paused;          /* connections waiting for table room, oldest first */
    struct rg_conn *paused_tail;     /* last of that list: paused connections resume in order */
    unsigned wake_credit;            /* slots freed since the paused were woken: how many to wake */
    unsigned closes_unreturned;      /* connections closed since return_memory last ran */
    uint64_t next_conn_id;
    struct rg_conn_queue waiting;  /* accepted, waiting for a handshake slot, oldest first */
    struct rg_conn *waiting_heard; /* ...but those that spoke first: the last of them */
    struct rg_conn_queue silent;   /* in the handshake, nothing received yet, oldest first */
    uv_timer_t admit_timer;        /* hands freed slots to waiting connections */
    /* Fairness (conn.c): a loop turn is counted by turn_prepare; connections that used
     * their share of one wait in the more list for the next, run from more_idle (which
     * also keeps the poll from blocking while any wait). */
    uv_prepare_t turn_prepare;
    uv_idle_t more_idle;
    uint64_t turn;
    bool more_turn;          /* more_idle began this iteration's turn: the prepare does not */
    unsigned turn_busy;      /* connections that used up their share in this turn */
    unsigned turn_busy_prev; /* ...and in the last one (conn_fairness.c divides by it) */
    struct rg_conn *more_head, *more_tail; /* not owned */
    unsigned nmore;
    uint64_t handshake_turn; /* the turn handshake_ns belongs to */
    uint64_t handshake_ns;   /* TLS handshake work done in that turn */
    uv_timer_t health_timer; /* probes and hold-down */
    uint64_t beat_ms;        /* atomic: when health_timer last ran (the loop turns); main's
                                watchdog reads it */
    struct rg_stats stats;
    struct rg_metrics_shard *metrics; /* not owned (metrics.c); NULL without a metrics block */
    struct rg_coa_worker *coa;        /* owned by coa_worker.c: CoA queue, timeouts */
    struct rg_buf_pool buf_pool;      /* TLS and write buffers of this worker's connections */
    uv_check_t trim_check;            /* runs rg_conn_trim_idle after the poll */
    struct rg_conn *trim_head;        /* connections to trim (rg_conn.trim_next) */
    uint8_t tcp_buf[65536];           /* receive buffer for AP connections */
    bool tcp_buf_busy;
    uv_timer_t drain_timer; /* graceful stop */
    uint64_t stop_deadline_ms;
};

/* Create and bind (listening sockets with SO_REUSEPORT), then run in a thread. */
int rg_worker_start(struct rg_worker *w, unsigned index, struct rg_gen *gen);
/* Main thread: hand a new generation (the worker takes its own reference). */
void rg_worker_reload(struct rg_worker *w, struct rg_gen *gen);
/* Main thread: graceful stop (stop accepting, drain in-flight up to a few seconds). */
void rg_worker_stop(struct rg_worker *w);
void rg_worker_join(struct rg_worker *w);

/* Run rg_conn_admit_waiting from the loop soon, then every few ms while any wait. */
void rg_worker_schedule_admit(struct rg_worker *w);

/* Start the idle handle that runs rg_conn_run_more (the more list is not empty). */
void rg_worker_schedule_more(struct rg_worker *w);

/* Lend w's loop, counters and metrics shard to its backend sets (w->backend_io), their
 * flush asked for through rg_worker_schedule_flush. */
void rg_worker_backend_io_init(struct rg_worker *w);

/* Run rg_conn_flush_staged at the end of this loop turn (the check phase). */
void rg_worker_schedule_flush(struct rg_worker *w);

/* Run rg_conn_trim_idle once this loop turn has polled. */
void rg_worker_schedule_trim(struct rg_worker *w);

/* A request slot was freed (proxy.c): one connection paused by backpressure is woken from
 * the worker's check handle, once this loop turn has polled (not from inside the caller). */
void rg_worker_resume_paused(struct rg_worker *w);

/* Requests the worker's table may hold for cfg (every server's max-outstanding, auth
 * and accounting). */
unsigned rg_worker_table_limit(const struct rg_config *cfg);

#endif
