/* The state table's replies from the backends: a reply verified against the request it
 * answers (source, ID, authenticators, Message-Authenticator), the server counted alive,
 * then translated back to the AP or discarded with the operator's reason; and the backend's
 * events (reply, send done) handed to the table. Requests go out through proxy.c; the
 * answer goes back through the request's origin (origin.h). */
#include <stdlib.h>
#include <string.h>

#include "radsecgw/backend.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/translate.h"
#include "proxy_internal.h"

/* What the operator can change for each kind of discarded reply. */
static const char *discard_fix(enum rg_backend_warning kind, enum rg_require_ma mode)
{
    switch (kind) {
    case RG_BACKEND_WARN_UNSIGNED_DROPPED:
        return mode == RG_REQUIRE_MA_TRUE
                   ? "make the server put Message-Authenticator in every Access-* reply "
                     "(FreeRADIUS 3.2.5 and later do), or set require-message-authenticator = "
                     "auto or false for this pool"
                   : "if the server was replaced by one that does not sign, restart radsecgw or "
                     "set require-message-authenticator = false; otherwise the reply may be "
                     "forged (BlastRADIUS)";
    case RG_BACKEND_WARN_EAP_UNSIGNED:
        return "the server or something on the path is broken, or the reply is forged";
    default:
        return "fix what the server sends for this request";
    }
}

/* The server's address as the server= field of a log line. */
#define RG_SERVER_TEXT_LEN 80
static const char *server_text(const struct rg_backend_sock *sock, char dest[RG_SERVER_TEXT_LEN])
{
    return rg_sockaddr_format((const struct sockaddr *)sock->dest->addr, true, dest,
                              RG_SERVER_TEXT_LEN);
}

/* A verified reply that is not forwarded: the server answered (no retransmission, no failover,
 * not a miss), the request ends now without a reply to the AP. One line per server and reason
 * a minute, for every worker together. */
static void reply_discarded(struct rg_proxy *px, struct rg_request *req, const uint8_t *pkt,
                            enum rg_backend_warning kind, const char *why)
{
    struct rg_backend_server *srv = req->server;
    char dest[RG_SERVER_TEXT_LEN];
    if (kind == RG_BACKEND_WARN_UNUSABLE)
        RG_STAT_INC(px->host.stats, drop_unusable);
    else
        RG_STAT_INC(px->host.stats, drop_unsigned);
    if (rg_backend_warn_due(srv->shared, kind, rg_proxy_now(px), RG_PROXY_WARN_MINUTE_MS))
        rg_warn("event=reply_discarded backend=%s pool=%s server=%s code=%s id=%u result=discarded "
                "reason=\"%s\" "
                "effect=\"server counted alive, request ended without a reply\" fix=\"%s\" "
                "repeat=minute",
                srv->cfg->name, srv->pool->cfg->name, server_text(req->sock, dest),
                rg_radius_code_name(pkt[0]), req->id, why,
                discard_fix(kind, srv->pool->cfg->require_message_authenticator));
    rg_proxy_log_request(px, req, "discarded", req->pkt, false);
    rg_proxy_give_up11(px, req, RG_RADIUS11_ERR_PROXY_PROCESSING, NULL);
    rg_proxy_finish(px, req);
}

void rg_proxy_on_reply(struct rg_proxy *px, struct rg_backend_sock *sock, const uint8_t *pkt_in,
                       size_t len, const struct sockaddr *addr)
{
    struct rg_backend_server *srv = sock->dest->server;
    char dest[RG_SERVER_TEXT_LEN];

    if (!rg_sockaddr_equal(addr, (const struct sockaddr *)sock->dest->addr)) {
        RG_STAT_INC(px->host.stats, drop_wrong_source);
        rg_log_limited("backend-wrong-source", LOG_WARNING,
                       "event=reply_dropped backend=%s server=%s "
                       "reason=\"reply from another address or port\"",
                       srv->cfg->name, server_text(sock, dest));
        return;
    }
    if (len < RG_RADIUS_HDR_LEN || len > RG_RADIUS_MAX_LEN) {
        RG_STAT_INC(px->host.stats, drop_bad_reply);
        rg_log_limited("backend-bad-reply", LOG_WARNING,
                       "event=reply_dropped backend=%s server=%s length=%zu "
                       "reason=\"length outside 20..4096\"",
                       srv->cfg->name, server_text(sock, dest), len);
        return;
    }
    struct rg_request *req = sock->ids.inflight[pkt_in[1]];
    if (!req) {
        RG_STAT_INC(px->host.stats, drop_unknown_reply);
        rg_log_limited("backend-unknown-id", LOG_NOTICE,
                       "event=reply_dropped backend=%s server=%s id=%u reason=\"not in flight\"",
                       srv->cfg->name, server_text(sock, dest), pkt_in[1]);
        return;
    }
    /* The receive buffer is the worker's; the reply is rewritten in place. */
    uint8_t *pkt = (uint8_t *)pkt_in;
    struct rg_reply_check chk;
    enum rg_reply_verdict v = rg_translate_check_reply(
        pkt, len, req->code, req->eap, req->sent_auth, RG_SECRET_OF(srv->cfg),
        srv->pool->cfg->require_message_authenticator, rg_backend_signs(srv->shared), &chk);
    if (v == RG_REPLY_UNVERIFIED) {
        /* deprecating-radius: behave as if no response arrived; timers and health stay. */
        RG_STAT_INC(px->host.stats, drop_bad_reply);
        rg_log_limited(
            "backend-bad-reply", LOG_WARNING,
            "event=reply_dropped backend=%s server=%s code=%s id=%u result=dropped reason=\"%s\" "
            "effect=\"as if not received\"",
            srv->cfg->name, server_text(sock, dest), rg_radius_code_name(pkt[0]), pkt[1], chk.why);
        return;
    }
    len = rg_radius_len(pkt);
    /* A reply whose authenticators verify proves the server alive, whatever happens to it. */
    srv->missed = 0;
    if (srv->health == RG_BACKEND_DEAD)
        rg_backend_mark_alive(srv, req->probe ? "answered Status-Server" : "answered a request");
    if (chk.learned && rg_backend_learn_signs(srv->shared) &&
        srv->pool->cfg->require_message_authenticator == RG_REQUIRE_MA_AUTO)
        rg_notice("event=backend_signs_replies backend=%s pool=%s server=%s reason=\"%s to an "
                  "Access-Request without EAP-Message carries Message-Authenticator\" "
                  "effect=\"unsigned Access-* replies from this server are dropped from now on "
                  "(require-message-authenticator = auto)\"",
                  srv->cfg->name, srv->pool->cfg->name, server_text(sock, dest),
                  rg_radius_code_name(pkt[0]));
    if (req->probe) {
        rg_proxy_finish(px, req);
        return;
    }
    rg_proxy_fair_reply(px, req);
    if (v == RG_REPLY_DISCARD) {
        reply_discarded(px, req, pkt, chk.warn, chk.why);
        return;
    }
    if (chk.unsigned_passed) {
        RG_STAT_INC(px->host.stats, unsigned_accepted);
        if (srv->pool->cfg->require_message_authenticator == RG_REQUIRE_MA_AUTO &&
            rg_backend_warn_due(srv->shared, RG_BACKEND_WARN_UNSIGNED_ACCEPTED, rg_proxy_now(px),
                                RG_PROXY_WARN_HOURLY_MS))
            rg_warn("event=reply_unsigned_accepted backend=%s pool=%s server=%s code=%s "
                    "result=accepted "
                    "reason=\"no Message-Authenticator; require-message-authenticator = auto and "
                    "this server has not yet signed a reply to an Access-Request without "
                    "EAP-Message\" risk=\"unsigned replies can be forged (BlastRADIUS, "
                    "CVE-2024-3596)\" fix=\"make the server put Message-Authenticator in every "
                    "Access-* reply (FreeRADIUS 3.2.5 and later do), then set "
                    "require-message-authenticator = true\" repeat=hourly",
                    srv->cfg->name, srv->pool->cfg->name, server_text(sock, dest),
                    rg_radius_code_name(pkt[0]));
    }
    if (!req->origin) {
        RG_STAT_INC(px->host.stats, drop_late_reply);
        rg_proxy_finish(px, req);
        return;
    }
    /* Signed with the origin's secret as it is now (a reload it adopted may have changed it). */
    struct rg_origin *o = req->origin;
    int rc = req->v11 ? rg_radius11_reply_from_udp(pkt, req->sent_auth, RG_SECRET_OF(srv->cfg),
                                                   req->token)
                      : rg_translate_reply(pkt, len, RG_RADIUS_MAX_LEN, req->sent_auth,
                                           RG_SECRET_OF(srv->cfg), req->ap_id, req->ap_auth,
                                           o->secret, &px->salt_counter);
    if (rc < 0) {
        reply_discarded(px, req, pkt, RG_BACKEND_WARN_UNUSABLE,
                        rc == -EMSGSIZE ? "no room for Message-Authenticator within 4096 octets"
                                        : "hidden attribute does not decrypt");
        return;
    }
    rg_proxy_log_request(px, req, rg_radius_code_name(pkt[0]), req->pkt, true);
    if (o->ops->send(o->arg, pkt, rg_radius_len(pkt)))
        RG_STAT_INC(px->host.stats, replies);
    rg_proxy_finish(px, req);
}

/* ---- what the backend reports ---- */

static void backend_reply(void *arg, struct rg_backend_sock *sock, const uint8_t *pkt, size_t len,
                          const struct sockaddr *addr)
{
    rg_proxy_on_reply(arg, sock, pkt, len, addr);
}

static void backend_sent(void *arg, void *owner)
{
    rg_proxy_on_sent(arg, owner);
}

struct rg_backend_events rg_proxy_backend_events(struct rg_proxy *px)
{
    return (struct rg_backend_events){.reply = backend_reply, .sent = backend_sent, .arg = px};
}
