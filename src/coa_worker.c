/* Reverse CoA on a worker: the requests the main loop queued for this worker's connections,
 * sent down the NAS's own connection under the gateway's ID space (or RADIUS/1.1 Tokens),
 * their timeouts, the NAS identities learned from each connection's requests, and the
 * NAS's answer relayed back to the DAC. A connection is its origin (origin.h), which
 * conn.c registers: no connection internals here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"
#include "coa_internal.h"

static void active_unlink(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        cw->active_head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        cw->active_tail = req->prev;
    req->next = req->prev = NULL;
}

/* Out of the connection's ID space and the active list, then freed. */
static void inflight_finish(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    struct rg_coa_conn *cc = req->cc;
    if (cc && cc->inflight && cc->inflight[req->id] == req) {
        cc->inflight[req->id] = NULL;
        cc->ninflight--;
    }
    active_unlink(cw, req);
    rg_coa_req_finish(req);
}

static void on_timeout(uv_timer_t *t)
{
    struct rg_coa_worker *cw = t->data;
    uint64_t now = rg_now_ms();
    while (cw->active_head && cw->active_head->deadline_ms <= now) {
        struct rg_coa_req *req = cw->active_head;
        RG_STAT_INC(&rg_coa.stats, coa_timeouts);
        rg_notice("event=coa_timeout %s timeout_s=%u reason=\"no answer from the NAS\"", req->desc,
                  RG_COA_TIMEOUT_MS / 1000);
        inflight_finish(cw, req);
    }
    if (!cw->active_head)
        uv_timer_stop(&cw->timer);
}

static struct rg_coa_conn *find_conn(struct rg_coa_worker *cw, uint64_t id)
{
    /* O(connections) per CoA: low volume, no index kept on the hot path. */
    for (struct rg_coa_conn *cc = cw->conns; cc; cc = cc->wnext)
        if (cc->conn_id == id)
            return cc;
    return NULL;
}

static void dispatch(struct rg_coa_worker *cw, struct rg_coa_req *req)
{
    struct rg_coa_conn *cc = find_conn(cw, req->conn_id);
    const struct rg_origin *o = cc ? cc->origin : NULL;
    if (!o || !o->org || !o->org->coa) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"connection gone or CoA off for its "
                  "org\"",
                  req->desc, RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_req_finish(req);
        return;
    }
    bool v11 = o->proto == RG_PROTO_RADIUS_11;
    if (!cc->inflight && !(cc->inflight = calloc(256, sizeof(*cc->inflight)))) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_local);
        rg_coa_send_nak(req, RG_COA_ERR_RESOURCES);
        rg_coa_req_finish(req);
        return;
    }
    /* Our own ID space on this connection (reverse-coa: the server's requests are matched to
     * its own IDs, apart from the NAS's requests). RADIUS/1.1: Tokens from a counter (RFC
     * 9765 §"Sending Packets"), skipping those whose slot is still busy. */
    int id = -1;
    uint32_t token = 0;
    for (unsigned i = 0; i < 256 && id < 0; i++) {
        uint32_t cand = v11 ? cc->next_token++ : cc->next_id++;
        if (!cc->inflight[(uint8_t)cand]) {
            id = (uint8_t)cand;
            token = cand;
        }
    }
    if (id < 0) {
        RG_STAT_INC(&rg_coa.stats, coa_nak_local);
        rg_log_limited("coa-ids", LOG_WARNING,
                       "event=coa_nak %s error_cause=%u reason=\"256 requests in flight to this "
                       "NAS\"",
                       req->desc, RG_COA_ERR_RESOURCES);
        rg_coa_send_nak(req, RG_COA_ERR_RESOURCES);
        rg_coa_req_finish(req);
        return;
    }
    int n = v11 ? rg_radius11_coa_request(req->pkt, token)
                : rg_translate_coa_request(req->pkt, req->len, (uint8_t)id, o->secret, req->pkt,
                                           req->len, req->sent_auth);
    if (n < 0 || !o->ops->send(o->arg, req->pkt, (size_t)n)) {
        /* The packet was rewritten: answer from the saved ID and authenticator. */
        RG_STAT_INC(&rg_coa.stats, coa_nak_unroutable);
        rg_notice("event=coa_nak %s error_cause=%u reason=\"cannot write to the NAS\"", req->desc,
                  RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_send_nak(req, RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_req_finish(req);
        return;
    }
    req->cc = cc;
    req->id = (uint8_t)id;
    req->token = token;
    cc->inflight[id] = req;
    cc->ninflight++;
    req->deadline_ms = rg_now_ms() + RG_COA_TIMEOUT_MS;
    req->next = NULL;
    req->prev = cw->active_tail;
    if (cw->active_tail)
        cw->active_tail->next = req;
    else
        cw->active_head = req;
    cw->active_tail = req;
    if (!uv_is_active((uv_handle_t *)&cw->timer))
        uv_timer_start(&cw->timer, on_timeout, 1000, 1000);
    RG_STAT_INC(&rg_coa.stats, coa_forwarded);
    size_t dl = strlen(req->desc);
    if (dl < sizeof(req->desc))
        snprintf(req->desc + dl, sizeof(req->desc) - dl,
                 v11 ? " conn=%llu conn_src=%s cn=\"%s\" org=%s sent_token=%08x"
                     : " conn=%llu conn_src=%s cn=\"%s\" org=%s sent_id=%u",
                 (unsigned long long)o->id, o->addr_text, RG_LOG_ESC(o->cn), o->org->name,
                 v11 ? token : (uint32_t)id);
    rg_debug("event=coa_sent %s", req->desc);
}

static void on_async(uv_async_t *a)
{
    struct rg_coa_worker *cw = a->data;
    uv_mutex_lock(&rg_coa.lock);
    struct rg_coa_req *q = cw->queue;
    cw->queue = NULL;
    uv_mutex_unlock(&rg_coa.lock);
    struct rg_coa_req *fifo = NULL;
    while (q) { /* back to arrival order */
        struct rg_coa_req *next = q->next;
        q->next = fifo;
        fifo = q;
        q = next;
    }
    while (fifo) {
        struct rg_coa_req *next = fifo->next;
        fifo->next = NULL;
        dispatch(cw, fifo);
        fifo = next;
    }
}

/* Into rg_coa.workers at its index, the table grown to fit. 0 or -ENOMEM. */
static int workers_put(struct rg_coa_worker *cw)
{
    int rc = 0;
    uv_mutex_lock(&rg_coa.lock);
    if (cw->index >= rg_coa.nworkers) {
        unsigned n = cw->index + 1;
        struct rg_coa_worker **t = realloc(rg_coa.workers, n * sizeof(*t));
        if (t) {
            for (unsigned i = rg_coa.nworkers; i < n; i++)
                t[i] = NULL;
            rg_coa.workers = t;
            rg_coa.nworkers = n;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0)
        rg_coa.workers[cw->index] = cw;
    uv_mutex_unlock(&rg_coa.lock);
    return rc;
}

struct rg_coa_worker *rg_coa_worker_init(uv_loop_t *loop, unsigned index)
{
    struct rg_coa_worker *cw = calloc(1, sizeof(*cw));
    if (!cw)
        return NULL;
    cw->index = index;
    /* Workers start before rg_coa_start (ensure_init here, on the main thread), so the
     * connections they accept register at once and the listener finds the worker by index. */
    if (rg_coa_ensure_init() < 0 || workers_put(cw) < 0) {
        free(cw);
        return NULL;
    }
    uv_async_init(loop, &cw->async, on_async);
    cw->async.data = cw;
    uv_timer_init(loop, &cw->timer);
    cw->timer.data = cw;
    return cw;
}

void rg_coa_worker_close(struct rg_coa_worker *cw)
{
    if (!cw || cw->closed)
        return;
    uv_mutex_lock(&rg_coa.lock);
    cw->closed = true;
    struct rg_coa_req *q = cw->queue;
    cw->queue = NULL;
    uv_mutex_unlock(&rg_coa.lock);
    while (q) {
        /* Never handed to a NAS: tell the DAC now rather than let it retransmit into a
         * stopping gateway. */
        struct rg_coa_req *next = q->next;
        rg_coa_send_nak(q, RG_COA_ERR_NOT_ROUTABLE);
        rg_coa_req_finish(q);
        q = next;
    }
    while (cw->active_head) /* connections closed first; anything left is freed here */
        inflight_finish(cw, cw->active_head);
    uv_close((uv_handle_t *)&cw->async, NULL);
    uv_close((uv_handle_t *)&cw->timer, NULL);
}

void rg_coa_worker_free(struct rg_coa_worker *cw)
{
    if (!cw)
        return;
    uv_mutex_lock(&rg_coa.lock);
    if (cw->index < rg_coa.nworkers && rg_coa.workers[cw->index] == cw)
        rg_coa.workers[cw->index] = NULL;
    uv_mutex_unlock(&rg_coa.lock);
    free(cw);
}

struct rg_coa_conn *rg_coa_conn_open(struct rg_coa_worker *cw, struct rg_origin *o)
{
    struct rg_coa_conn *cc = calloc(1, sizeof(*cc));
    if (!cc || !rg_coa.registry_init || !cw) {
        free(cc);
        return NULL;
    }
    cc->origin = o;
    cc->cw = cw;
    cc->worker = cw->index;
    cc->conn_id = o->id;
    cc->org = strdup(o->org->name);
    if (!cc->org) {
        free(cc);
        return NULL;
    }
    snprintf(cc->addr, sizeof(cc->addr), "%s", o->addr_text);
    rg_random_bytes(&cc->next_id, 1);
    rg_random_bytes((uint8_t *)&cc->next_token, sizeof(cc->next_token));
    cc->wnext = cc->cw->conns;
    if (cc->wnext)
        cc->wnext->wprev = cc;
    cc->cw->conns = cc;
    if (o->cn[0])
        rg_coa_registry_add(&rg_coa.registry, cc, RG_COA_KEY_CERT_NAME, o->cn, strlen(o->cn));
    return cc;
}

void rg_coa_conn_closed(struct rg_coa_conn *cc)
{
    if (!cc)
        return;
    rg_coa_registry_remove_conn(&rg_coa.registry, cc);
    struct rg_coa_worker *cw = cc->cw;
    if (cc->wprev)
        cc->wprev->wnext = cc->wnext;
    else
        cw->conns = cc->wnext;
    if (cc->wnext)
        cc->wnext->wprev = cc->wprev;
    for (unsigned i = 0; i < 256 && cc->ninflight; i++) {
        struct rg_coa_req *req = cc->inflight[i];
        if (!req)
            continue;
        rg_notice("event=coa_dropped %s reason=\"connection closed before the NAS answered\"",
                  req->desc);
        inflight_finish(cw, req);
    }
    free(cc->inflight);
    free(cc->org);
    free(cc);
}

void rg_coa_learn(struct rg_coa_conn *cc, const uint8_t *pkt)
{
    if (!cc || (pkt[0] != RG_RADIUS_ACCESS_REQUEST && pkt[0] != RG_RADIUS_ACCOUNTING_REQUEST))
        return;
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(pkt, &pos, &a)) {
        enum rg_coa_key_kind kind;
        const char *log_key;
        if (!rg_coa_ident_kind(a.type, &kind, &log_key))
            continue;
        /* Hot path: a hash compare against what this connection already registered. */
        uint64_t h = rg_coa_key_hash(cc->org, kind, a.value, a.value_len);
        bool known = false;
        for (unsigned i = 0; i < cc->nkeys && !known; i++)
            known = cc->key_hash[i] == h;
        if (known)
            continue;
        int rc = rg_coa_registry_add(&rg_coa.registry, cc, kind, a.value, a.value_len);
        if (rc == -ENOSPC && !cc->full_logged) {
            cc->full_logged = true;
            rg_notice("event=coa_registry_full " RG_ORIGIN_LOG_FMT " org=%s limit=%u "
                      "effect=\"no more NAS identities learned\"",
                      RG_ORIGIN_LOG_ARGS(cc->origin), cc->org, RG_COA_CONN_KEYS);
        } else if (rc == 1) {
            char val[96];
            rg_debug("event=coa_registered " RG_ORIGIN_LOG_FMT " org=%s %s=\"%s\"",
                     RG_ORIGIN_LOG_ARGS(cc->origin), cc->org, log_key,
                     rg_coa_ident_text(kind, a.value, a.value_len, val, sizeof(val)));
        }
    }
}

int rg_coa_on_reply(struct rg_coa_conn *cc, const struct rg_origin *o, const uint8_t *pkt,
                    size_t len)
{
    bool v11 = o->proto == RG_PROTO_RADIUS_11;
    uint32_t token = v11 ? rg_radius11_token(pkt) : 0;
    struct rg_coa_req *req =
        cc && cc->inflight ? cc->inflight[v11 ? (uint8_t)token : pkt[1]] : NULL;
    if (req && v11 && req->token != token)
        req = NULL;
    if (!req || !rg_translate_reply_matches(req->pkt[0], pkt[0])) {
        /* reverse-coa §"Errors and Fail Over": an unexpected reply is silently discarded. */
        RG_STAT_INC(&rg_coa.stats, coa_drop_reply);
        rg_log_limited("coa-unmatched", LOG_NOTICE,
                       "event=coa_reply_discarded " RG_ORIGIN_LOG_FMT " code=%s %s=%u "
                       "reason=\"matches no request in flight\"",
                       RG_ORIGIN_LOG_ARGS(o), rg_radius_code_name(pkt[0]), v11 ? "token" : "id",
                       v11 ? token : pkt[1]);
        return 0;
    }
    const char *why = NULL;
    /* RFC 9765: nothing to verify on RADIUS/1.1 (TLS authenticates it). */
    if (!v11 && rg_translate_verify_reply(pkt, len, req->sent_auth, o->secret, &why) < 0) {
        /* RFC 6613 §2.6.4: failed authentication closes the connection (the caller does;
         * the request is dropped with it). */
        RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
        rg_warn("event=coa_reply_bad %s reply=%s reason=\"%s\" action=close", req->desc,
                rg_radius_code_name(pkt[0]), why);
        return -EBADMSG;
    }
    uint8_t out[RG_RADIUS_MAX_LEN];
    memcpy(out, pkt, len);
    if (v11) {
        /* Signed for the DAC with its secret: Message-Authenticator first. */
        int n = rg_radius11_reply_to_udp(out, sizeof(out));
        if (n < 0) {
            RG_STAT_INC(&rg_coa.stats, coa_drop_bad);
            rg_warn("event=coa_reply_bad %s reply=%s reason=\"no room for Message-Authenticator\" "
                    "action=drop",
                    req->desc, rg_radius_code_name(pkt[0]));
            inflight_finish(cc->cw, req);
            return 0;
        }
        len = (size_t)n;
    }
    rg_coa_answer_client(req, out, len, NULL);
    inflight_finish(cc->cw, req);
    return 0;
}
