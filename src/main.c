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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/listener.h"
#include "radsecgw/log.h"
#include "radsecgw/service.h"
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

    uv_timer_t service_timer; /* systemd: STATUS= and, while every loop turns, WATCHDOG=1 */
    uint64_t watchdog_usec;   /* WATCHDOG_USEC for this process, 0: no watchdog */
    bool log_stderr;          /* -f and stderr is not the journal: copy log lines there */

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

/* STATUS= every this often under systemd (more often when the watchdog asks for it). */
#define RG_SERVICE_STATUS_MS 5000
/* A worker whose health timer (1 s) has not run for this long is not turning: no
 * WATCHDOG=1 then, so systemd restarts a gateway with a stuck worker. */
#define RG_WORKER_STALE_MS 3000
/* Descriptors beyond max-connections: listeners, backend and CoA sockets, files. */
#define RG_NOFILE_SPARE 1024

static void usage(FILE *out)
{
    fprintf(out, "usage: radsecgw [-c FILE] [-f] [-d] [-t] [-p PIDFILE] [-V]\n"
                 "  -c FILE   config file (default " RG_CONFIG_DEFAULT_PATH ")\n"
                 "  -f        stay in the foreground, log to stderr as well as syslog (stderr\n"
                 "            only when it is not the journal)\n"
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

/* ---- systemd: status and watchdog ---- */

static void service_status(struct main_state *m, char *buf, size_t len)
{
    struct rg_stats total;
    memset(&total, 0, sizeof(total));
    for (unsigned i = 0; i < m->nworkers; i++)
        rg_stats_sum(&total, &m->workers[i].stats);
    snprintf(buf, len, "%llu connections, %llu requests (%llu in flight to backends), %u workers",
             (unsigned long long)total.conn_open, (unsigned long long)total.requests,
             (unsigned long long)total.outstanding, m->nworkers);
}

static void on_service_tick(uv_timer_t *t)
{
    struct main_state *m = t->data;
    char status[256];
    service_status(m, status, sizeof(status));
    rg_service_status(status);
    if (!m->watchdog_usec)
        return;
    /* This callback shows the main loop turns; each worker's health timer shows its own. */
    uint64_t now = rg_now_ms();
    for (unsigned i = 0; i < m->nworkers; i++) {
        uint64_t beat = __atomic_load_n(&m->workers[i].beat_ms, __ATOMIC_RELAXED);
        if (now - beat > RG_WORKER_STALE_MS) {
            rg_log_limited("watchdog", LOG_ERR,
                           "watchdog: worker %u has not turned for %llu ms; not notifying "
                           "systemd",
                           i, (unsigned long long)(now - beat));
            return;
        }
    }
    rg_service_watchdog();
}

static void start_service_timer(struct main_state *m, uv_loop_t *loop)
{
    uv_timer_init(loop, &m->service_timer);
    m->service_timer.data = m;
    if (!rg_service_notifying())
        return;
    m->watchdog_usec = rg_service_watchdog_usec();
    uint64_t ms = RG_SERVICE_STATUS_MS;
    if (m->watchdog_usec && m->watchdog_usec / 2000 < ms)
        ms = m->watchdog_usec / 2000 ? m->watchdog_usec / 2000 : 1;
    uv_timer_start(&m->service_timer, on_service_tick, ms, ms);
}

static void service_ready(struct main_state *m, const char *what)
{
    char status[256], line[320];
    service_status(m, status, sizeof(status));
    snprintf(line, sizeof(line), "%s; %s", what, status);
    rg_service_ready(line);
}

static bool reload(struct main_state *m)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    char err[512];
    rg_notice("reload: reading %s", m->config_path);
    if (rg_config_load(m->config_path, true, &cfg, &diag) < 0) {
        log_diag(&diag);
        rg_err("reload failed: configuration unchanged");
        rg_config_diag_free(&diag);
        return false;
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
        return false;
    }
    rg_log_open(g->cfg->log.facility, m->debug ? LOG_DEBUG : g->cfg->log.level, m->log_stderr);
    trust_remember(m, sig, n);
    install(m, g);
    if (rg_coa_reload(g->cfg) < 0)
        rg_err("reload: coa listener not available");
    start_stats_timer(m);
    start_crl_timer(m);
    rg_tls_expiry_log(g->cfg, time(NULL)); /* new certificates or CAs: checked now */
    rg_notice("reload done: generation %llu", (unsigned long long)g->number);
    return true;
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct main_state *m = s->data;
    if (signum == SIGHUP) {
        if (m->stopping)
            return;
        rg_service_reloading();
        service_ready(m, reload(m) ? "reloaded" : "reload failed, configuration unchanged");
        return;
    }
    if (m->stopping)
        return;
    m->stopping = true;
    rg_service_stopping();
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
    uv_close((uv_handle_t *)&m->service_timer, NULL);
}

/* ---- process: detach, privileges, limits ---- */

/* Without -f the process forks at once and the first process waits on a pipe until the
 * daemon has bound every socket and dropped privileges (detach_finish), so a port in use,
 * a bad key or a missing user exits non-zero with the reason on the operator's terminal.
 * Returns the write end of the pipe in the daemon; the first process never returns. */
static int detach_begin(void)
{
    int fds[2];
    if (pipe(fds) < 0) {
        fprintf(stderr, "radsecgw: cannot detach: pipe: %s\n", strerror(errno));
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "radsecgw: cannot detach: fork: %s\n", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(fds[1]);
        char ok = 0;
        ssize_t n;
        do
            n = read(fds[0], &ok, 1);
        while (n < 0 && errno == EINTR);
        int st;
        waitpid(pid, &st, 0); /* the session leader, which exits once the daemon is forked */
        /* EOF without the byte: the daemon exited, and said why on stderr and in syslog */
        _exit(n == 1 && ok == 'R' ? 0 : 1);
    }
    close(fds[0]);
    setsid();
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        _exit(1);
    return fds[1];
}

/* The daemon is up: release the waiting first process and let go of the terminal. */
static void detach_finish(int fd)
{
    char ok = 'R';
    if (write(fd, &ok, 1) != 1)
        rg_warn("detach: cannot tell the starting process: %s", strerror(errno));
    close(fd);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
}

/* initgroups keeps the user's supplementary groups (ssl-cert: keys readable by that group
 * load again at reload). Already running as that user (systemd User=): nothing to do. */
static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        rg_err("user \"%s\" does not exist", user);
        return -ENOENT;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) {
        rg_info("running as user %s", user);
        return 0;
    }
    if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        int err = errno;
        rg_err("cannot switch to user \"%s\": %s", user, strerror(err));
        return -err;
    }
    rg_info("running as user %s", user);
    return 0;
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        int err = errno;
        rg_err("pidfile %s: %s (its directory must be writable by the user radsecgw runs as: "
               "systemd's RuntimeDirectory)",
               path, strerror(err));
        return -err;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

/* Each connection is a descriptor: the soft limit goes up to the hard one, and a hard
 * limit below what max-connections needs is said at start rather than found at peak. */
static void raise_nofile(const struct rg_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            rg_warn("cannot raise RLIMIT_NOFILE from %llu to %llu: %s", (unsigned long long)old,
                    (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = old;
        }
    }
    uint64_t need = (uint64_t)cfg->listen.max_connections + RG_NOFILE_SPARE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        rg_warn("open file limit %llu is below the %llu that max-connections = %u needs; "
                "connections past it are refused: raise LimitNOFILE (systemd) or ulimit -n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need,
                cfg->listen.max_connections);
}

/* -t with `user` set: every file that a reload or a CRL refresh reads again must be
 * readable by that user, or the first reload after the privilege drop fails. Checked in a
 * child that becomes the user (groups, ACLs and directory permissions all count). Returns
 * the number of problems, printed as "radsecgw: PATH: reason". */
static int check_files_as_user(const struct rg_config *cfg)
{
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        fprintf(stderr, "radsecgw: %s: user \"%s\" does not exist\n", cfg->path, cfg->user);
        return 1;
    }
    if (geteuid() != 0 || pw->pw_uid == geteuid())
        return 0; /* not root, or already the user: the load above read them as that user */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        if (initgroups(cfg->user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
            setuid(pw->pw_uid) < 0)
            _exit(100);
        int bad = 0;
        const char *what = "config file";
        for (size_t k = 0; k < 1 + cfg->nincludes; k++) {
            const char *path = k == 0 ? cfg->path : cfg->includes[k - 1];
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                continue;
            }
            fprintf(stderr, "radsecgw: %s: %s is not readable by user %s: %s\n", path, what,
                    cfg->user, strerror(errno));
            bad++;
        }
        const char *paths[2] = {cfg->tls.certificate, cfg->tls.key};
        const char *names[2] = {"certificate", "key"};
        for (int k = 0; k < 2; k++) {
            int fd = open(paths[k], O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                continue;
            }
            fprintf(stderr,
                    "radsecgw: %s: tls %s is not readable by user %s: %s (make it readable "
                    "by group ssl-cert: chgrp ssl-cert FILE; chmod g+r FILE)\n",
                    paths[k], names[k], cfg->user, strerror(errno));
            bad++;
        }
        for (size_t i = 0; i < cfg->norgs; i++) {
            const struct rg_org *o = &cfg->orgs[i];
            for (size_t j = 0; j < o->nca + o->ncrl; j++) {
                const char *path = j < o->nca ? o->ca[j] : o->crl[j - o->nca];
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    close(fd);
                    continue;
                }
                fprintf(stderr, "radsecgw: %s: %s of org \"%s\" is not readable by user %s: %s\n",
                        path, j < o->nca ? "CA" : "CRL", o->name, cfg->user, strerror(errno));
                bad++;
            }
        }
        fflush(stderr);
        _exit(bad > 99 ? 99 : bad);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return 1;
    if (WEXITSTATUS(st) == 100) {
        fprintf(stderr, "radsecgw: cannot switch to user \"%s\" to check its access\n", cfg->user);
        return 1;
    }
    if (WEXITSTATUS(st))
        fprintf(stderr,
                "radsecgw: radsecgw reads these files again as user %s on every reload and CRL "
                "refresh\n",
                cfg->user);
    return WEXITSTATUS(st);
}

/* The start failed (the reason is logged): stop the n workers started and exit 1. */
static int start_failed(struct main_state *m, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        rg_worker_stop(&m->workers[i]);
    for (unsigned i = 0; i < n; i++)
        rg_worker_join(&m->workers[i]);
    free(m->workers);
    free(m->trust);
    rg_gen_unref(m->gen);
    rg_thread_cleanup();
    rg_tls_global_cleanup();
    rg_log_close();
    return 1;
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
        int bad = m.gen->cfg->user ? check_files_as_user(m.gen->cfg) : 0;
        rg_config_print(m.gen->cfg, stdout);
        if (bad)
            printf("%s: configuration is not valid\n", m.config_path);
        else
            printf("%s: configuration OK\n", m.config_path);
        rg_gen_unref(m.gen);
        free(m.trust);
        rg_tls_global_cleanup();
        return bad ? 1 : 0;
    }

    cfg = m.gen->cfg;
    /* Under systemd stderr is the journal, which gets the syslog lines already. Until the
     * daemon detaches, its lines go to stderr too, so a failed start says why. */
    bool journal = rg_service_stderr_is_journal();
    m.log_stderr = m.foreground && !journal;
    int level = m.debug ? LOG_DEBUG : cfg->log.level;
    rg_log_open(cfg->log.facility, level, !journal);
    raise_nofile(cfg);
    int detach_fd = m.foreground ? -1 : detach_begin();
    if (!pidfile)
        pidfile = cfg->pidfile;
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
    if (started < m.nworkers)
        return start_failed(&m, started);
    if (cfg->user && drop_privileges(cfg->user) < 0) {
        return start_failed(&m, m.nworkers);
    }

    uv_loop_t *loop = uv_default_loop();
    if (rg_coa_start(loop, cfg, m.workers, m.nworkers) < 0) {
        return start_failed(&m, m.nworkers);
    }
    if (pidfile && write_pidfile(pidfile) < 0) {
        return start_failed(&m, m.nworkers);
    }
    rg_notice("radsecgw %s started: %u worker(s), %zu org(s), %zu pool(s)", RG_VERSION, m.nworkers,
              cfg->norgs, cfg->npools);
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
    start_service_timer(&m, loop);

    /* Every listener is bound and listening (rg_worker_start), privileges are dropped. */
    service_ready(&m, "running");
    if (detach_fd >= 0) {
        detach_finish(detach_fd);
        rg_log_open(cfg->log.facility, level, false);
    }

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
