/* radsecgw: command line, daemon/foreground, signals, reload, stats line and exit codes.
 * Knows nothing of RADIUS or TLS beyond starting the modules that do. */
#include <wolfssl/options.h>
#include <wolfssl/version.h>

#include <confuse.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/listener.h"
#include "radsecgw/log.h"
#include "radsecgw/stats.h"
#include "radsecgw/tls.h"
#include "radsecgw/worker.h"

struct main_state {
    const char *config_path;
    bool foreground;
    bool debug;
    struct rg_gen *gen;        /* reference held: the generation in force */
    struct rg_worker *workers; /* malloced array, owned */
    unsigned nworkers;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t stats_timer;
    uv_timer_t expiry_timer; /* certificate / CRL expiry watch: at start, then daily */
    uv_timer_t crl_timer;    /* CRL refresh: every smallest crl-refresh of the orgs with CRLs */
    struct trust_sig *trust; /* malloced array, owned: what the CA and CRL files of gen were */
    size_t ntrust;
    bool stopping;
};

/* A CA or CRL file as the generation in force read it: a refresh rebuilds only when one
 * of them changed (mtime, size or inode: a file replaced by rename has a new inode). */
struct trust_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int err; /* errno of stat, 0 when it exists */
};

#define RG_EXPIRY_INTERVAL_MS (24ull * 3600 * 1000)

static void usage(FILE *out)
{
    fprintf(out, "usage: radsecgw [-c FILE] [-f] [-d] [-t] [-p PIDFILE] [-V]\n"
                 "  -c FILE   config file (default " RG_CONFIG_DEFAULT_PATH ")\n"
                 "  -f        stay in the foreground, log to stderr as well as syslog\n"
                 "  -d        debug logging\n"
                 "  -t        check the config and every certificate, key, CA and CRL; exit\n"
                 "  -p FILE   write the process ID to FILE\n"
                 "  -V        print the version and library versions\n");
}

static void print_version(void)
{
    printf("radsecgw %s\n", RG_VERSION);
    printf("wolfSSL %s (built against %s)\n", wolfSSL_lib_version(), LIBWOLFSSL_VERSION_STRING);
    printf("libuv %s (built against %d.%d.%d)\n", uv_version_string(), UV_VERSION_MAJOR,
           UV_VERSION_MINOR, UV_VERSION_PATCH);
    printf("libconfuse %s\n", confuse_version);
}

static void print_diag(const struct rg_config_diag *d)
{
    if (d->text && d->text[0])
        fputs(d->text, stderr);
}

static void log_diag(const struct rg_config_diag *d)
{
    if (!d->text)
        return;
    char *copy = strdup(d->text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        rg_log(strstr(line, ": warning: ") ? LOG_WARNING : LOG_ERR, "config: %s", line);
    free(copy);
}

static void on_stats(uv_timer_t *t)
{
    struct main_state *m = t->data;
    struct rg_stats total;
    char line[2048];
    memset(&total, 0, sizeof(total));
    for (unsigned i = 0; i < m->nworkers; i++)
        rg_stats_sum(&total, &m->workers[i].stats);
    rg_stats_sum(&total, rg_coa_stats());
    rg_stats_format(&total, line, sizeof(line));
    rg_info("stats workers=%u %s", m->nworkers, line);
}

static void start_stats_timer(struct main_state *m)
{
    uint64_t ms = (uint64_t)m->gen->cfg->stats.interval_s * 1000u;
    uv_timer_stop(&m->stats_timer);
    if (ms)
        uv_timer_start(&m->stats_timer, on_stats, ms, ms);
}

/* ---- trust files: CRL refresh and expiry watch ---- */

static size_t trust_count(const struct rg_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->norgs; i++)
        n += cfg->orgs[i].nca + cfg->orgs[i].ncrl;
    return n;
}

static void trust_stat(const char *path, struct trust_sig *t)
{
    struct stat st;
    memset(t, 0, sizeof(*t));
    if (stat(path, &st) < 0) {
        t->err = errno;
        return;
    }
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->size = st.st_size;
    t->mtime = st.st_mtim;
}

/* The signature of cfg's CA and CRL files; NULL (and *n 0) when there are none. */
static struct trust_sig *trust_sign(const struct rg_config *cfg, size_t *n)
{
    *n = trust_count(cfg);
    struct trust_sig *sig = *n ? calloc(*n, sizeof(*sig)) : NULL;
    RG_REQUIRE(*n == 0 || sig != NULL);
    size_t k = 0;
    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *org = &cfg->orgs[i];
        for (size_t j = 0; j < org->nca; j++)
            trust_stat(org->ca[j], &sig[k++]);
        for (size_t j = 0; j < org->ncrl; j++)
            trust_stat(org->crl[j], &sig[k++]);
    }
    return sig;
}

static bool trust_same(const struct trust_sig *a, const struct trust_sig *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].err != b[i].err || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return false;
    return true;
}

static void trust_remember(struct main_state *m, struct trust_sig *sig, size_t n)
{
    free(m->trust);
    m->trust = sig;
    m->ntrust = n;
}

/* Hand g to every worker and make it the generation in force (reference taken over). */
static void install(struct main_state *m, struct rg_gen *g)
{
    for (unsigned i = 0; i < m->nworkers; i++)
        rg_worker_reload(&m->workers[i], g);
    rg_gen_unref(m->gen);
    m->gen = g;
}

/* DESIGN.md: CRLs are re-read every crl-refresh seconds. Nothing changed: only say again that
 * a CRL is stale (the context build said so when it skipped it). Something changed: a new
 * generation from the same config snapshot, handed over like a reload; the workers re-check
 * their connections under it (radiusdtls-bis §3.3). */
static void on_crl_refresh(uv_timer_t *t)
{
    struct main_state *m = t->data;
    size_t n;
    struct trust_sig *sig = trust_sign(m->gen->cfg, &n);
    if (n == m->ntrust && trust_same(sig, m->trust, n)) {
        free(sig);
        rg_tls_crl_stale_log(m->gen->cfg);
        return;
    }
    char err[512];
    struct rg_gen *g = rg_gen_new(m->gen->cfg, err, sizeof(err));
    if (!g) {
        /* Keep the old signature: the next tick tries again (the file may be half written). */
        free(sig);
        rg_err("CRL refresh failed: %s; keeping the CAs and CRLs in force", err);
        return;
    }
    trust_remember(m, sig, n);
    install(m, g);
    rg_notice("CRL refresh: CA or CRL files changed, generation %llu re-checks open connections",
              (unsigned long long)g->number);
}

static void start_crl_timer(struct main_state *m)
{
    unsigned s = 0;
    for (size_t i = 0; i < m->gen->cfg->norgs; i++) {
        const struct rg_org *org = &m->gen->cfg->orgs[i];
        if (org->ncrl && (s == 0 || org->crl_refresh_s < s))
            s = org->crl_refresh_s;
    }
    uv_timer_stop(&m->crl_timer);
    if (s)
        uv_timer_start(&m->crl_timer, on_crl_refresh, (uint64_t)s * 1000u, (uint64_t)s * 1000u);
}

static void on_expiry(uv_timer_t *t)
{
    struct main_state *m = t->data;
    rg_tls_expiry_log(m->gen->cfg, time(NULL));
}

static void reload(struct main_state *m)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    char err[512];
    rg_notice("reload: reading %s", m->config_path);
    if (rg_config_load(m->config_path, true, &cfg, &diag) < 0) {
        log_diag(&diag);
        rg_err("reload failed: configuration unchanged");
        rg_config_diag_free(&diag);
        return;
    }
    log_diag(&diag);
    rg_config_diag_free(&diag);
    size_t n;
    struct trust_sig *sig = trust_sign(cfg, &n); /* before the files are read */
    struct rg_gen *g = rg_gen_new(cfg, err, sizeof(err));
    rg_config_unref(cfg);
    if (!g) {
        free(sig);
        rg_err("reload failed: %s; configuration unchanged", err);
        return;
    }
    rg_log_open(g->cfg->log.facility, m->debug ? LOG_DEBUG : g->cfg->log.level, m->foreground);
    trust_remember(m, sig, n);
    install(m, g);
    if (rg_coa_reload(g->cfg) < 0)
        rg_err("reload: coa listener not available");
    start_stats_timer(m);
    start_crl_timer(m);
    rg_tls_expiry_log(g->cfg, time(NULL)); /* new certificates or CAs: checked now */
    rg_notice("reload done: generation %llu", (unsigned long long)g->number);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct main_state *m = s->data;
    if (signum == SIGHUP) {
        reload(m);
        return;
    }
    if (m->stopping)
        return;
    m->stopping = true;
    rg_notice("stopping on signal %d: draining requests in flight", signum);
    for (unsigned i = 0; i < m->nworkers; i++)
        rg_worker_stop(&m->workers[i]);
    rg_coa_stop();
    uv_close((uv_handle_t *)&m->sig_hup, NULL);
    uv_close((uv_handle_t *)&m->sig_term, NULL);
    uv_close((uv_handle_t *)&m->sig_int, NULL);
    uv_close((uv_handle_t *)&m->stats_timer, NULL);
    uv_close((uv_handle_t *)&m->expiry_timer, NULL);
    uv_close((uv_handle_t *)&m->crl_timer, NULL);
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    setsid();
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        rg_err("user \"%s\" does not exist", user);
        return -ENOENT;
    }
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        rg_err("cannot switch to user \"%s\": %s", user, strerror(errno));
        return -errno;
    }
    rg_info("running as user %s", user);
    return 0;
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        rg_err("pidfile %s: %s", path, strerror(errno));
        return -errno;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    struct main_state m = {.config_path = RG_CONFIG_DEFAULT_PATH};
    bool check = false;
    const char *pidfile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "c:fdtp:Vh")) != -1) {
        switch (opt) {
        case 'c':
            m.config_path = optarg;
            break;
        case 'f':
            m.foreground = true;
            break;
        case 'd':
            m.debug = true;
            break;
        case 't':
            check = true;
            break;
        case 'p':
            pidfile = optarg;
            break;
        case 'V':
            print_version();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load(m.config_path, true, &cfg, &diag);
    print_diag(&diag);
    rg_config_diag_free(&diag);
    if (rc < 0) {
        fprintf(stderr, "radsecgw: %s: configuration is not valid\n", m.config_path);
        return 1;
    }
    rg_tls_global_init();
    char err[512];
    m.trust = trust_sign(cfg, &m.ntrust);
    m.gen = rg_gen_new(cfg, err, sizeof(err));
    rg_config_unref(cfg);
    if (!m.gen) {
        fprintf(stderr, "radsecgw: %s\n", err);
        free(m.trust);
        rg_tls_global_cleanup();
        return 1;
    }
    if (check) {
        rg_config_print(m.gen->cfg, stdout);
        printf("%s: configuration OK\n", m.config_path);
        rg_gen_unref(m.gen);
        free(m.trust);
        rg_tls_global_cleanup();
        return 0;
    }

    cfg = m.gen->cfg;
    rg_log_open(cfg->log.facility, m.debug ? LOG_DEBUG : cfg->log.level, m.foreground);
    if (!m.foreground && daemonize() < 0) {
        fprintf(stderr, "radsecgw: cannot daemonize: %s\n", strerror(errno));
        return 1;
    }
    if (!pidfile)
        pidfile = cfg->pidfile;
    if (pidfile && write_pidfile(pidfile) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    m.nworkers = cfg->workers ? cfg->workers : 1;
    m.workers = calloc(m.nworkers, sizeof(*m.workers));
    RG_REQUIRE(m.workers != NULL);
    unsigned started = 0;
    for (; started < m.nworkers; started++) {
        rc = rg_worker_start(&m.workers[started], started, m.gen);
        if (rc < 0) {
            rg_err("worker %u failed to start: %s", started, rg_strerror(rc));
            break;
        }
    }
    if (started < m.nworkers) {
        for (unsigned i = 0; i < started; i++)
            rg_worker_stop(&m.workers[i]);
        for (unsigned i = 0; i < started; i++)
            rg_worker_join(&m.workers[i]);
        return 1;
    }
    if (cfg->user && drop_privileges(cfg->user) < 0) {
        for (unsigned i = 0; i < m.nworkers; i++)
            rg_worker_stop(&m.workers[i]);
        for (unsigned i = 0; i < m.nworkers; i++)
            rg_worker_join(&m.workers[i]);
        return 1;
    }
    rg_notice("radsecgw %s started: %u worker(s), %zu org(s), %zu pool(s)", RG_VERSION, m.nworkers,
              cfg->norgs, cfg->npools);

    uv_loop_t *loop = uv_default_loop();
    if (rg_coa_start(loop, cfg, m.workers, m.nworkers) < 0) {
        for (unsigned i = 0; i < m.nworkers; i++)
            rg_worker_stop(&m.workers[i]);
        for (unsigned i = 0; i < m.nworkers; i++)
            rg_worker_join(&m.workers[i]);
        return 1;
    }
    uv_signal_init(loop, &m.sig_hup);
    uv_signal_init(loop, &m.sig_term);
    uv_signal_init(loop, &m.sig_int);
    m.sig_hup.data = m.sig_term.data = m.sig_int.data = &m;
    uv_signal_start(&m.sig_hup, on_signal, SIGHUP);
    uv_signal_start(&m.sig_term, on_signal, SIGTERM);
    uv_signal_start(&m.sig_int, on_signal, SIGINT);
    uv_timer_init(loop, &m.stats_timer);
    m.stats_timer.data = &m;
    start_stats_timer(&m);
    uv_timer_init(loop, &m.expiry_timer);
    m.expiry_timer.data = &m;
    uv_timer_start(&m.expiry_timer, on_expiry, 0, RG_EXPIRY_INTERVAL_MS);
    uv_timer_init(loop, &m.crl_timer);
    m.crl_timer.data = &m;
    start_crl_timer(&m);

    uv_run(loop, UV_RUN_DEFAULT);

    for (unsigned i = 0; i < m.nworkers; i++)
        rg_worker_join(&m.workers[i]);
    rg_coa_shutdown();
    free(m.workers);
    free(m.trust);
    rg_gen_unref(m.gen);
    uv_loop_close(loop);
    if (pidfile)
        unlink(pidfile);
    rg_notice("radsecgw stopped");
    rg_thread_cleanup();
    rg_tls_global_cleanup();
    rg_log_close();
    return 0;
}
