/* radsecgw: the process around the gateway: detaching from the terminal, dropping
 * privileges, the pid file, the descriptor limit, and the -t check that the files a reload
 * reads again are readable by the configured user. No RADIUS, TLS or event loop here. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "radsecgw/config.h"
#include "radsecgw/log.h"
#include "radsecgw/process.h"

/* Descriptors beyond max-connections: listeners, backend and CoA sockets, files. */
#define RG_NOFILE_SPARE 1024

/* Without -f the process forks at once and the first process waits on a pipe until the
 * daemon has bound every socket and dropped privileges (rg_process_detach_finish), so a port in
 * use, a bad key or a missing user exits non-zero with the reason on the operator's terminal.
 * Returns the write end of the pipe in the daemon; the first process never returns. */
int rg_process_detach_begin(void)
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
void rg_process_detach_finish(int fd)
{
    char ok = 'R';
    if (write(fd, &ok, 1) != 1)
        rg_warn("event=detach_failed reason=\"cannot tell the starting process\" error=\"%s\"",
                strerror(errno));
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
int rg_process_drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        rg_err("event=user_unknown user=\"%s\" reason=\"does not exist\"", RG_LOG_ESC(user));
        return -ENOENT;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) {
        rg_info("event=running_as user=\"%s\"", RG_LOG_ESC(user));
        return 0;
    }
    if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        int err = errno;
        rg_err("event=user_switch_failed user=\"%s\" error=\"%s\"", RG_LOG_ESC(user),
               strerror(err));
        return -err;
    }
    rg_info("event=running_as user=\"%s\"", RG_LOG_ESC(user));
    return 0;
}

int rg_process_write_pidfile(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        int err = errno;
        rg_err("event=pidfile_failed path=\"%s\" error=\"%s\" fix=\"its directory must be "
               "writable by the user radsecgw runs as: systemd's RuntimeDirectory\"",
               RG_LOG_ESC(path), strerror(err));
        return -err;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

/* Each connection is a descriptor: the soft limit goes up to the hard one, and a hard
 * limit below what max-connections needs is said at start rather than found at peak. */
void rg_process_raise_nofile(const struct rg_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            rg_warn("event=nofile_raise_failed from=%llu to=%llu error=\"%s\"",
                    (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = old;
        }
    }
    uint64_t need = (uint64_t)cfg->listen.max_connections + RG_NOFILE_SPARE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        rg_warn("event=nofile_low limit=%llu needed=%llu max_connections=%u "
                "effect=\"connections past the limit are refused\" "
                "fix=\"raise LimitNOFILE in systemd, or ulimit -n\"",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need,
                cfg->listen.max_connections);
}

/* -t with `user` set: every file that a reload or a CRL refresh reads again must be
 * readable by that user, or the first reload after the privilege drop fails. Checked in a
 * child that becomes the user (groups, ACLs and directory permissions all count). Returns
 * the number of problems, printed as "radsecgw: PATH: reason". */
int rg_process_check_files_as_user(const struct rg_config *cfg)
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
