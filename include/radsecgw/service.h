/* Running under a service manager: systemd notifications through libsystemd's sd_notify
 * (READY, RELOADING, STOPPING, WATCHDOG, STATUS) and whether stderr is the journal.
 * Without NOTIFY_SOCKET every notification is a no-op. Knows nothing of RADIUS or TLS. */
#ifndef RADSECGW_SERVICE_H
#define RADSECGW_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

/* Every listener is bound and privileges are dropped: READY=1 with a STATUS= line. */
void rg_service_ready(const char *status);
/* SIGHUP received: RELOADING=1 (rg_service_ready follows when the reload is over). */
void rg_service_reloading(void);
/* SIGTERM/SIGINT received: STOPPING=1. */
void rg_service_stopping(void);
/* STATUS= only. */
void rg_service_status(const char *status);
/* WATCHDOG=1: call only when every loop of the process is known to turn. */
void rg_service_watchdog(void);
/* Watchdog interval the manager asked for (WATCHDOG_USEC for this PID), 0 when none. */
uint64_t rg_service_watchdog_usec(void);
/* True when a manager listens for notifications (NOTIFY_SOCKET is set). */
bool rg_service_notifying(void);
/* True when stderr is the journal stream systemd connected (JOURNAL_STREAM names the
 * same device and inode): a copy of syslog lines there would reach the journal twice. */
bool rg_service_stderr_is_journal(void);

#endif
