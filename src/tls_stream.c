/* wolfSSL over memory buffers: I/O callbacks that read ciphertext from s->in and append
 * ciphertext to s->out, and the one drive() that advances handshake, reads and close.
 * Owns no socket and no policy (certificates and identity are tls.c's). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/tls.h"
#include "radsecgw/tls_stream.h"

#define BUF_MIN_CAP 4096u
/* Largest plaintext of one TLS record (RFC 8446 §5.1): what one wolfSSL_read can return. */
#define RECORD_PLAIN_MAX 16384u

int rg_buf_reserve(struct rg_buf *b, size_t n)
{
    if (n > RG_BUF_MAX || b->len > RG_BUF_MAX - n)
        return -ENOBUFS;
    size_t need = b->len + n;
    if (need <= b->cap)
        return 0;
    struct rg_buf_pool *p = b->pool;
    if (b->cap == 0 && p && need <= p->size) {
        if (!(b->data = rg_buf_pool_get(p)))
            return -ENOMEM;
        b->cap = p->size;
        return 0;
    }
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > RG_BUF_MAX)
        cap = RG_BUF_MAX;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    if (p && b->cap == p->size)
        p->lent--; /* outgrew the pool: plain malloc from here on */
    b->data = data;
    b->cap = cap;
    return 0;
}

int rg_buf_append(struct rg_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int ret = rg_buf_reserve(b, len);
    if (ret < 0)
        return ret;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void rg_buf_consume(struct rg_buf *b, size_t n)
{
    RG_REQUIRE(n <= b->len);
    if (n == 0)
        return; /* data may still be NULL: memmove(NULL, ...) is undefined even for 0 octets */
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void rg_buf_free(struct rg_buf *b)
{
    struct rg_buf_pool *p = b->pool;
    if (p && b->cap == p->size)
        rg_buf_pool_put(p, b->data);
    else
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rg_buf_release_empty(struct rg_buf *b)
{
    if (b->len == 0 && b->data)
        rg_buf_free(b);
}

void rg_buf_pool_init(struct rg_buf_pool *p, size_t size, unsigned max_free)
{
    RG_REQUIRE(size >= sizeof(void *));
    memset(p, 0, sizeof(*p));
    p->size = size;
    p->max_free = max_free;
}

void *rg_buf_pool_get(struct rg_buf_pool *p)
{
    void *data = p->free;
    if (data) {
        memcpy(&p->free, data, sizeof(p->free));
        p->nfree--;
    } else if (!(data = malloc(p->size))) {
        return NULL;
    }
    p->lent++;
    return data;
}

void rg_buf_pool_put(struct rg_buf_pool *p, void *data)
{
    if (!data)
        return;
    p->lent--;
    if (p->nfree >= p->max_free) {
        free(data);
        p->spilled++;
        return;
    }
    memcpy(data, &p->free, sizeof(p->free));
    p->free = data;
    p->nfree++;
}

void rg_buf_pool_trim(struct rg_buf_pool *p, unsigned keep)
{
    while (p->nfree > keep) {
        void *data = p->free;
        memcpy(&p->free, data, sizeof(p->free));
        free(data);
        p->nfree--;
    }
}

/* wolfSSL asks for ciphertext: hand out what the owner fed, or WANT_READ. */
static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct rg_tls_stream *s = ctx;
    (void)ssl;
    if (s->in.len == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = s->in.len < (size_t)sz ? s->in.len : (size_t)sz;
    memcpy(buf, s->in.data, n);
    rg_buf_consume(&s->in, n);
    return (int)n;
}

/* wolfSSL produced ciphertext: keep all of it for the owner to send. Only the RG_BUF_MAX
 * bound can refuse, which wolfSSL reports as a fatal error of the call in progress. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct rg_tls_stream *s = ctx;
    (void)ssl;
    if (rg_buf_append(&s->out, buf, (size_t)sz) < 0) {
        s->out_full = true;
        return WOLFSSL_CBIO_ERR_GENERAL;
    }
    return sz;
}

int rg_tls_stream_init(struct rg_tls_stream *s, WOLFSSL *ssl)
{
    memset(s, 0, sizeof(*s));
    if (!ssl)
        return -EINVAL;
    s->ssl = ssl;
    s->state = RG_TLS_STREAM_HANDSHAKE;
    s->plain_limit = RG_TLS_STREAM_PLAIN_LIMIT;
    s->server = wolfSSL_GetSide(ssl) == WOLFSSL_SERVER_END;
    wolfSSL_SSLSetIORecv(ssl, io_recv);
    wolfSSL_SSLSetIOSend(ssl, io_send);
    wolfSSL_SetIOReadCtx(ssl, s);
    wolfSSL_SetIOWriteCtx(ssl, s);
    return 0;
}

void rg_tls_stream_free(struct rg_tls_stream *s)
{
    rg_tls_ssl_free(s->ssl); /* also the verification state tls.c attached */
    s->ssl = NULL;
    rg_buf_free(&s->in);
    rg_buf_free(&s->out);
    rg_buf_free(&s->plain);
}

int rg_tls_stream_feed(struct rg_tls_stream *s, const uint8_t *data, size_t len)
{
    return rg_buf_append(&s->in, data, len);
}

static int stream_fail(struct rg_tls_stream *s, int err)
{
    s->state = RG_TLS_STREAM_FAILED;
    s->err = err;
    wolfSSL_ERR_error_string_n((unsigned long)(long)err, s->err_text, sizeof(s->err_text));
    /* Our own bound on s->out surfaces as a generic socket error; say what it was. */
    if (s->out_full)
        snprintf(s->err_text, sizeof(s->err_text), "output buffer full");
    return -EPROTO;
}

/* The peer said close_notify: answer with ours (RFC 8446 §6.1) and stop. */
static void stream_peer_closed(struct rg_tls_stream *s)
{
    s->close_received = true;
    s->state = RG_TLS_STREAM_CLOSED;
    wolfSSL_shutdown(s->ssl);
}

/* A handshake or read step returned ret without progress: waiting for the peer (0), the
 * peer's close_notify (0, state set), or a failure. */
static int stream_stopped(struct rg_tls_stream *s, int ret)
{
    int err = wolfSSL_get_error(s->ssl, ret);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
        return 0;
    if (err == WOLFSSL_ERROR_ZERO_RETURN) {
        stream_peer_closed(s);
        return 0;
    }
    return stream_fail(s, err);
}

static int stream_handshake(struct rg_tls_stream *s)
{
    int ret = s->server ? wolfSSL_accept(s->ssl) : wolfSSL_connect(s->ssl);
    if (ret == WOLFSSL_SUCCESS) {
        s->state = RG_TLS_STREAM_OPEN;
        s->handshake_done_event = true;
        return 0;
    }
    return stream_stopped(s, ret);
}

static int stream_read(struct rg_tls_stream *s)
{
    while (s->state == RG_TLS_STREAM_OPEN && s->plain.len < s->plain_limit) {
        size_t room = s->plain_limit - s->plain.len;
        if (room > RECORD_PLAIN_MAX)
            room = RECORD_PLAIN_MAX;
        int ret = rg_buf_reserve(&s->plain, room);
        if (ret < 0)
            return ret;
        int n = wolfSSL_read(s->ssl, s->plain.data + s->plain.len, (int)room);
        if (n > 0) {
            s->plain.len += (size_t)n;
            continue;
        }
        return stream_stopped(s, n);
    }
    return 0;
}

int rg_tls_stream_drive(struct rg_tls_stream *s)
{
    s->handshake_done_event = false;
    if (s->state == RG_TLS_STREAM_FAILED)
        return -EPROTO;
    if (s->state == RG_TLS_STREAM_HANDSHAKE) {
        int ret = stream_handshake(s);
        if (ret < 0)
            return ret;
    }
    if (s->state == RG_TLS_STREAM_OPEN)
        return stream_read(s);
    return 0;
}

bool rg_tls_stream_pending(const struct rg_tls_stream *s)
{
    if (s->state != RG_TLS_STREAM_OPEN && s->state != RG_TLS_STREAM_HANDSHAKE)
        return false;
    return s->in.len > 0 || (s->ssl && wolfSSL_pending(s->ssl) > 0);
}

int rg_tls_stream_write(struct rg_tls_stream *s, const uint8_t *data, size_t len)
{
    if (s->state != RG_TLS_STREAM_OPEN)
        return -ENOTCONN;
    while (len > 0) {
        int chunk = len > RG_BUF_MAX ? (int)RG_BUF_MAX : (int)len;
        int n = wolfSSL_write(s->ssl, data, chunk);
        if (n <= 0)
            return stream_fail(s, wolfSSL_get_error(s->ssl, n));
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void rg_tls_stream_shutdown(struct rg_tls_stream *s)
{
    if (s->state == RG_TLS_STREAM_OPEN)
        wolfSSL_shutdown(s->ssl);
    if (s->state != RG_TLS_STREAM_FAILED)
        s->state = RG_TLS_STREAM_CLOSED;
}
