/* Between the files of the AP connection (conn.c and conn_*.c): what one part calls in
 * another. Not for anything outside them; the connection's API is radsecgw/conn.h. */
#ifndef RADSECGW_CONN_INTERNAL_H
#define RADSECGW_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/conn.h"
#include "radsecgw/radius.h"

/* Decrypted bytes buffered per connection before the TLS layer stops reading: a few
 * maximum-size packets (backpressure when the backend table is full). */
#define RG_CONN_PLAIN_LIMIT (4 * RG_RADIUS_MAX_LEN)

/* Ask the owner to run rg_conn_admit_waiting from its loop (a slot was freed, or c waits). */
static inline void rg_conn_schedule_admit(struct rg_conn_set *set)
{
    set->hooks.schedule_admit(set->hooks.arg);
}

/* conn_fairness.c: the more list (run from rg_conn_run_more), fresh shares once the loop
 * has turned, whether a share is used, decrypting and handshaking within it. */
void rg_conn_more_push(struct rg_conn *c);
void rg_conn_more_remove(struct rg_conn *c);
void rg_conn_turn_refresh(struct rg_conn *c);
bool rg_conn_turn_used(const struct rg_conn *c);
/* It used its share of this turn with work left: counted (the shares of the next turn) and
 * queued in the more list. */
void rg_conn_turn_exhausted(struct rg_conn *c);
/* The requests it abandoned drained below half the bound (the origin's drained): it is read
 * again, from the loop. */
void rg_conn_abandon_drained(struct rg_conn *c);
int rg_conn_decrypt(struct rg_conn *c);
bool rg_conn_handshake_step(struct rg_conn *c, int *rc);

/* conn.c: handshake, decrypt and frame what is buffered, within the turn's share. */
void rg_conn_process(struct rg_conn *c);

/* conn_idle.c: give back emptied buffers now and queue the in-flight table for
 * rg_conn_trim_idle; leave the trim list (at close). */
void rg_conn_want_trim(struct rg_conn *c);
void rg_conn_trim_unlink(struct rg_conn *c);

/* conn_write.c: write what TLS produced (uv_try_write, then uv_write for the rest); is
 * more than RG_CONN_WRITE_PAUSE waiting unsent (the peer does not read)? */
void rg_conn_flush(struct rg_conn *c);
bool rg_conn_write_backlog(const struct rg_conn *c);

/* conn.c: start or stop reading the socket, as the connection's state says. */
void rg_conn_update_reading(struct rg_conn *c);

/* conn_timer.c: follow the TLS record framing of received ciphertext (packet-timeout);
 * arm the timer for the earliest deadline, or sooner for a new one; the timer callback. */
void rg_conn_track_records(struct rg_conn *c, const uint8_t *p, size_t n);
void rg_conn_arm_timer(struct rg_conn *c);
void rg_conn_arm_sooner(struct rg_conn *c, uint64_t due_ms);
void rg_conn_on_timer(uv_timer_t *t);

/* conn.c: refuse a connection before it is open (counted, one line per reason). */
void rg_conn_refuse(struct rg_conn *c, const char *reason);

/* conn_proxy_header.c: check the balancer and read its PROXY v2 header, then rg_conn_admit. */
void rg_conn_expect_proxy_header(struct rg_conn *c);

/* conn_admit.c: admission of a connection whose source is known. */
void rg_conn_admit(struct rg_conn *c);
/* conn_admit.c: take c off whichever admission list (rg_conn.list) it is on (nothing if
 * none). */
void rg_conn_list_remove(struct rg_conn *c);

#endif
