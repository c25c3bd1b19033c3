/* Configuration loading, the bookkeeping of one load: "file:line: reason" diagnostics, the
 * line each value was written on (libconfuse 3.3 keeps none), and comment stripping ahead
 * of libconfuse. Knows nothing of the schema or of what a value means. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "radsecgw/common.h"
#include "config_internal.h"

/* ---- load state ------------------------------------------------------------------------ */

__thread struct load *rg_config_current;

/* One line per diagnostic, whatever the text held: a control character (a newline inside a
 * quoted value, say, or in an included file's name) is shown as \xNN. */
static size_t one_line(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n] = '\0';
    return n;
}

static void diag_vadd(struct load *ld, bool warning, int line, const char *fmt, va_list ap)
{
    char raw[1536];
    const char *name = ld->name;
    if (line > 0)
        rg_config_include_locate(ld, line, &name, &line);
    int head = line > 0 ? snprintf(raw, 512, "%s:%d: %s", name, line, warning ? "warning: " : "")
                        : snprintf(raw, 512, "%s: %s", name, warning ? "warning: " : "");
    size_t at = head < 0 ? 0 : head >= 512 ? 511 : (size_t)head;
    vsnprintf(raw + at, sizeof(raw) - at, fmt, ap);
    char msg[4 * sizeof(raw)];
    size_t add = one_line(msg, sizeof(msg), raw) + 1;

    char *text = realloc(ld->diag->text, ld->diag_len + add + 1);
    if (!text) {
        ld->nomem = true;
    } else {
        ld->diag->text = text;
        snprintf(text + ld->diag_len, add + 1, "%s\n", msg);
        ld->diag_len += add;
    }
    if (warning) {
        ld->diag->nwarnings++;
    } else {
        ld->diag->nerrors++;
        ld->nerrors++;
    }
}

void __attribute__((format(printf, 3, 4)))
rg_config_error_at(struct load *ld, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(ld, false, line, fmt, ap);
    va_end(ap);
}

void __attribute__((format(printf, 3, 4)))
rg_config_warn_at(struct load *ld, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(ld, true, line, fmt, ap);
    va_end(ap);
}

static size_t section_slot(const struct load *ld, const cfg_t *sec)
{
    uint64_t h = (uint64_t)(uintptr_t)sec * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 32) & (ld->sections_cap - 1);
    while (ld->sections[i].sec && ld->sections[i].sec != sec)
        i = (i + 1) & (ld->sections_cap - 1);
    return i;
}

static struct section_info *section_find(const struct load *ld, const cfg_t *sec)
{
    if (!ld->sections_cap)
        return NULL;
    struct section_info *si = &ld->sections[section_slot(ld, sec)];
    return si->sec ? si : NULL;
}

static int sections_grow(struct load *ld)
{
    size_t cap = ld->sections_cap ? ld->sections_cap * 2 : 64;
    struct section_info *old = ld->sections;
    size_t old_cap = ld->sections_cap;
    ld->sections = calloc(cap, sizeof(*ld->sections));
    if (!ld->sections) {
        ld->sections = old;
        return -ENOMEM;
    }
    ld->sections_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].sec)
            ld->sections[section_slot(ld, old[i].sec)] = old[i];
    free(old);
    return 0;
}

void rg_config_mark(cfg_t *cfg, cfg_opt_t *opt)
{
    struct load *ld = rg_config_current;
    if (ld->nmarks == ld->marks_cap) {
        size_t cap = ld->marks_cap ? ld->marks_cap * 2 : 256;
        struct mark *m = realloc(ld->marks, cap * sizeof(*m));
        if (!m) {
            ld->nomem = true;
            return;
        }
        ld->marks = m;
        ld->marks_cap = cap;
    }
    size_t idx = ld->nmarks++;
    ld->marks[idx] = (struct mark){.sec = cfg, .opt = opt->name, .line = cfg->line};

    struct section_info *si = section_find(ld, cfg);
    if (si) {
        si->last_mark = idx;
        return;
    }
    if ((ld->nsections + 1) * 2 > ld->sections_cap && sections_grow(ld) != 0) {
        ld->nomem = true;
        return;
    }
    si = &ld->sections[section_slot(ld, cfg)];
    *si = (struct section_info){
        .sec = cfg, .open_line = cfg->line, .first_mark = idx, .last_mark = idx};
    ld->nsections++;
}

/* Line of a section's opening brace. */
int rg_config_sec_line(const struct load *ld, const cfg_t *sec)
{
    const struct section_info *si = section_find(ld, sec);
    return si ? si->open_line : sec->line;
}

/* Line where the current value of opt was written (the section's line for a default);
 * for a list, idx selects the element. */
int rg_config_opt_line_idx(const struct load *ld, const cfg_t *sec, const char *opt, unsigned idx)
{
    const struct section_info *si = section_find(ld, sec);
    if (!si)
        return sec->line;
    /* The current n values are the last n marks of the option: '=' resets, '+=' appends. */
    unsigned n = cfg_size((cfg_t *)sec, opt);
    unsigned from_end = n > idx ? n - idx : 1;
    for (size_t i = si->last_mark + 1; i-- > si->first_mark;) {
        const struct mark *m = &ld->marks[i];
        if (m->sec == sec && strcmp(m->opt, opt) == 0 && --from_end == 0)
            return m->line;
    }
    return si->open_line;
}

int rg_config_opt_line(const struct load *ld, const cfg_t *sec, const char *opt)
{
    return rg_config_opt_line_idx(ld, sec, opt, 0);
}

/* ---- comment stripping -------------------------------------------------------------------- */

/* libconfuse 3.3 counts lines wrongly after '#' and '//' comments and rejects comments inside
 * a list, so comments are blanked here (newlines kept) before it sees the text. Quoting rules
 * follow its lexer: "..." with backslash escapes, '...' with \\ and \'. */
char *rg_config_strip_comments(struct load *ld, const char *in, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    enum { CODE, DQUOTE, SQUOTE, LINE_COMMENT, BLOCK_COMMENT } state = CODE;
    int line = 1, start_line = 0;
    /* libconfuse 3.3 also accepts a block left open at the end of the file */
    int first_open_line = 0;
    size_t depth = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i], next = i + 1 < len ? in[i + 1] : '\0';
        out[i] = c;
        switch (state) {
        case CODE:
            if (c == '{' && depth++ == 0) {
                first_open_line = line;
            } else if (c == '}' && depth > 0) {
                depth--;
            } else if (c == '"' || c == '\'') {
                state = c == '"' ? DQUOTE : SQUOTE;
                start_line = line;
            } else if (c == '#' || (c == '/' && next == '/')) {
                state = LINE_COMMENT;
                out[i] = ' ';
            } else if (c == '/' && next == '*') {
                state = BLOCK_COMMENT;
                start_line = line;
                out[i++] = ' ';
                out[i] = ' ';
            }
            break;
        case DQUOTE:
        case SQUOTE:
            if (c == '\\' && i + 1 < len && (state == DQUOTE || next == '\\' || next == '\'')) {
                out[++i] = next;
                c = next;
            } else if ((state == DQUOTE && c == '"') || (state == SQUOTE && c == '\'')) {
                state = CODE;
            }
            break;
        case LINE_COMMENT:
            if (c == '\n')
                state = CODE;
            else
                out[i] = ' ';
            break;
        case BLOCK_COMMENT:
            if (c == '*' && next == '/') {
                state = CODE;
                out[i++] = ' ';
                out[i] = ' ';
            } else if (c != '\n') {
                out[i] = ' ';
            }
            break;
        }
        if (c == '\n')
            line++;
    }
    out[len] = '\0';

    if (state == BLOCK_COMMENT || state == DQUOTE || state == SQUOTE) {
        rg_config_error_at(ld, start_line, "%s starting here is not closed",
                           state == BLOCK_COMMENT ? "comment" : "quoted string");
        free(out);
        return NULL;
    }
    if (depth > 0) {
        rg_config_error_at(ld, first_open_line, "'{' opened here is not closed");
        free(out);
        return NULL;
    }
    return out;
}
