/* A connection's one timer, armed for the earliest of its deadlines: handshake-timeout
 * (from the accept, also while waiting or reading a PROXY header), packet-timeout of an
 * incomplete TLS record or RADIUS packet, idle-timeout, the max-requests-per-second window,
 * certificate expiry. Part of the AP connection (conn.c). */
#include <time.h>

#include "radsecgw/admission.h"
#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/gen.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy_protocol.h"
#include "radsecgw/stats.h"

#include "conn_internal.h"

/* libuv's timers run on the loop's cached clock, which lags rg_now_ms by up to a turn: a
 * deadline this close counts as reached. */
#define RG_TIMER_SLACK_MS 5

/* Follow the record framing of the ciphertext (RFC 8446 §5.1: a 5-octet header ending in
 * the length) to know whether a record is incomplete and since when: only a record that
 * completes within packet-timeout keeps the connection (dribbling keeps nothing open). */
void rg_conn_track_records(struct rg_conn *c, const uint8_t *p, size_t n)
{
    bool completed = false;
    while (n > 0) {
        if (c->rec_left) {
            size_t take = n < c->rec_left ? n : c->rec_left;
            c->rec_left -= (uint32_t)take;
            p += take;
            n -= take;
            completed = completed || c->rec_left == 0;
            continue;
        }
        c->rec_hdr[c->rec_hdr_got++] = *p++;
        n--;
        if (c->rec_hdr_got == sizeof(c->rec_hdr)) {
            c->rec_hdr_got = 0;
            c->rec_left = (uint32_t)c->rec_hdr[3] << 8 | c->rec_hdr[4];
            completed = completed || c->rec_left == 0;
        }
    }
    if (c->rec_hdr_got == 0 && c->rec_left == 0) {
        c->rec_since_ms = 0;
    } else if (completed || !c->rec_since_ms) {
        c->rec_since_ms = rg_now_ms();
        rg_conn_arm_sooner(c, c->rec_since_ms +
                                  (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u);
    }
}

/* The earliest moment the connection's timer has something to check: the end of
 * handshake-timeout (counted from the accept) or else the idle deadline, the moment the
 * peer's certificate chain expires, the end of a max-requests-per-second window, and the
 * packet-timeout of an incomplete record or packet (only while reading: when we do not
 * read, the peer cannot complete it). */
static uint64_t timer_deadline(const struct rg_conn *c, uint64_t now)
{
    const struct rg_config *cfg = c->gen->cfg;
    uint64_t due;
    if (c->state != RG_CONN_OPEN) {
        due = c->accepted_ms + (uint64_t)cfg->listen.handshake_timeout_s * 1000u;
    } else {
        uint64_t idle = (uint64_t)cfg->listen.idle_timeout_s * 1000u;
        due = c->last_activity_ms + idle > now ? c->last_activity_ms + idle : now + idle;
        time_t not_after = c->peer.not_after;
        if (not_after) {
            time_t t = time(NULL);
            uint64_t expiry = now + (not_after > t ? (uint64_t)(not_after - t) * 1000u + 1000u : 0);
            if (expiry < due)
                due = expiry;
        }
        if (c->rate_blocked && c->rate_window_ms + 1000u < due)
            due = c->rate_window_ms + 1000u;
    }
    uint64_t pt = (uint64_t)cfg->listen.packet_timeout_s * 1000u;
    if (c->reading && c->rec_since_ms && c->rec_since_ms + pt < due)
        due = c->rec_since_ms + pt;
    if (c->reading && c->pkt_since_ms && c->pkt_since_ms + pt < due)
        due = c->pkt_since_ms + pt;
    return due;
}

void rg_conn_arm_timer(struct rg_conn *c)
{
    uint64_t now = rg_now_ms();
    c->timer_due_ms = timer_deadline(c, now);
    uv_timer_start(&c->timer, rg_conn_on_timer, c->timer_due_ms > now ? c->timer_due_ms - now : 0,
                   0);
}

/* A new deadline came up: move the timer only if it is sooner than the armed one (a later
 * one is found when the timer fires and re-arms). */
void rg_conn_arm_sooner(struct rg_conn *c, uint64_t due_ms)
{
    if (c->state == RG_CONN_CLOSED || (c->timer_due_ms && due_ms >= c->timer_due_ms))
        return;
    uint64_t now = rg_now_ms();
    c->timer_due_ms = due_ms;
    uv_timer_start(&c->timer, rg_conn_on_timer, due_ms > now ? due_ms - now : 0, 0);
}

static void packet_timeout(struct rg_conn *c, const char *what)
{
    RG_STAT_INC(c->set->stats, packet_timeouts);
    if (c->state == RG_CONN_HANDSHAKE) {
        rg_conn_refuse(c, what);
        return;
    }
    rg_log_limited("packet-timeout", LOG_NOTICE,
                   "event=packet_timeout " RG_CONN_LOG_FMT " reason=\"%s\" packet_timeout_s=%u",
                   RG_CONN_LOG_ARGS(c), what, c->gen->cfg->listen.packet_timeout_s);
    rg_conn_close(c, what);
}

void rg_conn_on_timer(uv_timer_t *t)
{
    struct rg_conn *c = t->data;
    c->timer_due_ms = 0;
    if (c->state == RG_CONN_PROXY_HEADER) {
        RG_STAT_INC(c->set->stats, proxy_refused);
        rg_pp2_note(RG_PP2_TIMEOUT, c->addr_text, NULL);
        rg_conn_close(c, "no PROXY header within handshake-timeout");
        return;
    }
    if (c->state == RG_CONN_WAITING) {
        /* handshake-timeout counts from the accept: waiting is bounded too. Logged in
         * aggregate (rg_admission_report), not per connection. */
        RG_STAT_INC(c->set->stats, conn_refused);
        rg_admission_note(RG_ADMISSION_WAIT_TIMEOUT);
        rg_conn_close(c, "waited for a handshake slot past handshake-timeout");
        return;
    }
    const struct rg_config *cfg = c->gen->cfg;
    uint64_t now = rg_now_ms() + RG_TIMER_SLACK_MS;
    uint64_t pt = (uint64_t)cfg->listen.packet_timeout_s * 1000u;
    if (c->state == RG_CONN_HANDSHAKE &&
        now >= c->accepted_ms + (uint64_t)cfg->listen.handshake_timeout_s * 1000u) {
        rg_conn_refuse(c, "TLS handshake timeout");
        return;
    }
    if (c->reading && c->rec_since_ms && now >= c->rec_since_ms + pt) {
        packet_timeout(c, "TLS record incomplete past packet-timeout");
        return;
    }
    if (c->reading && c->pkt_since_ms && now >= c->pkt_since_ms + pt) {
        packet_timeout(c, "RADIUS packet incomplete past packet-timeout");
        return;
    }
    if (c->state == RG_CONN_OPEN) {
        if (c->peer.not_after && time(NULL) > c->peer.not_after) {
            /* radiusdtls-bis §3.3: a connection does not outlive the certificates it was
             * authenticated with. */
            rg_warn("event=cert_expired " RG_CONN_LOG_FMT
                    " reason=\"client certificate chain expired\"",
                    RG_CONN_LOG_ARGS(c));
            rg_conn_close(c, "client certificate expired");
            return;
        }
        uint64_t idle = (uint64_t)cfg->listen.idle_timeout_s * 1000u;
        if (rg_origin_inflight(&c->origin) == 0 && now - c->last_activity_ms >= idle) {
            rg_conn_close(c, "idle timeout");
            return;
        }
        if (c->rate_blocked && now >= c->rate_window_ms + 1000u) {
            c->rate_blocked = false;
            rg_conn_process(c); /* the requests it sent meanwhile, then reading again */
            if (c->state == RG_CONN_CLOSED)
                return;
        }
    }
    rg_conn_arm_timer(c);
}
