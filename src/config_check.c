/* Configuration: the checks made on each value while libconfuse parses it (ranges, names,
 * addresses, match rules, readable files), so an error names the value's exact line, and
 * libconfuse's own errors reworded. Builds nothing. */
#include <regex.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "config_internal.h"

struct int_range {
    const char *name;
    long min, max;
};

static const struct int_range int_ranges[] = {
    {"workers", 0, 1024},
    {"port", 1, 65535},
    {"max-connections", 1, 10000000},
    {"max-connections-per-ip", 0, 1000000}, /* 0: no limit */
    {"max-handshakes", 1, 1000000},
    {"max-handshakes-per-ip", 1, 1000000},
    {"idle-timeout", 1, 604800},
    {"handshake-timeout", 1, 600},
    {"packet-timeout", 1, 600},
    {"max-requests-per-second", 0, 1000000}, /* 0: no limit */
    {"crl-refresh", 1, 604800},              /* 1: tests; production wants 3600 or so */
    {"timeout", 1, 60},
    {"retries", 0, 10},
    {"max-outstanding", 256, 1048576},
    {"dead-time", 1, 86400},
    {"auth-port", 1, 65535},
    {"acct-port", 1, 65535},
    {"interval", 0, 86400},
    {"session-cache", 0, 1000000},    /* 0: no resumption */
    {"session-lifetime", 60, 604800}, /* RFC 8446 §4.6.1: a ticket lives 7 days at most */
};

int rg_config_parse_int(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    rg_config_mark(cfg, opt);
    const struct int_range *r = NULL;
    for (size_t i = 0; i < RG_ARRAY_SIZE(int_ranges); i++)
        if (strcmp(int_ranges[i].name, opt->name) == 0)
            r = &int_ranges[i];
    RG_REQUIRE(r != NULL);

    char *end = NULL;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !(isdigit((unsigned char)value[0]) || value[0] == '-') || *end || errno) {
        cfg_error(cfg, "%s: '%s' is not a whole number", opt->name, value ? value : "");
        return -1;
    }
    if (v < r->min || v > r->max) {
        cfg_error(cfg, "%s %ld is out of range (%ld..%ld)", opt->name, v, r->min, r->max);
        return -1;
    }
    *(long *)result = v;
    return 0;
}

int rg_config_parse_bool(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    rg_config_mark(cfg, opt);
    int b = value ? cfg_parse_boolean(value) : -1;
    if (b < 0) {
        cfg_error(cfg, "%s: '%s' is not a boolean (true or false)", opt->name, value ? value : "");
        return -1;
    }
    *(int *)result = b;
    return 0;
}

static bool is_ip_address(const char *s)
{
    uint8_t buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int check_readable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    close(fd);
    return rc;
}

void rg_config_match_free(struct rg_match *m)
{
    if (m->regex) {
        regfree(m->regex);
        free(m->regex);
    }
    free(m->pattern);
    memset(m, 0, sizeof(*m));
}

/* "CN:re", "SAN:DNS:re", "SAN:URI:re" (POSIX extended) or "SAN:IP:prefix". On error returns
 * -EINVAL with the reason in why. */
int rg_config_match_parse(const char *text, struct rg_match *m, char *why, size_t whylen)
{
    static const struct {
        const char *prefix;
        enum rg_match_kind kind;
    } kinds[] = {
        {"CN:", RG_MATCH_CN},
        {"SAN:DNS:", RG_MATCH_SAN_DNS},
        {"SAN:URI:", RG_MATCH_SAN_URI},
        {"SAN:IP:", RG_MATCH_SAN_IP},
    };
    memset(m, 0, sizeof(*m));
    const char *pattern = NULL;
    for (size_t i = 0; i < RG_ARRAY_SIZE(kinds); i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(text, kinds[i].prefix, n) == 0) {
            m->kind = kinds[i].kind;
            pattern = text + n;
        }
    }
    if (!pattern) {
        snprintf(why, whylen, "must start with CN:, SAN:DNS:, SAN:URI: or SAN:IP:");
        return -EINVAL;
    }
    if (!*pattern) {
        snprintf(why, whylen, "has an empty pattern");
        return -EINVAL;
    }
    m->pattern = strdup(pattern);
    if (!m->pattern)
        return -ENOMEM;

    if (m->kind == RG_MATCH_SAN_IP) {
        if (rg_prefix_parse(pattern, &m->prefix) != 0) {
            snprintf(why, whylen, "does not end in an address prefix (like 192.0.2.0/24)");
            rg_config_match_free(m);
            return -EINVAL;
        }
        return 0;
    }
    m->regex = malloc(sizeof(regex_t));
    if (!m->regex) {
        rg_config_match_free(m);
        return -ENOMEM;
    }
    int rc = regcomp(m->regex, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char err[128];
        regerror(rc, m->regex, err, sizeof(err));
        free(m->regex); /* regcomp failed: nothing to regfree */
        m->regex = NULL;
        snprintf(why, whylen, "is not a valid extended regular expression (%s)", err);
        rg_config_match_free(m);
        return -EINVAL;
    }
    return 0;
}

bool rg_config_in_list(const char *value, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(value, *names) == 0)
            return true;
    return false;
}

static const char *const policy_names[] = {"failover", "round-robin", "least-outstanding", NULL};
static const char *const when_dead_names[] = {"silent", "reject", NULL};
/* In the order of enum rg_radius11_mode. */
const char *const rg_config_radius11_names[] = {"allow", "forbid", "require", NULL};
/* A string, not a bool, so "auto" fits; the boolean spellings libconfuse took before stay valid. */
const char *const rg_config_require_ma_true[] = {"true", "yes", "on", NULL};
const char *const rg_config_require_ma_false[] = {"false", "no", "off", NULL};

/* Syntax of one string value; the section (cfg->name) tells which key it is. */
static int check_str(cfg_t *cfg, const char *key, const char *value)
{
    const char *sec = cfg->name;
    struct load *ld = rg_config_current;
    char why[256];

    if ((strcmp(key, "address") == 0) && !is_ip_address(value)) {
        cfg_error(cfg, "%s address '%s' is not an IPv4 or IPv6 address", sec, value);
        return -1;
    }
    if (strcmp(key, "min-version") == 0 && strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0) {
        cfg_error(cfg, "min-version '%s' is not \"1.2\" or \"1.3\"", value);
        return -1;
    }
    if (strcmp(key, "policy") == 0 && !rg_config_in_list(value, policy_names)) {
        cfg_error(cfg, "policy '%s' is not failover, round-robin or least-outstanding", value);
        return -1;
    }
    if (strcmp(key, "radius-1.1") == 0 && !rg_config_in_list(value, rg_config_radius11_names)) {
        cfg_error(cfg, "radius-1.1 '%s' is not forbid, allow or require", value);
        return -1;
    }
    if (strcmp(key, "when-dead") == 0 && !rg_config_in_list(value, when_dead_names)) {
        cfg_error(cfg, "when-dead '%s' is not silent or reject", value);
        return -1;
    }
    if (strcmp(key, "require-message-authenticator") == 0 && strcmp(value, "auto") != 0 &&
        !rg_config_in_list(value, rg_config_require_ma_true) &&
        !rg_config_in_list(value, rg_config_require_ma_false)) {
        cfg_error(cfg, "require-message-authenticator '%s' is not true, false or auto", value);
        return -1;
    }
    if (strcmp(key, "facility") == 0 && rg_log_facility_parse(value) < 0) {
        cfg_error(cfg, "facility '%s' is not daemon, auth, user or local0..local7", value);
        return -1;
    }
    if (strcmp(key, "level") == 0 && rg_log_level_parse(value) < 0) {
        cfg_error(cfg, "level '%s' is not err, warning, notice, info or debug", value);
        return -1;
    }
    if (strcmp(key, "allow") == 0 || strcmp(key, "proxy-from") == 0) {
        struct rg_prefix p;
        if (rg_prefix_parse(value, &p) != 0) {
            cfg_error(cfg, "%s '%s' is not an address prefix (like 192.0.2.0/24)", key, value);
            return -1;
        }
    }
    if (strcmp(key, "match") == 0) {
        struct rg_match m;
        int rc = rg_config_match_parse(value, &m, why, sizeof(why));
        if (rc == -ENOMEM)
            ld->nomem = true;
        if (rc != 0) {
            cfg_error(cfg, "match rule '%s' %s", value, why);
            return -1;
        }
        rg_config_match_free(&m);
    }
    if ((strcmp(key, "user") == 0 || strcmp(key, "pidfile") == 0) && !*value) {
        cfg_error(cfg, "%s is empty", key);
        return -1;
    }
    if (ld->check_files && *value &&
        (strcmp(key, "ca") == 0 || strcmp(key, "crl") == 0 || strcmp(key, "certificate") == 0 ||
         strcmp(key, "key") == 0)) {
        int rc = check_readable(value);
        if (rc != 0) {
            cfg_error(cfg, "cannot read %s file '%s': %s",
                      strcmp(key, "ca") == 0    ? "CA"
                      : strcmp(key, "crl") == 0 ? "CRL"
                                                : key,
                      value, rc == -EINVAL ? "not a regular file" : strerror(-rc));
            return -1;
        }
    }
    return 0;
}

int rg_config_parse_str(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    rg_config_mark(cfg, opt);
    if (!value)
        return -1;
    if (check_str(cfg, opt->name, value) != 0)
        return -1;
    *(const char **)result = value;
    return 0;
}

/* Errors found by libconfuse (syntax, unknown keys) and by the callbacks above. */
void rg_config_on_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    struct load *ld = rg_config_current;
    char msg[512];

    if (strcmp(fmt, "found duplicate title '%s'") == 0) {
        va_list aq;
        va_copy(aq, ap);
        const char *title = va_arg(aq, const char *);
        va_end(aq);
        /* The parent (cfg) already holds a block with this name: say which kind. */
        const char *kind = NULL;
        for (cfg_opt_t *o = cfg->opts; o->name; o++) {
            if (o->type == CFGT_SEC && (o->flags & CFGF_TITLE) && cfg_opt_gettsec(o, title))
                kind = kind ? "block" : o->name;
        }
        snprintf(msg, sizeof(msg), "duplicate %s \"%s\"", kind ? kind : "block", title);
    } else if (strcmp(fmt, "no such option '%s'") == 0) {
        va_list aq;
        va_copy(aq, ap);
        const char *key = va_arg(aq, const char *);
        va_end(aq);
        if (strcmp(cfg->name, "root") == 0)
            snprintf(msg, sizeof(msg), "unknown key '%s'", key);
        else
            snprintf(msg, sizeof(msg), "unknown key '%s' in %s", key, cfg->name);
    } else {
        vsnprintf(msg, sizeof(msg), fmt, ap);
    }
    rg_config_error_at(ld, cfg->line, "%s", msg);
}
