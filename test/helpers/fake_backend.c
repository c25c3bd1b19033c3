/* fake_backend: a scriptable UDP RADIUS server for the integration tests. It checks every
 * request it receives (Message-Authenticator, User-Password, Accounting Request
 * Authenticator, duplicates), answers according to --mode after an optional delay (and at
 * most --max-rate replies a second, in arrival order: a saturated server; nothing during the
 * pauses of --stall), and writes its counters
 * as key=value lines on SIGUSR1 and at exit. Single-threaded libuv. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"

enum mode {
    MODE_ACCEPT,         /* Access-Accept (Reject on a wrong --password), Accounting-Response */
    MODE_REJECT,         /* Access-Reject to every Access-Request */
    MODE_DROP,           /* never answer */
    MODE_BAD_AUTH,       /* every reply has a wrong Response Authenticator */
    MODE_BAD_AUTH_FIRST, /* the first N replies are wrong, later ones good */
    MODE_WRONG_PORT,     /* answer from another source port */
    MODE_NO_MA,          /* Access-* replies without Message-Authenticator (BlastRADIUS) */
};

static const char *const mode_names[] = {
    [MODE_ACCEPT] = "accept",
    [MODE_REJECT] = "reject",
    [MODE_DROP] = "drop",
    [MODE_BAD_AUTH] = "bad-auth",
    [MODE_BAD_AUTH_FIRST] = "bad-auth-first",
    [MODE_WRONG_PORT] = "wrong-port",
    [MODE_NO_MA] = "no-ma",
};

/* What the accept replies carry, fixed so tests can compare what the AP finally sees. */
#define REPLY_MESSAGE_ACCEPT "fake backend accept"
#define REPLY_MESSAGE_REJECT "fake backend reject"
#define TUNNEL_PASSWORD      "fake-tunnel-password"
#define TUNNEL_TAG           1
#define MPPE_KEY_LEN         32 /* send key 00..1f, receive key 20..3f */

static struct {
    const char *addr;
    int port;
    const char *secret;
    size_t secret_len;
    enum mode mode;
    unsigned bad_first; /* MODE_BAD_AUTH_FIRST: how many bad replies before good ones */
    unsigned delay_ms;
    unsigned max_rate; /* replies per second, in arrival order; 0: no limit */
    unsigned stall_ms,
        stall_every_ms; /* --stall MS/EVERY: answers nothing for MS ms of each EVERY */
    const char *report;
    const char *password; /* expected User-Password plain text, NULL: not checked */
    long no_ma_after;     /* >= 0: Access-* replies signed only for the first N, then not */
    int acct_ma;          /* Accounting-Response Message-Authenticator: 0 none, 1 over the
                             request authenticator, 2 over a zeroed field */
} opt = {.addr = "127.0.0.1", .mode = MODE_ACCEPT, .no_ma_after = -1};

static struct {
    uint64_t requests, bad, malformed, bad_msgauth, no_msgauth, bad_acct_auth, bad_status;
    uint64_t password_ok, password_mismatch, duplicates, replies, bad_replies, send_errors;
    uint64_t dropped, truncated, access_replies, msgauth_in_acct;
    uint64_t queued, queued_max; /* replies waiting for --delay-ms / --max-rate */
    uint64_t code[256];
} count;

/* A reply waiting for its --delay-ms and its turn under --max-rate. The delay is the same
 * for all and the turns follow arrival, so a FIFO queue is sorted by due time and one timer
 * serves them all. */
struct pending {
    struct pending *next; /* owned by the queue */
    uint64_t due;         /* uv_now() milliseconds */
    struct sockaddr_storage to;
    uint16_t len;
    uint8_t data[];
};

static uv_loop_t *loop;
static uv_udp_t sock, alt_sock; /* alt_sock: MODE_WRONG_PORT answers from here */
static uv_timer_t delay_timer;
static uv_signal_t sig_usr1, sig_term, sig_int;
static struct pending *queue_head, *queue_tail; /* owned: freed when sent or at exit */
static unsigned salt_counter;

/* Duplicate detection: (source port, ID, Request Authenticator) of every request seen. */
#define DUP_KEY_LEN 19
struct dup_slot {
    bool used;
    uint8_t key[DUP_KEY_LEN];
};
static struct dup_slot *dup_table; /* malloced, owned here */
static size_t dup_cap, dup_used;

static uint64_t hash_key(const uint8_t *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < DUP_KEY_LEN; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static bool dup_insert_slot(struct dup_slot *table, size_t cap, const uint8_t *key)
{
    size_t i = hash_key(key) & (cap - 1);
    while (table[i].used) {
        if (memcmp(table[i].key, key, DUP_KEY_LEN) == 0)
            return false;
        i = (i + 1) & (cap - 1);
    }
    table[i].used = true;
    memcpy(table[i].key, key, DUP_KEY_LEN);
    return true;
}

/* Returns true when the key was seen before. */
static bool dup_seen(const uint8_t *key)
{
    if (dup_used * 2 >= dup_cap) {
        size_t ncap = dup_cap ? dup_cap * 2 : 4096;
        struct dup_slot *nt = calloc(ncap, sizeof(*nt));
        RG_REQUIRE(nt);
        for (size_t i = 0; i < dup_cap; i++)
            if (dup_table[i].used)
                dup_insert_slot(nt, ncap, dup_table[i].key);
        free(dup_table);
        dup_table = nt;
        dup_cap = ncap;
    }
    if (!dup_insert_slot(dup_table, dup_cap, key))
        return true;
    dup_used++;
    return false;
}

static void write_report(void)
{
    if (!opt.report)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", opt.report);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "fake_backend: %s: %s\n", tmp, strerror(errno));
        return;
    }
    fprintf(f, "mode=%s\n", mode_names[opt.mode]);
    fprintf(f, "requests=%llu\n", (unsigned long long)count.requests);
    fprintf(f, "bad=%llu\n", (unsigned long long)count.bad);
    fprintf(f, "malformed=%llu\n", (unsigned long long)count.malformed);
    fprintf(f, "truncated=%llu\n", (unsigned long long)count.truncated);
    fprintf(f, "bad_msgauth=%llu\n", (unsigned long long)count.bad_msgauth);
    fprintf(f, "no_msgauth=%llu\n", (unsigned long long)count.no_msgauth);
    fprintf(f, "bad_acct_auth=%llu\n", (unsigned long long)count.bad_acct_auth);
    fprintf(f, "bad_status=%llu\n", (unsigned long long)count.bad_status);
    fprintf(f, "password_ok=%llu\n", (unsigned long long)count.password_ok);
    fprintf(f, "password_mismatch=%llu\n", (unsigned long long)count.password_mismatch);
    fprintf(f, "duplicates=%llu\n", (unsigned long long)count.duplicates);
    fprintf(f, "replies=%llu\n", (unsigned long long)count.replies);
    fprintf(f, "queued_max=%llu\n", (unsigned long long)count.queued_max);
    fprintf(f, "bad_replies=%llu\n", (unsigned long long)count.bad_replies);
    fprintf(f, "send_errors=%llu\n", (unsigned long long)count.send_errors);
    fprintf(f, "dropped=%llu\n", (unsigned long long)count.dropped);
    fprintf(f, "msgauth_in_acct=%llu\n", (unsigned long long)count.msgauth_in_acct);
    fprintf(f, "access_request=%llu\n", (unsigned long long)count.code[RG_RADIUS_ACCESS_REQUEST]);
    fprintf(f, "accounting_request=%llu\n",
            (unsigned long long)count.code[RG_RADIUS_ACCOUNTING_REQUEST]);
    fprintf(f, "status_server=%llu\n", (unsigned long long)count.code[RG_RADIUS_STATUS_SERVER]);
    for (int c = 0; c < 256; c++)
        if (count.code[c])
            fprintf(f, "code_%d=%llu\n", c, (unsigned long long)count.code[c]);
    fprintf(f, "end=1\n");
    if (fclose(f) != 0 || rename(tmp, opt.report) != 0)
        fprintf(stderr, "fake_backend: writing %s: %s\n", opt.report, strerror(errno));
}

static void send_now(const uint8_t *data, size_t len, const struct sockaddr *to)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    uv_udp_t *from = opt.mode == MODE_WRONG_PORT ? &alt_sock : &sock;
    int rc = uv_udp_try_send(from, &b, 1, to);
    if (rc < 0) {
        count.send_errors++;
        fprintf(stderr, "fake_backend: send: %s\n", uv_strerror(rc));
    }
}

static void on_delay_timer(uv_timer_t *t)
{
    uint64_t now = uv_now(loop);
    while (queue_head && queue_head->due <= now) {
        struct pending *p = queue_head;
        queue_head = p->next;
        if (!queue_head)
            queue_tail = NULL;
        send_now(p->data, p->len, (const struct sockaddr *)&p->to);
        free(p);
        count.queued--;
    }
    if (queue_head)
        uv_timer_start(&delay_timer, on_delay_timer, queue_head->due - now, 0);
}

static void send_reply(const uint8_t *data, size_t len, const struct sockaddr *to)
{
    count.replies++;
    if (!opt.delay_ms && !opt.max_rate && !opt.stall_ms) {
        send_now(data, len, to);
        return;
    }
    struct pending *p = malloc(sizeof(*p) + len);
    RG_REQUIRE(p);
    p->next = NULL;
    p->due = uv_now(loop) + opt.delay_ms;
    if (opt.stall_ms) {
        /* A server that stops now and then (a pause, a flush): what arrives in a stall is
         * answered at its end, all at once. Dues stay in arrival order. */
        uint64_t phase = p->due % opt.stall_every_ms;
        if (phase < opt.stall_ms)
            p->due += opt.stall_ms - phase;
    }
    if (opt.max_rate) {
        /* Each reply leaves 1/max_rate s after the one before it (microseconds, so that
         * rates above 1,000/s do not round to nothing). */
        static uint64_t last_us;
        uint64_t due_us = p->due * 1000u, next_us = last_us + 1000000u / opt.max_rate;
        last_us = due_us > next_us ? due_us : next_us;
        p->due = (last_us + 999u) / 1000u;
    }
    if (++count.queued > count.queued_max)
        count.queued_max = count.queued;
    memset(&p->to, 0, sizeof(p->to));
    memcpy(&p->to, to,
           to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    p->len = (uint16_t)len;
    memcpy(p->data, data, len);
    if (queue_tail)
        queue_tail->next = p;
    else
        queue_head = p;
    queue_tail = p;
    if (!uv_is_active((uv_handle_t *)&delay_timer))
        uv_timer_start(&delay_timer, on_delay_timer, p->due - uv_now(loop), 0);
}

/* RFC 2865 §5.33: Proxy-State is copied unmodified, in order, into the reply. */
static int copy_proxy_state(const uint8_t *req, struct rg_radius_pkt *reply)
{
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_find(req, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a)) {
        int rc = rg_radius_attr_add(reply, a.type, a.value, a.value_len);
        if (rc)
            return rc;
    }
    return 0;
}

/* Tunnel-Password (RFC 2868 §3.5) or MS-MPPE key (RFC 2548 §2.4.2) hidden for this reply. */
static size_t hide_salted(const uint8_t *key, size_t key_len, const uint8_t *req_auth, uint8_t *out)
{
    uint8_t salt[2];
    size_t out_len = 0;
    rg_radius_salt_new(salt, &salt_counter);
    RG_REQUIRE(rg_radius_salted_hide(key, key_len, salt, req_auth, RG_SECRET_OF(&opt), out,
                                     &out_len) == 0);
    return out_len;
}

static int add_accept_attrs(struct rg_radius_pkt *r, const uint8_t *req_auth)
{
    uint8_t val[300], key[MPPE_KEY_LEN];
    size_t n;
    int rc = rg_radius_attr_add(r, RG_RADIUS_ATTR_REPLY_MESSAGE, REPLY_MESSAGE_ACCEPT,
                                strlen(REPLY_MESSAGE_ACCEPT));
    val[0] = TUNNEL_TAG;
    n = hide_salted((const uint8_t *)TUNNEL_PASSWORD, strlen(TUNNEL_PASSWORD), req_auth, val + 1);
    rc |= rg_radius_attr_add(r, RG_RADIUS_ATTR_TUNNEL_PASSWORD, val, n + 1);
    for (int i = 0; i < MPPE_KEY_LEN; i++)
        key[i] = (uint8_t)i;
    n = hide_salted(key, sizeof(key), req_auth, val);
    rc |= rg_radius_vsa_add(r, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY, val, n);
    for (int i = 0; i < MPPE_KEY_LEN; i++)
        key[i] = (uint8_t)(MPPE_KEY_LEN + i);
    n = hide_salted(key, sizeof(key), req_auth, val);
    rc |= rg_radius_vsa_add(r, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, val, n);
    return rc;
}

/* Checks of an Access-Request; returns false when it must be silently discarded.
 * *wrong_password is set when --password is given and the hidden one differs. */
static bool check_access_request(const uint8_t *pkt, bool *wrong_password)
{
    int ma = rg_radius_msgauth_verify(pkt, NULL, RG_SECRET_OF(&opt));
    if (ma == -ENOENT) {
        count.no_msgauth++;
    } else if (ma != 0) {
        /* RFC 3579 §3.2: an invalid Message-Authenticator means silently discard. */
        count.bad_msgauth++;
        count.bad++;
        fprintf(stderr, "fake_backend: id %u: bad Message-Authenticator\n", pkt[1]);
        return false;
    }
    struct rg_radius_attr a;
    if (opt.password && rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a)) {
        uint8_t plain[RG_RADIUS_PASSWORD_MAX];
        size_t plain_len = 0;
        int rc = rg_radius_password_unhide(a.value, a.value_len, pkt + 4, RG_SECRET_OF(&opt), plain,
                                           &plain_len);
        if (rc == 0 && plain_len == strlen(opt.password) &&
            memcmp(plain, opt.password, plain_len) == 0) {
            count.password_ok++;
        } else {
            count.password_mismatch++;
            *wrong_password = true;
            fprintf(stderr, "fake_backend: id %u: User-Password is not the expected one\n", pkt[1]);
        }
    }
    return true;
}

static void handle_request(const uint8_t *pkt, size_t len, const struct sockaddr *from)
{
    struct rg_radius_error err;
    char why[128];

    count.requests++;
    if (rg_radius_validate(pkt, len, &err) != 0) {
        count.malformed++;
        count.bad++;
        fprintf(stderr, "fake_backend: malformed request: %s\n",
                rg_radius_error_str(&err, why, sizeof(why)));
        return;
    }
    uint8_t code = pkt[0], id = pkt[1];
    const uint8_t *req_auth = pkt + 4;
    count.code[code]++;

    uint8_t key[DUP_KEY_LEN];
    uint16_t port = from->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)from)->sin6_port
                                                : ((const struct sockaddr_in *)from)->sin_port;
    memcpy(key, &port, 2);
    key[2] = id;
    memcpy(key + 3, req_auth, RG_RADIUS_AUTH_LEN);
    if (dup_seen(key))
        count.duplicates++;

    bool wrong_password = false;
    uint8_t reply_code;
    switch (code) {
    case RG_RADIUS_ACCESS_REQUEST:
        if (!check_access_request(pkt, &wrong_password))
            return;
        reply_code = opt.mode == MODE_REJECT || wrong_password ? RG_RADIUS_ACCESS_REJECT
                                                               : RG_RADIUS_ACCESS_ACCEPT;
        break;
    case RG_RADIUS_ACCOUNTING_REQUEST:
        /* RFC 2866 §3: a wrong Request Authenticator means silently discard. */
        if (rg_radius_auth_request_verify(pkt, RG_SECRET_OF(&opt)) != 0) {
            count.bad_acct_auth++;
            count.bad++;
            fprintf(stderr, "fake_backend: id %u: bad Accounting Request Authenticator\n", id);
            return;
        }
        /* RFC 3579 §3.3: Message-Authenticator MUST NOT be in an Accounting-Request. */
        {
            struct rg_radius_attr ma;
            if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &ma))
                count.msgauth_in_acct++;
        }
        reply_code = RG_RADIUS_ACCOUNTING_RESPONSE;
        break;
    case RG_RADIUS_STATUS_SERVER:
        /* RFC 5997 §3: Status-Server without a valid Message-Authenticator is discarded. */
        if (rg_radius_msgauth_verify(pkt, NULL, RG_SECRET_OF(&opt)) != 0) {
            count.bad_status++;
            count.bad++;
            fprintf(stderr,
                    "fake_backend: id %u: Status-Server without a good "
                    "Message-Authenticator\n",
                    id);
            return;
        }
        reply_code = RG_RADIUS_ACCESS_ACCEPT;
        break;
    default:
        fprintf(stderr, "fake_backend: id %u: ignoring %s\n", id, rg_radius_code_name(code));
        return;
    }
    if (opt.mode == MODE_DROP) {
        count.dropped++;
        return;
    }

    uint8_t buf[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt r = {.data = buf, .cap = sizeof(buf)};
    static const uint8_t zeros[RG_RADIUS_AUTH_LEN];
    bool acct = reply_code == RG_RADIUS_ACCOUNTING_RESPONSE;
    bool with_ma =
        acct ? opt.acct_ma != 0
             : opt.mode != MODE_NO_MA &&
                   (opt.no_ma_after < 0 || count.access_replies < (uint64_t)opt.no_ma_after);
    if (!acct && code == RG_RADIUS_ACCESS_REQUEST)
        count.access_replies++;
    int rc = rg_radius_init(&r, reply_code, id, req_auth);
    if (with_ma)
        rc |= rg_radius_msgauth_add_first(&r);
    if (reply_code == RG_RADIUS_ACCESS_ACCEPT && code == RG_RADIUS_ACCESS_REQUEST)
        rc |= add_accept_attrs(&r, req_auth);
    else if (reply_code == RG_RADIUS_ACCESS_REJECT)
        rc |= rg_radius_attr_add(&r, RG_RADIUS_ATTR_REPLY_MESSAGE, REPLY_MESSAGE_REJECT,
                                 strlen(REPLY_MESSAGE_REJECT));
    rc |= copy_proxy_state(pkt, &r);
    if (rc) {
        fprintf(stderr, "fake_backend: id %u: reply does not fit\n", id);
        return;
    }
    if (with_ma)
        rg_radius_msgauth_sign(buf, acct && opt.acct_ma == 2 ? zeros : req_auth,
                               RG_SECRET_OF(&opt));
    rg_radius_auth_response_sign(buf, req_auth, RG_SECRET_OF(&opt));

    bool spoil = opt.mode == MODE_BAD_AUTH ||
                 (opt.mode == MODE_BAD_AUTH_FIRST && count.bad_replies < opt.bad_first);
    if (spoil) {
        buf[4] ^= 0x5a; /* the Response Authenticator no longer matches */
        count.bad_replies++;
    }
    send_reply(buf, rg_radius_len(buf), from);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char rbuf[65536];
    b->base = rbuf;
    b->len = sizeof(rbuf);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from,
                    unsigned flags)
{
    if (nread < 0) {
        fprintf(stderr, "fake_backend: recv: %s\n", uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || !from)
        return;
    if (flags & UV_UDP_PARTIAL) {
        count.requests++;
        count.truncated++;
        count.bad++;
        return;
    }
    handle_request((const uint8_t *)b->base, (size_t)nread, from);
}

static void on_signal(uv_signal_t *s, int signum)
{
    write_report();
    if (signum != SIGUSR1)
        uv_stop(loop);
}

static void on_close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void big_buffers(uv_udp_t *h)
{
    /* 20,000 requests in a burst must not overflow the default socket buffers. */
    uv_os_fd_t fd;
    int size = 8 << 20;
    if (uv_fileno((uv_handle_t *)h, &fd) != 0)
        return;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static int bind_udp(uv_udp_t *h, int port)
{
    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(opt.addr, port, (struct sockaddr_in *)&ss);
    if (rc)
        rc = uv_ip6_addr(opt.addr, port, (struct sockaddr_in6 *)&ss);
    if (rc) {
        fprintf(stderr, "fake_backend: bad address %s\n", opt.addr);
        return rc;
    }
    uv_udp_init(loop, h);
    rc = uv_udp_bind(h, (const struct sockaddr *)&ss, 0);
    if (rc) {
        fprintf(stderr, "fake_backend: bind %s:%d: %s\n", opt.addr, port, uv_strerror(rc));
        return rc;
    }
    big_buffers(h);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fake_backend --port P --secret S [--addr 127.0.0.1] [--mode MODE]\n"
            "                    [--delay-ms N] [--max-rate N] [--stall MS/EVERY] [--report FILE]\n"
            "                    [--password PLAIN]\n"
            "                    [--no-ma-after N] [--acct-ma request|zero]\n"
            "--no-ma-after N: Access-* replies to Access-Requests carry Message-Authenticator\n"
            "       only for the first N (a server that stops signing, or forged replies)\n"
            "--max-rate N: at most N replies a second, in arrival order (the most that\n"
            "       waited at once is queued_max in the report)\n"
            "--stall MS/EVERY: answer nothing for MS ms out of every EVERY ms; what arrives\n"
            "       in a stall is answered at its end\n"
            "--acct-ma: sign Accounting-Response, over the request authenticator or a\n"
            "       zeroed field (FreeRADIUS 3.2.1-3.2.8)\n"
            "modes: accept (default), reject, drop, bad-auth, bad-auth-first:N, wrong-port,\n"
            "       no-ma\n"
            "Prints \"ready\" once bound; writes counters to --report on SIGUSR1 and at exit\n"
            "(SIGTERM/SIGINT).\n");
}

static int parse_mode(const char *s)
{
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    for (size_t m = 0; m < RG_ARRAY_SIZE(mode_names); m++) {
        if (strlen(mode_names[m]) == n && strncmp(s, mode_names[m], n) == 0) {
            opt.mode = (enum mode)m;
            if (m == MODE_BAD_AUTH_FIRST)
                opt.bad_first = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 1;
            else if (colon)
                return -1;
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"addr", required_argument, NULL, 'a'},
        {"secret", required_argument, NULL, 's'},
        {"mode", required_argument, NULL, 'm'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"max-rate", required_argument, NULL, 'R'},
        {"stall", required_argument, NULL, 'S'},
        {"report", required_argument, NULL, 'r'},
        {"password", required_argument, NULL, 'w'},
        {"no-ma-after", required_argument, NULL, 'n'},
        {"acct-ma", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:a:s:m:d:R:S:r:w:n:A:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'a':
            opt.addr = optarg;
            break;
        case 's':
            opt.secret = optarg;
            break;
        case 'm':
            if (parse_mode(optarg) != 0) {
                fprintf(stderr, "fake_backend: unknown mode %s\n", optarg);
                return 2;
            }
            break;
        case 'd':
            opt.delay_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            opt.max_rate = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            if (sscanf(optarg, "%u/%u", &opt.stall_ms, &opt.stall_every_ms) != 2 ||
                opt.stall_ms >= opt.stall_every_ms) {
                fprintf(stderr, "fake_backend: --stall MS/EVERY with MS < EVERY\n");
                return 2;
            }
            break;
        case 'r':
            opt.report = optarg;
            break;
        case 'w':
            opt.password = optarg;
            break;
        case 'n':
            opt.no_ma_after = strtol(optarg, NULL, 10);
            break;
        case 'A':
            if (strcmp(optarg, "request") == 0)
                opt.acct_ma = 1;
            else if (strcmp(optarg, "zero") == 0)
                opt.acct_ma = 2;
            else {
                fprintf(stderr, "fake_backend: --acct-ma request|zero\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (opt.port <= 0 || opt.port > 65535 || !opt.secret || !*opt.secret) {
        usage(stderr);
        return 2;
    }
    opt.secret_len = strlen(opt.secret);

    loop = uv_default_loop();
    if (bind_udp(&sock, opt.port) != 0)
        return 1;
    if (opt.mode == MODE_WRONG_PORT && bind_udp(&alt_sock, 0) != 0)
        return 1;
    uv_udp_recv_start(&sock, on_alloc, on_recv);
    uv_timer_init(loop, &delay_timer);
    uv_signal_init(loop, &sig_usr1);
    uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);

    printf("ready\n");
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);

    while (queue_head) {
        struct pending *p = queue_head;
        queue_head = p->next;
        free(p);
    }
    free(dup_table);
    uv_walk(loop, on_close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
