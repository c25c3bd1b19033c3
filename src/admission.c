/* Admission: who may connect and when a connection may start its handshake. The counters
 * every worker shares (max-connections, max-connections-per-ip, max-handshakes,
 * max-handshakes-per-ip, allow prefixes) and the aggregate lines about limits and refusals.
 * Decides only, and knows no connection: conn_admit.c keeps each worker's lists of
 * connections waiting for a handshake slot or silent in one, and starts, evicts and closes
 * them. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "radsecgw/admission.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/tls.h"

/* ---- admission: one mutex, taken on connect, handshake end and disconnect only ---- */

#define RG_IP_BUCKETS 4096
/* Aggregate log line about the handshake limits: at most one per this many ms. */
#define RG_LIMITS_REPORT_MS 10000

struct ip_count {
    uint8_t addr[16];    /* IPv4 as v4-mapped IPv6 */
    unsigned count;      /* every counted connection: waiting, in the handshake, open */
    unsigned handshakes; /* holding a handshake slot */
    unsigned open;       /* authenticated (max-connections-per-ip) */
    struct ip_count *next;
};

static pthread_mutex_t admit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ip_count *ip_table[RG_IP_BUCKETS]; /* malloced entries, freed at count 0 */
static unsigned total_conns;
/* Handshake slots in use, all workers: atomic so the admission of a waiting connection and
 * the gauges read it without the lock (taken and given back under admit_lock). */
static unsigned handshakes;
static unsigned waiting; /* accepted, waiting for a handshake slot (all workers) */

/* Events for the aggregate log line, summed over workers until the next report. */
static struct {
    uint64_t waited_global, waited_ip, evicted, refused, timeouts;
    uint64_t last_ms;
} limits_seen;

static void addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static unsigned bucket(const uint8_t key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % RG_IP_BUCKETS;
}

/* The entry of addr, or NULL; admit_lock held. */
static struct ip_count *ip_find(const struct sockaddr *addr, struct ip_count ***where)
{
    uint8_t key[16];
    addr_key(addr, key);
    struct ip_count **p = &ip_table[bucket(key)];
    while (*p && memcmp((*p)->addr, key, 16) != 0)
        p = &(*p)->next;
    if (where)
        *where = p;
    return *p;
}

int rg_admission_admit(const struct rg_config *cfg, const struct sockaddr *addr, const char **why)
{
    *why = NULL;
    if (!rg_tls_addr_allowed(cfg, addr)) {
        *why = "source address not in any org's allow prefixes";
        return -EACCES;
    }
    int rc = 0;
    pthread_mutex_lock(&admit_lock);
    struct ip_count **where;
    struct ip_count *e = ip_find(addr, &where);
    unsigned per_ip = cfg->listen.max_connections_per_ip;
    if (total_conns >= cfg->listen.max_connections) {
        *why = "too many connections (max-connections)";
        rc = -EAGAIN;
    } else if (per_ip && e && e->open >= per_ip) {
        /* Checked again when the handshake ends: this is the cheap refusal before TLS. */
        *why = "too many connections from this address (max-connections-per-ip)";
        rc = -EACCES;
    } else if (!e && !(e = calloc(1, sizeof(*e)))) {
        *why = "out of memory";
        rc = -ENOMEM;
    } else {
        if (e->count == 0) {
            addr_key(addr, e->addr);
            e->next = NULL;
            *where = e;
        }
        e->count++;
        total_conns++;
    }
    pthread_mutex_unlock(&admit_lock);
    return rc;
}

int rg_admission_handshake_take(const struct rg_config *cfg, const struct sockaddr *addr)
{
    int rc = 0;
    pthread_mutex_lock(&admit_lock);
    struct ip_count *e = ip_find(addr, NULL);
    RG_REQUIRE(e != NULL);
    unsigned n = __atomic_load_n(&handshakes, __ATOMIC_RELAXED);
    if (n >= cfg->listen.max_handshakes)
        rc = -ENOSPC;
    else if (e->handshakes >= cfg->listen.max_handshakes_per_ip)
        rc = -EAGAIN;
    else {
        e->handshakes++;
        __atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&admit_lock);
    return rc;
}

bool rg_admission_handshake_possible(const struct rg_config *cfg)
{
    return __atomic_load_n(&handshakes, __ATOMIC_RELAXED) < cfg->listen.max_handshakes;
}

void rg_admission_handshake_release(const struct sockaddr *addr)
{
    pthread_mutex_lock(&admit_lock);
    struct ip_count *e = ip_find(addr, NULL);
    RG_REQUIRE(e != NULL && e->handshakes > 0);
    e->handshakes--;
    __atomic_sub_fetch(&handshakes, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&admit_lock);
}

const char *rg_admission_established(const struct rg_config *cfg, const struct sockaddr *addr)
{
    const char *why = NULL;
    pthread_mutex_lock(&admit_lock);
    struct ip_count *e = ip_find(addr, NULL);
    RG_REQUIRE(e != NULL);
    unsigned per_ip = cfg->listen.max_connections_per_ip;
    if (per_ip && e->open >= per_ip)
        why = "too many connections from this address (max-connections-per-ip)";
    else
        e->open++;
    pthread_mutex_unlock(&admit_lock);
    return why;
}

void rg_admission_release(const struct sockaddr *addr, bool established)
{
    pthread_mutex_lock(&admit_lock);
    struct ip_count **where;
    struct ip_count *e = ip_find(addr, &where);
    if (e) {
        if (established) {
            RG_REQUIRE(e->open > 0);
            e->open--;
        }
        if (--e->count == 0) {
            RG_REQUIRE(e->handshakes == 0 && e->open == 0);
            *where = e->next;
            free(e);
        }
        total_conns--;
    }
    pthread_mutex_unlock(&admit_lock);
}

unsigned rg_admission_handshakes(void)
{
    return __atomic_load_n(&handshakes, __ATOMIC_RELAXED);
}

void rg_admission_note(enum rg_admission_event ev)
{
    uint64_t *n = ev == RG_ADMISSION_WAITED_GLOBAL ? &limits_seen.waited_global
                  : ev == RG_ADMISSION_WAITED_IP   ? &limits_seen.waited_ip
                  : ev == RG_ADMISSION_EVICTED     ? &limits_seen.evicted
                  : ev == RG_ADMISSION_REFUSED     ? &limits_seen.refused
                                                   : &limits_seen.timeouts;
    __atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
}

void rg_admission_waiting(bool more)
{
    if (more)
        __atomic_add_fetch(&waiting, 1, __ATOMIC_RELAXED);
    else
        __atomic_sub_fetch(&waiting, 1, __ATOMIC_RELAXED);
}

void rg_admission_report(const struct rg_config *cfg)
{
    rg_admission_report_refusals(false);
    /* One line for every worker's events since the last one: a reconnect storm of hundreds
     * of APs, or a flood, is a line per interval, not a line per connection. */
    uint64_t now = rg_now_ms();
    uint64_t last = __atomic_load_n(&limits_seen.last_ms, __ATOMIC_RELAXED);
    if (last && now - last < RG_LIMITS_REPORT_MS)
        return;
    uint64_t wg = __atomic_exchange_n(&limits_seen.waited_global, 0, __ATOMIC_RELAXED);
    uint64_t wi = __atomic_exchange_n(&limits_seen.waited_ip, 0, __ATOMIC_RELAXED);
    uint64_t ev = __atomic_exchange_n(&limits_seen.evicted, 0, __ATOMIC_RELAXED);
    uint64_t rf = __atomic_exchange_n(&limits_seen.refused, 0, __ATOMIC_RELAXED);
    uint64_t to = __atomic_exchange_n(&limits_seen.timeouts, 0, __ATOMIC_RELAXED);
    if (wg + wi + ev + rf + to == 0)
        return;
    __atomic_store_n(&limits_seen.last_ms, now, __ATOMIC_RELAXED);
    rg_log(ev || rf || to ? LOG_WARNING : LOG_NOTICE,
           "event=listen_limits waited_max_handshakes=%llu waited_max_handshakes_per_ip=%llu "
           "evicted_silent=%llu refused_max_connections=%llu wait_timeouts=%llu "
           "waiting=%u handshakes=%u max_handshakes=%u max_handshakes_per_ip=%u "
           "max_connections=%u",
           (unsigned long long)wg, (unsigned long long)wi, (unsigned long long)ev,
           (unsigned long long)rf, (unsigned long long)to,
           __atomic_load_n(&waiting, __ATOMIC_RELAXED), rg_admission_handshakes(),
           cfg->listen.max_handshakes, cfg->listen.max_handshakes_per_ip,
           cfg->listen.max_connections);
}

/* ---- refusals: a line per reason per interval, not a line per connection ---- */

/* Distinct reasons tracked per interval; more share the last slot (a bounded table, and
 * reasons come from a fixed set of texts anyway). */
#define RG_REFUSAL_SLOTS 32
/* Certificate refusals logged one by one per reason per interval; the rest are counted. */
#define RG_REFUSAL_CERT_BURST 5

struct refusal_slot {
    char reason[112];
    char sample[64]; /* the first source address refused for it in the interval */
    bool cert;       /* a certificate was seen (its refusals keep a line per peer) */
    uint64_t count, logged;
};

static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;
static struct refusal_slot refusals[RG_REFUSAL_SLOTS];
static unsigned nrefusals;
static uint64_t refusal_window_ms; /* when the interval began; 0: nothing refused in it */

bool rg_admission_refusal(const char *reason, const char *src, bool cert)
{
    pthread_mutex_lock(&refusal_lock);
    if (!refusal_window_ms)
        refusal_window_ms = rg_now_ms();
    struct refusal_slot *s = NULL;
    for (unsigned i = 0; i < nrefusals && !s; i++)
        if (refusals[i].cert == cert &&
            strncmp(refusals[i].reason, reason, sizeof(refusals[i].reason) - 1) == 0)
            s = &refusals[i];
    if (!s) {
        s = &refusals[nrefusals < RG_REFUSAL_SLOTS ? nrefusals++ : RG_REFUSAL_SLOTS - 1];
        if (s->count == 0) {
            snprintf(s->reason, sizeof(s->reason), "%s", reason);
            snprintf(s->sample, sizeof(s->sample), "%s", src);
            s->cert = cert;
        } else {
            snprintf(s->reason, sizeof(s->reason), "other");
        }
    }
    s->count++;
    bool log_it = s->logged < (cert ? RG_REFUSAL_CERT_BURST : 1);
    if (log_it)
        s->logged++;
    pthread_mutex_unlock(&refusal_lock);
    return log_it;
}

void rg_admission_report_refusals(bool force)
{
    struct refusal_slot out[RG_REFUSAL_SLOTS];
    unsigned n = 0;
    uint64_t now = rg_now_ms(), began;
    pthread_mutex_lock(&refusal_lock);
    began = refusal_window_ms;
    if (began && (force || now - began >= RG_LIMITS_REPORT_MS)) {
        n = nrefusals;
        memcpy(out, refusals, n * sizeof(out[0]));
        memset(refusals, 0, sizeof(refusals));
        nrefusals = 0;
        refusal_window_ms = 0;
    }
    pthread_mutex_unlock(&refusal_lock);
    for (unsigned i = 0; i < n; i++) {
        const struct refusal_slot *s = &out[i];
        if (s->count == s->logged)
            continue; /* every one had its own line */
        rg_warn("event=refusals kind=%s reason=\"%s\" count=%llu logged=%llu suppressed=%llu "
                "sample_src=%s interval_ms=%llu",
                s->cert ? "certificate" : "before_certificate", s->reason,
                (unsigned long long)s->count, (unsigned long long)s->logged,
                (unsigned long long)(s->count - s->logged), s->sample,
                (unsigned long long)(now - began));
    }
}
