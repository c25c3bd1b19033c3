/* Reverse CoA on the main loop: the UDP socket Dynamic Authorization Clients send to, who
 * they are (configured source addresses, or a hand-off from another instance), the checks
 * and NAKs of RFC 5176 before anything is forwarded, and the hand-over of a routed request
 * to the worker that owns the NAS's connection (coa_worker.c). It owns the registry and the
 * cluster side by side and wires them: the registry reports its changes to rg_cluster_note
 * and the cluster lists it through registry_each, so neither calls the other. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/cluster.h"
#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/translate.h"
#include "coa_internal.h"

static const struct rg_coa_client *find_client(const struct sockaddr *sa)
{
    /* Clients are known by source address only; the port is the DAC's choice. */
    for (size_t i = 0; rg_coa.cfg && i < rg_coa.cfg->coa.nclients; i++) {
        const struct rg_coa_client *c = &rg_coa.cfg->coa.clients[i];
        if (c->addr.ss_family != sa->sa_family)
            continue;
        if (sa->sa_family == AF_INET &&
            ((const struct sockaddr_in *)(const void *)&c->addr)->sin_addr.s_addr ==
                ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr)
            return c;
        if (sa->sa_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)(const void *)&c->addr)->sin6_addr,
                   &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                   sizeof(struct in6_addr)) == 0)
            return c;
    }
    return NULL;
}

static void nak_local(const uint8_t *pkt, size_t len, const struct sockaddr *addr,
                      const struct rg_coa_client *cl, rg_secret secret, uint32_t cause)
{
    uint8_t nak[RG_RADIUS_MAX_LEN];
    (void)len;
    int n = rg_translate_coa_nak(pkt, cause, secret, nak, sizeof(nak));
    if (n > 0 && rg_coa.out &&
        sendto(rg_coa.out->fd, nak, (size_t)n, 0, addr,
               addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6)) < 0)
        rg_log_limited("coa-send", LOG_WARNING, "event=coa_send_failed client=%s error=\"%s\"",
                       cl->name, strerror(errno));
}

static bool push_to_worker(struct rg_coa_req *req)
{
    bool ok = false;
    uv_mutex_lock(&rg_coa.lock);
    struct rg_coa_worker *cw = req->worker < rg_coa.nworkers ? rg_coa.workers[req->worker] : NULL;
    if (cw && !cw->closed) {
        req->next = cw->queue; /* LIFO; the worker reverses it */
        cw->queue = req;
        /* Under the lock: the worker closes the handle only after marking itself closed. */
        uv_async_send(&cw->async);
        ok = true;
    }
    uv_mutex_unlock(&rg_coa.lock);
    return ok;
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)rg_coa.rbuf, sizeof(rg_coa.rbuf));
}

static const struct rg_coa_client *find_client_named(const char *name, size_t len)
{
    for (size_t i = 0; rg_coa.cfg && i < rg_coa.cfg->coa.nclients; i++) {
        const struct rg_coa_client *c = &rg_coa.cfg->coa.clients[i];
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

/* The instance holding the NAS answered a hand-off (or nobody holds it, or it timed out). */
static void on_handed_back(void *arg, int status, const uint8_t *reply, size_t len, const char *why)
{
    struct rg_coa_req *req = arg;
    if (status == 1) {
        uint8_t out[RG_RADIUS_MAX_LEN];
        memcpy(out, reply, len);
        rg_coa_answer_client(req, out, len, why);
    } else if (status == 0) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_unroutable);
        char r[300];
        snprintf(r, sizeof(r), "%s here; cluster: %s", rg_coa_no_connected_nas, why);
        rg_log_limited("coa-unroutable", LOG_NOTICE,
                       "event=coa_nak %s error_cause=%u reason=\"%s\"", req->desc,
                       RG_COA_ERR_NOT_ROUTABLE, RG_LOG_ESC(r));
        rg_coa_send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
    } else {
        RG_STAT_INC(&rg_coa.stats, coa_timeouts);
        rg_notice("event=coa_timeout %s instance=%s timeout_s=%u reason=\"no answer from the "
                  "instance holding the NAS\"",
                  req->desc, why, RG_CLUSTER_HANDOFF_MS / 1000);
    }
    rg_coa_req_finish(req);
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *sa,
                        unsigned flags)
{
    (void)u;
    (void)flags;
    if (nread <= 0 || !sa)
        return;
    uint8_t *pkt = (uint8_t *)buf->base;
    char from[80];
    rg_sockaddr_format(sa, true, from, sizeof(from));
    struct rg_radius_error err;
    char why[128];
    bool valid = rg_radius_validate(pkt, (size_t)nread, &err) == 0;
    /* Another instance handing over a request for one of our NASes: signed with the cluster
     * secret, naming the DAC's client, whose orgs are checked here again. */
    const char *cname = NULL;
    size_t cname_len = 0;
    int handoff = valid ? rg_cluster_handoff_check(pkt, &cname, &cname_len) : 0;
    const struct rg_coa_client *cl;
    rg_secret secret;
    if (handoff < 0) {
        RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded src=%s reason=\"hand-off does not verify with the "
                       "cluster secret\"",
                       from);
        return;
    }
    if (handoff) {
        cl = find_client_named(cname, cname_len);
        if (!cl) {
            char n[RG_LOG_ESC_BUF];
            rg_log_escape((const uint8_t *)cname, cname_len, n, 64);
            RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
            rg_log_limited("coa-bad", LOG_WARNING,
                           "event=coa_discarded src=%s client=\"%s\" reason=\"hand-off for a "
                           "coa client not configured here (clients must be the same on every "
                           "instance)\"",
                           from, n);
            return;
        }
        secret = rg_cluster_secret();
    } else {
        cl = find_client(sa);
        if (!cl) {
            RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
            rg_log_limited("coa-unknown-client", LOG_WARNING,
                           "event=coa_discarded src=%s reason=\"not a configured coa client\"",
                           from);
            return;
        }
        secret = RG_SECRET_OF(cl);
    }
    if (!valid) {
        RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded client=%s src=%s reason=\"malformed packet: %s\"",
                       cl->name, from, rg_radius_error_str(&err, why, sizeof(why)));
        return;
    }
    size_t len = rg_radius_len(pkt); /* RFC 2865 §3: octets past Length are padding */
    const char *bad = handoff ? NULL : rg_translate_coa_check_request(pkt, RG_SECRET_OF(cl));
    if (bad) {
        /* RFC 5176 §3: silently discarded (no NAK: the sender is not authenticated). */
        RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
        rg_log_limited("coa-bad", LOG_WARNING,
                       "event=coa_discarded client=%s src=%s code=%s id=%u reason=\"%s\"", cl->name,
                       from, rg_radius_code_name(pkt[0]), pkt[1], bad);
        return;
    }
    if (handoff)
        len = rg_cluster_handoff_strip(pkt); /* the NAS is not told about the cluster */
    RG_STAT_INC(&rg_coa.stats, coa_requests);

    /* RFC 5176 §2.3: a retransmission (same source, ID and authenticator) in flight is not
     * sent to the NAS twice. */
    uv_mutex_lock(&rg_coa.lock);
    bool dup = false;
    for (struct rg_coa_req *r = rg_coa.pending; r && !dup; r = r->pend_next)
        dup = r->client_id == pkt[1] &&
              rg_sockaddr_equal((const struct sockaddr *)&r->client_addr, sa) &&
              memcmp(r->client_auth, pkt + 4, RG_RADIUS_AUTH_LEN) == 0;
    bool full = rg_coa.npending >= RG_COA_MAX_PENDING;
    uv_mutex_unlock(&rg_coa.lock);
    char head[200];
    snprintf(head, sizeof(head), "client=%s src=%s%s code=%s id=%u", cl->name, from,
             handoff ? " via=cluster" : "", rg_radius_code_name(pkt[0]), pkt[1]);
    if (dup) {
        RG_STAT_INC(&rg_coa.stats, coa_duplicates);
        rg_log_limited("coa-dup", LOG_INFO,
                       "event=coa_duplicate %s reason=\"retransmission of a request in flight\"",
                       head);
        return;
    }
    const char *hidden = rg_translate_coa_hidden_attr(pkt);
    if (hidden) {
        /* RFC 5176 §3.6 lets CoA-Request carry Tunnel-Password (and MPPE VSAs), but defines
         * no Request Authenticator to hide them with; re-encrypting for the NAS would be a
         * guess. Refuse rather than forward garbage (RFC 5176 §3.5: 401). */
        RG_STAT_INC(&rg_coa.stats, coa_nak_local);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"%s cannot be re-encrypted for the "
                  "NAS\"",
                  head, RG_COA_ERR_UNSUPPORTED_ATTRIBUTE, hidden);
        nak_local(pkt, len, sa, cl, secret, RG_COA_ERR_UNSUPPORTED_ATTRIBUTE);
        return;
    }
    if (full) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_local);
        rg_log_limited("coa-full", LOG_WARNING,
                       "event=coa_nak %s error_cause=%u reason=\"%u requests pending\"", head,
                       RG_COA_ERR_RESOURCES, RG_COA_MAX_PENDING);
        nak_local(pkt, len, sa, cl, secret, RG_COA_ERR_RESOURCES);
        return;
    }
    struct rg_coa_target t = {0};
    char nas[280], unrouted[400], desc[768];
    if (!rg_coa_route(&rg_coa.registry, rg_coa.cfg, cl, pkt, &t, nas, sizeof(nas), unrouted,
                      sizeof(unrouted))) {
        snprintf(desc, sizeof(desc), "%s %s", head, nas);
        /* Not here: another instance may hold it (a hand-off is never handed on again). */
        struct rg_coa_ident ids[RG_COA_MAX_IDENTS];
        size_t nids = 0;
        char scratch[8];
        if (!handoff && rg_cluster_enabled() && strcmp(unrouted, rg_coa_no_connected_nas) == 0) {
            struct rg_coa_req *req = rg_coa_req_new(pkt, len, sa, secret, desc);
            /* ids point into req->pkt, which lives as long as the hand-off */
            if (req && rg_coa_idents_of(req->pkt, ids, &nids, scratch, sizeof(scratch)) == 0 &&
                nids > 0) {
                int rc = rg_cluster_forward(cl, req->pkt, req->len, ids, nids, on_handed_back, req);
                if (rc == 0) {
                    RG_STAT_INC(&rg_coa.stats, coa_handoffs);
                    return;
                }
                snprintf(unrouted, sizeof(unrouted), "%s; cluster: %s", rg_coa_no_connected_nas,
                         rc == -ENOTCONN ? "Redis down, local registry only"
                         : rc == -EBUSY  ? "too many hand-offs in flight"
                                         : rg_strerror(rc));
            }
            if (req)
                rg_coa_req_finish(req);
        }
        /* reverse-coa §"Errors and Fail Over": MUST NAK with 502 (Request Not Routable). */
        RG_STAT_INC(&rg_coa.stats, coa_nak_unroutable);
        rg_log_limited("coa-unroutable", LOG_NOTICE,
                       "event=coa_nak %s error_cause=%u reason=\"%s\"", desc,
                       RG_COA_ERR_NOT_ROUTABLE, RG_LOG_ESC(unrouted));
        nak_local(pkt, len, sa, cl, secret, RG_COA_ERR_NOT_ROUTABLE);
        return;
    }
    snprintf(desc, sizeof(desc), "%s %s", head, nas);
    struct rg_coa_req *req = rg_coa_req_new(pkt, len, sa, secret, desc);
    if (!req) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_local);
        nak_local(pkt, len, sa, cl, secret, RG_COA_ERR_RESOURCES);
        return;
    }
    req->worker = t.worker;
    req->conn_id = t.conn_id;
    if (!push_to_worker(req)) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"worker %u is stopping\"", req->desc,
                  RG_COA_ERR_NOT_ROUTABLE, t.worker);
        rg_coa_send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_req_finish(req);
    }
}

static void on_udp_closed(uv_handle_t *h)
{
    free(h);
}

static void close_socket(void)
{
    if (rg_coa.udp) {
        uv_close((uv_handle_t *)rg_coa.udp, on_udp_closed);
        rg_coa.udp = NULL;
    }
    rg_coa_out_unref(rg_coa.out);
    rg_coa.out = NULL;
    rg_coa.bound_addr[0] = '\0';
    rg_coa.bound_port = 0;
}

static int open_socket(const struct rg_config *cfg)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(cfg->coa.address, cfg->coa.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(cfg->coa.address, cfg->coa.port, (struct sockaddr_in6 *)&ss) != 0) {
        rg_err("event=coa_listen_failed address=\"%s\" reason=\"bad address\"",
               RG_LOG_ESC(cfg->coa.address));
        return -EINVAL;
    }
    uv_udp_t *u = calloc(1, sizeof(*u));
    struct coa_out *o = calloc(1, sizeof(*o));
    if (!u || !o) {
        free(u);
        free(o);
        return -ENOMEM;
    }
    uv_udp_init(rg_coa.loop, u);
    int rc = uv_udp_bind(u, (const struct sockaddr *)&ss, 0);
    uv_os_fd_t fd = -1;
    if (rc == 0)
        rc = uv_fileno((uv_handle_t *)u, &fd);
    if (rc == 0 && (o->fd = dup(fd)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_udp_recv_start(u, on_udp_alloc, on_udp_recv);
    if (rc < 0) {
        rg_err("event=coa_listen_failed address=%s port=%u error=\"%s\"", cfg->coa.address,
               cfg->coa.port, rg_strerror(rc));
        if (o->fd > 0)
            close(o->fd);
        free(o);
        uv_close((uv_handle_t *)u, on_udp_closed);
        return rc;
    }
    o->refs = 1;
    rg_coa.udp = u;
    rg_coa.out = o;
    snprintf(rg_coa.bound_addr, sizeof(rg_coa.bound_addr), "%s", cfg->coa.address);
    rg_coa.bound_port = cfg->coa.port;
    rg_notice("event=coa_listening address=%s port=%u clients=%zu", cfg->coa.address, cfg->coa.port,
              cfg->coa.nclients);
    return 0;
}

/* The cluster publishes the registry without knowing it: it is handed the keys. */
static void registry_each(void *each_arg, rg_coa_key_fn fn, void *fn_arg)
{
    rg_coa_registry_each(each_arg, fn, fn_arg);
}

int rg_coa_start(uv_loop_t *loop, struct rg_config *cfg)
{
    int rc = rg_coa_ensure_init();
    if (rc < 0)
        return rc;
    rg_coa.loop = loop;
    rg_coa.cfg = rg_config_ref(cfg);
    rc = cfg->coa.enabled ? open_socket(cfg) : 0;
    /* The registry reports its changes to the cluster (which drops them while disabled);
     * neither calls the other. */
    rg_coa_registry_watch(&rg_coa.registry, rg_cluster_note, NULL);
    if (rc == 0)
        rc = rg_cluster_start(loop, cfg, registry_each, &rg_coa.registry);
    return rc;
}

int rg_coa_reload(struct rg_config *cfg)
{
    struct rg_config *old = rg_coa.cfg;
    rg_coa.cfg = rg_config_ref(cfg);
    if (old)
        rg_config_unref(old);
    rg_cluster_reload(cfg);
    bool same = cfg->coa.enabled && rg_coa.udp && cfg->coa.port == rg_coa.bound_port &&
                strcmp(cfg->coa.address, rg_coa.bound_addr) == 0;
    if (same)
        return 0;
    close_socket();
    return cfg->coa.enabled ? open_socket(cfg) : 0;
}

void rg_coa_stop(void)
{
    rg_cluster_stop();
    close_socket();
}

void rg_coa_shutdown(void)
{
    rg_cluster_stop();
    rg_cluster_shutdown();
    close_socket();
    if (rg_coa.registry_init) {
        rg_coa_registry_free(&rg_coa.registry);
        rg_coa.registry_init = false;
    }
    if (rg_coa.cfg)
        rg_config_unref(rg_coa.cfg);
    rg_coa.cfg = NULL;
    uv_mutex_lock(&rg_coa.lock);
    free(rg_coa.workers); /* each worker took itself out with rg_coa_worker_free */
    rg_coa.workers = NULL;
    rg_coa.nworkers = 0;
    uv_mutex_unlock(&rg_coa.lock);
}
