/* wolfSSL over a byte stream: custom I/O callbacks read ciphertext from an input buffer
 * and append ciphertext to an output buffer; wolfSSL never touches a socket. The owner
 * (conn) moves bytes between these buffers and its libuv TCP handle.
 * Knows nothing of RADIUS. Tested over memory without sockets. */
#ifndef RADSECGW_TLS_STREAM_H
#define RADSECGW_TLS_STREAM_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rg_tls_stream_state {
    RG_TLS_STREAM_HANDSHAKE,
    RG_TLS_STREAM_OPEN,
    RG_TLS_STREAM_CLOSED, /* close_notify received or sent and done */
    RG_TLS_STREAM_FAILED, /* fatal error; see err / err_text */
};

/* A free list of equal-size buffers for one thread (not locked): connections take a buffer
 * when bytes arrive and give it back when it is empty again, so an idle connection holds
 * none and a busy one does not call malloc per packet. */
struct rg_buf_pool {
    void *free;        /* buffers linked through their first octets; malloced, owned */
    unsigned nfree;    /* on the free list */
    unsigned max_free; /* beyond this, a returned buffer is freed */
    unsigned lent;     /* taken and not given back (a gauge for the stats line) */
    unsigned spilled;  /* given back past max_free and freed (the owner may reset it) */
    size_t size;       /* capacity of every pooled buffer */
};

struct rg_buf {
    uint8_t *data; /* malloced, owned (from pool when cap == pool->size) */
    size_t len;
    size_t cap;
    struct rg_buf_pool *pool; /* not owned; NULL: malloc only */
};

/* No buffer grows past this: a peer that outruns its reader is cut off, not buffered. */
#define RG_BUF_MAX (4u << 20)

/* 0, or -ENOBUFS when len would exceed RG_BUF_MAX, -ENOMEM. */
int rg_buf_append(struct rg_buf *b, const void *data, size_t len);
/* Make room for n more octets after len (data + len is then writable); same errors. */
int rg_buf_reserve(struct rg_buf *b, size_t n);
void rg_buf_consume(struct rg_buf *b, size_t n); /* drop n octets from the front */
/* Free the storage (back to b->pool when it came from there); b keeps its pool. */
void rg_buf_free(struct rg_buf *b);
/* Give the storage back when b holds nothing (an idle connection keeps no buffer). */
void rg_buf_release_empty(struct rg_buf *b);

/* size: capacity of each buffer; max_free: how many the free list keeps. */
void rg_buf_pool_init(struct rg_buf_pool *p, size_t size, unsigned max_free);
/* A buffer of p->size octets (contents undefined), NULL when out of memory. */
void *rg_buf_pool_get(struct rg_buf_pool *p);
/* Give back one rg_buf_pool_get returned (NULL is fine). */
void rg_buf_pool_put(struct rg_buf_pool *p, void *data);
/* Free buffers beyond keep on the free list (after a burst); keep 0 empties it. */
void rg_buf_pool_trim(struct rg_buf_pool *p, unsigned keep);

/* plain_limit after rg_tls_stream_init (the owner may change it). */
#define RG_TLS_STREAM_PLAIN_LIMIT 65536

struct rg_tls_stream {
    WOLFSSL *ssl; /* owned; freed by rg_tls_stream_free */
    enum rg_tls_stream_state state;
    struct rg_buf in;    /* ciphertext received, not yet read by wolfSSL */
    struct rg_buf out;   /* ciphertext wolfSSL produced, to be sent by the owner */
    struct rg_buf plain; /* decrypted application data, consumed by the owner */
    size_t plain_limit;  /* drive() stops reading when plain holds this much (backpressure);
                          * 0 pauses reading */
    int err;             /* wolfSSL error code when FAILED */
    char err_text[128];
    bool handshake_done_event; /* set by drive() when the handshake just completed */
    bool server;               /* ssl is the server end (wolfSSL_accept) */
    bool close_received;       /* the peer's close_notify arrived */
    bool out_full;             /* out hit RG_BUF_MAX: the cause of FAILED */
};

/* Takes ownership of ssl (server or client side already chosen by its CTX; the same stream
 * drives both, so tools and tests use it as a client). -EINVAL when ssl is NULL (its
 * allocation failed), so rg_tls_stream_init(s, rg_tls_ssl_new(ctx)) needs one check. s is
 * always safe to rg_tls_stream_free afterwards. */
int rg_tls_stream_init(struct rg_tls_stream *s, WOLFSSL *ssl);
void rg_tls_stream_free(struct rg_tls_stream *s);

/* Ciphertext arrived from the network. */
int rg_tls_stream_feed(struct rg_tls_stream *s, const uint8_t *data, size_t len);

/* Advance: handshake, then read every available record into plain (up to plain_limit).
 * Returns 0, or negative on a fatal error (state FAILED). Output to send is in s->out (on
 * failure it may hold an alert worth flushing before the close). handshake_done_event is
 * cleared on entry and set when this call completed the handshake. Records that did not fit
 * under plain_limit stay inside wolfSSL: call drive() again after consuming plain, even
 * without new input. A close_notify from the peer makes the state CLOSED and queues ours. */
int rg_tls_stream_drive(struct rg_tls_stream *s);

/* Could drive() yield more plaintext without new input? True while ciphertext waits in s->in
 * or decrypted data waits inside wolfSSL (a record larger than the room under plain_limit).
 * The owner checks it after consuming plain, instead of s->in.len alone. */
bool rg_tls_stream_pending(const struct rg_tls_stream *s);

/* Encrypt application data (only when OPEN, else -ENOTCONN); ciphertext is appended to
 * s->out. A failure other than -ENOTCONN leaves the stream FAILED. */
int rg_tls_stream_write(struct rg_tls_stream *s, const uint8_t *data, size_t len);

/* Send close_notify when OPEN (output in s->out); the stream is CLOSED afterwards (RFC 8446
 * §6.1: no need to wait for the peer's close_notify before closing the connection). */
void rg_tls_stream_shutdown(struct rg_tls_stream *s);

#endif
