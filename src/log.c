/* Logging: syslog with the configured facility and level, a copy on stderr in the
 * foreground, and the per-key rate limiter. Thread-safe; knows nothing of the protocol. */
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
        rg_log(report_prio, "%u similar messages suppressed (%s)", report, slot_key);
    if (log_it) {
        va_list ap;
        va_start(ap, fmt);
        vlog(prio, fmt, ap);
        va_end(ap);
    }
}

void rg_log_limited_flush(void)
{
    pthread_mutex_lock(&limit_lock);
    uint64_t now = limit_clock();
    for (size_t i = 0; i < LIMIT_SLOTS; i++) {
        struct limit_slot *s = &limit_slots[i];
        if (!s->key || !s->suppressed || now - s->window_start_ms < RG_LOG_WINDOW_MS)
            continue;
        /* emit() takes no lock of ours, so reporting under limit_lock is safe */
        char msg[256];
        snprintf(msg, sizeof(msg), "%u similar messages suppressed (%s)", s->suppressed, s->key);
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
