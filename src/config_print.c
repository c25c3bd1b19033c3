/* Configuration: the summary of a snapshot that -t prints. */
#include <arpa/inet.h>
#include <syslog.h>
#include <stdio.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/log.h"
#include "config_internal.h"

static const char *facility_name(int facility)
{
    static const struct {
        int value;
        const char *name;
    } names[] = {
        {LOG_DAEMON, "daemon"}, {LOG_AUTH, "auth"},     {LOG_USER, "user"},
        {LOG_LOCAL0, "local0"}, {LOG_LOCAL1, "local1"}, {LOG_LOCAL2, "local2"},
        {LOG_LOCAL3, "local3"}, {LOG_LOCAL4, "local4"}, {LOG_LOCAL5, "local5"},
        {LOG_LOCAL6, "local6"}, {LOG_LOCAL7, "local7"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(names); i++)
        if (names[i].value == facility)
            return names[i].name;
    return "?";
}

static const char *level_name(int level)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    return level >= 0 && level < 8 ? names[level] : "?";
}

void rg_config_print(const struct rg_config *cfg, FILE *out)
{
    static const char *const policies[] = {"failover", "round-robin", "least-outstanding"};
    static const char *const match_kinds[] = {
        [RG_MATCH_CN] = "CN:",
        [RG_MATCH_SAN_DNS] = "SAN:DNS:",
        [RG_MATCH_SAN_URI] = "SAN:URI:",
        [RG_MATCH_SAN_IP] = "SAN:IP:",
    };
    char a[INET6_ADDRSTRLEN];

    fprintf(out, "config %s\n", cfg->path ? cfg->path : "(buffer)");
    for (size_t i = 0; i < cfg->nincludes; i++)
        fprintf(out, "  include %s\n", cfg->includes[i]);
    fprintf(out, "workers %u", cfg->workers);
    if (cfg->user)
        fprintf(out, ", user %s", cfg->user);
    if (cfg->pidfile)
        fprintf(out, ", pidfile %s", cfg->pidfile);
    fprintf(out, "\nlisten");
    for (size_t i = 0; i < cfg->listen.naddress; i++)
        fprintf(out, "%s %s", i ? "," : "", cfg->listen.address[i]);
    fprintf(out, " port %u: max %u connections, ", cfg->listen.port, cfg->listen.max_connections);
    if (cfg->listen.max_connections_per_ip)
        fprintf(out, "%u per address", cfg->listen.max_connections_per_ip);
    else
        fprintf(out, "no limit per address");
    fprintf(out,
            ", %u handshakes (%u per address; more wait), idle timeout %u s, handshake "
            "timeout %u s, packet timeout %u s, radius-1.1 %s, ",
            cfg->listen.max_handshakes, cfg->listen.max_handshakes_per_ip,
            cfg->listen.idle_timeout_s, cfg->listen.handshake_timeout_s,
            cfg->listen.packet_timeout_s, rg_config_radius11_names[cfg->listen.radius11]);
    if (cfg->listen.max_requests_per_second)
        fprintf(out, "%u requests per second per connection\n",
                cfg->listen.max_requests_per_second);
    else
        fprintf(out, "no request rate limit\n");
    fprintf(out, "tls certificate %s, key %s, TLS %s or later, ciphers %s\n", cfg->tls.certificate,
            cfg->tls.key, cfg->tls.min_version == 13 ? "1.3" : "1.2",
            cfg->tls.ciphers && *cfg->tls.ciphers ? cfg->tls.ciphers : "(built-in list)");
    if (cfg->tls.session_cache)
        fprintf(out, "tls resumption: %u sessions kept, resumable for %u s\n",
                cfg->tls.session_cache, cfg->tls.session_lifetime_s);
    else
        fprintf(out, "tls resumption: off\n");

    for (size_t i = 0; i < cfg->norgs; i++) {
        const struct rg_org *o = &cfg->orgs[i];
        fprintf(out,
                "org \"%s\": %zu CA, %zu CRL (refresh %u s), %zu allowed prefixes, %zu match "
                "rules, pool \"%s\", CoA %s\n",
                o->name, o->nca, o->ncrl, o->crl_refresh_s, o->nallow, o->nmatch,
                o->pool ? o->pool->name : "?", o->coa ? "allowed" : "off");
        for (size_t j = 0; j < o->nca; j++)
            fprintf(out, "  ca %s\n", o->ca[j]);
        for (size_t j = 0; j < o->ncrl; j++)
            fprintf(out, "  crl %s\n", o->crl[j]);
        for (size_t j = 0; j < o->nallow; j++)
            fprintf(out, "  allow %s/%u\n",
                    inet_ntop(o->allow[j].family, o->allow[j].addr, a, sizeof(a)) ? a : "?",
                    o->allow[j].bits);
        for (size_t j = 0; j < o->nmatch; j++)
            fprintf(out, "  match %s%s\n", match_kinds[o->match[j].kind], o->match[j].pattern);
        for (size_t j = 0; j < o->nrealms; j++)
            fprintf(out, "  realm \"%s\" -> pool \"%s\"\n", o->realms[j].name,
                    o->realms[j].pool ? o->realms[j].pool->name : "?");
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const struct rg_pool *p = &cfg->pools[i];
        fprintf(out,
                "pool \"%s\": %s, timeout %u s, %u retries, status-server %s, "
                "Message-Authenticator %s, max %u outstanding, dead-time %u s, when dead %s\n",
                p->name, policies[p->policy], p->timeout_s, p->retries,
                p->status_server ? "on" : "off",
                p->require_message_authenticator == RG_REQUIRE_MA_TRUE    ? "required"
                : p->require_message_authenticator == RG_REQUIRE_MA_FALSE ? "optional"
                                                                          : "auto",
                p->max_outstanding, p->dead_time_s,
                p->when_dead == RG_WHEN_DEAD_REJECT ? "reject" : "silent");
        for (size_t j = 0; j < p->nservers; j++) {
            const struct rg_server *s = &p->servers[j];
            fprintf(out, "  server \"%s\" %s (%s) auth %u acct %u\n", s->name, s->host,
                    rg_sockaddr_format((const struct sockaddr *)&s->auth_addr, false, a, sizeof(a)),
                    s->auth_port, s->acct_port);
        }
    }
    if (cfg->metrics.enabled)
        fprintf(out, "metrics http://%s:%u/metrics\n", cfg->metrics.address, cfg->metrics.port);
    if (cfg->coa.enabled) {
        fprintf(out, "coa %s port %u, %zu clients\n", cfg->coa.address, cfg->coa.port,
                cfg->coa.nclients);
        for (size_t i = 0; i < cfg->coa.nclients; i++) {
            const struct rg_coa_client *c = &cfg->coa.clients[i];
            fprintf(out, "  client \"%s\" %s (%s), orgs", c->name, c->host,
                    rg_sockaddr_format((const struct sockaddr *)&c->addr, false, a, sizeof(a)));
            for (size_t j = 0; j < c->norgs; j++)
                fprintf(out, "%s \"%s\"", j ? "," : "", c->orgs[j]->name);
            fprintf(out, "%s\n", c->norgs ? "" : " (none)");
        }
    } else {
        fprintf(out, "coa off\n");
    }
    fprintf(out, "log facility %s, level %s, request lines %s\n", facility_name(cfg->log.facility),
            level_name(cfg->log.level), cfg->log.requests ? "on" : "off");
    if (cfg->stats.interval_s)
        fprintf(out, "stats every %u s\n", cfg->stats.interval_s);
    else
        fprintf(out, "stats off\n");
}
