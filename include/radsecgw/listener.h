/* Listening sockets (one per listen.address, SO_REUSEPORT so every worker has its own): each
 * accepted connection is handed to conn.c (rg_conn_accept). The connection limits are
 * admission.h's. */
#ifndef RADSECGW_LISTENER_H
#define RADSECGW_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/config.h"

struct rg_worker;

/* Open every listen.address:port of cfg for worker w (bound, listening, SO_REUSEPORT). */
int rg_listener_open(struct rg_worker *w, const struct rg_config *cfg);
void rg_listener_close_all(struct rg_worker *w);

/* The connection pending on server (a listener's handle) cannot be served (no memory for
 * it): accept and close it anyway, or libuv stops accepting on that socket. */
void rg_listener_drop(uv_stream_t *server);

#endif
