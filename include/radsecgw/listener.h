/* Listening sockets (one per listen.address, SO_REUSEPORT so every worker has its own) and
 * the connection limits shared by all workers: max-connections, max-connections-per-ip,
 * source prefixes. The counters are the one place workers meet on connect/disconnect;
 * no request touches them. */
#ifndef RADSECGW_LISTENER_H
#define RADSECGW_LISTENER_H

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

/* Admission before the handshake: NULL and counted if allowed, else the refusal reason. */
const char *rg_listener_admit(const struct rg_config *cfg, const struct sockaddr *addr);
/* A counted connection is gone. */
void rg_listener_release(const struct sockaddr *addr);
unsigned rg_listener_total(void);

#endif
