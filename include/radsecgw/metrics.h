/* Prometheus metrics: per-worker shards of labelled samples that only their worker writes
 * (relaxed atomics; a slot is published once with a release store), a catalogue of what the
 * configuration names (orgs, pools, servers, certificate and CRL expiry) that the main thread
 * replaces on load and reload, and the HTTP endpoint (libmicrohttpd, one thread of its own)
 * that sums the shards and the rg_stats blocks on every scrape. No lock on the request path.
 * Knows nothing of the protocol: callers pass names and codes as text. */
#ifndef RADSECGW_METRICS_H
#define RADSECGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "radsecgw/stats.h"

struct rg_config;

/* Labelled families a worker writes. */
enum rg_metric_family {
    RG_METRIC_REQUESTS,     /* radsecgw_requests_total{org,pool,code,result} */
    RG_METRIC_DURATION,     /* radsecgw_request_duration_seconds{pool}: sub is the bucket */
    RG_METRIC_DURATION_SUM, /* its _sum, in milliseconds */
    RG_METRIC_CONNECTIONS,  /* radsecgw_connections{org}: gauge */
    RG_METRIC_TLS_REFUSED,  /* radsecgw_tls_refused_total{reason} */
    RG_METRIC_BACKEND_DOWN, /* per worker: 1 while it counts {pool,server} dead */
    RG_METRIC_BACKEND_SENT, /* radsecgw_backend_requests_total{pool,server} */
    RG_METRIC_FAMILIES,
};

#define RG_METRICS_SLOTS      2048 /* labelled samples per worker: orgs x pools x codes x results */
#define RG_METRICS_LABELS_MAX 192

struct rg_metric_slot {
    bool used; /* atomic: release-stored once family, sub, hash and labels are written */
    uint8_t family;
    uint8_t sub;
    uint32_t hash;
    char labels[RG_METRICS_LABELS_MAX]; /* 'org="acme",pool="corp"': fixed once used */
    uint64_t value;                     /* atomic (relaxed); gauges wrap through zero */
};

/* One worker's samples: written by that worker only, read by the endpoint. */
struct rg_metrics_shard {
    struct rg_metric_slot slots[RG_METRICS_SLOTS];
    uint64_t overflow; /* atomic: updates that found no free slot */
};

/* Main thread, before the workers start: shards for nworkers workers (even with no metrics
 * block, so a test can read them; they cost memory only). */
int rg_metrics_init(unsigned nworkers);
/* Worker index's shard (NULL before rg_metrics_init: every update below is then a no-op). */
struct rg_metrics_shard *rg_metrics_shard(unsigned index);

/* Worker side. Label values are escaped here (Prometheus text format). */
void rg_metrics_add(struct rg_metrics_shard *sh, enum rg_metric_family f, uint8_t sub,
                    const char *labels, int64_t delta);
/* A request that ended: result is the reply code or "timeout", "discarded", "no_server";
 * latency_ms < 0 when there is no reply to time. */
void rg_metrics_request(struct rg_metrics_shard *sh, const char *org, const char *pool,
                        const char *code, const char *result, int64_t latency_ms);
/* Set instead of add: a per-worker state (RG_METRIC_BACKEND_DOWN). */
void rg_metrics_set(struct rg_metrics_shard *sh, enum rg_metric_family f, uint8_t sub,
                    const char *labels, uint64_t value);
void rg_metrics_conn(struct rg_metrics_shard *sh, const char *org, int delta);
/* reason: the refusal text; its part before the first ':' or '(' becomes the label
 * ("unknown CA" -> unknown_ca). */
void rg_metrics_refused(struct rg_metrics_shard *sh, const char *reason);
/* RG_METRIC_BACKEND_SENT: add delta; RG_METRIC_BACKEND_DOWN: set it (1 dead, 0 alive). */
void rg_metrics_backend(struct rg_metrics_shard *sh, enum rg_metric_family f, const char *pool,
                        const char *server, int64_t delta);

/* "unknown CA: x" -> "unknown_ca" (lower case, [a-z0-9_], at most len - 1). */
void rg_metrics_reason_label(const char *text, char *out, size_t len);

/* Main thread: the blocks the endpoint sums into the RG_STATS_FIELDS families (the workers'
 * and the CoA listener's; they outlive rg_metrics_stop). */
void rg_metrics_set_stats(const struct rg_stats *const *blocks, size_t n);
/* Main thread, at start, reload and CRL refresh: what cfg names, and the expiry of every
 * certificate and CRL it loads (read now). generation is the config generation. */
void rg_metrics_catalog(const struct rg_config *cfg, uint64_t generation, time_t now);

/* Start the endpoint on cfg's metrics block (nothing when it has none). 0, or a negative
 * errno with an event=metrics_listen_failed line. */
int rg_metrics_start(const struct rg_config *cfg);
/* Stop the endpoint and free the shards and the catalogue (after the workers joined). */
void rg_metrics_stop(void);

/* The exposition text (what GET /metrics answers): malloced, NUL-terminated; *len its
 * length. NULL when out of memory. */
char *rg_metrics_render(size_t *len);

#endif
