/* radsec_client: a RadSec (RFC 6614) test client. Sends PAP Access-Requests, Accounting-
 * Requests, Status-Server or raw bytes over one TLS connection, verifies each reply with the
 * shared secret and prints it one attribute per line. With --alpn / --radius-1.1 it offers
 * ALPN and, when radius/1.1 is selected, speaks RADIUS/1.1 (RFC 9765: Tokens, nothing hidden
 * or signed). A test tool, not part of the daemon:
 * wolfSSL on a blocking socket, the RADIUS codec from rg_core, nothing else. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/md5.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"

/* Exit codes: the contract the integration tests rely on. */
enum {
    EXIT_GOOD = 0,   /* every reply an Accept / Accounting-Response / Status answer */
    EXIT_REJECT = 1, /* a reply was Access-Reject (or Challenge) and nothing failed */
    EXIT_FAIL = 2,   /* timeout, TLS error, bad authenticator, malformed reply */
    EXIT_PERROR = 3, /* RADIUS/1.1: a Protocol-Error answered a request, nothing failed */
};

#define MAX_COUNT  256 /* one RADIUS ID space: every request in flight needs its own ID */
#define MAX_EXTRA  32
#define READ_SLICE 100 /* ms: SO_RCVTIMEO, so reads come back to check the deadline */
#define NAS_ID     "radsec-client"
#define CALLING_ID "02-00-00-00-00-01"
#define WIRELESS   19 /* NAS-Port-Type Wireless-802.11 (RFC 2865 §5.41, IANA) */

enum attr_kind {
    KIND_STRING,
    KIND_INT,
    KIND_IPV4,
    KIND_OCTETS,
    KIND_TAGGED_INT,
    KIND_TAGGED_STRING,
    KIND_USER_PASSWORD,
    KIND_TUNNEL_PASSWORD,
    KIND_MSGAUTH,
};

struct dict_entry {
    const char *name;
    uint8_t type;
    enum attr_kind kind;
};

/* The attributes a test is likely to send or see; others print as Attr-N. */
static const struct dict_entry dict[] = {
    {"User-Name", 1, KIND_STRING},
    {"User-Password", 2, KIND_USER_PASSWORD},
    {"CHAP-Password", 3, KIND_OCTETS},
    {"NAS-IP-Address", 4, KIND_IPV4},
    {"NAS-Port", 5, KIND_INT},
    {"Service-Type", 6, KIND_INT},
    {"Framed-Protocol", 7, KIND_INT},
    {"Framed-IP-Address", 8, KIND_IPV4},
    {"Framed-IP-Netmask", 9, KIND_IPV4},
    {"Filter-Id", 11, KIND_STRING},
    {"Framed-MTU", 12, KIND_INT},
    {"Reply-Message", 18, KIND_STRING},
    {"State", 24, KIND_OCTETS},
    {"Class", 25, KIND_OCTETS},
    {"Session-Timeout", 27, KIND_INT},
    {"Idle-Timeout", 28, KIND_INT},
    {"Termination-Action", 29, KIND_INT},
    {"Called-Station-Id", 30, KIND_STRING},
    {"Calling-Station-Id", 31, KIND_STRING},
    {"NAS-Identifier", 32, KIND_STRING},
    {"Proxy-State", 33, KIND_OCTETS},
    {"Acct-Status-Type", 40, KIND_INT},
    {"Acct-Delay-Time", 41, KIND_INT},
    {"Acct-Input-Octets", 42, KIND_INT},
    {"Acct-Output-Octets", 43, KIND_INT},
    {"Acct-Session-Id", 44, KIND_STRING},
    {"Acct-Authentic", 45, KIND_INT},
    {"Acct-Session-Time", 46, KIND_INT},
    {"Acct-Terminate-Cause", 49, KIND_INT},
    {"Event-Timestamp", 55, KIND_INT},
    {"NAS-Port-Type", 61, KIND_INT},
    {"Tunnel-Type", 64, KIND_TAGGED_INT},
    {"Tunnel-Medium-Type", 65, KIND_TAGGED_INT},
    {"Tunnel-Password", 69, KIND_TUNNEL_PASSWORD},
    {"EAP-Message", 79, KIND_OCTETS},
    {"Message-Authenticator", 80, KIND_MSGAUTH},
    {"Tunnel-Private-Group-Id", 81, KIND_TAGGED_STRING},
    {"Acct-Interim-Interval", 85, KIND_INT},
    {"NAS-Port-Id", 87, KIND_STRING},
    {"Chargeable-User-Identity", 89, KIND_OCTETS},
    {"Error-Cause", 101, KIND_INT},
    {"Operator-Name", 126, KIND_STRING},
};

struct extra_attr {
    uint8_t type;
    uint8_t len;
    uint8_t value[253];
};

struct options {
    const char *host;
    const char *port;
    const char *ca;
    const char *cert;
    const char *key;
    const char *secret;
    const char *reply_secret; /* --reply-secret: replies are checked with this (else secret) */
    const char *tls;          /* "1.2", "1.3" or NULL: either */
    const char *verify_name;  /* check the server certificate names this host */
    const char *source;       /* --source: bind to this local address before connecting */
    int count;
    double timeout;
    double hold;       /* --hold: seconds to keep the connection open after the replies */
    double hold_every; /* --hold-every: resend the command this often while holding */
    bool expect_close;
    bool require_ma;
    bool verbose;
    const char *answer_coa; /* --answer-coa ack|nak: answer CoA/Disconnect while holding */
    bool coalesce;          /* --records one: every pipelined packet in one TLS write */
    int split;              /* --records split:N: each packet written N octets at a time */
    const char *alpn;       /* --alpn: ALPN names to offer, comma separated */
    bool require_11;        /* --radius-1.1: radius/1.1 must be selected */
    bool same_token;        /* --same-token: every RADIUS/1.1 request gets one Token */
    const char *session;    /* --session: resume the TLS session kept here, keep the new one */
    struct extra_attr extra[MAX_EXTRA];
    int n_extra;
};

struct request {
    uint32_t token; /* RADIUS/1.1 */
    uint8_t id;
    uint8_t auth[RG_RADIUS_AUTH_LEN];
    uint8_t code;
    bool answered;
};

struct tally {
    int sent, replies, accept, reject, challenge, acct, status, timeout, bad, perror;
    bool closed;
};

static struct options opt = {
    .host = "127.0.0.1",
    .port = "2083",
    .secret = "radsec",
    .count = 1,
    .timeout = 5.0,
};

/* The connection speaks RADIUS/1.1 (radius/1.1 was selected by ALPN). */
static bool v11;
static uint32_t next_token; /* RFC 9765 §"Sending Packets": a counter from a random start */

static double now_s(void)
{
    return (double)rg_now_ms() / 1000.0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: radsec_client [options] COMMAND\n"
                 "commands:\n"
                 "  auth USER PASSWORD      PAP Access-Request (with Message-Authenticator)\n"
                 "  chap USER PASSWORD      CHAP Access-Request, the Request Authenticator as\n"
                 "                          the challenge (no CHAP-Challenge, RFC 2865 §5.3)\n"
                 "  acct start|stop|interim USER [SESSION-ID]\n"
                 "                          Accounting-Request\n"
                 "  status                  Status-Server (RFC 5997)\n"
                 "  raw HEX                 send these bytes as they are, report what follows\n"
                 "options:\n"
                 "  --host H --port P       server (127.0.0.1 2083)\n"
                 "  --source ADDR           connect from this local address (e.g. 127.0.0.7)\n"
                 "  --ca FILE               CA(s) for the server certificate (else: no check)\n"
                 "  --cert FILE --key FILE  client certificate (chain) and key\n"
                 "  --secret S              RadSec shared secret (radsec)\n"
                 "  --reply-secret S        check replies and read their hidden attributes\n"
                 "                          with S instead (a reload changed the secret while\n"
                 "                          the requests were in flight)\n"
                 "  --tls 1.2|1.3           only this TLS version\n"
                 "  --verify-name NAME      server certificate must be for NAME\n"
                 "  --count N               N requests pipelined on one connection (1..256)\n"
                 "  --timeout S             seconds to wait for replies after sending (5)\n"
                 "  --attr NAME=VALUE       add an attribute (replaces a default of that type);\n"
                 "                          NAME from the built-in list or Attr-N; VALUE 0xHEX\n"
                 "                          for octets\n"
                 "  --require-ma            a reply without Message-Authenticator is a failure\n"
                 "  --expect-close          success means: the server closed the connection\n"
                 "                          (or refused the handshake) without answering\n"
                 "  --hold S                after the replies keep the connection open S seconds,\n"
                 "                          reading; prints \"holding\" when it starts and\n"
                 "                          \"closed by server after Xs\" if the server closes it\n"
                 "                          (exit 2 then), else \"held open for Xs\"\n"
                 "  --records one|split:N   TLS records for the requests: \"one\" puts every\n"
                 "                          pipelined packet in one write, \"split:N\" writes\n"
                 "                          each packet N octets at a time (one record each)\n"
                 "  --hold-every S          while holding, send the command again every S\n"
                 "                          seconds; each must be answered within --timeout\n"
                 "  --answer-coa ack|nak    answer CoA/Disconnect-Requests the server sends on\n"
                 "                          the connection (reverse CoA): the request's\n"
                 "                          authenticator is checked with the secret, the\n"
                 "                          answer is an ACK, or a NAK with Error-Cause 503\n"
                 "  --alpn LIST             offer these ALPN names (e.g. radius/1.0,radius/1.1);\n"
                 "                          with radius/1.1 selected, speak RADIUS/1.1\n"
                 "  --radius-1.1            --alpn radius/1.1, and fail unless it is selected\n"
                 "  --same-token            RADIUS/1.1: every request carries the same Token\n"
                 "  --session FILE          offer the TLS session saved in FILE (if any) for\n"
                 "                          resumption and save the one held at the end there;\n"
                 "                          prints \"session: resumed\" or \"session: full\"\n"
                 "  -v, --verbose           TLS details on stderr\n"
                 "exit: 0 accept/accounting-response/status answer, 1 reject, 2 failure,\n"
                 "      3 Protocol-Error (RADIUS/1.1)\n");
}

static const struct dict_entry *dict_by_type(uint8_t type)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(dict); i++)
        if (dict[i].type == type)
            return &dict[i];
    return NULL;
}

static const struct dict_entry *dict_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(dict); i++)
        if (strlen(dict[i].name) == len && strncasecmp(dict[i].name, name, len) == 0)
            return &dict[i];
    return NULL;
}

/* "0x0a0b" or "0a0b" -> octets; returns the length or -1. */
static int parse_hex(const char *s, uint8_t *out, size_t cap)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t n = 0;
    while (*s) {
        if (*s == ' ' || *s == ':' || *s == '\n') {
            s++;
            continue;
        }
        unsigned v;
        if (n >= cap || sscanf(s, "%2x", &v) != 1 || !s[1])
            return -1;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return (int)n;
}

/* --attr NAME=VALUE */
static int parse_attr(const char *arg, struct extra_attr *x)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -1;
    const char *val = eq + 1;
    size_t vlen = strlen(val);
    enum attr_kind kind = KIND_OCTETS;
    const struct dict_entry *d = dict_by_name(arg, (size_t)(eq - arg));
    if (d) {
        x->type = d->type;
        kind = d->kind;
    } else if (strncasecmp(arg, "Attr-", 5) == 0) {
        long t = strtol(arg + 5, NULL, 10);
        if (t < 1 || t > 255)
            return -1;
        x->type = (uint8_t)t;
        kind = strncmp(val, "0x", 2) == 0 ? KIND_OCTETS : KIND_STRING;
    } else {
        return -1;
    }
    switch (kind) {
    case KIND_STRING:
    case KIND_TAGGED_STRING:
        if (vlen == 0 || vlen > 253)
            return -1;
        memcpy(x->value, val, vlen);
        x->len = (uint8_t)vlen;
        return 0;
    case KIND_INT:
    case KIND_TAGGED_INT: {
        char *end;
        unsigned long v = strtoul(val, &end, 0);
        if (*end || end == val)
            return -1;
        x->value[0] = (uint8_t)(kind == KIND_TAGGED_INT ? 0 : v >> 24);
        x->value[1] = (uint8_t)(v >> 16);
        x->value[2] = (uint8_t)(v >> 8);
        x->value[3] = (uint8_t)v;
        x->len = 4;
        return 0;
    }
    case KIND_IPV4:
        x->len = 4;
        return inet_pton(AF_INET, val, x->value) == 1 ? 0 : -1;
    case KIND_OCTETS: {
        int n = parse_hex(val, x->value, sizeof(x->value));
        if (n <= 0) {
            if (vlen == 0 || vlen > 253)
                return -1;
            memcpy(x->value, val, vlen);
            n = (int)vlen;
        }
        x->len = (uint8_t)n;
        return 0;
    }
    default: /* hidden attributes are built by the commands, not by hand */
        return -1;
    }
}

static bool extra_has(uint8_t type)
{
    for (int i = 0; i < opt.n_extra; i++)
        if (opt.extra[i].type == type)
            return true;
    return false;
}

static int add_default_string(struct rg_radius_pkt *p, uint8_t type, const char *s)
{
    if (extra_has(type))
        return 0;
    return rg_radius_attr_add(p, type, s, strlen(s));
}

static int add_default_int(struct rg_radius_pkt *p, uint8_t type, uint32_t v)
{
    if (extra_has(type))
        return 0;
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return rg_radius_attr_add(p, type, b, sizeof(b));
}

static int add_extras(struct rg_radius_pkt *p)
{
    for (int i = 0; i < opt.n_extra; i++) {
        int rc = rg_radius_attr_add(p, opt.extra[i].type, opt.extra[i].value, opt.extra[i].len);
        if (rc)
            return rc;
    }
    return 0;
}

/* The attributes every Access-Request of this client ends with, then the signature over the
 * Message-Authenticator added first. rc: the build so far; returns 0 or -ENOSPC. */
/* The secret replies are signed with: --reply-secret, else --secret. */
static rg_secret reply_secret(void)
{
    return rg_secret_str(opt.reply_secret ? opt.reply_secret : opt.secret);
}

static int finish_access_request(struct rg_radius_pkt *p, int rc, rg_secret sec)
{
    rc |= add_default_string(p, RG_RADIUS_ATTR_NAS_IDENTIFIER, NAS_ID);
    rc |= add_default_string(p, RG_RADIUS_ATTR_CALLING_STATION_ID, CALLING_ID);
    rc |= add_default_int(p, RG_RADIUS_ATTR_NAS_PORT_TYPE, WIRELESS);
    rc |= add_extras(p);
    if (rc)
        return -ENOSPC;
    if (!v11)
        rg_radius_msgauth_sign(p->data, NULL, sec);
    return 0;
}

/* Build request number n of the command into buf; returns its length or a negative code. */
static int build_request(int argc, char **argv, int n, uint8_t id, uint8_t *buf, size_t cap,
                         struct request *req)
{
    struct rg_radius_pkt p = {.data = buf, .cap = cap};
    const char *cmd = argv[0];
    const rg_secret sec = rg_secret_str(opt.secret);
    int rc = 0;

    if (strcmp(cmd, "chap") == 0) {
        if (argc != 3)
            return -EINVAL;
        const char *pass = argv[2];
        rc |= rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, id, NULL);
        rg_radius_auth_random(buf);
        if (!v11)
            rc |= rg_radius_msgauth_add_first(&p);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_USER_NAME, argv[1]);
        /* RFC 9765 §"CHAP-Challenge": no Request Authenticator to take the challenge from. */
        if (v11)
            rc |=
                rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_CHALLENGE, buf + 4, RG_RADIUS_AUTH_LEN);
        /* RFC 1994 / RFC 2865 §2.2: MD5(CHAP ident + password + challenge). */
        uint8_t chap[1 + WC_MD5_DIGEST_SIZE];
        wc_Md5 md5;
        chap[0] = (uint8_t)(id ^ 0x5a);
        if (wc_InitMd5(&md5) != 0)
            return -EINVAL;
        wc_Md5Update(&md5, chap, 1);
        wc_Md5Update(&md5, (const uint8_t *)pass, (word32)strlen(pass));
        wc_Md5Update(&md5, buf + 4, RG_RADIUS_AUTH_LEN);
        wc_Md5Final(&md5, chap + 1);
        wc_Md5Free(&md5);
        rc |= rg_radius_attr_add(&p, RG_RADIUS_ATTR_CHAP_PASSWORD, chap, sizeof(chap));
        if (finish_access_request(&p, rc, sec))
            return -ENOSPC;
    } else if (strcmp(cmd, "auth") == 0) {
        if (argc != 3)
            return -EINVAL;
        const char *user = argv[1], *pass = argv[2];
        uint8_t hidden[RG_RADIUS_PASSWORD_MAX];
        size_t hidden_len;
        rc |= rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, id, NULL);
        rg_radius_auth_random(buf);
        /* RFC 3579 §3.2 and the BlastRADIUS advice: Message-Authenticator first. */
        if (!v11)
            rc |= rg_radius_msgauth_add_first(&p);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_USER_NAME, user);
        if (v11) {
            /* RFC 9765 §"User-Password": in the clear. */
            rc |= rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, pass, strlen(pass));
        } else {
            if (rg_radius_password_hide((const uint8_t *)pass, strlen(pass), buf + 4, sec, hidden,
                                        &hidden_len))
                return -EINVAL;
            rc |= rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, hidden, hidden_len);
        }
        if (finish_access_request(&p, rc, sec))
            return -ENOSPC;
    } else if (strcmp(cmd, "acct") == 0) {
        if (argc != 3 && argc != 4)
            return -EINVAL;
        uint32_t status;
        if (strcmp(argv[1], "start") == 0)
            status = 1;
        else if (strcmp(argv[1], "stop") == 0)
            status = 2;
        else if (strcmp(argv[1], "interim") == 0)
            status = 3;
        else
            return -EINVAL;
        char session[64];
        if (argc == 4 && opt.count == 1)
            snprintf(session, sizeof(session), "%s", argv[3]);
        else if (argc == 4)
            snprintf(session, sizeof(session), "%s-%d", argv[3], n);
        else
            snprintf(session, sizeof(session), "rc-%s-%d", argv[2], n);
        rc |= rg_radius_init(&p, RG_RADIUS_ACCOUNTING_REQUEST, id, NULL);
        rc |= add_default_int(&p, RG_RADIUS_ATTR_ACCT_STATUS_TYPE, status);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_USER_NAME, argv[2]);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_ACCT_SESSION_ID, session);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, NAS_ID);
        rc |= add_default_string(&p, RG_RADIUS_ATTR_CALLING_STATION_ID, CALLING_ID);
        rc |= add_default_int(&p, RG_RADIUS_ATTR_NAS_PORT_TYPE, WIRELESS);
        rc |= add_default_int(&p, RG_RADIUS_ATTR_EVENT_TIMESTAMP, (uint32_t)time(NULL));
        if (status == 2)
            rc |= add_default_int(&p, 46 /* Acct-Session-Time */, 60);
        rc |= add_extras(&p);
        if (rc)
            return -ENOSPC;
        /* RFC 2866 §3: the Request Authenticator is computed, not random. */
        if (!v11)
            rg_radius_auth_request_sign(buf, sec);
    } else if (strcmp(cmd, "status") == 0) {
        if (argc != 1)
            return -EINVAL;
        rc |= rg_radius_init(&p, RG_RADIUS_STATUS_SERVER, id, NULL);
        rg_radius_auth_random(buf);
        /* RFC 5997 §3: Status-Server MUST carry Message-Authenticator (not on 1.1). */
        if (!v11)
            rc |= rg_radius_msgauth_add_first(&p);
        rc |= add_extras(&p);
        if (rc)
            return -ENOSPC;
        if (!v11)
            rg_radius_msgauth_sign(buf, NULL, sec);
    } else {
        return -EINVAL;
    }
    if (v11) {
        /* RFC 9765 §"Packet Format": Reserved-1 and Reserved-2 zero, the Token between. */
        req->token = opt.same_token ? next_token : next_token++;
        rg_radius11_set_header(buf, req->token);
    }
    req->id = id;
    req->code = buf[0];
    memcpy(req->auth, buf + 4, RG_RADIUS_AUTH_LEN);
    req->answered = false;
    return rg_radius_len(buf);
}

static void print_string(const uint8_t *v, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '"' || v[i] == '\\')
            printf("\\%c", v[i]);
        else if (v[i] >= 0x20 && v[i] < 0x7f)
            putchar(v[i]);
        else
            printf("\\x%02x", v[i]);
    }
    putchar('"');
}

static void print_hex(const uint8_t *v, size_t len)
{
    printf("0x");
    for (size_t i = 0; i < len; i++)
        printf("%02x", v[i]);
}

static void print_bad(const char *what, const uint8_t *v, size_t len)
{
    printf(" = <bad %s> ", what);
    print_hex(v, len);
}

static uint32_t get_u32(const uint8_t *v)
{
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

/* Microsoft VSAs (RFC 2548): the MPPE keys are shown decrypted. */
static void print_microsoft(const uint8_t *v, size_t len, const struct request *req)
{
    const rg_secret sec = reply_secret();
    size_t off = 0;
    while (off + 2 <= len && v[off + 1] >= 2 && off + v[off + 1] <= len) {
        uint8_t type = v[off], sublen = v[off + 1];
        const uint8_t *val = v + off + 2;
        size_t vlen = sublen - 2u;
        uint8_t key[256];
        size_t key_len = 0;
        if (v11 && (type == RG_RADIUS_MS_MPPE_SEND_KEY || type == RG_RADIUS_MS_MPPE_RECV_KEY ||
                    type == RG_RADIUS_MS_CHAP_MPPE_KEYS)) {
            /* RFC 9765 §"Vendor-Specific Attributes": in the clear. */
            printf("  %s = ", type == RG_RADIUS_MS_MPPE_SEND_KEY   ? "MS-MPPE-Send-Key"
                              : type == RG_RADIUS_MS_MPPE_RECV_KEY ? "MS-MPPE-Recv-Key"
                                                                   : "MS-CHAP-MPPE-Keys");
            print_hex(val, vlen);
            putchar('\n');
        } else if (type == RG_RADIUS_MS_MPPE_SEND_KEY || type == RG_RADIUS_MS_MPPE_RECV_KEY) {
            const char *name =
                type == RG_RADIUS_MS_MPPE_SEND_KEY ? "MS-MPPE-Send-Key" : "MS-MPPE-Recv-Key";
            if (rg_radius_salted_unhide(val, vlen, req->auth, sec, key, &key_len) == 0) {
                printf("  %s = ", name);
                print_hex(key, key_len);
                putchar('\n');
            } else {
                printf("  %s = <cannot decrypt, %zu octets>\n", name, vlen);
            }
        } else if (type == RG_RADIUS_MS_CHAP_MPPE_KEYS) {
            if (rg_radius_mppe_keys_unhide(val, vlen, req->auth, sec, key, &key_len) == 0) {
                printf("  MS-CHAP-MPPE-Keys = ");
                print_hex(key, key_len);
                putchar('\n');
            } else {
                printf("  MS-CHAP-MPPE-Keys = <cannot decrypt, %zu octets>\n", vlen);
            }
        } else {
            printf("  Vendor-311-Attr-%u = ", type);
            print_hex(val, vlen);
            putchar('\n');
        }
        off += sublen;
    }
}

static void print_attrs(const uint8_t *pkt, const struct request *req, int ma_state)
{
    size_t pos = 0;
    struct rg_radius_attr a;
    const rg_secret sec = reply_secret();

    while (rg_radius_attr_next(pkt, &pos, &a)) {
        const struct dict_entry *d = dict_by_type(a.type);
        if (a.type == RG_RADIUS_ATTR_VENDOR_SPECIFIC && a.value_len >= 4) {
            uint32_t vendor = get_u32(a.value);
            if (vendor == RG_RADIUS_VENDOR_MICROSOFT) {
                print_microsoft(a.value + 4, a.value_len - 4, req);
            } else {
                printf("  Vendor-Specific = vendor %u ", vendor);
                print_hex(a.value + 4, a.value_len - 4);
                putchar('\n');
            }
            continue;
        }
        if (!d) {
            printf("  Attr-%u = ", a.type);
            print_hex(a.value, a.value_len);
            putchar('\n');
            continue;
        }
        printf("  %s", d->name);
        switch (d->kind) {
        case KIND_STRING:
            printf(" = ");
            print_string(a.value, a.value_len);
            break;
        case KIND_INT:
            if (a.value_len == 4)
                printf(" = %u", get_u32(a.value));
            else
                print_bad("integer", a.value, a.value_len);
            break;
        case KIND_IPV4:
            if (a.value_len == 4)
                printf(" = %u.%u.%u.%u", a.value[0], a.value[1], a.value[2], a.value[3]);
            else
                print_bad("address", a.value, a.value_len);
            break;
        case KIND_TAGGED_INT:
            if (a.value_len == 4)
                printf(":%u = %u", a.value[0], get_u32(a.value) & 0xffffffu);
            else
                print_bad("tagged integer", a.value, a.value_len);
            break;
        case KIND_TAGGED_STRING:
            if (a.value_len > 0 && a.value[0] <= 0x1f) {
                printf(":%u = ", a.value[0]);
                print_string(a.value + 1, a.value_len - 1);
            } else {
                printf(" = ");
                print_string(a.value, a.value_len);
            }
            break;
        case KIND_TUNNEL_PASSWORD: {
            /* RFC 2868 §3.5: Tag, then Salt and the hidden string; RFC 9765: tag, password. */
            uint8_t key[256];
            size_t key_len;
            if (v11 && a.value_len >= 1) {
                printf(":%u = ", a.value[0]);
                print_string(a.value + 1, a.value_len - 1);
            } else if (a.value_len >= 1 &&
                       rg_radius_salted_unhide(a.value + 1, a.value_len - 1, req->auth, sec, key,
                                               &key_len) == 0) {
                printf(":%u = ", a.value[0]);
                print_string(key, key_len);
            } else {
                printf(" = <cannot decrypt> ");
                print_hex(a.value, a.value_len);
            }
            break;
        }
        case KIND_MSGAUTH:
            printf(" = %s", ma_state == 0 ? "ok" : "BAD");
            break;
        default:
            printf(" = ");
            print_hex(a.value, a.value_len);
            break;
        }
        putchar('\n');
    }
}

/* The reply's code against the request's; updates the tally. */
static void count_reply(uint8_t code, const struct request *req, struct tally *t)
{
    if (req->code == RG_RADIUS_STATUS_SERVER && code != RG_RADIUS_PROTOCOL_ERROR) {
        t->status++;
        return;
    }
    switch (code) {
    case RG_RADIUS_ACCESS_ACCEPT:
        t->accept += req->code == RG_RADIUS_ACCESS_REQUEST;
        t->bad += req->code != RG_RADIUS_ACCESS_REQUEST;
        break;
    case RG_RADIUS_ACCESS_REJECT:
        t->reject += req->code == RG_RADIUS_ACCESS_REQUEST;
        t->bad += req->code != RG_RADIUS_ACCESS_REQUEST;
        break;
    case RG_RADIUS_ACCESS_CHALLENGE:
        t->challenge += req->code == RG_RADIUS_ACCESS_REQUEST;
        t->bad += req->code != RG_RADIUS_ACCESS_REQUEST;
        break;
    case RG_RADIUS_ACCOUNTING_RESPONSE:
        t->acct += req->code == RG_RADIUS_ACCOUNTING_REQUEST;
        t->bad += req->code != RG_RADIUS_ACCOUNTING_REQUEST;
        break;
    case RG_RADIUS_PROTOCOL_ERROR:
        t->perror += v11;
        t->bad += !v11;
        break;
    default:
        printf("  (unexpected code %u for %s)\n", code, rg_radius_code_name(req->code));
        t->bad++;
    }
}

/* RADIUS/1.1 (RFC 9765): matched by Token; Reserved fields zero; no authenticator to check;
 * Message-Authenticator MUST NOT be sent. */
static void handle_reply11(const uint8_t *pkt, struct request *reqs, int nreq, struct tally *t)
{
    static const uint8_t zeros[12];
    uint8_t code = pkt[0];
    uint32_t token = rg_radius11_token(pkt);
    const char *name =
        code == RG_RADIUS_PROTOCOL_ERROR ? "Protocol-Error" : rg_radius_code_name(code);
    struct request *req = NULL;
    for (int i = 0; i < nreq; i++)
        if (reqs[i].token == token && !reqs[i].answered)
            req = &reqs[i];
    for (int i = 0; !req && i < nreq; i++)
        if (reqs[i].token == token)
            req = &reqs[i];
    if (!req) {
        printf("%s token=%08x: no request with this token\n", name, token);
        t->bad++;
        return;
    }
    if (req->answered) {
        printf("%s token=%08x: second reply to one request\n", name, token);
        t->bad++;
        return;
    }
    req->answered = true;
    if (pkt[1] != 0 || memcmp(pkt + 8, zeros, sizeof(zeros)) != 0) {
        printf("%s token=%08x: Reserved-1 / Reserved-2 not zero\n", name, token);
        t->bad++;
        return;
    }
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a)) {
        printf("%s token=%08x: Message-Authenticator on RADIUS/1.1\n", name, token);
        t->bad++;
        return;
    }
    printf("%s token=%08x\n", name, token);
    print_attrs(pkt, req, -ENOENT);
    count_reply(code, req, t);
}

/* Verify and print one reply; updates the tally. */
static void handle_reply(const uint8_t *pkt, size_t len, struct request *reqs, int nreq,
                         struct tally *t)
{
    struct rg_radius_error err;
    char why[128];

    t->replies++;
    if (rg_radius_validate(pkt, len, &err) != 0) {
        printf("malformed reply: %s\n", rg_radius_error_str(&err, why, sizeof(why)));
        t->bad++;
        return;
    }
    uint8_t code = pkt[0], id = pkt[1];
    struct request *req = NULL;
    if (v11) {
        handle_reply11(pkt, reqs, nreq, t);
        return;
    }
    for (int i = 0; i < nreq; i++)
        if (reqs[i].id == id)
            req = &reqs[i];
    if (!req) {
        printf("%s id=%u: no request with this id\n", rg_radius_code_name(code), id);
        t->bad++;
        return;
    }
    if (req->answered) {
        printf("%s id=%u: second reply to one request\n", rg_radius_code_name(code), id);
        t->bad++;
        return;
    }
    req->answered = true;
    const rg_secret sec = reply_secret();
    if (rg_radius_auth_response_verify(pkt, req->auth, sec) != 0) {
        printf("%s id=%u: bad Response Authenticator\n", rg_radius_code_name(code), id);
        t->bad++;
        return;
    }
    int ma = rg_radius_msgauth_verify(pkt, req->auth, sec);
    if (ma != 0 && ma != -ENOENT) {
        printf("%s id=%u: bad Message-Authenticator (%s)\n", rg_radius_code_name(code), id,
               ma == -EINVAL ? "malformed or repeated" : "wrong");
        t->bad++;
        return;
    }
    printf("%s id=%u\n", rg_radius_code_name(code), id);
    print_attrs(pkt, req, ma);
    if (ma == -ENOENT && opt.require_ma && code != RG_RADIUS_ACCOUNTING_RESPONSE) {
        printf("  (no Message-Authenticator)\n");
        t->bad++;
        return;
    }
    count_reply(code, req, t);
}

/* Connect with a deadline; returns the socket or -1. */
static int tcp_connect(double deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
    if (rc) {
        fprintf(stderr, "radsec_client: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (opt.source) {
            struct addrinfo *src = NULL;
            struct addrinfo sh = {
                .ai_family = ai->ai_family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
            int brc = getaddrinfo(opt.source, NULL, &sh, &src);
            if (brc == 0 && bind(fd, src->ai_addr, src->ai_addrlen) != 0)
                brc = -1;
            if (src)
                freeaddrinfo(src);
            if (brc != 0) {
                fprintf(stderr, "radsec_client: cannot bind to %s\n", opt.source);
                close(fd);
                fd = -1;
                continue;
            }
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int ms = (int)((deadline - now_s()) * 1000);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (ms > 0 && poll(&pfd, 1, ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errno = soerr ? soerr : ETIMEDOUT;
        }
        fprintf(stderr, "radsec_client: connect %s:%s: %s\n", opt.host, opt.port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    /* Back to blocking; reads return every READ_SLICE ms so deadlines hold. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 0, .tv_usec = READ_SLICE * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static WOLFSSL_CTX *make_ctx(void)
{
    WOLFSSL_METHOD *method;
    if (!opt.tls)
        method = wolfTLS_client_method();
    else if (strcmp(opt.tls, "1.2") == 0)
        method = wolfTLSv1_2_client_method();
    else if (strcmp(opt.tls, "1.3") == 0)
        method = wolfTLSv1_3_client_method();
    else {
        fprintf(stderr, "radsec_client: --tls must be 1.2 or 1.3\n");
        return NULL;
    }
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(method);
    if (!ctx)
        return NULL;
    if (!opt.tls && wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
        goto fail;
    if (opt.ca) {
        if (wolfSSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != WOLFSSL_SUCCESS) {
            fprintf(stderr, "radsec_client: cannot load CA %s\n", opt.ca);
            goto fail;
        }
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
    } else {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    if (opt.cert && wolfSSL_CTX_use_certificate_chain_file(ctx, opt.cert) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "radsec_client: cannot load certificate %s\n", opt.cert);
        goto fail;
    }
    if (opt.key &&
        wolfSSL_CTX_use_PrivateKey_file(ctx, opt.key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "radsec_client: cannot load key %s\n", opt.key);
        goto fail;
    }
    return ctx;
fail:
    wolfSSL_CTX_free(ctx);
    return NULL;
}

static const char *ssl_err(WOLFSSL *ssl, int ret, char *buf)
{
    int e = wolfSSL_get_error(ssl, ret);
    wolfSSL_ERR_error_string_n((unsigned long)e, buf, WOLFSSL_MAX_ERROR_SZ);
    return buf;
}

/* Handshake within the deadline: 0, or -1 when the server refused / it failed. */
static int handshake(WOLFSSL *ssl, double deadline)
{
    char ebuf[WOLFSSL_MAX_ERROR_SZ];
    for (;;) {
        int ret = wolfSSL_connect(ssl);
        if (ret == WOLFSSL_SUCCESS)
            break;
        int e = wolfSSL_get_error(ssl, ret);
        if ((e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) && now_s() < deadline)
            continue;
        printf("TLS handshake failed: %s\n",
               e == WOLFSSL_ERROR_WANT_READ ? "timeout" : ssl_err(ssl, ret, ebuf));
        /* Which alert the server sent, if any (RFC 8446 §6 codes): tests check for it. */
        WOLFSSL_ALERT_HISTORY h;
        if (wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS && h.last_rx.level)
            printf("alert received: level=%d code=%d\n", h.last_rx.level, h.last_rx.code);
        return -1;
    }
    if (opt.verbose)
        fprintf(stderr, "radsec_client: %s %s\n", wolfSSL_get_version(ssl),
                wolfSSL_get_cipher(ssl));
    return 0;
}

/* --answer-coa on RADIUS/1.1: the server's request carries a Token and nothing signed; the
 * answer echoes the Token. */
static void answer_coa11(WOLFSSL *ssl, const uint8_t *pkt, struct tally *t)
{
    const char *name = rg_radius_code_name(pkt[0]);
    uint32_t token = rg_radius11_token(pkt);
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &a)) {
        printf("%s token=%08x from server: Message-Authenticator on RADIUS/1.1\n", name, token);
        t->bad++;
    }
    printf("%s token=%08x from server\n", name, token);
    struct request req = {.token = token, .code = pkt[0]};
    print_attrs(pkt, &req, -ENOENT);
    bool ack = strcmp(opt.answer_coa, "ack") == 0;
    uint8_t code = pkt[0] == RG_RADIUS_DISCONNECT_REQUEST
                       ? (ack ? RG_RADIUS_DISCONNECT_ACK : RG_RADIUS_DISCONNECT_NAK)
                       : (ack ? RG_RADIUS_COA_ACK : RG_RADIUS_COA_NAK);
    uint8_t out[RG_RADIUS_MAX_LEN];
    int n = rg_radius11_local_reply(out, sizeof(out), code, token, pkt, ack ? 0 : 503, NULL);
    if (n < 0 || wolfSSL_write(ssl, out, n) != n) {
        printf("answering %s token=%08x: write failed\n", name, token);
        t->closed = true;
        return;
    }
    printf("answered %s token=%08x with %s\n", name, token, rg_radius_code_name(code));
}

/* --answer-coa: a CoA-Request or Disconnect-Request from the server (draft-ietf-radext-
 * reverse-coa). RFC 5176 §2.3: its Request Authenticator is computed with the secret; the
 * answer is signed with the request's authenticator (Message-Authenticator first). */
static void answer_coa(WOLFSSL *ssl, const uint8_t *pkt, size_t len, struct tally *t)
{
    struct rg_radius_error err;
    char why[128];
    const rg_secret sec = rg_secret_str(opt.secret);
    if (rg_radius_validate(pkt, len, &err) != 0) {
        printf("malformed server request: %s\n", rg_radius_error_str(&err, why, sizeof(why)));
        t->bad++;
        return;
    }
    const char *name = rg_radius_code_name(pkt[0]);
    if (v11) {
        answer_coa11(ssl, pkt, t);
        return;
    }
    int ma = rg_radius_msgauth_verify(pkt, NULL, sec);
    if (rg_radius_auth_request_verify(pkt, sec) != 0 || (ma != 0 && ma != -ENOENT)) {
        printf("%s id=%u from server: bad %s: not answered\n", name, pkt[1],
               ma != 0 && ma != -ENOENT ? "Message-Authenticator" : "Request Authenticator");
        t->bad++;
        return;
    }
    printf("%s id=%u from server\n", name, pkt[1]);
    struct request req = {.id = pkt[1], .code = pkt[0]};
    memcpy(req.auth, pkt + 4, RG_RADIUS_AUTH_LEN);
    print_attrs(pkt, &req, ma);
    bool ack = strcmp(opt.answer_coa, "ack") == 0;
    uint8_t code = pkt[0] == RG_RADIUS_DISCONNECT_REQUEST
                       ? (ack ? RG_RADIUS_DISCONNECT_ACK : RG_RADIUS_DISCONNECT_NAK)
                       : (ack ? RG_RADIUS_COA_ACK : RG_RADIUS_COA_NAK);
    uint8_t out[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = out, .cap = sizeof(out)};
    int rc = rg_radius_init(&p, code, pkt[1], pkt + 4);
    rc |= rg_radius_msgauth_add_first(&p);
    if (!ack) {
        uint8_t ec[4] = {0, 0, 503 >> 8, 503 & 0xff}; /* Session Context Not Found */
        rc |= rg_radius_attr_add(&p, 101 /* Error-Cause */, ec, sizeof(ec));
    }
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rc == 0 && rg_radius_attr_find(pkt, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        rc |= rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, a.value, a.value_len);
    if (rc) {
        t->bad++;
        return;
    }
    rg_radius_msgauth_sign(out, pkt + 4, sec);
    rg_radius_auth_response_sign(out, pkt + 4, sec);
    int n = rg_radius_len(out);
    if (wolfSSL_write(ssl, out, n) != n) {
        printf("answering %s id=%u: write failed\n", name, pkt[1]);
        t->closed = true;
        return;
    }
    printf("answered %s id=%u with %s\n", name, pkt[1], rg_radius_code_name(code));
}

/* Read and handle replies until every request is answered, the server closes or the
 * deadline passes. With want_close, keep reading until close or deadline. */
static void read_replies(WOLFSSL *ssl, struct request *reqs, int nreq, double deadline,
                         bool want_close, struct tally *t)
{
    static uint8_t buf[2 * RG_RADIUS_MAX_LEN];
    size_t have = 0;
    char ebuf[WOLFSSL_MAX_ERROR_SZ];

    for (;;) {
        int outstanding = 0;
        for (int i = 0; i < nreq; i++)
            outstanding += !reqs[i].answered;
        if (!outstanding && !want_close)
            return;
        if (now_s() >= deadline)
            return;
        int n = wolfSSL_read(ssl, buf + have, (int)(sizeof(buf) - have));
        if (n <= 0) {
            int e = wolfSSL_get_error(ssl, n);
            if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
                continue;
            t->closed = true;
            if (e == WOLFSSL_ERROR_ZERO_RETURN)
                printf("server closed the connection (close_notify)\n");
            else
                printf("server closed the connection (%s)\n", ssl_err(ssl, n, ebuf));
            return;
        }
        have += (size_t)n;
        for (;;) {
            long flen = rg_radius_frame_len(buf, have);
            if (flen < 0) {
                printf("reply with a Length outside 20..4096: stream unusable\n");
                t->bad++;
                t->closed = true;
                return;
            }
            if (flen == 0 || (size_t)flen > have)
                break;
            if (opt.answer_coa &&
                (buf[0] == RG_RADIUS_DISCONNECT_REQUEST || buf[0] == RG_RADIUS_COA_REQUEST))
                answer_coa(ssl, buf, (size_t)flen, t);
            else
                handle_reply(buf, (size_t)flen, reqs, nreq, t);
            memmove(buf, buf + flen, have - (size_t)flen);
            have -= (size_t)flen;
        }
    }
}

/* --hold: keep the connection open after the replies, reading (and resending the command
 * every --hold-every seconds), so tests can hold connections against limits or watch the
 * gateway close one (a reload that revokes it). true when the server closed it. */
static bool hold(WOLFSSL *ssl, int argc, char **argv, uint8_t *pkt, struct request *req,
                 uint8_t next_id, struct tally *t)
{
    char ebuf[WOLFSSL_MAX_ERROR_SZ];
    double start = now_s(), end = start + opt.hold;
    double next_send = opt.hold_every > 0 ? start + opt.hold_every : end;
    printf("holding the connection open for %.1fs\n", opt.hold);
    while (!t->closed && now_s() < end) {
        double until = next_send < end ? next_send : end;
        read_replies(ssl, NULL, 0, until, true, t);
        if (t->closed || now_s() >= end)
            break;
        int len = build_request(argc, argv, 0, next_id++, pkt, RG_RADIUS_MAX_LEN, req);
        if (len < 0 || wolfSSL_write(ssl, pkt, len) != len) {
            printf("hold: write failed: %s\n", len < 0 ? "request" : ssl_err(ssl, len, ebuf));
            t->closed = true;
            break;
        }
        t->sent++;
        read_replies(ssl, req, 1, now_s() + opt.timeout, false, t);
        if (!req->answered && !t->closed) {
            printf("hold: timeout id=%u\n", req->id);
            t->timeout++;
        } else if (req->answered) {
            printf("hold: answered id=%u after %.1fs\n", req->id, now_s() - start);
        }
        next_send += opt.hold_every;
    }
    if (t->closed) {
        printf("closed by server after %.1fs\n", now_s() - start);
        return true;
    }
    printf("held open for %.1fs\n", now_s() - start);
    return false;
}

/* --session: the saved session (DER, wolfSSL_i2d_SSL_SESSION), NULL when there is none. */
static WOLFSSL_SESSION *session_load(const char *path)
{
    static uint8_t buf[16384];
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    const unsigned char *p = buf;
    return n ? wolfSSL_d2i_SSL_SESSION(NULL, &p, (long)n) : NULL;
}

static void session_save(WOLFSSL *ssl, const char *path)
{
    static uint8_t buf[16384];
    WOLFSSL_SESSION *s = wolfSSL_get1_session(ssl);
    int n = s ? wolfSSL_i2d_SSL_SESSION(s, NULL) : 0;
    unsigned char *p = buf;
    if (n <= 0 || n > (int)sizeof(buf) || wolfSSL_i2d_SSL_SESSION(s, &p) != n)
        n = 0;
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, (size_t)n, f);
        fclose(f);
    }
    wolfSSL_SESSION_free(s);
}

static int run(int argc, char **argv)
{
    static uint8_t pkts[MAX_COUNT][RG_RADIUS_MAX_LEN];
    static struct request reqs[MAX_COUNT];
    int lens[MAX_COUNT];
    struct tally t = {0};
    int nreq = 0;
    bool raw = strcmp(argv[0], "raw") == 0;
    static uint8_t rawbuf[65536];
    int rawlen = 0;

    if (raw) {
        if (argc != 2 || (rawlen = parse_hex(argv[1], rawbuf, sizeof(rawbuf))) <= 0) {
            fprintf(stderr, "radsec_client: raw needs a hex string\n");
            return EXIT_FAIL;
        }
    } else {
        uint8_t base;
        rg_random_bytes(&base, 1);
        for (int i = 0; i < opt.count; i++) {
            lens[i] = build_request(argc, argv, i, (uint8_t)(base + i), pkts[i], sizeof(pkts[i]),
                                    &reqs[i]);
            if (lens[i] == -EINVAL) {
                usage(stderr);
                return EXIT_FAIL;
            }
            if (lens[i] < 0) {
                fprintf(stderr, "radsec_client: request too large\n");
                return EXIT_FAIL;
            }
        }
        nreq = opt.count;
    }

    WOLFSSL_CTX *ctx = make_ctx();
    if (!ctx)
        return EXIT_FAIL;
    double deadline = now_s() + opt.timeout;
    int fd = tcp_connect(deadline);
    if (fd < 0) {
        wolfSSL_CTX_free(ctx);
        return EXIT_FAIL;
    }
    WOLFSSL *ssl = wolfSSL_new(ctx);
    RG_REQUIRE(ssl);
    wolfSSL_set_fd(ssl, fd);
    if (opt.verify_name)
        wolfSSL_check_domain_name(ssl, opt.verify_name);
    WOLFSSL_SESSION *saved = opt.session ? session_load(opt.session) : NULL;
    if (opt.session)
        wolfSSL_UseSessionTicket(ssl); /* TLS 1.2 (RFC 5077); TLS 1.3 takes tickets anyway */
    if (saved)
        wolfSSL_set_session(ssl, saved);
    wolfSSL_SESSION_free(saved);
    if (opt.alpn && wolfSSL_UseALPN(ssl, (char *)opt.alpn, (word32)strlen(opt.alpn),
                                    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "radsec_client: bad --alpn %s\n", opt.alpn);
        return EXIT_FAIL;
    }

    int result = EXIT_FAIL;
    bool held_closed = false;
    bool refused = handshake(ssl, deadline) != 0;
    if (!refused && opt.session)
        printf("session: %s\n", wolfSSL_session_reused(ssl) ? "resumed" : "full");
    if (!refused && opt.alpn) {
        char *sel = NULL;
        word16 sel_len = 0;
        if (wolfSSL_ALPN_GetProtocol(ssl, &sel, &sel_len) != WOLFSSL_SUCCESS || !sel)
            sel_len = 0;
        printf("alpn: %.*s\n", sel_len ? (int)sel_len : 4, sel_len ? sel : "none");
        v11 = sel_len == strlen(RG_RADIUS11_ALPN_11) &&
              memcmp(sel, RG_RADIUS11_ALPN_11, sel_len) == 0;
        if (opt.require_11 && !v11) {
            /* RFC 9765 "Close-C": the server did not select radius/1.1. */
            printf("radius/1.1 not selected by the server: closing\n");
            refused = true;
        }
        for (int i = 0; v11 && i < nreq; i++)
            lens[i] = build_request(argc, argv, i, 0, pkts[i], sizeof(pkts[i]), &reqs[i]);
    }
    if (!refused) {
        char ebuf[WOLFSSL_MAX_ERROR_SZ];
        bool write_failed = false;
        if (raw) {
            if (wolfSSL_write(ssl, rawbuf, rawlen) != rawlen)
                write_failed = true;
            else
                printf("sent %d raw octets\n", rawlen);
        } else {
            /* RFC 6613 framing is by the Length field, not by records: --records puts
             * several packets in one record or one packet across several. */
            static uint8_t all[256 * 4096];
            int alllen = 0;
            for (int i = 0; i < nreq && !write_failed; i++) {
                if (opt.coalesce) {
                    memcpy(all + alllen, pkts[i], (size_t)lens[i]);
                    alllen += lens[i];
                    continue;
                }
                int step = opt.split > 0 ? opt.split : lens[i];
                for (int off = 0; off < lens[i] && !write_failed; off += step) {
                    int n = lens[i] - off < step ? lens[i] - off : step;
                    int w = wolfSSL_write(ssl, pkts[i] + off, n);
                    if (w != n) {
                        printf("write failed: %s\n", ssl_err(ssl, w, ebuf));
                        write_failed = true;
                    }
                }
                if (!write_failed)
                    t.sent++;
            }
            if (opt.coalesce && !write_failed) {
                int w = wolfSSL_write(ssl, all, alllen);
                if (w != alllen) {
                    printf("write failed: %s\n", ssl_err(ssl, w, ebuf));
                    write_failed = true;
                } else {
                    t.sent += nreq;
                }
            }
        }
        if (write_failed) {
            t.closed = true;
        } else {
            deadline = now_s() + opt.timeout;
            read_replies(ssl, reqs, nreq, deadline, raw || opt.expect_close, &t);
        }
        if (opt.hold > 0 && !t.closed && !raw)
            held_closed =
                hold(ssl, argc, argv, pkts[0], &reqs[0], (uint8_t)(reqs[0].id + nreq), &t);
    }
    for (int i = 0; i < nreq; i++) {
        if (!reqs[i].answered && !refused) {
            if (t.closed)
                printf("unanswered id=%u (connection closed)\n", reqs[i].id);
            else
                printf("timeout id=%u\n", reqs[i].id);
            t.timeout++;
        }
    }
    if (!refused && opt.session)
        session_save(ssl, opt.session);
    if (!refused && !t.closed) {
        wolfSSL_shutdown(ssl); /* send close_notify; do not wait for the server's */
        if (raw || opt.expect_close)
            printf("connection still open after %.1fs\n", opt.timeout);
    }
    printf("summary: sent=%d replies=%d accept=%d reject=%d challenge=%d acct=%d status=%d "
           "timeout=%d bad=%d protocol_error=%d closed=%s\n",
           t.sent, t.replies, t.accept, t.reject, t.challenge, t.acct, t.status, t.timeout, t.bad,
           t.perror,
           refused    ? "handshake"
           : t.closed ? "yes"
                      : "no");

    if (opt.expect_close)
        result = (refused || t.closed) && t.replies == 0 ? EXIT_GOOD : EXIT_FAIL;
    else if (raw)
        result = refused || t.closed || t.bad ? EXIT_FAIL : EXIT_GOOD;
    else if (refused || held_closed || t.timeout || t.bad || t.sent != nreq)
        result = EXIT_FAIL;
    else if (t.perror)
        result = EXIT_PERROR;
    else if (t.reject || t.challenge)
        result = EXIT_REJECT;
    else
        result = EXIT_GOOD;

    wolfSSL_free(ssl);
    close(fd);
    wolfSSL_CTX_free(ctx);
    return result;
}

int main(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_CA,
        O_CERT,
        O_KEY,
        O_SECRET,
        O_TLS,
        O_COUNT,
        O_TIMEOUT,
        O_ATTR,
        O_EXPECT_CLOSE,
        O_REQUIRE_MA,
        O_VERIFY_NAME,
        O_HOLD,
        O_HOLD_EVERY,
        O_ANSWER_COA,
        O_RECORDS,
        O_ALPN,
        O_RADIUS11,
        O_SAME_TOKEN,
        O_SOURCE,
        O_REPLY_SECRET,
        O_SESSION
    };
    /* A server that closes on us must show up as a result, not kill the client. */
    signal(SIGPIPE, SIG_IGN);
    static const struct option longopts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"ca", required_argument, NULL, O_CA},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"secret", required_argument, NULL, O_SECRET},
        {"reply-secret", required_argument, NULL, O_REPLY_SECRET},
        {"tls", required_argument, NULL, O_TLS},
        {"count", required_argument, NULL, O_COUNT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"attr", required_argument, NULL, O_ATTR},
        {"expect-close", no_argument, NULL, O_EXPECT_CLOSE},
        {"require-ma", no_argument, NULL, O_REQUIRE_MA},
        {"verify-name", required_argument, NULL, O_VERIFY_NAME},
        {"hold", required_argument, NULL, O_HOLD},
        {"hold-every", required_argument, NULL, O_HOLD_EVERY},
        {"answer-coa", required_argument, NULL, O_ANSWER_COA},
        {"records", required_argument, NULL, O_RECORDS},
        {"alpn", required_argument, NULL, O_ALPN},
        {"session", required_argument, NULL, O_SESSION},
        {"radius-1.1", no_argument, NULL, O_RADIUS11},
        {"same-token", no_argument, NULL, O_SAME_TOKEN},
        {"source", required_argument, NULL, O_SOURCE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
        switch (c) {
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            opt.port = optarg;
            break;
        case O_CA:
            opt.ca = optarg;
            break;
        case O_CERT:
            opt.cert = optarg;
            break;
        case O_KEY:
            opt.key = optarg;
            break;
        case O_SECRET:
            opt.secret = optarg;
            break;
        case O_REPLY_SECRET:
            opt.reply_secret = optarg;
            break;
        case O_TLS:
            opt.tls = optarg;
            break;
        case O_COUNT:
            opt.count = atoi(optarg);
            if (opt.count < 1 || opt.count > MAX_COUNT) {
                fprintf(stderr, "radsec_client: --count must be 1..%d\n", MAX_COUNT);
                return EXIT_FAIL;
            }
            break;
        case O_TIMEOUT:
            opt.timeout = atof(optarg);
            if (opt.timeout <= 0) {
                fprintf(stderr, "radsec_client: --timeout must be positive\n");
                return EXIT_FAIL;
            }
            break;
        case O_ATTR:
            if (opt.n_extra == MAX_EXTRA || parse_attr(optarg, &opt.extra[opt.n_extra]) != 0) {
                fprintf(stderr, "radsec_client: bad --attr %s\n", optarg);
                return EXIT_FAIL;
            }
            opt.n_extra++;
            break;
        case O_EXPECT_CLOSE:
            opt.expect_close = true;
            break;
        case O_REQUIRE_MA:
            opt.require_ma = true;
            break;
        case O_VERIFY_NAME:
            opt.verify_name = optarg;
            break;
        case O_SOURCE:
            opt.source = optarg;
            break;
        case O_SESSION:
            opt.session = optarg;
            break;
        case O_RECORDS:
            if (strcmp(optarg, "one") == 0) {
                opt.coalesce = true;
            } else if (strncmp(optarg, "split:", 6) == 0 && atoi(optarg + 6) > 0) {
                opt.split = atoi(optarg + 6);
            } else {
                fprintf(stderr, "radsec_client: --records one|split:N\n");
                return EXIT_FAIL;
            }
            break;
        case O_HOLD:
        case O_HOLD_EVERY:
            if (atof(optarg) <= 0) {
                fprintf(stderr, "radsec_client: --%s must be positive\n",
                        c == O_HOLD ? "hold" : "hold-every");
                return EXIT_FAIL;
            }
            *(c == O_HOLD ? &opt.hold : &opt.hold_every) = atof(optarg);
            break;
        case O_ANSWER_COA:
            if (strcmp(optarg, "ack") != 0 && strcmp(optarg, "nak") != 0) {
                fprintf(stderr, "radsec_client: --answer-coa must be ack or nak\n");
                return EXIT_FAIL;
            }
            opt.answer_coa = optarg;
            break;
        case O_ALPN:
            opt.alpn = optarg;
            break;
        case O_RADIUS11:
            opt.alpn = RG_RADIUS11_ALPN_11;
            opt.require_11 = true;
            break;
        case O_SAME_TOKEN:
            opt.same_token = true;
            break;
        case 'v':
            opt.verbose = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_GOOD;
        default:
            usage(stderr);
            return EXIT_FAIL;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_FAIL;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    rg_random_bytes((uint8_t *)&next_token, sizeof(next_token));
    wolfSSL_Init();
    int rc = run(argc - optind, argv + optind);
    wolfSSL_Cleanup();
    return rc;
}
