/* Logging: syslog with the configured facility and level, a copy on stderr in the
 * foreground, and the per-key rate limiter. Thread-safe; knows nothing of the protocol. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"

#define LINE_MAX_BYTES 2048
#define LIMIT_SLOTS    128

/* Read on every line by every worker, written by the main thread: relaxed atomics. */
static int log_level = LOG_INFO;
static bool log_to_stderr = true;
static bool log_to_syslog = false;

/* Rate limiter, shared by all workers: the limit is per key for the whole process. */
struct limit_slot {
    const char *key; /* static string of the caller, not owned */
    uint64_t window_start_ms;
    unsigned count;      /* lines logged in this window */
    unsigned suppressed; /* lines dropped in this window */
    int prio;            /* of the last line, used for the suppressed report */
};

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct limit_slot limit_slots[LIMIT_SLOTS]; /* guarded by limit_lock */
static uint64_t (*limit_clock)(void) = rg_now_ms;  /* guarded by limit_lock */

static const char *prio_name(int prio)
{
    static const char *const names[] = {"EMERG",   "ALERT",  "CRIT", "ERR",
                                        "WARNING", "NOTICE", "INFO", "DEBUG"};
    return names[LOG_PRI(prio)];
}

/* One write() per line, so lines from several threads do not interleave. */
static void write_stderr(int prio, const char *msg)
{
    char line[LINE_MAX_BYTES + 64];
    int n = snprintf(line, sizeof(line), "radsecgw[%ld]: %s: %s\n", (long)getpid(), prio_name(prio),
                     msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if ((size_t)n >= sizeof(line))
        line[len - 1] = '\n';
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static void emit(int prio, const char *msg)
{
    if (__atomic_load_n(&log_to_syslog, __ATOMIC_RELAXED))
        syslog(prio, "%s", msg);
    if (__atomic_load_n(&log_to_stderr, __ATOMIC_RELAXED))
        write_stderr(prio, msg);
}

static bool enabled(int prio)
{
    return LOG_PRI(prio) <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void vlog(int prio, const char *fmt, va_list ap)
{
    char msg[LINE_MAX_BYTES];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    emit(LOG_PRI(prio), msg);
}

void rg_log_open(int facility, int level, bool to_stderr)
{
    if (__atomic_load_n(&log_to_syslog, __ATOMIC_RELAXED))
        closelog();
    if (facility >= 0) {
        openlog("radsecgw", LOG_PID | LOG_NDELAY, facility);
        __atomic_store_n(&log_to_syslog, true, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&log_to_syslog, false, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&log_to_stderr, to_stderr, __ATOMIC_RELAXED);
    rg_log_set_level(level);
}

void rg_log_set_level(int level)
{
    if (level < LOG_EMERG)
        level = LOG_EMERG;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    /* syslog filters too, so lines below the level cost nothing there */
    setlogmask(LOG_UPTO(level));
}

int rg_log_get_level(void)
{
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void rg_log_close(void)
{
    if (__atomic_exchange_n(&log_to_syslog, false, __ATOMIC_RELAXED))
        closelog();
}

void rg_log(int prio, const char *fmt, ...)
{
    if (!enabled(prio))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(prio, fmt, ap);
    va_end(ap);
}

static struct limit_slot *limit_slot_for(const char *key)
{
    /* FNV-1a over the key text: callers in different files may pass equal strings at
     * different addresses. */
    uint32_t h = 2166136261u;
    for (const char *c = key; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    size_t start = h % LIMIT_SLOTS;
    for (size_t i = 0; i < LIMIT_SLOTS; i++) {
        struct limit_slot *s = &limit_slots[(start + i) % LIMIT_SLOTS];
        if (!s->key) {
            s->key = key;
            return s;
        }
        if (strcmp(s->key, key) == 0)
            return s;
    }
    /* More distinct keys than slots (a bug, keys are a fixed set): share a slot, which
     * keeps the total bounded. */
    return &limit_slots[start];
}

void rg_log_limited(const char *key, int prio, const char *fmt, ...)
{
    if (!enabled(prio))
        return;

    pthread_mutex_lock(&limit_lock);
    uint64_t now = limit_clock();
    struct limit_slot *s = limit_slot_for(key);
    unsigned report = 0;
    int report_prio = prio;
    if (s->count == 0 || now - s->window_start_ms >= RG_LOG_WINDOW_MS) {
        report = s->suppressed;
        report_prio = s->prio;
        s->window_start_ms = now;
        s->count = 0;
        s->suppressed = 0;
    }
    bool log_it = s->count < RG_LOG_BURST;
    if (log_it)
        s->count++;
    else
        s->suppressed++;
    s->prio = LOG_PRI(prio);
    const char *slot_key = s->key;
    pthread_mutex_unlock(&limit_lock);

    if (report)
        rg_log(report_prio, "event=log_suppressed count=%u key=%s", report, slot_key);
    if (log_it) {
        va_list ap;
        va_start(ap, fmt);
        vlog(prio, fmt, ap);
        va_end(ap);
    }
}

void rg_log_limited_flush(bool force)
{
    pthread_mutex_lock(&limit_lock);
    uint64_t now = limit_clock();
    for (size_t i = 0; i < LIMIT_SLOTS; i++) {
        struct limit_slot *s = &limit_slots[i];
        if (!s->key || !s->suppressed || (!force && now - s->window_start_ms < RG_LOG_WINDOW_MS))
            continue;
        /* emit() takes no lock of ours, so reporting under limit_lock is safe */
        char msg[256];
        snprintf(msg, sizeof(msg), "event=log_suppressed count=%u key=%s", s->suppressed, s->key);
        if (enabled(s->prio))
            emit(s->prio, msg);
        s->suppressed = 0;
        s->count = 0; /* the next line opens a new window */
    }
    pthread_mutex_unlock(&limit_lock);
}

void rg_log_set_clock(uint64_t (*now_ms)(void))
{
    pthread_mutex_lock(&limit_lock);
    limit_clock = now_ms ? now_ms : rg_now_ms;
    for (size_t i = 0; i < LIMIT_SLOTS; i++)
        limit_slots[i] = (struct limit_slot){0};
    pthread_mutex_unlock(&limit_lock);
}

/* ---- escaping peer strings ---- */

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf; /* the range of the second octet */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* U+0080..U+009F and U+2028/U+2029: line breaks or controls to some terminals and viewers. */
static bool utf8_is_control(const uint8_t *p, size_t n)
{
    return (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f) ||
           (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9));
}

const char *rg_log_escape(const void *in, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = in;
    size_t pos = 0;
    /* Where "..." still fits after the characters written so far, when outlen allows one. */
    size_t cut = 0;
    if (outlen == 0)
        return out;
    for (size_t i = 0; i < len;) {
        char unit[16];
        size_t ulen = 0, take = 1;
        size_t n = p[i] >= 0x80 ? utf8_len(p + i, len - i) : 0;
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '"') {
            unit[ulen++] = (char)p[i];
        } else if (p[i] == '"') {
            unit[ulen++] = '\\';
            unit[ulen++] = '"';
        } else if (n && !utf8_is_control(p + i, n)) {
            memcpy(unit, p + i, n);
            ulen = take = n;
        } else {
            take = n ? n : 1; /* a control character in UTF-8: each of its octets */
            for (size_t k = 0; k < take; k++) {
                unit[ulen++] = '\\';
                unit[ulen++] = 'x';
                unit[ulen++] = hex[p[i + k] >> 4];
                unit[ulen++] = hex[p[i + k] & 15];
            }
        }
        if (pos + ulen > outlen - 1) {
            /* Does not fit: end at the last boundary that leaves room for the marker. */
            if (outlen > 3) {
                memcpy(out + cut, "...", 3);
                pos = cut + 3;
            }
            break;
        }
        memcpy(out + pos, unit, ulen);
        pos += ulen;
        if (pos + 3 <= outlen - 1)
            cut = pos;
        i += take;
    }
    out[pos] = '\0';
    return out;
}

const char *rg_log_escape_str(const char *in, char *out, size_t outlen)
{
    return rg_log_escape(in ? in : "", in ? strlen(in) : 0, out, outlen);
}

int rg_log_facility_parse(const char *name)
{
    static const struct {
        const char *name;
        int facility;
    } names[] = {
        {"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV},
        {"user", LOG_USER},     {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
        {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
        {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; name && i < RG_ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].facility;
    return -1;
}

int rg_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"err", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
        {"info", LOG_INFO}, {"debug", LOG_DEBUG},
    };
    for (size_t i = 0; name && i < RG_ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].level;
    return -1;
}

/* ---- keyed hashes for privacy ---- */

const char *rg_log_hash(const char *key, size_t keylen, const void *in, size_t len, char *out,
                        size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[WC_SHA256_DIGEST_SIZE];
    Hmac h;
    const byte empty = 0;
    if (outlen < RG_LOG_HASH_LEN) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    RG_REQUIRE(wc_HmacInit(&h, NULL, INVALID_DEVID) == 0);
    RG_REQUIRE(wc_HmacSetKey(&h, WC_SHA256, keylen ? (const byte *)key : &empty, (word32)keylen) ==
               0);
    if (len)
        RG_REQUIRE(wc_HmacUpdate(&h, in, (word32)len) == 0);
    RG_REQUIRE(wc_HmacFinal(&h, mac) == 0);
    wc_HmacFree(&h);
    out[0] = 'h';
    out[1] = ':';
    for (size_t i = 0; i < 8; i++) {
        out[2 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i] = hex[mac[i] & 15];
    }
    out[18] = '\0';
    return out;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 12 hex digits of a MAC at the start of p into digits; how many octets of p it spans
 * (0: not a MAC). Groups of 2 separated by ':' or '-', groups of 4 by '.', or none. */
static size_t mac_prefix(const uint8_t *p, size_t len, char digits[13])
{
    size_t n = 0, i = 0;
    uint8_t sep = 0;
    size_t group = 0, run = 0;
    while (i < len && n < 12) {
        int v = hex_val(p[i]);
        if (v >= 0) {
            digits[n++] = "0123456789abcdef"[v];
            run++;
            i++;
            continue;
        }
        if (p[i] != ':' && p[i] != '-' && p[i] != '.')
            return 0;
        if (sep && p[i] != sep)
            return 0;
        if (!group)
            group = run;
        if (run != group || (group != 2 && group != 4))
            return 0;
        sep = p[i];
        run = 0;
        i++;
    }
    if (n != 12 || (sep && run != group) || (i < len && hex_val(p[i]) >= 0))
        return 0;
    digits[12] = '\0';
    return i;
}

const char *rg_log_hash_mac(const char *key, size_t keylen, const void *in, size_t len, char *out,
                            size_t outlen)
{
    const uint8_t *p = in;
    char digits[13];
    size_t n = mac_prefix(p, len, digits);
    if (!n || (n < len && p[n] != ':'))
        return rg_log_hash(key, keylen, in, len, out, outlen);
    rg_log_hash(key, keylen, digits, 12, out, outlen);
    size_t used = strlen(out);
    if (n < len && used + 1 < outlen)
        rg_log_escape(p + n, len - n, out + used, outlen - used);
    return out;
}
