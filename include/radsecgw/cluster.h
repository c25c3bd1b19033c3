/* Several gateways behind one balancer (docs/ha.md): the NAS registry published to Redis
 * (hiredis on the main loop, never on a worker's request path) and the hand-off of a CoA for
 * a NAS another instance holds, authenticated with the cluster secret. The DAC side (its
 * secret, its answer) stays in coa_listen.c; this file knows Redis and the other instances. */
#ifndef RADSECGW_CLUSTER_H
#define RADSECGW_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/coa.h"
#include "radsecgw/config.h"

#define RG_CLUSTER_TTL_S         30    /* registry entries live this long unless refreshed */
#define RG_CLUSTER_REFRESH_MS    10000 /* every entry of this instance is written again */
#define RG_CLUSTER_FLUSH_MS      200   /* registry changes are sent this often */
#define RG_CLUSTER_REDIS_WAIT_MS 500   /* a lookup slower than this: Redis is slow, CoA local */
#define RG_CLUSTER_HANDOFF_MS    8000  /* the other instance did not answer: forgotten */
#define RG_CLUSTER_MAX_QUEUE     65536 /* registry changes waiting for Redis; then a resync */
#define RG_CLUSTER_MAX_HANDOFFS  256   /* CoA handed to other instances and not answered */

/* ---- main thread ---- */

/* How the cluster reads the registry it publishes: each(each_arg, fn, fn_arg) calls fn for
 * every key, without blocking (coa_listen.c wires rg_coa_registry_each). The cluster knows
 * no registry: it is handed the keys, and told of changes through rg_cluster_note. */
typedef void (*rg_cluster_each_fn)(void *each_arg, rg_coa_key_fn fn, void *fn_arg);

/* Connect to Redis when cfg->cluster.enabled and publish the keys each lists (all of them
 * every RG_CLUSTER_REFRESH_MS and after a reconnect). 0 or negative. */
int rg_cluster_start(uv_loop_t *loop, const struct rg_config *cfg, rg_cluster_each_fn each,
                     void *each_arg);
/* A new config: Redis address, password, instance or secret changed -> reconnect. */
void rg_cluster_reload(const struct rg_config *cfg);
/* Close Redis and the hand-off socket (graceful stop); pending hand-offs are answered. */
void rg_cluster_stop(void);
bool rg_cluster_enabled(void);

/* A hand-off ended: status 1 with the other instance's answer (verified with the cluster
 * secret against the request we sent, ID and authenticator still ours: the caller rewrites
 * them for the DAC), 0 when no instance holds the NAS or Redis cannot tell (NAK 502),
 * -ETIMEDOUT when the holder did not answer (no answer: the DAC retransmits). why says which
 * for the log line. */
typedef void (*rg_cluster_done_cb)(void *arg, int status, const uint8_t *reply, size_t len,
                                   const char *why);

/* Find the instance holding a NAS of the orgs cl may reach (coa = true) that carries ids[0],
 * and hand it the request (pkt, from cl, validated and authenticated): re-signed with the
 * cluster secret, with a Proxy-State naming cl so the holder checks cl's orgs itself.
 * 0: cb will be called (once, from the main loop); negative: not handed (Redis down
 * -ENOTCONN, too many in flight -EBUSY), cb is never called. */
int rg_cluster_forward(const struct rg_coa_client *cl, const uint8_t *pkt, size_t len,
                       const struct rg_coa_ident *ids, size_t nids, rg_cluster_done_cb cb,
                       void *arg);

/* Is pkt (validated) a hand-off from another instance? 1 and *client_name (points into pkt,
 * name_len octets) when it carries our Proxy-State and verifies with the cluster secret;
 * 0 when it carries none (an ordinary request); -EBADMSG when it carries one but does not
 * verify (discard). */
int rg_cluster_handoff_check(const uint8_t *pkt, const char **client_name, size_t *name_len);
/* The hand-off request as the local routing sees it: our Proxy-State removed (in place).
 * Returns the new length. */
size_t rg_cluster_handoff_strip(uint8_t *pkt);
/* The secret answers to a hand-off are signed with. */
rg_secret rg_cluster_secret(void);

/* ---- any thread: registry changes, queued for the main loop ---- */

/* An rg_coa_key_fn (arg unused): coa_listen.c installs it with rg_coa_registry_watch. */
void rg_cluster_note(void *arg, bool added, const char *org, enum rg_coa_key_kind kind,
                     const uint8_t *value, size_t len);

/* After the workers are joined. */
void rg_cluster_shutdown(void);

/* Pure: the Redis key of (org, kind, value) into buf; its length. */
size_t rg_cluster_key(const char *org, enum rg_coa_key_kind kind, const void *value, size_t len,
                      char *buf, size_t cap);

#endif
