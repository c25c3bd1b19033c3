/* What the whole process knows about each RADIUS server (src/backend_shared.c), apart from
 * the per-worker sockets of backend.h: whether it signs its replies (what
 * require-message-authenticator = auto learns) and when each operator warning about it was
 * last logged. Read by the reply path (proxy_reply.c, translate.c) and the metrics
 * catalogue; knows no socket, no worker and no metrics. */
#ifndef RADSECGW_BACKEND_SHARED_H
#define RADSECGW_BACKEND_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "radsecgw/config.h"

/* Rate-limited operator warnings about one server's replies (rg_backend_warn_due). */
enum rg_backend_warning {
    RG_BACKEND_WARN_UNSIGNED_ACCEPTED, /* auto: unsigned reply passed (hourly) */
    RG_BACKEND_WARN_UNSIGNED_DROPPED,  /* true, or auto once learned: unsigned reply dropped */
    RG_BACKEND_WARN_EAP_UNSIGNED,      /* EAP reply without Message-Authenticator dropped */
    RG_BACKEND_WARN_UNUSABLE,          /* verified reply that cannot be forwarded */
    RG_BACKEND_WARN_KINDS,
};

/* What the whole process knows about one RADIUS server, shared by every worker and kept
 * across reloads while pool, server name, address and secret stay the same: whether it
 * signs replies to Access-Requests without EAP-Message (require-message-authenticator =
 * auto learns this once), and when each warning was last logged. The fields are atomics
 * (one load per reply); the table they live in is locked only when a backend set is built
 * or freed. */
struct rg_backend_shared {
    bool signs;                                /* atomic: once true, stays true */
    uint64_t warned_ms[RG_BACKEND_WARN_KINDS]; /* atomic: last warning of each kind */
    unsigned refs;                             /* guarded by the table lock */
    char *key;                                 /* malloced, owned: pool, name, address, secret */
    size_t key_len;
    struct rg_backend_shared *next; /* the table's list */
};

/* Has srv signed a reply to a non-EAP Access-Request? (auto mode) */
bool rg_backend_signs(const struct rg_backend_shared *sh);
/* It has: returns true the first time (for a log line), false after. */
bool rg_backend_learn_signs(struct rg_backend_shared *sh);
/* A warning of kind may be logged now (at most one per interval_ms per server, for every
 * worker together): claims the slot and returns true, or false. */
bool rg_backend_warn_due(struct rg_backend_shared *sh, enum rg_backend_warning kind,
                         uint64_t now_ms, uint64_t interval_ms);
/* The shared state of a configured server, created on first use (reference counted). */
struct rg_backend_shared *rg_backend_shared_get(const struct rg_pool *pool,
                                                const struct rg_server *srv);
void rg_backend_shared_put(struct rg_backend_shared *sh);

#endif
