/* Logging: syslog with the configured facility and level, plus stderr in the foreground.
 * Rate-limits repeated messages. Knows nothing of the protocol. */
#ifndef RADSECGW_LOG_H
#define RADSECGW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

/* Open syslog as "radsecgw" with facility; level is the most verbose priority logged
 * (LOG_ERR..LOG_DEBUG); to_stderr copies every line to stderr (-f). Safe to call again
 * (on reload) to change facility/level. */
void rg_log_open(int facility, int level, bool to_stderr);
/* facility < 0: no syslog at all, stderr only (tests, command-line tools). Until
 * rg_log_open is called, lines go to stderr only, at level info. */
void rg_log_set_level(int level);
int rg_log_get_level(void);
void rg_log_close(void);

void rg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define RG_LOG_BURST     10 /* lines per key per window in rg_log_limited */
#define RG_LOG_WINDOW_MS 1000

/* Like rg_log, but at most burst lines per key per second window (key: a static string
 * naming the event, e.g. "backend-bad-auth"); drops are counted and reported once the
 * window ends as "event=log_suppressed count=N key=KEY". */
void rg_log_limited(const char *key, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report the suppressed counts of windows that have ended with no later message to carry
 * them (main calls it every RG_LOG_WINDOW_MS; rg_log_limited reports them itself
 * otherwise); force reports open windows too (at stop). */
void rg_log_limited_flush(bool force);

/* Tests: replace the millisecond clock of the rate limiter (NULL restores rg_now_ms). */
void rg_log_set_clock(uint64_t (*now_ms)(void));

/* Parse names: "daemon", "local0".."local7", "auth", "user" / "err", "warning", "notice",
 * "info", "debug". -1 if unknown. */
int rg_log_facility_parse(const char *name);
int rg_log_level_parse(const char *name);

/* Strings that came from a peer (User-Name, certificate subject, issuer and CN, NAS
 * attributes) pass through rg_log_escape before they reach a log line, so a peer cannot
 * forge a line or a key=value pair. */
#define RG_LOG_ESC_BUF 256 /* the longest escaped value a line carries, NUL included */

/* in[0..len) as text for a quoted log value: backslash, control characters (C0, DEL, the
 * C1 range and U+2028/U+2029, which some viewers break lines at) and octets that are not
 * well-formed UTF-8 become \xNN, '"' becomes \", valid UTF-8 is kept. At most outlen - 1
 * characters: a longer value is cut between characters (never inside an escape) and ends in
 * "...". Returns out (outlen >= 1). */
const char *rg_log_escape(const void *in, size_t len, char *out, size_t outlen);
/* The same for a NUL-terminated string (NULL gives ""). */
const char *rg_log_escape_str(const char *in, char *out, size_t outlen);
/* In the arguments of a log call: s escaped into a buffer that lives until the end of the
 * enclosing block. */
#define RG_LOG_ESC(s) rg_log_escape_str((s), (char[RG_LOG_ESC_BUF]){0}, RG_LOG_ESC_BUF)

/* Privacy (log { hash-user-names hash-macs hash-key }): "h:" and 16 hex digits of
 * HMAC-SHA256(key, in), so the same name gives the same value on every instance and across
 * restarts without the name being in the log. */
#define RG_LOG_HASH_LEN 19 /* "h:" + 16 hex digits + NUL */
const char *rg_log_hash(const char *key, size_t keylen, const void *in, size_t len, char *out,
                        size_t outlen);
/* A MAC address at the start of in (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or 12
 * hex digits) is hashed in one canonical form (12 lower-case hex digits), so every notation of
 * one MAC gives one hash; what follows a ':' after it (the SSID in a Called-Station-Id
 * "MAC:SSID") stays, escaped. A value that is not a MAC is hashed whole. */
const char *rg_log_hash_mac(const char *key, size_t keylen, const void *in, size_t len, char *out,
                            size_t outlen);

#define rg_err(...)    rg_log(LOG_ERR, __VA_ARGS__)
#define rg_warn(...)   rg_log(LOG_WARNING, __VA_ARGS__)
#define rg_notice(...) rg_log(LOG_NOTICE, __VA_ARGS__)
#define rg_info(...)   rg_log(LOG_INFO, __VA_ARGS__)
#define rg_debug(...)  rg_log(LOG_DEBUG, __VA_ARGS__)

#endif
