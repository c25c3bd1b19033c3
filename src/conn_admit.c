/* Admission of an AP connection whose source is known (the TCP peer, or the AP a PROXY
 * header names): the limits and prefixes of admission.c, then a handshake slot or the
 * worker's waiting queue, watched unread until its peer speaks; making room by closing the
 * oldest silent handshake. The waiting and silent lists (struct rg_conn_set) are kept here;
 * admission.c only counts. */
#include <errno.h>
#include <sys/ioctl.h>

#include "radsecgw/admission.h"
#include "radsecgw/conn.h"
#include "radsecgw/gen.h"
#include "radsecgw/log.h"
#include "radsecgw/metrics.h"
#include "radsecgw/stats.h"

#include "conn_internal.h"

/* The kernel send buffer of an AP connection: fixed, not autotuned (rg_conn_admit). */
#define RG_CONN_SNDBUF (256 * 1024)

/* ---- the worker's admission lists: waiting for a slot, silent handshakes ---- */

static struct rg_conn_queue *list_of(struct rg_conn_set *set, enum rg_conn_list list)
{
    return list == RG_CONN_LIST_WAITING ? &set->waiting : &set->silent;
}

/* The worker's admission lists (rg_conn.list): push at the tail (oldest first). A waiting
 * connection that spoke (c->heard) goes before the silent ones, in arrival order among those
 * that spoke (the head of the queue up to set->waiting_heard): an AP's ClientHello does not
 * queue behind a half-open flood. */
static void list_push(struct rg_conn *c, enum rg_conn_list list)
{
    struct rg_conn_set *set = c->set;
    struct rg_conn_queue *q = list_of(set, list);
    RG_REQUIRE(c->list == RG_CONN_LIST_NONE);
    c->list = list;
    c->admit_next = NULL;
    c->admit_prev = q->tail;
    if (q->tail)
        q->tail->admit_next = c;
    else
        q->head = c;
    q->tail = c;
    q->n++;
    if (list == RG_CONN_LIST_WAITING) {
        RG_STAT_INC(set->stats, conn_waiting);
        rg_admission_waiting(true);
    }
}

void rg_conn_list_remove(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->list == RG_CONN_LIST_NONE)
        return;
    struct rg_conn_queue *q = list_of(set, c->list);
    if (c->admit_prev)
        c->admit_prev->admit_next = c->admit_next;
    else
        q->head = c->admit_next;
    if (c->admit_next)
        c->admit_next->admit_prev = c->admit_prev;
    else
        q->tail = c->admit_prev;
    q->n--;
    if (c->list == RG_CONN_LIST_WAITING) {
        if (set->waiting_heard == c)
            set->waiting_heard = c->admit_prev; /* the ones that spoke are contiguous */
        RG_STAT_DEC(set->stats, conn_waiting);
        rg_admission_waiting(false);
    }
    c->list = RG_CONN_LIST_NONE;
    c->admit_prev = c->admit_next = NULL;
}

static void waiting_to_front(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    struct rg_conn_queue *q = &set->waiting;
    struct rg_conn *after = set->waiting_heard;
    RG_REQUIRE(c->list == RG_CONN_LIST_WAITING && c->heard);
    if (c->admit_prev != after) {
        c->admit_prev->admit_next = c->admit_next; /* not the head: the head is `after` */
        if (c->admit_next)
            c->admit_next->admit_prev = c->admit_prev;
        else
            q->tail = c->admit_prev;
        c->admit_prev = after;
        c->admit_next = after ? after->admit_next : q->head;
        if (c->admit_next)
            c->admit_next->admit_prev = c;
        else
            q->tail = c;
        if (after)
            after->admit_next = c;
        else
            q->head = c;
    }
    set->waiting_heard = c;
}

/* Has the peer sent anything we have not read yet? (A waiting connection is not read, and
 * a handshake's first bytes may sit in the socket until the next poll.) */
static bool bytes_pending(struct rg_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 || ioctl(fd, FIONREAD, &n) < 0)
        return true; /* cannot tell: not silent */
    return n > 0;
}

/* The oldest connection of set that has not sent a byte, to be closed to make room while a
 * global limit is full: a handshake holding a slot, or (with_waiting) a connection waiting
 * for one; NULL if none. Only the heads are looked at: both lists are oldest first,
 * and a head found to have bytes pending is no longer silent and leaves the list. */
static struct rg_conn *silent_victim(struct rg_conn_set *set, bool with_waiting)
{
    while (set->silent.head && bytes_pending(set->silent.head)) {
        set->silent.head->heard = true;
        rg_conn_list_remove(set->silent.head);
    }
    struct rg_conn *victim = set->silent.head;
    if (with_waiting) {
        /* The first few waiting connections: one that sent its ClientHello is no victim. */
        struct rg_conn *c = set->waiting.head;
        for (int i = 0; c && i < 16; i++, c = c->admit_next) {
            if (bytes_pending(c))
                continue;
            if (!victim || c->accepted_ms < victim->accepted_ms)
                victim = c;
            break;
        }
    }
    return victim;
}

/* Close the oldest connection of set that has not sent a byte, to make room while a global
 * limit is full (silent_victim chooses it). True if one was closed. */
static bool evict_silent(struct rg_conn_set *set, bool with_waiting)
{
    struct rg_conn *victim = silent_victim(set, with_waiting);
    if (!victim)
        return false;
    RG_STAT_INC(set->stats, conn_evicted);
    rg_admission_note(RG_ADMISSION_EVICTED);
    rg_conn_close(victim, "evicted: silent while a connection limit was full");
    return true;
}

/* A handshake slot was taken for c: set up TLS and start reading. */
static void start_handshake(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->watching) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->watching = false;
    }
    c->holds_slot = true;
    RG_STAT_INC(set->stats, conn_handshaking);
    if (c->gen != set->gen) { /* waited across a reload: the generation in force */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(set->gen);
    }
    c->state = RG_CONN_HANDSHAKE; /* the TLS session is created when the first byte arrives */
    c->last_activity_ms = rg_now_ms();
    if (!c->heard)
        list_push(c, RG_CONN_LIST_SILENT);
    rg_conn_update_reading(c);
}

/* Waiting connections looked at per pass: a flood from one address at its per-address
 * limit must not make every slot release walk the whole queue. */
#define RG_ADMIT_SCAN 1024

/* A waiting connection is not read (it holds no buffers), but the loop tells when its
 * peer has sent something: an empty buffer makes libuv report UV_ENOBUFS instead of
 * reading. Then it goes first in the queue and, when every slot is taken, the oldest
 * silent handshake makes room for it (a half-open flood must not keep an AP's ClientHello
 * waiting until handshake-timeout frees slots). */
static void on_watch_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(NULL, 0);
}

static void on_watch_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    struct rg_conn_set *set = c->set;
    (void)nread; /* UV_ENOBUFS: readable (data, or the peer's FIN, which the read will see) */
    (void)buf;
    uv_read_stop(s);
    c->watching = false;
    if (c->state != RG_CONN_WAITING || c->list != RG_CONN_LIST_WAITING)
        return;
    c->heard = true;
    waiting_to_front(c);
    const struct rg_config *cfg = set->gen->cfg;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    int rc = rg_admission_handshake_take(cfg, addr);
    if (rc == -ENOSPC && evict_silent(set, false))
        rc = rg_admission_handshake_take(cfg, addr);
    if (rc < 0)
        return; /* first in line for the next slot */
    rg_conn_list_remove(c);
    start_handshake(c);
}

static void watch_waiting(struct rg_conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_watch_alloc, on_watch_read) == 0)
        c->watching = true;
}

void rg_conn_admit_waiting(struct rg_conn_set *set)
{
    const struct rg_config *cfg = set->gen->cfg;
    unsigned scanned = 0;
    for (struct rg_conn *c = set->waiting.head, *next; c && scanned < RG_ADMIT_SCAN; c = next) {
        next = c->admit_next;
        scanned++;
        if (!rg_admission_handshake_possible(cfg))
            break;
        int rc = rg_admission_handshake_take(cfg, (const struct sockaddr *)&c->addr);
        if (rc == -ENOSPC)
            break;
        if (rc < 0)
            continue; /* its address is at max-handshakes-per-ip: the next one may go */
        rg_conn_list_remove(c);
        start_handshake(c);
    }
}

/* A connection whose source is known (the TCP peer, or the AP named by a PROXY header):
 * admission, then a handshake slot or the waiting queue. */
void rg_conn_admit(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    int rc;
    const struct rg_config *cfg = set->gen->cfg;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    /* Limits and source prefixes cost nothing but a lookup: checked before any TLS. */
    const char *why;
    rc = rg_admission_admit(cfg, addr, &why);
    if (rc == -EAGAIN && evict_silent(set, true))
        rc = rg_admission_admit(cfg, addr, &why);
    if (rc < 0) {
        RG_STAT_INC(set->stats, conn_refused);
        rg_metrics_refused(set->metrics, why);
        if (rc == -EAGAIN)
            rg_admission_note(RG_ADMISSION_REFUSED);
        else if (rg_admission_refusal(why, c->addr_text, false))
            rg_warn("event=conn_refused conn=%llu src=%s reason=\"%s\"", (unsigned long long)c->id,
                    c->addr_text, why);
        rg_conn_close(c, why);
        return;
    }
    c->counted = true;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    /* A fixed send buffer instead of autotuning's up to 4 MB: a peer that does not read
     * fills it (and then RG_CONN_WRITE_PAUSE) quickly, so it stops being read and holds
     * little kernel memory. 256 KiB is thousands of replies in flight per round trip. */
    int sndbuf = RG_CONN_SNDBUF;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
    /* handshake-timeout counts from here, so a connection that waits for a slot is bounded
     * by it as well. */
    rg_conn_arm_timer(c);

    /* Connections that wait for a slot keep their place in line: a newcomer does not
     * overtake them. */
    if (set->waiting.n)
        rc = rg_admission_handshake_possible(cfg) ? -EAGAIN : -ENOSPC;
    else
        rc = rg_admission_handshake_take(cfg, addr);
    if (rc == 0) {
        start_handshake(c);
        rg_debug("event=conn_accept conn=%llu src=%s worker=%u", (unsigned long long)c->id,
                 c->addr_text, set->index);
        return;
    }
    /* Beyond max-handshakes(-per-ip) a connection waits, accepted but unread, instead of
     * being refused: hundreds of APs behind one NAT address reconnecting together all get
     * in, as handshakes finish (aggregate log line: rg_admission_report). */
    list_push(c, RG_CONN_LIST_WAITING);
    watch_waiting(c);
    RG_STAT_INC(set->stats, conn_waited);
    rg_admission_note(rc == -ENOSPC ? RG_ADMISSION_WAITED_GLOBAL : RG_ADMISSION_WAITED_IP);
    rg_debug("event=conn_accept conn=%llu src=%s worker=%u wait=handshake_slot",
             (unsigned long long)c->id, c->addr_text, set->index);
    if (rc == -ENOSPC) {
        /* Every slot is taken: the oldest silent handshake makes room (its slot goes to the
         * oldest waiting connection that may take it). */
        evict_silent(set, false);
    }
    rg_conn_schedule_admit(set);
}
