/* Listening sockets (one per listen.address, SO_REUSEPORT so every worker has its own): each
 * accepted connection is handed to the worker's connections (rg_conn_accept). The connection
 * limits are admission.h's. Knows nothing of its worker: what it uses is lent in
 * struct rg_listener_set. */
#ifndef RADSECGW_LISTENER_H
#define RADSECGW_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/config.h"
#include "radsecgw/conn.h"

struct rg_listener_set;

struct rg_listener {
    uv_tcp_t tcp;                /* embedded; the struct is freed once tcp and spare are closed */
    uv_tcp_t spare;              /* embedded; takes a connection there is no memory for */
    unsigned open_handles;       /* tcp, and spare while it closes */
    bool closed;                 /* tcp closed: free when spare's close completes too */
    bool spare_busy;             /* spare is closing the last dropped connection */
    bool spare_wanted;           /* another connection waits for spare (libuv holds it) */
    struct rg_listener_set *set; /* not owned: its worker's */
    char addr_text[64];
};

/* One worker's listening sockets: the worker embeds it and fills in the first block. */
struct rg_listener_set {
    uv_loop_t *loop;                /* not owned */
    unsigned index;                 /* the worker's: worker 0 checks and logs each address */
    struct rg_stats *stats;         /* not owned */
    struct rg_conn_set *conns;      /* not owned: where accepted connections go */
    struct rg_listener **listeners; /* malloced array, owned; each freed in its close cb */
    unsigned n;
};

/* Open every listen.address:port of cfg for ls (bound, listening, SO_REUSEPORT). */
int rg_listener_open(struct rg_listener_set *ls, const struct rg_config *cfg);
void rg_listener_close_all(struct rg_listener_set *ls);

/* The connection pending on server (a listener's handle) cannot be served (no memory for
 * it): accept and close it anyway, or libuv stops accepting on that socket. */
void rg_listener_drop(uv_stream_t *server);

#endif
