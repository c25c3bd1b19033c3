/* systemd integration through libsystemd: sd_notify for readiness, reload, stop, watchdog
 * and status, and the JOURNAL_STREAM check. No socket code of our own; outside systemd
 * (no NOTIFY_SOCKET) sd_notify does nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "radsecgw/log.h"
#include "radsecgw/service.h"

static void notify(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        rg_log_limited("sd-notify", LOG_WARNING, "event=sd_notify_failed error=\"%s\"",
                       strerror(-rc));
}

static void notify_with_status(const char *state, const char *status)
{
    char msg[512];
    if (status && *status)
        snprintf(msg, sizeof(msg), "%s\nSTATUS=%s", state, status);
    else
        snprintf(msg, sizeof(msg), "%s", state);
    notify(msg);
}

void rg_service_ready(const char *status)
{
    notify_with_status("READY=1", status);
}

void rg_service_reloading(void)
{
    /* MONOTONIC_USEC lets systemd 253's Type=notify-reload match this message to the
     * signal; Debian 12's systemd 252 takes RELOADING=1 alone. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[128];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    notify(msg);
}

void rg_service_stopping(void)
{
    notify_with_status("STOPPING=1", "stopping: draining requests in flight");
}

void rg_service_status(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "STATUS=%s", status);
    notify(msg);
}

void rg_service_watchdog(void)
{
    notify("WATCHDOG=1");
}

uint64_t rg_service_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

bool rg_service_notifying(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

bool rg_service_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
