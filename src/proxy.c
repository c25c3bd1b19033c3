/* The state table's decisions on the way out: a request admitted, answered locally or
 * forwarded, retransmitted, failed over, given up; probes; the table's timer; each origin's
 * requests in flight and abandoned. Replies from the backends are proxy_reply.c's, the
 * RFC 5080 schedule retransmit.c's; slots, buffers and the timer heap are proxy_table.c's,
 * translation translate.c's, sockets backend.c's. A request's origin (origin.h) is all it
 * knows of where a request came from: no connection, no TLS. */
#include <stdlib.h>
#include <string.h>

#include "radsecgw/backend.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy.h"
#include "proxy_internal.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

static int rand_permille(void *arg)
{
    uint16_t r;
    (void)arg;
    rg_random_bytes((uint8_t *)&r, sizeof(r));
    return (int)(r % 201) - 100; /* -100..+100: RAND in [-0.1, 0.1] */
}

static uint64_t backend_now_ms(void *arg)
{
    (void)arg;
    return rg_now_ms();
}

static int backend_alloc_id(void *arg, struct rg_backend_dest *dest, struct rg_request *req,
                            struct rg_backend_sock **sock, uint8_t *id)
{
    (void)arg;
    return rg_backend_alloc_id(dest, req, sock, id);
}

static void backend_release_id(void *arg, struct rg_backend_sock *sock, uint8_t id)
{
    (void)arg;
    rg_backend_release_id(sock, id);
}

static int backend_send(void *arg, struct rg_backend_sock *sock, struct rg_request *req)
{
    (void)arg;
    if (req->send_busy)
        return 0;          /* the previous copy is still queued: that is this retransmission */
    req->send_busy = true; /* until rg_proxy_on_sent: req->pkt is the socket's meanwhile */
    return rg_backend_send(sock, req, req->pkt, req->len);
}

const struct rg_proxy_ops rg_proxy_backend_ops = {
    .now_ms = backend_now_ms,
    .rand_permille = rand_permille,
    .alloc_id = backend_alloc_id,
    .release_id = backend_release_id,
    .send = backend_send,
};

void rg_proxy_set_ops(struct rg_proxy *px, const struct rg_proxy_ops *ops, void *arg)
{
    px->ops = ops;
    px->ops_arg = arg;
}

void rg_proxy_set_backends(struct rg_proxy *px, struct rg_backend_set *set)
{
    px->backends = set;
}

/* ---- the request path ---- */

static void arm_timer(struct rg_proxy *px);

static struct rg_backend_dest *dest_of(struct rg_backend_server *srv, uint8_t code)
{
    return code == RG_RADIUS_ACCOUNTING_REQUEST ? &srv->acct : &srv->auth;
}

/* A peer string for a log line: escaped, or its keyed hash with log { hash-user-names } /
 * { hash-macs } (mac: a MAC address, or a Called-Station-Id "MAC:SSID" whose SSID stays). */
static const char *log_attr(const struct rg_config *cfg, const uint8_t *pkt, uint8_t type,
                            bool hash, bool mac, char *out, size_t len)
{
    struct rg_radius_attr a;
    if (!hash) {
        rg_radius_attr_string(pkt, type, out, len);
    } else if (!rg_radius_attr_find(pkt, type, NULL, &a)) {
        out[0] = '\0';
    } else if (mac) {
        rg_log_hash_mac(cfg->log.hash_key, cfg->log.hash_key_len, a.value, a.value_len, out, len);
    } else {
        rg_log_hash(cfg->log.hash_key, cfg->log.hash_key_len, a.value, a.value_len, out, len);
    }
    return out;
}

/* proxy_internal.h says what it does. */
void rg_proxy_log_request(struct rg_proxy *px, const struct rg_request *req, const char *result,
                          const uint8_t *pkt, bool timed)
{
    const struct rg_origin *o = req->origin;
    uint64_t latency = rg_proxy_now(px) - req->received_ms;
    rg_metrics_request(px->host.metrics, o && o->org ? o->org->name : "-",
                       req->pool ? req->pool->cfg->name : "-", rg_radius_code_name(req->code),
                       result, timed ? (int64_t)latency : -1);
    if (!o || !o->cfg->log.requests)
        return;
    const struct rg_config *cfg = o->cfg;
    char user[80], calling[48], called[80];
    log_attr(cfg, pkt, RG_RADIUS_ATTR_USER_NAME, cfg->log.hash_user_names, false, user,
             sizeof(user));
    log_attr(cfg, pkt, RG_RADIUS_ATTR_CALLING_STATION_ID, cfg->log.hash_macs, true, calling,
             sizeof(calling));
    log_attr(cfg, pkt, RG_RADIUS_ATTR_CALLED_STATION_ID, cfg->log.hash_macs, true, called,
             sizeof(called));
    rg_info("event=request conn=%llu id=%u org=%s nas=\"%s\" src=%s user=\"%s\" "
            "calling=\"%s\" called=\"%s\" code=%s result=%s pool=%s backend=%s latency_ms=%llu",
            (unsigned long long)o->id, req->ap_id, o->org ? o->org->name : "-", RG_LOG_ESC(o->cn),
            o->addr_text, user, calling, called, rg_radius_code_name(req->code), result,
            req->pool ? req->pool->cfg->name : "-", req->server ? req->server->cfg->name : "-",
            (unsigned long long)latency);
}

/* A slot and ID were freed: the owner may let a connection paused for table room go on, from
 * its loop (never from inside this call). */
static void slot_freed(struct rg_proxy *px)
{
    if (px->host.slot_freed)
        px->host.slot_freed(px->host.arg);
}

/* Every way a request leaves the table goes through here. wake: the slot and ID it frees
 * may let a connection paused by backpressure go on. */
static void finish_ex(struct rg_proxy *px, struct rg_request *req, bool wake)
{
    rg_proxy_heap_remove(px, req);
    rg_proxy_abandoned_unlink(req);
    if (req->sock) {
        px->ops->release_id(px->ops_arg, req->sock, req->id);
        req->sock = NULL;
        RG_STAT_DEC(px->host.stats, outstanding);
    }
    if (req->origin) {
        rg_proxy_inflight_release(req->origin, req->ap_id, req);
        req->origin = NULL;
    }
    if (req->probe && req->server)
        req->server->probe_inflight = false;
    if (req->send_busy) {
        req->put_after_send = true;
        return;
    }
    rg_proxy_slot_put(px, req);
    if (wake)
        slot_freed(px);
}

void rg_proxy_finish(struct rg_proxy *px, struct rg_request *req)
{
    finish_ex(px, req, true);
}

void rg_proxy_fair_reply(struct rg_proxy *px, const struct rg_request *req)
{
    uint64_t now = rg_proxy_now(px);
    uint64_t latency = now > req->first_ms ? now - req->first_ms : 0;
    rg_proxy_fair_sample(&req->server->fair, now, latency);
    rg_proxy_fair_judged(px, req->server);
}

void rg_proxy_fair_judged(struct rg_proxy *px, struct rg_backend_server *srv)
{
    struct rg_proxy_fair *f = &srv->fair;
    if (f->congested == f->reported_congested && f->limiting == f->reported_limiting)
        return;
    bool before = f->reported_limiting;
    uint64_t late = f->congested - f->reported_congested;
    f->reported_congested = f->congested;
    f->reported_limiting = f->limiting;
    if (!px->host.stats)
        return;
    RG_STAT_ADD(px->host.stats, backend_congested, late);
    if (!before && f->limiting)
        rg_log_limited("backend-congested", LOG_NOTICE,
                       "event=backend_congested worker=%u backend=%s pool=%s latency_ms=%llu "
                       "baseline_ms=%llu budget=%u connections=%u share=%u action=\"a "
                       "connection at its share of this server is not read until its requests "
                       "drain\"",
                       px->host.index, srv->cfg->name, srv->pool->cfg->name,
                       (unsigned long long)f->judged_ms,
                       (unsigned long long)rg_proxy_fair_baseline(f), f->budget, f->active,
                       rg_proxy_fair_share(f));
    else if (before && !f->limiting)
        rg_log_limited("backend-congested", LOG_NOTICE,
                       "event=backend_uncongested worker=%u backend=%s pool=%s latency_ms=%llu "
                       "baseline_ms=%llu",
                       px->host.index, srv->cfg->name, srv->pool->cfg->name,
                       (unsigned long long)f->judged_ms,
                       (unsigned long long)rg_proxy_fair_baseline(f));
}

void rg_proxy_on_sent(struct rg_proxy *px, struct rg_request *req)
{
    req->send_busy = false;
    if (req->put_after_send) {
        req->put_after_send = false;
        rg_proxy_slot_put(px, req);
        slot_freed(px);
    }
}

static void schedule(struct rg_proxy *px, struct rg_request *req, uint64_t at)
{
    rg_proxy_heap_remove(px, req);
    req->deadline_ms = at;
    rg_proxy_heap_push(px, req);
    arm_timer(px);
}

/* Put req in flight on srv: a fresh ID on the right socket pool, translated for the
 * server's secret from src (the AP's packet, or what was sent to the previous server). */
static int start_on_server(struct rg_proxy *px, struct rg_request *req,
                           struct rg_backend_server *srv, const uint8_t *src, size_t src_len,
                           rg_secret src_secret, bool src_v11)
{
    struct rg_backend_sock *sock;
    uint8_t id;
    int rc = px->ops->alloc_id(px->ops_arg, dest_of(srv, req->code), req, &sock, &id);
    if (rc < 0)
        return rc;
    /* Translation adds at most Message-Authenticator and CHAP-Challenge (2 x 18), or on
     * RADIUS/1.1 Message-Authenticator and the padding of User-Password (18 + 15). */
    rc = rg_proxy_pkt_reserve(px, req,
                              src_len + 64 > RG_RADIUS_MAX_LEN ? RG_RADIUS_MAX_LEN : src_len + 64);
    if (rc == 0 && src_v11)
        rc = rg_radius11_request_to_udp(src, src_len, id, RG_SECRET_OF(srv->cfg), req->pkt,
                                        req->pkt_cap, req->sent_auth);
    else if (rc == 0)
        rc = rg_translate_request(src, src_len, src_secret, id, RG_SECRET_OF(srv->cfg), req->pkt,
                                  req->pkt_cap, req->sent_auth);
    if (rc < 0) {
        px->ops->release_id(px->ops_arg, sock, id);
        return rc;
    }
    RG_STAT_INC(px->host.stats, outstanding);
    req->len = (uint16_t)rc;
    req->sock = sock;
    req->id = id;
    req->server = srv;
    req->tries = 1;
    srv->sent++;
    rg_metrics_backend(px->host.metrics, RG_METRIC_BACKEND_SENT, srv->pool->cfg->name,
                       srv->cfg->name, 1);
    uint64_t now = rg_proxy_now(px);
    struct rg_rt_params rt;
    rg_rt_params_from_pool(srv->pool->cfg, &rt);
    req->first_ms = now;
    req->rt_ms = rg_rt_next(&rt, 0, px->ops->rand_permille(px->ops_arg));
    schedule(px, req, rg_rt_deadline(&rt, now, now, req->rt_ms));
    rc = px->ops->send(px->ops_arg, sock, req);
    if (rc < 0)
        rg_log_limited("backend-send", LOG_WARNING,
                       "event=backend_send_failed backend=%s pool=%s error=\"%s\"", srv->cfg->name,
                       srv->pool->cfg->name, rg_strerror(rc));
    return 0;
}

/* request: the AP's packet or its translation, whose Proxy-State the reply echoes. */
static void send_local_reply(struct rg_origin *o, uint8_t code, uint8_t id, const uint8_t *auth,
                             const uint8_t *request, const char *message)
{
    uint8_t buf[RG_RADIUS_MAX_LEN];
    int n = rg_translate_local_reply(buf, sizeof(buf), code, id, auth, request, message, o->secret);
    if (n < 0) {
        rg_log_limited("local-reply", LOG_WARNING,
                       "event=local_reply_dropped " RG_ORIGIN_LOG_FMT " code=%s id=%u "
                       "reason=\"Proxy-State of the request leaves no room for the reply\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), id);
        return;
    }
    o->ops->send(o->arg, buf, (size_t)n);
}

/* The same on a RADIUS/1.1 connection: token is the request's, cause the Error-Cause (0:
 * none). RFC 9765 §"Protocol-Error": a request that cannot be forwarded is answered with
 * Protocol-Error and 502 or 505, never left unanswered. */
static void send_local_reply11(struct rg_proxy *px, struct rg_origin *o, uint8_t code,
                               uint32_t token, const uint8_t *request, uint32_t cause,
                               const char *message)
{
    uint8_t buf[RG_RADIUS_MAX_LEN];
    int n = rg_radius11_local_reply(buf, sizeof(buf), code, token, request, cause, message);
    if (n < 0) {
        rg_log_limited("local-reply", LOG_WARNING,
                       "event=local_reply_dropped " RG_ORIGIN_LOG_FMT " proto=radius/1.1 code=%s "
                       "token=%08x reason=\"Proxy-State of the request leaves no room for the "
                       "reply\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), token);
        return;
    }
    if (code == RG_RADIUS_PROTOCOL_ERROR)
        RG_STAT_INC(px->host.stats, protocol_errors);
    o->ops->send(o->arg, buf, (size_t)n);
}

/* A request of req's that the gateway gives up on (no server, timeout, unusable reply): a
 * RADIUS/1.1 client is told so; a historic one is not (it fails over on its own). */
void rg_proxy_give_up11(struct rg_proxy *px, struct rg_request *req, uint32_t cause,
                        const char *message)
{
    if (req->v11 && req->origin)
        send_local_reply11(px, req->origin, RG_RADIUS_PROTOCOL_ERROR, req->token, req->pkt, cause,
                           message);
}

/* A RADIUS/1.1 request (RFC 9765 §"Receiving Packets"): a Token that stands for another
 * packet still in flight ends the connection (-EPROTO); the same packet again is dropped as a
 * duplicate (1); otherwise *slot is where it goes in o->inflight (0), or -EAGAIN while
 * 256 are in flight. No other deduplication over TLS. */
static int admit_token(struct rg_proxy *px, struct rg_origin *o, const uint8_t *pkt, int *slot)
{
    uint32_t token = rg_radius11_token(pkt);
    struct rg_request *old = rg_proxy_find_token(o, token);
    if (old && old->fingerprint == rg_radius11_fingerprint(pkt)) {
        RG_STAT_INC(px->host.stats, duplicates);
        rg_log_limited("ap-duplicate", LOG_NOTICE,
                       "event=request_duplicate " RG_ORIGIN_LOG_FMT " proto=radius/1.1 code=%s "
                       "token=%08x result=dropped reason=\"the same packet is in flight\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(pkt[0]), token);
        return 1;
    }
    if (old) {
        RG_STAT_INC(px->host.stats, token_reuse);
        rg_warn("event=token_reused " RG_ORIGIN_LOG_FMT " proto=radius/1.1 code=%s token=%08x "
                "in_flight=%s reason=\"Token reused for a different outstanding packet (RFC "
                "9765)\" action=close",
                RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(pkt[0]), token,
                rg_radius_code_name(old->code));
        return -EPROTO;
    }
    *slot = rg_proxy_token_slot(o, token);
    return *slot < 0 ? -EAGAIN : 0;
}

int rg_proxy_on_request(struct rg_proxy *px, struct rg_origin *o, const uint8_t *pkt, size_t len)
{
    bool v11 = o->proto == RG_PROTO_RADIUS_11;
    uint8_t code = pkt[0], ap_id = pkt[1];
    uint32_t token = v11 ? rg_radius11_token(pkt) : 0;
    rg_secret secret = o->secret;
    const char *why;
    /* For log lines: the ID, or on RADIUS/1.1 the Token. */
    char ref[24];
    if (v11)
        snprintf(ref, sizeof(ref), "token=%08x", token);
    else
        snprintf(ref, sizeof(ref), "id=%u", ap_id);

    if (code != RG_RADIUS_ACCESS_REQUEST && code != RG_RADIUS_ACCOUNTING_REQUEST &&
        code != RG_RADIUS_STATUS_SERVER) {
        RG_STAT_INC(px->host.stats, drop_unsupported);
        rg_log_limited("ap-unsupported", LOG_NOTICE,
                       "event=request_dropped " RG_ORIGIN_LOG_FMT " code=%s %s "
                       "reason=\"not proxied\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ref);
        return -EPROTONOSUPPORT;
    }
    if (o->handed_again)
        o->handed_again = false;
    else
        RG_STAT_INC(px->host.stats, requests);
    /* RFC 9765: nothing on a RADIUS/1.1 connection is signed with the secret. */
    if (!v11 && (why = rg_translate_check_request(pkt, secret)) != NULL) {
        RG_STAT_INC(px->host.stats, drop_bad_request);
        rg_log_limited("ap-bad-request", LOG_WARNING,
                       "event=request_bad " RG_ORIGIN_LOG_FMT " code=%s id=%u reason=\"%s\" "
                       "action=close",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ap_id, why);
        return -EBADMSG;
    }
    if ((why = v11 ? rg_radius11_request_invalid(pkt) : rg_translate_request_invalid(pkt)) !=
        NULL) {
        /* Authentic but unusable: this request is lost, the connection and the requests in
         * flight on it are not. */
        RG_STAT_INC(px->host.stats, drop_invalid);
        rg_log_limited("ap-invalid-request", LOG_WARNING,
                       "event=request_discarded " RG_ORIGIN_LOG_FMT " code=%s %s reason=\"%s\" "
                       "connection=kept%s",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ref, why,
                       v11 ? " answer=Protocol-Error error_cause=505" : "");
        if (v11 && code != RG_RADIUS_STATUS_SERVER)
            send_local_reply11(px, o, RG_RADIUS_PROTOCOL_ERROR, token, pkt,
                               RG_RADIUS11_ERR_PROXY_PROCESSING, why);
        return -EINVAL;
    }
    /* Reverse CoA: the NAS identities it claims, once each per connection. */
    if (o->ops->verified)
        o->ops->verified(o->arg, pkt);
    if (code == RG_RADIUS_STATUS_SERVER) {
        /* RFC 5997 §3/§4: answered by the gateway itself, never proxied. */
        RG_STAT_INC(px->host.stats, status_local);
        if (v11)
            send_local_reply11(px, o, RG_RADIUS_ACCESS_ACCEPT, token, pkt, 0, NULL);
        else
            send_local_reply(o, RG_RADIUS_ACCESS_ACCEPT, ap_id, pkt + 4, pkt, NULL);
        return 0;
    }
    if (rg_proxy_inflight_table(px, o) < 0)
        return -ENOMEM;
    if (v11) {
        int slot, rc = admit_token(px, o, pkt, &slot);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        ap_id = (uint8_t)slot;
    }
    struct rg_request *old = v11 ? NULL : o->inflight[ap_id];
    if (old && memcmp(old->ap_auth, pkt + 4, RG_RADIUS_AUTH_LEN) == 0 && old->code == code) {
        /* RFC 6613 §2.6.5, RFC 5080 §2.2.2: same ID and authenticator, still in flight. */
        RG_STAT_INC(px->host.stats, duplicates);
        rg_log_limited("ap-duplicate", LOG_NOTICE,
                       "event=request_duplicate " RG_ORIGIN_LOG_FMT " code=%s id=%u "
                       "reason=\"already in flight\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ap_id);
        return 0;
    }
    if (old && old->sock && o->nabandoned >= RG_PROXY_ABANDONED_MAX) {
        o->abandon_wait = true;
        o->handed_again = true;
        return -EBUSY; /* read again once its abandoned requests drain */
    }
    if (old) {
        /* RFC 5080 §2.2.2: the same ID with another Request Authenticator is a new request;
         * the AP gave up on the old one. It stops being retransmitted and keeps its backend
         * ID until its deadline, so its late reply is recognised and dropped. */
        RG_STAT_INC(px->host.stats, abandoned);
        rg_log_limited("ap-abandoned", LOG_INFO,
                       "event=request_abandoned " RG_ORIGIN_LOG_FMT " code=%s id=%u "
                       "reason=\"ID reused with a new Request Authenticator (RFC 5080 §2.2.2)\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(old->code), ap_id);
        old->origin = NULL;
        rg_proxy_inflight_release(o, ap_id, old);
        if (old->sock)
            rg_proxy_abandoned_link(o, old);
    }

    char user[256];
    log_attr(o->cfg, pkt, RG_RADIUS_ATTR_USER_NAME, o->cfg->log.hash_user_names, false, user,
             sizeof(user));
    /* Routing reads the realm from the raw User-Name: the escaped copy is for log lines and
     * may be cut short or differ from what the AP sent. */
    char raw_user[256] = "";
    struct rg_radius_attr ua;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_NAME, NULL, &ua)) {
        memcpy(raw_user, ua.value, ua.value_len);
        raw_user[ua.value_len] = '\0';
    }
    const struct rg_pool *cpool = rg_config_route(o->org, raw_user);
    struct rg_backend_pool *pool = cpool ? rg_backend_set_pool(px->backends, cpool) : NULL;
    uint64_t now = rg_proxy_now(px);
    struct rg_backend_server *srv = pool ? rg_backend_pick(pool, 0, now) : NULL;
    if (!srv) {
        bool reject =
            pool && pool->cfg->when_dead == RG_WHEN_DEAD_REJECT && code == RG_RADIUS_ACCESS_REQUEST;
        rg_log_limited("pool-dead", LOG_WARNING,
                       "event=request_no_server " RG_ORIGIN_LOG_FMT " code=%s %s user=\"%s\" "
                       "pool=%s reason=\"%s\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ref, user,
                       cpool ? cpool->name : "-",
                       !pool    ? "no pool for this request"
                       : reject ? "every server of the pool is dead: Access-Reject sent"
                       : v11    ? "every server of the pool is dead: Protocol-Error sent"
                                : "every server of the pool is dead: no answer");
        rg_metrics_request(px->host.metrics, o->org ? o->org->name : "-", cpool ? cpool->name : "-",
                           rg_radius_code_name(code), "no_server", -1);
        if (reject) {
            RG_STAT_INC(px->host.stats, reject_no_server);
            /* RFC 9765 §"Error-Cause Attribute": Access-Reject may say why. */
            if (v11)
                send_local_reply11(px, o, RG_RADIUS_ACCESS_REJECT, token, pkt,
                                   RG_RADIUS11_ERR_NOT_ROUTABLE, "No RADIUS server available");
            else
                send_local_reply(o, RG_RADIUS_ACCESS_REJECT, ap_id, pkt + 4, pkt,
                                 "No RADIUS server available");
        } else {
            RG_STAT_INC(px->host.stats, drop_no_server);
            /* RFC 9765 §"Protocol-Error": a proxy that cannot forward MUST answer, even
             * where when-dead = "silent" leaves a historic client to fail over by itself. */
            if (v11)
                send_local_reply11(
                    px, o, RG_RADIUS_PROTOCOL_ERROR, token, pkt, RG_RADIUS11_ERR_NOT_ROUTABLE,
                    pool ? "No RADIUS server available" : "No pool for this request");
        }
        return 0;
    }

    rg_proxy_fair_tick(&srv->fair, now);
    rg_proxy_fair_judged(px, srv);
    if (!rg_proxy_fair_may_add(&srv->fair, rg_proxy_held_at(o, srv))) {
        /* Read again once it holds less than its share of this server (a reused ID's old
         * request is already abandoned, so the packet finds none when it comes back). */
        rg_proxy_share_wait(px, o, srv);
        o->handed_again = true;
        RG_STAT_INC(px->host.stats, share_paused);
        return -EDQUOT;
    }
    struct rg_request *req = rg_proxy_slot_get(px);
    if (!req)
        return -EAGAIN;
    req->origin = o;
    req->ap_id = ap_id;
    req->code = code;
    req->pool = pool;
    req->received_ms = now;
    struct rg_radius_attr a;
    req->eap = rg_radius_attr_find(pkt, RG_RADIUS_ATTR_EAP_MESSAGE, NULL, &a);
    if (v11) {
        req->v11 = true;
        req->token = token;
        req->fingerprint = rg_radius11_fingerprint(pkt);
    } else {
        memcpy(req->ap_auth, pkt + 4, RG_RADIUS_AUTH_LEN);
    }
    int rc = start_on_server(px, req, srv, pkt, len, secret, v11);
    if (rc < 0) {
        /* Nothing was in flight: waking another paused connection here would only find the
         * same full ID space, once per paused connection. */
        req->origin = NULL;
        finish_ex(px, req, false);
        /* Only a full ID space waits for replies to drain; a packet that can never be sent
         * is dropped at once, or the connection would stay paused for it for good. */
        if (rc == -ENOSPC)
            return -EAGAIN;
        RG_STAT_INC(px->host.stats, drop_invalid);
        const char *reason = rc == -EMSGSIZE ? "no room for Message-Authenticator / CHAP-Challenge "
                                               "within 4096 octets"
                             : rc == -EINVAL || rc == -EBADMSG ? "malformed hidden attribute"
                                                               : rg_strerror(rc);
        rg_log_limited("ap-translate", LOG_WARNING,
                       "event=request_discarded " RG_ORIGIN_LOG_FMT " code=%s %s length=%zu "
                       "reason=\"%s\" connection=kept%s",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(code), ref, len, reason,
                       v11 ? " answer=Protocol-Error error_cause=505" : "");
        if (v11)
            send_local_reply11(px, o, RG_RADIUS_PROTOCOL_ERROR, token, pkt,
                               RG_RADIUS11_ERR_PROXY_PROCESSING, reason);
        return -EINVAL;
    }
    rg_proxy_inflight_claim(o, ap_id, req);
    RG_STAT_INC(px->host.stats, forwarded);
    return 0;
}

int rg_proxy_probe(struct rg_proxy *px, struct rg_backend_server *srv)
{
    struct rg_request *req = rg_proxy_slot_get(px);
    if (!req)
        return -ENOSPC;
    struct rg_backend_sock *sock;
    uint8_t id;
    int rc = px->ops->alloc_id(px->ops_arg, &srv->auth, req, &sock, &id);
    if (rc < 0) {
        rg_proxy_slot_put(px, req);
        return rc;
    }
    if (rg_proxy_pkt_reserve(px, req, 64) < 0) {
        px->ops->release_id(px->ops_arg, sock, id);
        rg_proxy_slot_put(px, req);
        return -ENOMEM;
    }
    struct rg_radius_pkt p = {.data = req->pkt, .cap = req->pkt_cap};
    rg_radius_init(&p, RG_RADIUS_STATUS_SERVER, id, NULL);
    rg_radius_auth_random(req->pkt);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(req->pkt, NULL, RG_SECRET_OF(srv->cfg));
    memcpy(req->sent_auth, req->pkt + 4, RG_RADIUS_AUTH_LEN);
    req->len = rg_radius_len(req->pkt);
    req->code = RG_RADIUS_STATUS_SERVER;
    req->probe = true;
    req->server = srv;
    req->sock = sock;
    req->id = id;
    req->tries = 1;
    RG_STAT_INC(px->host.stats, outstanding);
    srv->probe_inflight = true;
    srv->last_probe_ms = rg_proxy_now(px);
    /* RFC 5997 §6: a probe is never retransmitted; no answer within the timeout is a miss. */
    schedule(px, req, srv->last_probe_ms + (uint64_t)srv->pool->cfg->timeout_s * 1000u);
    return px->ops->send(px->ops_arg, sock, req);
}

/* The current server did not answer in time: retransmit, fail over, or give up. */
static void on_deadline(struct rg_proxy *px, struct rg_request *req, uint64_t now)
{
    struct rg_backend_server *srv = req->server;
    if (req->probe || !req->origin) {
        rg_proxy_finish(px, req);
        return;
    }
    struct rg_rt_params rt;
    rg_rt_params_from_pool(srv->pool->cfg, &rt);
    if (rg_rt_may_retransmit(&rt, req->tries, req->first_ms, now)) {
        /* RFC 5080 §2.2.1: same ID, authenticator and source port; RT doubles with jitter. */
        uint64_t next_rt = rg_rt_next(&rt, req->rt_ms, px->ops->rand_permille(px->ops_arg));
        req->tries++;
        req->rt_ms = next_rt;
        RG_STAT_INC(px->host.stats, retransmits);
        schedule(px, req, rg_rt_deadline(&rt, req->first_ms, now, next_rt));
        px->ops->send(px->ops_arg, req->sock, req);
        return;
    }
    if (req->send_busy) {
        /* The last copy still sits in libuv's queue (socket buffer full) and points at
         * req->pkt: the packet cannot be rewritten for another server until it is sent. */
        schedule(px, req, now + 100);
        return;
    }
    srv->missed++;
    if (srv->health == RG_BACKEND_ALIVE)
        rg_backend_mark_dead(srv, now, "no reply after retransmissions");
    else
        srv->retry_at_ms = now + (uint64_t)srv->pool->cfg->dead_time_s * 1000u;
    req->tried |= 1ull << srv->index;

    struct rg_backend_server *next = rg_backend_pick(req->pool, req->tried, now);
    if (next) {
        /* A fresh ID and authenticator on the next server, from the packet already sent. */
        size_t len = req->len;
        memcpy(px->scratch, req->pkt, len);
        struct rg_backend_sock *old = req->sock;
        uint8_t old_id = req->id;
        rg_proxy_heap_remove(px, req);
        int rc = start_on_server(px, req, next, px->scratch, len, RG_SECRET_OF(srv->cfg), false);
        if (rc == 0) {
            rg_proxy_held_moved(req);
            px->ops->release_id(px->ops_arg, old, old_id);
            RG_STAT_DEC(px->host.stats, outstanding);
            RG_STAT_INC(px->host.stats, failovers);
            rg_notice("event=request_failover conn=%llu src=%s code=%s id=%u pool=%s backend=%s "
                      "next=%s reason=timeout",
                      (unsigned long long)req->origin->id, req->origin->addr_text,
                      rg_radius_code_name(req->code), req->ap_id, srv->pool->cfg->name,
                      srv->cfg->name, next->cfg->name);
            return;
        }
        req->sock = old;
        req->id = old_id;
    }
    RG_STAT_INC(px->host.stats, timeouts);
    rg_proxy_log_request(px, req, "timeout", req->pkt, false);
    if (req->code == RG_RADIUS_ACCESS_REQUEST && req->pool->cfg->when_dead == RG_WHEN_DEAD_REJECT) {
        RG_STAT_INC(px->host.stats, reject_no_server);
        if (req->v11)
            send_local_reply11(px, req->origin, RG_RADIUS_ACCESS_REJECT, req->token, req->pkt,
                               RG_RADIUS11_ERR_NOT_ROUTABLE, "No RADIUS server available");
        else
            send_local_reply(req->origin, RG_RADIUS_ACCESS_REJECT, req->ap_id, req->ap_auth,
                             req->pkt, "No RADIUS server available");
    } else {
        /* No server answered: RFC 9765 says so to a RADIUS/1.1 client (502, so it tries
         * another proxy). */
        rg_proxy_give_up11(px, req, RG_RADIUS11_ERR_NOT_ROUTABLE, "No RADIUS server answered");
    }
    rg_proxy_finish(px, req);
}

void rg_proxy_expire(struct rg_proxy *px)
{
    uint64_t now = rg_proxy_now(px);
    struct rg_request *req;
    while ((req = rg_proxy_heap_peek(px)) && req->deadline_ms <= now) {
        rg_proxy_heap_remove(px, req);
        on_deadline(px, req, now);
    }
    arm_timer(px);
}

static void on_timer(uv_timer_t *t)
{
    struct rg_proxy *px = t->data;
    px->timer_armed = false;
    rg_proxy_expire(px);
}

static void arm_timer(struct rg_proxy *px)
{
    struct rg_request *top = rg_proxy_heap_peek(px);
    if (!px->timer.loop)
        return;
    if (!top) {
        if (px->timer_armed)
            uv_timer_stop(&px->timer);
        px->timer_armed = false;
        return;
    }
    if (px->timer_armed && px->timer_at <= top->deadline_ms)
        return;
    uint64_t now = rg_proxy_now(px);
    uint64_t delay = top->deadline_ms > now ? top->deadline_ms - now : 0;
    uv_timer_start(&px->timer, on_timer, delay, 0);
    px->timer_armed = true;
    px->timer_at = top->deadline_ms;
}

void rg_proxy_abort_all(struct rg_proxy *px)
{
    struct rg_request *req;
    while ((req = rg_proxy_heap_peek(px)) != NULL) {
        req->origin = NULL;
        rg_proxy_finish(px, req);
    }
    arm_timer(px);
}

int rg_proxy_set_limit(struct rg_proxy *px, unsigned max_requests)
{
    unsigned chunks = (max_requests + RG_PROXY_CHUNK - 1) / RG_PROXY_CHUNK;
    if (chunks <= px->max_chunks)
        return 0;
    struct rg_request **c = realloc(px->chunks, chunks * sizeof(*c));
    if (!c)
        return -ENOMEM;
    px->chunks = c;
    px->max_chunks = chunks;
    return 0;
}
