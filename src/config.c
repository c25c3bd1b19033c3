/* Configuration: the libconfuse schema of DESIGN.md, its validation with "file:line: reason"
 * messages, and the immutable, reference-counted rg_config snapshot built from it.
 * Opens no sockets and builds no TLS objects (tls.c builds those from the snapshot). */
#include <confuse.h>
#include <regex.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/log.h"

/* A config file larger than this is a mistake, not a config. */
#define CONFIG_MAX_BYTES (16u << 20)

/* deprecating-radius §7.1: secrets this short fall to brute force from one packet. */
#define SHORT_SECRET_OCTETS 12

/* ---- load state ------------------------------------------------------------------------ */

/* Where each value was written: libconfuse 3.3 keeps no line per option, so every value
 * passes through our parse callbacks, which note the line the lexer is on. */
struct mark {
    const cfg_t *sec;
    const char *opt; /* libconfuse's copy of the option name, lives as long as the tree */
    int line;
};

/* Per section: its opening line and the range of marks written inside it. A section's
 * defaults are parsed when libconfuse meets its '{', so its first mark carries that line. */
struct section_info {
    const cfg_t *sec;
    int open_line;
    size_t first_mark, last_mark;
};

struct load {
    const char *name; /* file name as given, for messages */
    bool check_files;
    int eof_line; /* last line of the file: where a missing block would go */
    struct rg_config_diag *diag;
    size_t diag_len;
    int nerrors;
    bool nomem;

    struct mark *marks; /* malloced, owned */
    size_t nmarks, marks_cap;
    struct section_info *sections; /* malloced open-addressing table, owned */
    size_t sections_cap;           /* power of two */
    size_t nsections;

    /* include(): the text libconfuse parses is the main file with every included file
     * spliced in; segs maps its lines back to (file, line) for messages. */
    struct include_seg *segs; /* malloced, owned; NULL: one file, lines are its own */
    size_t nsegs, segs_cap;
    char **files; /* malloced array of malloced paths, owned (moved to the snapshot) */
    size_t nfiles;
};

/* Lines from merged_line on come from line file_line of file (-1: the main file). */
struct include_seg {
    int merged_line;
    int file;
    int file_line;
};

static void include_locate(const struct load *ld, int line, const char **name, int *file_line);

/* libconfuse's lexer is global, so loading is single-threaded anyway (main thread); the
 * callbacks find the load in progress here. */
static __thread struct load *current;

static void diag_vadd(struct load *ld, bool warning, int line, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    char head[512];
    const char *name = ld->name;
    if (line > 0)
        include_locate(ld, line, &name, &line);
    if (line > 0)
        snprintf(head, sizeof(head), "%s:%d: %s", name, line, warning ? "warning: " : "");
    else
        snprintf(head, sizeof(head), "%s: %s", name, warning ? "warning: " : "");

    size_t add = strlen(head) + strlen(msg) + 1;
    char *text = realloc(ld->diag->text, ld->diag_len + add + 1);
    if (!text) {
        ld->nomem = true;
    } else {
        ld->diag->text = text;
        snprintf(text + ld->diag_len, add + 1, "%s%s\n", head, msg);
        ld->diag_len += add;
    }
    if (warning) {
        ld->diag->nwarnings++;
    } else {
        ld->diag->nerrors++;
        ld->nerrors++;
    }
}

static void __attribute__((format(printf, 3, 4)))
error_at(struct load *ld, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(ld, false, line, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
warn_at(struct load *ld, int line, const char *fmt, ...)
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

static void mark(cfg_t *cfg, cfg_opt_t *opt)
{
    struct load *ld = current;
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
static int sec_line(const struct load *ld, const cfg_t *sec)
{
    const struct section_info *si = section_find(ld, sec);
    return si ? si->open_line : sec->line;
}

/* Line where the current value of opt was written (the section's line for a default);
 * for a list, idx selects the element. */
static int opt_line_idx(const struct load *ld, const cfg_t *sec, const char *opt, unsigned idx)
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

static int opt_line(const struct load *ld, const cfg_t *sec, const char *opt)
{
    return opt_line_idx(ld, sec, opt, 0);
}

/* ---- comment stripping -------------------------------------------------------------------- */

/* libconfuse 3.3 counts lines wrongly after '#' and '//' comments and rejects comments inside
 * a list, so comments are blanked here (newlines kept) before it sees the text. Quoting rules
 * follow its lexer: "..." with backslash escapes, '...' with \\ and \'. */
static char *strip_comments(struct load *ld, const char *in, size_t len)
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
        error_at(ld, start_line, "%s starting here is not closed",
                 state == BLOCK_COMMENT ? "comment" : "quoted string");
        free(out);
        return NULL;
    }
    if (depth > 0) {
        error_at(ld, first_open_line, "'{' opened here is not closed");
        free(out);
        return NULL;
    }
    return out;
}

/* ---- include("DIR/PATTERN") --------------------------------------------------------------- */

/* libconfuse 3.3's include() opens one file and keeps a 10-deep last-in-first-out stack, so
 * a pattern and a stable order are ours: include("PATTERN") at the top level is replaced by
 * every file PATTERN names, in byte order of their names, each stripped of comments like the
 * main file, before libconfuse sees the text. Wildcards (* ? [...]) are allowed in the last
 * path component only; a relative PATTERN is relative to the including file's directory; a
 * pattern with wildcards may match nothing, a plain path must exist. */

#define INCLUDE_MAX_DEPTH 8
#define INCLUDE_MAX_FILES 4096

struct merged {
    char *text; /* malloced, owned */
    size_t len, cap;
    int line; /* line of text's end, from 1 */
};

static void include_locate(const struct load *ld, int line, const char **name, int *file_line)
{
    const struct include_seg *seg = NULL;
    for (size_t i = 0; i < ld->nsegs && ld->segs[i].merged_line <= line; i++)
        seg = &ld->segs[i];
    if (!seg)
        return;
    *name = seg->file < 0 ? ld->name : ld->files[seg->file];
    *file_line = seg->file_line + (line - seg->merged_line);
}

static int merged_append(struct load *ld, struct merged *m, const char *s, size_t n)
{
    if (m->len + n > CONFIG_MAX_BYTES) {
        error_at(ld, 0, "with its included files larger than %u MiB: not a config",
                 CONFIG_MAX_BYTES >> 20);
        return -EFBIG;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 16384;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *t = realloc(m->text, cap);
        if (!t) {
            ld->nomem = true;
            return -ENOMEM;
        }
        m->text = t;
        m->cap = cap;
    }
    memcpy(m->text + m->len, s, n);
    m->len += n;
    m->text[m->len] = '\0';
    for (size_t i = 0; i < n; i++)
        m->line += s[i] == '\n';
    return 0;
}

/* From here on the merged text is line `line` of file. Starts a new line first. */
static int merged_segment(struct load *ld, struct merged *m, int file, int line)
{
    if (m->len && m->text[m->len - 1] != '\n' && merged_append(ld, m, "\n", 1) != 0)
        return -ENOMEM;
    if (ld->nsegs == ld->segs_cap) {
        size_t cap = ld->segs_cap ? ld->segs_cap * 2 : 16;
        struct include_seg *segs = realloc(ld->segs, cap * sizeof(*segs));
        if (!segs) {
            ld->nomem = true;
            return -ENOMEM;
        }
        ld->segs = segs;
        ld->segs_cap = cap;
    }
    ld->segs[ld->nsegs++] = (struct include_seg){m->line, file, line};
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files pattern names, sorted; *n 0 and NULL when a wildcard matches nothing. Errors
 * are reported at line of the including file. */
static int include_glob(struct load *ld, int line, const char *pattern, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *slash = strrchr(pattern, '/');
    const char *base = slash ? slash + 1 : pattern;
    size_t dirlen = slash ? (size_t)(slash - pattern) : 0;
    char dir[4096];
    if (dirlen >= sizeof(dir)) {
        error_at(ld, line, "include: path too long");
        return -EINVAL;
    }
    memcpy(dir, pattern, dirlen);
    dir[dirlen] = '\0';
    if (!slash)
        strcpy(dir, ".");
    else if (dirlen == 0)
        strcpy(dir, "/");
    if (strpbrk(dir, "*?[")) {
        error_at(ld, line, "include \"%s\": wildcards are allowed in the file name only", pattern);
        return -EINVAL;
    }
    if (!*base) {
        error_at(ld, line, "include \"%s\": names a directory, not files", pattern);
        return -EINVAL;
    }
    if (!strpbrk(base, "*?[")) {
        char **v = malloc(sizeof(*v));
        if (!v || !(v[0] = strdup(pattern))) {
            free(v);
            ld->nomem = true;
            return -ENOMEM;
        }
        *out = v;
        *n = 1;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT && !ld->check_files)
        return 0; /* files are not checked (tests of a sample that names /etc) */
    if (!d) {
        error_at(ld, line, "include \"%s\": cannot open directory %s: %s", pattern, dir,
                 strerror(errno));
        return -errno;
    }
    char **v = NULL;
    size_t cap = 0, count = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        /* FNM_PERIOD: "*.conf" does not take hidden files (editor and dpkg leftovers) */
        if (fnmatch(base, e->d_name, FNM_PERIOD) != 0)
            continue;
        char path[4096 + 256];
        snprintf(path, sizeof(path), "%s/%s", dirlen || !slash ? dir : "", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (count == INCLUDE_MAX_FILES) {
            error_at(ld, line, "include \"%s\": more than %d files", pattern, INCLUDE_MAX_FILES);
            rc = -E2BIG;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        if (!(v[count] = strdup(path))) {
            rc = -ENOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (rc == -ENOMEM)
        ld->nomem = true;
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    if (count)
        qsort(v, count, sizeof(*v), name_cmp);
    *out = v;
    *n = count;
    return 0;
}

static int include_text(struct load *ld, struct merged *m, int file, const char *text, size_t len,
                        int depth);

/* Read one included file, strip its comments (errors name it) and splice it in. */
static int include_file(struct load *ld, struct merged *m, int line, const char *path, int depth)
{
    if (depth >= INCLUDE_MAX_DEPTH) {
        error_at(ld, line, "include \"%s\": included files nested more than %d deep (a loop?)",
                 path, INCLUDE_MAX_DEPTH);
        return -ELOOP;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > CONFIG_MAX_BYTES) {
        int err = fd < 0 ? errno : 0;
        error_at(ld, line, "include \"%s\": %s", path,
                 err ? strerror(err) : "not a regular file of at most 16 MiB");
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        ld->nomem = true;
        return -ENOMEM;
    }
    buf[got] = '\0';

    char **files = realloc(ld->files, (ld->nfiles + 1) * sizeof(*files));
    char *name = strdup(path);
    if (!files || !name) {
        if (files)
            ld->files = files;
        free(name);
        free(buf);
        ld->nomem = true;
        return -ENOMEM;
    }
    ld->files = files;
    int idx = (int)ld->nfiles;
    ld->files[ld->nfiles++] = name;

    /* strip_comments reports in lines of its own input: of this file while it runs */
    struct include_seg *segs = ld->segs;
    size_t nsegs = ld->nsegs;
    const char *outer = ld->name;
    ld->segs = NULL;
    ld->nsegs = 0;
    ld->name = name;
    char *text = NULL;
    if (memchr(buf, '\0', got))
        error_at(ld, 0, "contains a NUL byte: not a text file");
    else
        text = strip_comments(ld, buf, got);
    ld->name = outer;
    ld->segs = segs;
    ld->nsegs = nsegs;
    free(buf);
    if (!text)
        return -EINVAL;
    int rc = merged_segment(ld, m, idx, 1);
    if (rc == 0)
        rc = include_text(ld, m, idx, text, got, depth + 1);
    free(text);
    return rc;
}

/* Directory of file (-1: the main file), for relative patterns; "" when it has none. */
static void include_base(const struct load *ld, int file, char *dir, size_t len)
{
    const char *name = file < 0 ? ld->name : ld->files[file];
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) + 1 : 0;
    snprintf(dir, len, "%.*s", (int)n, name);
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Parse include ( "PATTERN" ) at text + i; returns the end offset, or 0 if malformed.
 * The pattern is copied into pat (quotes and escapes removed). */
static size_t include_parse(const char *text, size_t len, size_t i, char *pat, size_t patlen)
{
    i += strlen("include");
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || text[i] != '(')
        return 0;
    i++;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || (text[i] != '"' && text[i] != '\''))
        return 0;
    char q = text[i++];
    size_t o = 0;
    for (; i < len && text[i] != q; i++) {
        if (text[i] == '\\' && i + 1 < len)
            i++;
        if (text[i] == '\n' || o + 1 >= patlen)
            return 0;
        pat[o++] = text[i];
    }
    if (i >= len || o == 0)
        return 0;
    pat[o] = '\0';
    i++;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || text[i] != ')')
        return 0;
    return i + 1;
}

/* Copy text (comments already blanked) of file into m, replacing each top-level include. */
static int include_text(struct load *ld, struct merged *m, int file, const char *text, size_t len,
                        int depth)
{
    int line = 1;
    size_t depth_braces = 0, from = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (quote) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            if (text[i] == '\n')
                line++;
            continue;
        }
        if (c == '\n') {
            line++;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '{') {
            depth_braces++;
        } else if (c == '}' && depth_braces) {
            depth_braces--;
        } else if (c == 'i' && strncmp(text + i, "include", 7) == 0 &&
                   (i == 0 || !ident_char(text[i - 1])) &&
                   (i + 7 >= len || !ident_char(text[i + 7]))) {
            /* the line of the directive, in this file's numbering, for messages */
            int here = line;
            if (merged_append(ld, m, text + from, i - from) != 0)
                return -ENOMEM;
            int rc = merged_segment(ld, m, file, here); /* messages below: this file, here */
            if (rc != 0)
                return rc;
            char pat[4096];
            size_t end = include_parse(text, len, i, pat, sizeof(pat));
            if (!end) {
                error_at(ld, m->line, "include: expected include(\"PATTERN\")");
                return -EINVAL;
            }
            if (depth_braces) {
                error_at(ld, m->line,
                         "include is allowed at the top level only, not inside a "
                         "block");
                return -EINVAL;
            }
            char full[8192];
            if (pat[0] == '/')
                snprintf(full, sizeof(full), "%s", pat);
            else {
                char dir[4096];
                include_base(ld, file, dir, sizeof(dir));
                snprintf(full, sizeof(full), "%s%s", dir, pat);
            }
            char **paths;
            size_t n;
            rc = include_glob(ld, m->line, full, &paths, &n);
            for (size_t k = 0; k < n; k++) {
                if (rc == 0)
                    rc = merged_segment(ld, m, file, here);
                if (rc == 0)
                    rc = include_file(ld, m, m->line, paths[k], depth);
                free(paths[k]);
            }
            free(paths);
            if (rc != 0)
                return rc;
            for (size_t k = i; k < end; k++)
                line += text[k] == '\n';
            if (merged_segment(ld, m, file, line) != 0)
                return -ENOMEM;
            from = end;
            i = end - 1;
        }
    }
    return merged_append(ld, m, text + from, len - from);
}

/* Splice every include of the main file's text in: *text and *len become the merged text,
 * and ld maps its lines back. Nothing changes when the file includes nothing. */
static int include_expand(struct load *ld, char **text, size_t *len)
{
    if (!strstr(*text, "include"))
        return 0;
    struct merged m = {.line = 1};
    if (merged_segment(ld, &m, -1, 1) != 0)
        return -ENOMEM;
    int rc = include_text(ld, &m, -1, *text, *len, 0);
    if (rc != 0) {
        free(m.text);
        return rc;
    }
    free(*text);
    *text = m.text;
    *len = m.len;
    return 0;
}

/* ---- value checks done while parsing (exact line of the value) --------------------------- */

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
};

static int parse_int(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    mark(cfg, opt);
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

static int parse_bool(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    mark(cfg, opt);
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

static void match_free(struct rg_match *m)
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
static int match_parse(const char *text, struct rg_match *m, char *why, size_t whylen)
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
            match_free(m);
            return -EINVAL;
        }
        return 0;
    }
    m->regex = malloc(sizeof(regex_t));
    if (!m->regex) {
        match_free(m);
        return -ENOMEM;
    }
    int rc = regcomp(m->regex, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char err[128];
        regerror(rc, m->regex, err, sizeof(err));
        free(m->regex); /* regcomp failed: nothing to regfree */
        m->regex = NULL;
        snprintf(why, whylen, "is not a valid extended regular expression (%s)", err);
        match_free(m);
        return -EINVAL;
    }
    return 0;
}

static bool in_list(const char *value, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(value, *names) == 0)
            return true;
    return false;
}

static const char *const policy_names[] = {"failover", "round-robin", "least-outstanding", NULL};
static const char *const when_dead_names[] = {"silent", "reject", NULL};
/* In the order of enum rg_radius11_mode. */
static const char *const radius11_names[] = {"allow", "forbid", "require", NULL};
/* A string, not a bool, so "auto" fits; the boolean spellings libconfuse took before stay valid. */
static const char *const require_ma_true[] = {"true", "yes", "on", NULL};
static const char *const require_ma_false[] = {"false", "no", "off", NULL};

/* Syntax of one string value; the section (cfg->name) tells which key it is. */
static int check_str(cfg_t *cfg, const char *key, const char *value)
{
    const char *sec = cfg->name;
    struct load *ld = current;
    char why[256];

    if ((strcmp(key, "address") == 0) && !is_ip_address(value)) {
        cfg_error(cfg, "%s address '%s' is not an IPv4 or IPv6 address", sec, value);
        return -1;
    }
    if (strcmp(key, "min-version") == 0 && strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0) {
        cfg_error(cfg, "min-version '%s' is not \"1.2\" or \"1.3\"", value);
        return -1;
    }
    if (strcmp(key, "policy") == 0 && !in_list(value, policy_names)) {
        cfg_error(cfg, "policy '%s' is not failover, round-robin or least-outstanding", value);
        return -1;
    }
    if (strcmp(key, "radius-1.1") == 0 && !in_list(value, radius11_names)) {
        cfg_error(cfg, "radius-1.1 '%s' is not forbid, allow or require", value);
        return -1;
    }
    if (strcmp(key, "when-dead") == 0 && !in_list(value, when_dead_names)) {
        cfg_error(cfg, "when-dead '%s' is not silent or reject", value);
        return -1;
    }
    if (strcmp(key, "require-message-authenticator") == 0 && strcmp(value, "auto") != 0 &&
        !in_list(value, require_ma_true) && !in_list(value, require_ma_false)) {
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
        int rc = match_parse(value, &m, why, sizeof(why));
        if (rc == -ENOMEM)
            ld->nomem = true;
        if (rc != 0) {
            cfg_error(cfg, "match rule '%s' %s", value, why);
            return -1;
        }
        match_free(&m);
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

static int parse_str(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    mark(cfg, opt);
    if (!value)
        return -1;
    if (check_str(cfg, opt->name, value) != 0)
        return -1;
    *(const char **)result = value;
    return 0;
}

/* Errors found by libconfuse (syntax, unknown keys) and by the callbacks above. */
static void on_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    struct load *ld = current;
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
    error_at(ld, cfg->line, "%s", msg);
}

/* ---- schema ------------------------------------------------------------------------------- */

/* Every default is given as text (def.parsed) so that it passes through the callbacks when a
 * section is created: that is how a block's opening line is learnt. */
#define OPT_STR(n, d)                                                                              \
    {                                                                                              \
        .name = n, .type = CFGT_STR, .def.parsed = d, .parsecb = parse_str                         \
    }
#define OPT_STR_LIST(n, d)                                                                         \
    {                                                                                              \
        .name = n, .type = CFGT_STR, .flags = CFGF_LIST, .def.parsed = d, .parsecb = parse_str     \
    }
#define OPT_INT(n, d)                                                                              \
    {                                                                                              \
        .name = n, .type = CFGT_INT, .def.parsed = d, .parsecb = parse_int                         \
    }
#define OPT_BOOL(n, d)                                                                             \
    {                                                                                              \
        .name = n, .type = CFGT_BOOL, .def.parsed = d, .parsecb = parse_bool                       \
    }
#define OPT_SEC(n, sub, f)                                                                         \
    {                                                                                              \
        .name = n, .type = CFGT_SEC, .flags = CFGF_MULTI | (f), .subopts = sub                     \
    }
#define NAMED (CFGF_TITLE | CFGF_NO_TITLE_DUPES)

static cfg_opt_t listen_opts[] = {
    OPT_STR_LIST("address", "{\"0.0.0.0\", \"::\"}"),
    OPT_INT("port", "2083"),
    OPT_INT("max-connections", "100000"),
    OPT_INT("max-connections-per-ip", "0"),
    OPT_INT("max-handshakes", "4096"),
    OPT_INT("max-handshakes-per-ip", "64"),
    OPT_INT("idle-timeout", "900"),
    OPT_INT("handshake-timeout", "10"),
    OPT_INT("packet-timeout", "5"),
    OPT_INT("max-requests-per-second", "0"),
    OPT_STR("radius-1.1", "\"allow\""),
    OPT_BOOL("proxy-protocol", "false"),
    OPT_STR_LIST("proxy-from", NULL),
    CFG_END(),
};

static cfg_opt_t tls_opts[] = {
    OPT_STR("certificate", "\"\""),
    OPT_STR("key", "\"\""),
    OPT_STR("min-version", "\"1.2\""),
    OPT_STR("ciphers", "\"\""),
    CFG_END(),
};

static cfg_opt_t realm_opts[] = {
    OPT_STR("pool", "\"\""),
    CFG_END(),
};

static cfg_opt_t org_opts[] = {
    OPT_STR_LIST("ca", NULL),
    OPT_STR_LIST("crl", NULL),
    OPT_INT("crl-refresh", "3600"),
    /* RFC 6614 §2.3: the shared secret on RADIUS/TLS is "radsec" unless configured */
    OPT_STR("secret", "\"radsec\""),
    OPT_STR_LIST("allow", "{\"0.0.0.0/0\", \"::/0\"}"),
    OPT_STR_LIST("match", NULL),
    OPT_STR("pool", "\"\""),
    OPT_BOOL("coa", "true"),
    OPT_SEC("realm", realm_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t server_opts[] = {
    OPT_STR("host", "\"\""),
    OPT_INT("auth-port", "1812"),
    OPT_INT("acct-port", "1813"),
    OPT_STR("secret", "\"\""),
    CFG_END(),
};

static cfg_opt_t pool_opts[] = {
    OPT_STR("policy", "\"failover\""),
    OPT_INT("timeout", "2"),
    OPT_INT("retries", "3"),
    OPT_BOOL("status-server", "true"),
    OPT_STR("require-message-authenticator", "\"auto\""),
    OPT_INT("max-outstanding", "16384"),
    OPT_STR("when-dead", "\"silent\""),
    OPT_INT("dead-time", "30"),
    OPT_SEC("server", server_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t coa_client_opts[] = {
    OPT_STR("host", "\"\""),
    OPT_STR("secret", "\"\""),
    OPT_STR_LIST("orgs", NULL),
    CFG_END(),
};

static cfg_opt_t coa_opts[] = {
    OPT_STR("address", "\"127.0.0.1\""),
    OPT_INT("port", "3799"),
    OPT_SEC("client", coa_client_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t cluster_opts[] = {
    OPT_STR("instance", "\"\""),       OPT_STR("redis", "\"127.0.0.1:6379\""),
    OPT_STR("redis-password", "\"\""), OPT_STR("secret", "\"\""),
    OPT_STR("coa-address", "\"\""),    CFG_END(),
};

static cfg_opt_t log_opts[] = {
    OPT_STR("facility", "\"daemon\""),
    OPT_STR("level", "\"info\""),
    OPT_BOOL("requests", "true"),
    OPT_BOOL("hash-user-names", "false"),
    OPT_BOOL("hash-macs", "false"),
    OPT_STR("hash-key", "\"\""),
    CFG_END(),
};

static cfg_opt_t metrics_opts[] = {
    OPT_STR("address", "\"127.0.0.1\""),
    OPT_INT("port", "9813"),
    CFG_END(),
};

static cfg_opt_t stats_opts[] = {
    OPT_INT("interval", "300"),
    CFG_END(),
};

static cfg_opt_t root_opts[] = {
    OPT_INT("workers", "0"),
    OPT_STR("user", NULL),
    OPT_STR("pidfile", NULL),
    /* Unnamed blocks are MULTI too, so that a second one is caught rather than merged and
     * an absent one can be told from a present one (coa). */
    OPT_SEC("listen", listen_opts, 0),
    OPT_SEC("tls", tls_opts, 0),
    OPT_SEC("org", org_opts, NAMED),
    OPT_SEC("pool", pool_opts, NAMED),
    OPT_SEC("realm", realm_opts, NAMED), /* accepted only with a single org */
    OPT_SEC("coa", coa_opts, 0),
    OPT_SEC("cluster", cluster_opts, 0),
    OPT_SEC("log", log_opts, 0),
    OPT_SEC("metrics", metrics_opts, 0),
    OPT_SEC("stats", stats_opts, 0),
    CFG_END(),
};

/* ---- snapshot ----------------------------------------------------------------------------- */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void config_free(struct rg_config *cfg)
{
    free(cfg->path);
    free_strv(cfg->includes, cfg->nincludes);
    free(cfg->user);
    free(cfg->pidfile);
    free_strv(cfg->listen.address, cfg->listen.naddress);
    free(cfg->listen.proxy_from);
    free(cfg->tls.certificate);
    free(cfg->tls.key);
    free(cfg->tls.ciphers);
    for (size_t i = 0; i < cfg->norgs; i++) {
        struct rg_org *o = &cfg->orgs[i];
        free(o->name);
        free_strv(o->ca, o->nca);
        free_strv(o->crl, o->ncrl);
        free(o->secret);
        free(o->allow);
        for (size_t j = 0; j < o->nmatch; j++)
            match_free(&o->match[j]);
        free(o->match);
        for (size_t j = 0; j < o->nrealms; j++)
            free(o->realms[j].name);
        free(o->realms);
    }
    free(cfg->orgs);
    for (size_t i = 0; i < cfg->npools; i++) {
        struct rg_pool *p = &cfg->pools[i];
        free(p->name);
        for (size_t j = 0; j < p->nservers; j++) {
            free(p->servers[j].name);
            free(p->servers[j].host);
            free(p->servers[j].secret);
        }
        free(p->servers);
    }
    free(cfg->pools);
    free(cfg->coa.address);
    for (size_t i = 0; i < cfg->coa.nclients; i++) {
        free(cfg->coa.clients[i].name);
        free(cfg->coa.clients[i].host);
        free(cfg->coa.clients[i].secret);
        free(cfg->coa.clients[i].orgs);
    }
    free(cfg->coa.clients);
    free(cfg->metrics.address);
    if (cfg->log.hash_key)
        memset(cfg->log.hash_key, 0, cfg->log.hash_key_len);
    free(cfg->log.hash_key);
    free(cfg->cluster.instance);
    free(cfg->cluster.redis_host);
    free(cfg->cluster.redis_password);
    free(cfg->cluster.secret);
    free(cfg->cluster.address);
    free(cfg);
}

static char *dup_str(struct load *ld, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        ld->nomem = true;
    return d;
}

static char **dup_list(struct load *ld, cfg_t *sec, const char *name, size_t *n)
{
    *n = cfg_size(sec, name);
    if (*n == 0)
        return NULL;
    char **v = calloc(*n, sizeof(*v));
    if (!v) {
        ld->nomem = true;
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        v[i] = dup_str(ld, cfg_getnstr(sec, name, (unsigned)i));
    return v;
}

static void *alloc_array(struct load *ld, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p)
        ld->nomem = true;
    return p;
}

/* Numeric address first, then a name lookup; the first answer wins. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                   char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);

    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        snprintf(why, whylen, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -EINVAL;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* A secret must be set and not empty; on the UDP side a short one is only warned about. */
static char *get_secret(struct load *ld, cfg_t *sec, const char *what, size_t *len, bool udp)
{
    const char *s = cfg_getstr(sec, "secret");
    if (!s || !*s) {
        error_at(ld, opt_line(ld, sec, "secret"), "%s \"%s\": secret is not set or empty", what,
                 cfg_title(sec));
        return NULL;
    }
    *len = strlen(s);
    if (udp && *len <= SHORT_SECRET_OCTETS)
        warn_at(ld, opt_line(ld, sec, "secret"),
                "%s \"%s\": secret is only %zu octets; a RADIUS/UDP secret of %d octets or "
                "fewer can be brute-forced from one captured packet "
                "(draft-ietf-radext-deprecating-radius §7.1), use a long random one",
                what, cfg_title(sec), *len, SHORT_SECRET_OCTETS);
    return dup_str(ld, s);
}

/* Names appear in log lines and in references: an empty one is a typo. */
static void check_name(struct load *ld, cfg_t *sec)
{
    if (!cfg_title(sec) || !*cfg_title(sec))
        error_at(ld, sec_line(ld, sec), "%s name is empty", cfg_name(sec));
}

static void build_server(struct load *ld, cfg_t *sec, struct rg_server *s)
{
    check_name(ld, sec);
    char why[256];
    s->name = dup_str(ld, cfg_title(sec));
    s->host = dup_str(ld, cfg_getstr(sec, "host"));
    s->auth_port = (uint16_t)cfg_getint(sec, "auth-port");
    s->acct_port = (uint16_t)cfg_getint(sec, "acct-port");
    s->secret = get_secret(ld, sec, "server", &s->secret_len, true);

    if (!s->host || !*s->host) {
        error_at(ld, sec_line(ld, sec), "server \"%s\": host is not set", cfg_title(sec));
        return;
    }
    if (resolve(s->host, s->auth_port, &s->auth_addr, &s->addr_len, why, sizeof(why)) != 0) {
        error_at(ld, opt_line(ld, sec, "host"), "server \"%s\": cannot resolve host '%s': %s",
                 cfg_title(sec), s->host, why);
        return;
    }
    s->acct_addr = s->auth_addr;
    set_port(&s->acct_addr, s->acct_port);
}

static enum rg_policy policy_of(const char *s)
{
    if (strcmp(s, "round-robin") == 0)
        return RG_POLICY_ROUND_ROBIN;
    if (strcmp(s, "least-outstanding") == 0)
        return RG_POLICY_LEAST_OUTSTANDING;
    return RG_POLICY_FAILOVER;
}

static void build_pools(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    cfg->npools = cfg_size(root, "pool");
    if (cfg->npools == 0) {
        error_at(ld, ld->eof_line,
                 "no pool block: at least one pool of RADIUS servers is "
                 "required");
        return;
    }
    cfg->pools = alloc_array(ld, cfg->npools, sizeof(*cfg->pools));
    if (!cfg->pools) {
        cfg->npools = 0;
        return;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        cfg_t *sec = cfg_getnsec(root, "pool", (unsigned)i);
        struct rg_pool *p = &cfg->pools[i];
        check_name(ld, sec);
        p->name = dup_str(ld, cfg_title(sec));
        p->policy = policy_of(cfg_getstr(sec, "policy"));
        p->timeout_s = (unsigned)cfg_getint(sec, "timeout");
        p->retries = (unsigned)cfg_getint(sec, "retries");
        p->status_server = cfg_getbool(sec, "status-server");
        const char *ma = cfg_getstr(sec, "require-message-authenticator");
        p->require_message_authenticator = in_list(ma, require_ma_true)    ? RG_REQUIRE_MA_TRUE
                                           : in_list(ma, require_ma_false) ? RG_REQUIRE_MA_FALSE
                                                                           : RG_REQUIRE_MA_AUTO;
        p->max_outstanding = (unsigned)cfg_getint(sec, "max-outstanding");
        p->dead_time_s = (unsigned)cfg_getint(sec, "dead-time");
        p->when_dead = strcmp(cfg_getstr(sec, "when-dead"), "reject") == 0 ? RG_WHEN_DEAD_REJECT
                                                                           : RG_WHEN_DEAD_SILENT;
        size_t n = cfg_size(sec, "server");
        if (n == 0) {
            error_at(ld, sec_line(ld, sec), "pool \"%s\" has no server", cfg_title(sec));
            continue;
        }
        p->servers = alloc_array(ld, n, sizeof(*p->servers));
        if (!p->servers)
            continue;
        p->nservers = n;
        for (size_t j = 0; j < n; j++)
            build_server(ld, cfg_getnsec(sec, "server", (unsigned)j), &p->servers[j]);
    }
}

/* The pool a block's `pool` key names: required, and must exist. With a single pool
 * defined, an org may leave it out. */
static struct rg_pool *pool_ref(struct load *ld, struct rg_config *cfg, cfg_t *sec,
                                const char *what, bool default_single)
{
    const char *name = cfg_getstr(sec, "pool");
    if (!name || !*name) {
        if (default_single && cfg->npools == 1)
            return &cfg->pools[0];
        error_at(ld, sec_line(ld, sec), "%s \"%s\": pool is not set", what, cfg_title(sec));
        return NULL;
    }
    struct rg_pool *p = rg_config_find_pool(cfg, name);
    if (!p && cfg->npools > 0)
        error_at(ld, opt_line(ld, sec, "pool"), "%s \"%s\": pool \"%s\" is not defined", what,
                 cfg_title(sec), name);
    return p;
}

/* The realm blocks of sec (an org block, or the root when there is a single org) appended
 * to org's table. Realms match case-insensitively (RFC 4282 §2.1), so names differing in
 * case only would shadow each other within one org; two orgs may use the same name. */
static void add_realms(struct load *ld, cfg_t *sec, struct rg_config *cfg, struct rg_org *o)
{
    size_t n = cfg_size(sec, "realm");
    if (n == 0)
        return;
    struct rg_realm *r = realloc(o->realms, (o->nrealms + n) * sizeof(*r));
    if (!r) {
        ld->nomem = true;
        return;
    }
    o->realms = r;
    for (size_t i = 0; i < n; i++) {
        cfg_t *rsec = cfg_getnsec(sec, "realm", (unsigned)i);
        struct rg_realm *realm = &o->realms[o->nrealms];
        check_name(ld, rsec);
        realm->name = dup_str(ld, cfg_title(rsec));
        realm->pool = NULL;
        o->nrealms++;
        for (size_t j = 0; j + 1 < o->nrealms && realm->name; j++)
            if (o->realms[j].name && strcasecmp(o->realms[j].name, realm->name) == 0)
                error_at(ld, sec_line(ld, rsec), "duplicate realm \"%s\"%s%s%s", realm->name,
                         cfg->norgs > 1 ? " in org \"" : "", cfg->norgs > 1 ? o->name : "",
                         cfg->norgs > 1 ? "\"" : "");
        realm->pool = pool_ref(ld, cfg, rsec, "realm", false);
    }
}

static void build_org(struct load *ld, cfg_t *sec, struct rg_config *cfg, struct rg_org *o)
{
    char why[256];
    check_name(ld, sec);
    o->name = dup_str(ld, cfg_title(sec));
    o->line = sec_line(ld, sec);
    o->ca = dup_list(ld, sec, "ca", &o->nca);
    if (o->nca == 0)
        error_at(ld, o->line,
                 "org \"%s\" has no ca: the root CA that signed its access "
                 "points' certificates is required",
                 o->name);
    o->crl = dup_list(ld, sec, "crl", &o->ncrl);
    o->crl_refresh_s = (unsigned)cfg_getint(sec, "crl-refresh");
    o->secret = get_secret(ld, sec, "org", &o->secret_len, false);
    o->coa = cfg_getbool(sec, "coa");

    size_t n = cfg_size(sec, "allow");
    if (n == 0)
        warn_at(ld, opt_line(ld, sec, "allow"),
                "org \"%s\": allow is empty, no access point can connect", o->name);
    o->allow = alloc_array(ld, n, sizeof(*o->allow));
    if (o->allow) {
        o->nallow = n;
        for (size_t i = 0; i < n; i++)
            if (rg_prefix_parse(cfg_getnstr(sec, "allow", (unsigned)i), &o->allow[i]) != 0)
                error_at(ld, opt_line_idx(ld, sec, "allow", (unsigned)i), "bad allow prefix");
    }
    n = cfg_size(sec, "match");
    o->match = alloc_array(ld, n, sizeof(*o->match));
    if (o->match) {
        o->nmatch = n;
        for (size_t i = 0; i < n; i++) {
            int rc =
                match_parse(cfg_getnstr(sec, "match", (unsigned)i), &o->match[i], why, sizeof(why));
            if (rc == -ENOMEM)
                ld->nomem = true;
            else if (rc != 0)
                error_at(ld, opt_line_idx(ld, sec, "match", (unsigned)i), "match rule %s", why);
        }
    }
    o->pool = pool_ref(ld, cfg, sec, "org", true);
    add_realms(ld, sec, cfg, o);
}

/* A top-level realm routes every org's APs: with several tenants that would let one org's
 * AP reach another's servers, so it is accepted only when there is one org. */
static void build_top_realms(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    size_t n = cfg_size(root, "realm");
    if (n == 0)
        return;
    if (cfg->norgs == 1) {
        add_realms(ld, root, cfg, &cfg->orgs[0]);
        return;
    }
    for (size_t i = 0; i < n && cfg->norgs > 1; i++) {
        cfg_t *rsec = cfg_getnsec(root, "realm", (unsigned)i);
        error_at(ld, sec_line(ld, rsec),
                 "realm \"%s\" is outside any org block: with %zu orgs, each realm must be "
                 "inside the org whose access points it routes",
                 cfg_title(rsec), cfg->norgs);
    }
}

/* A client's orgs: each must exist; left out, it reaches every org, which is a choice
 * only while at most one org accepts CoA (otherwise one tenant's RADIUS server could
 * disconnect another tenant's users). */
static void coa_client_orgs(struct load *ld, cfg_t *csec, struct rg_config *cfg,
                            struct rg_coa_client *c)
{
    size_t n = cfg_size(csec, "orgs");
    if (n == 0) {
        size_t ncoa = 0;
        char names[256] = "";
        for (size_t i = 0; i < cfg->norgs; i++) {
            if (!cfg->orgs[i].coa)
                continue;
            size_t l = strlen(names);
            if (l + 4 < sizeof(names))
                snprintf(names + l, sizeof(names) - l, "%s\"%s\"", ncoa ? ", " : "",
                         cfg->orgs[i].name);
            ncoa++;
        }
        if (ncoa > 1) {
            error_at(ld, sec_line(ld, csec),
                     "client \"%s\": orgs is not set: %zu orgs have coa = true (%s), so each "
                     "coa client must name the orgs whose NASes it may reach, e.g. orgs = "
                     "{\"%s\"}",
                     c->name, ncoa, names, cfg->orgs[0].name);
            return;
        }
        n = cfg->norgs;
        c->orgs = alloc_array(ld, n, sizeof(*c->orgs));
        if (!c->orgs)
            return;
        for (size_t i = 0; i < n; i++)
            c->orgs[c->norgs++] = &cfg->orgs[i];
        return;
    }
    c->orgs = alloc_array(ld, n, sizeof(*c->orgs));
    if (!c->orgs)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *name = cfg_getnstr(csec, "orgs", (unsigned)i);
        int line = opt_line_idx(ld, csec, "orgs", (unsigned)i);
        const struct rg_org *o = rg_config_find_org(cfg, name);
        if (!o) {
            error_at(ld, line, "client \"%s\": org \"%s\" is not defined", c->name, name);
            continue;
        }
        if (rg_config_coa_client_reaches(c, o))
            continue; /* listed twice */
        if (!o->coa)
            warn_at(ld, line,
                    "client \"%s\": org \"%s\" has coa = false: its NASes will not be sent "
                    "CoA",
                    c->name, name);
        c->orgs[c->norgs++] = o;
    }
}

/* log { hash-user-names hash-macs hash-key }: the same key on every instance and across
 * restarts keeps hashes comparable ("${VAR}" keeps it out of the file: libconfuse reads the
 * environment). */
static void build_log_hash(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->log.hash_user_names = cfg_getbool(sec, "hash-user-names");
    cfg->log.hash_macs = cfg_getbool(sec, "hash-macs");
    const char *key = cfg_getstr(sec, "hash-key");
    cfg->log.hash_key = dup_str(ld, key ? key : "");
    cfg->log.hash_key_len = cfg->log.hash_key ? strlen(cfg->log.hash_key) : 0;
    if ((cfg->log.hash_user_names || cfg->log.hash_macs) && cfg->log.hash_key_len < 16)
        error_at(ld, opt_line(ld, sec, "hash-key"),
                 "hash-key must have at least 16 characters when hash-user-names or hash-macs "
                 "is true");
}

static void build_coa(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    char why[256];
    cfg->coa.address = dup_str(ld, cfg_getstr(sec, "address"));
    cfg->coa.port = (uint16_t)cfg_getint(sec, "port");
    size_t n = cfg_size(sec, "client");
    if (cfg->coa.enabled && n == 0)
        warn_at(ld, sec_line(ld, sec),
                "coa has no client: every CoA/Disconnect request will be dropped");
    cfg->coa.clients = alloc_array(ld, n, sizeof(*cfg->coa.clients));
    if (!cfg->coa.clients)
        return;
    cfg->coa.nclients = n;
    for (size_t i = 0; i < n; i++) {
        cfg_t *csec = cfg_getnsec(sec, "client", (unsigned)i);
        struct rg_coa_client *c = &cfg->coa.clients[i];
        check_name(ld, csec);
        c->name = dup_str(ld, cfg_title(csec));
        c->host = dup_str(ld, cfg_getstr(csec, "host"));
        /* A CoA client speaks RADIUS/UDP like a backend: the same short-secret warning. */
        c->secret = get_secret(ld, csec, "client", &c->secret_len, true);
        if (!c->host || !*c->host) {
            error_at(ld, sec_line(ld, csec), "client \"%s\": host is not set", c->name);
            continue;
        }
        if (resolve(c->host, 0, &c->addr, &c->addr_len, why, sizeof(why)) != 0) {
            error_at(ld, opt_line(ld, csec, "host"), "client \"%s\": cannot resolve host '%s': %s",
                     c->name, c->host, why);
            continue;
        }
        /* Clients are told apart by source address: a second one there would never be
         * matched, and its orgs would silently not apply. */
        for (size_t j = 0; j < i; j++)
            if (cfg->coa.clients[j].addr_len &&
                rg_sockaddr_equal((const struct sockaddr *)&cfg->coa.clients[j].addr,
                                  (const struct sockaddr *)&c->addr))
                error_at(ld, opt_line(ld, csec, "host"),
                         "client \"%s\": host '%s' is also client \"%s\" (clients are told "
                         "apart by source address)",
                         c->name, c->host, cfg->coa.clients[j].name);
    }
    for (size_t i = 0; i < n; i++)
        coa_client_orgs(ld, cfg_getnsec(sec, "client", (unsigned)i), cfg, &cfg->coa.clients[i]);
}

static void build_proxy_protocol(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->listen.proxy_protocol = cfg_getbool(sec, "proxy-protocol");
    size_t n = cfg_size(sec, "proxy-from");
    cfg->listen.proxy_from = alloc_array(ld, n, sizeof(*cfg->listen.proxy_from));
    if (cfg->listen.proxy_from) {
        cfg->listen.nproxy_from = n;
        for (size_t i = 0; i < n; i++)
            rg_prefix_parse(cfg_getnstr(sec, "proxy-from", (unsigned)i),
                            &cfg->listen.proxy_from[i]); /* checked while parsing */
    }
    if (cfg->listen.proxy_protocol && n == 0)
        error_at(ld, opt_line(ld, sec, "proxy-protocol"),
                 "proxy-protocol = true needs proxy-from: the balancers' addresses (no one "
                 "else may connect then)");
    else if (!cfg->listen.proxy_protocol && n > 0)
        warn_at(ld, opt_line(ld, sec, "proxy-from"),
                "proxy-from is set but proxy-protocol = false: it has no effect");
}

/* "host:port" / "[v6]:port" with a numeric host, as the cluster keys take it. */
static int host_port_parse(const char *text, char **host, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1])
        return -EINVAL;
    const char *h = text, *he = colon;
    if (*h == '[') {
        if (he[-1] != ']')
            return -EINVAL;
        h++;
        he--;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -EINVAL;
    char *d = strndup(h, (size_t)(he - h));
    if (!d)
        return -ENOMEM;
    uint8_t a[16];
    if (inet_pton(AF_INET, d, a) != 1 && inet_pton(AF_INET6, d, a) != 1) {
        free(d);
        return -EINVAL;
    }
    *host = d;
    *port = (uint16_t)p;
    return 0;
}

static bool wildcard_host(const char *h)
{
    return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static void build_cluster(struct load *ld, cfg_t *sec, struct rg_config *cfg)
{
    cfg->cluster.instance = dup_str(ld, cfg_getstr(sec, "instance"));
    if (cfg->cluster.instance && !*cfg->cluster.instance)
        error_at(ld, sec_line(ld, sec),
                 "cluster instance is not set (a name unique in the "
                 "cluster, e.g. \"gw-a\")");
    else if (cfg->cluster.instance && strpbrk(cfg->cluster.instance, " \t\r\n"))
        error_at(ld, opt_line(ld, sec, "instance"), "cluster instance may not contain spaces");
    const char *redis = cfg_getstr(sec, "redis");
    if (host_port_parse(redis, &cfg->cluster.redis_host, &cfg->cluster.redis_port) != 0)
        error_at(ld, opt_line(ld, sec, "redis"),
                 "cluster redis '%s' is not a numeric host:port (like 127.0.0.1:6379)", redis);
    cfg->cluster.redis_password = dup_str(ld, cfg_getstr(sec, "redis-password"));
    const char *secret = cfg_getstr(sec, "secret");
    if (!secret || !*secret)
        error_at(ld, sec_line(ld, sec),
                 "cluster secret is not set (the same long random "
                 "secret on every instance)");
    else if (strlen(secret) <= SHORT_SECRET_OCTETS)
        warn_at(ld, opt_line(ld, sec, "secret"),
                "cluster secret is only %zu octets; use a long random one (it signs CoA "
                "handed between instances over UDP)",
                strlen(secret));
    cfg->cluster.secret = dup_str(ld, secret);
    cfg->cluster.secret_len = cfg->cluster.secret ? strlen(cfg->cluster.secret) : 0;
    if (!cfg->coa.enabled)
        warn_at(ld, sec_line(ld, sec),
                "cluster without a coa block: NASes are published, but no CoA is handed on");
    const char *addr = cfg_getstr(sec, "coa-address");
    if (addr && *addr) {
        if (host_port_parse(addr, &cfg->cluster.address, &cfg->cluster.port) != 0)
            error_at(ld, opt_line(ld, sec, "coa-address"),
                     "cluster coa-address '%s' is not a numeric host:port", addr);
    } else if (cfg->coa.enabled && cfg->coa.address && !wildcard_host(cfg->coa.address)) {
        cfg->cluster.address = dup_str(ld, cfg->coa.address);
        cfg->cluster.port = cfg->coa.port;
    } else if (cfg->coa.enabled) {
        error_at(ld, sec_line(ld, sec),
                 "cluster coa-address is not set and coa address is a wildcard: say where the "
                 "other instances reach this one's CoA port, e.g. coa-address = "
                 "\"10.0.0.1:%u\"",
                 cfg->coa.port);
    }
}

/* An unnamed block: at most one; when absent, one with the defaults is added. */
static cfg_t *single_section(struct load *ld, cfg_t *root, const char *name, bool *present)
{
    unsigned n = cfg_size(root, name);
    if (n > 1)
        error_at(ld, sec_line(ld, cfg_getnsec(root, name, 1)),
                 "second %s block (only one is allowed)", name);
    if (present)
        *present = n > 0;
    if (n > 0)
        return cfg_getnsec(root, name, 0);
    cfg_value_t *val = cfg_setopt(root, cfg_getopt(root, name), NULL);
    if (!val) {
        ld->nomem = true;
        return NULL;
    }
    return val->section;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void build(struct load *ld, cfg_t *root, struct rg_config *cfg)
{
    long workers = cfg_getint(root, "workers");
    cfg->workers = workers > 0 ? (unsigned)workers : cpu_count();
    if (cfg_getstr(root, "user"))
        cfg->user = dup_str(ld, cfg_getstr(root, "user"));
    if (cfg_getstr(root, "pidfile"))
        cfg->pidfile = dup_str(ld, cfg_getstr(root, "pidfile"));

    cfg_t *sec = single_section(ld, root, "listen", NULL);
    if (!sec)
        return;
    cfg->listen.address = dup_list(ld, sec, "address", &cfg->listen.naddress);
    if (cfg->listen.naddress == 0)
        error_at(ld, opt_line(ld, sec, "address"), "listen address list is empty");
    cfg->listen.port = (uint16_t)cfg_getint(sec, "port");
    cfg->listen.max_connections = (unsigned)cfg_getint(sec, "max-connections");
    cfg->listen.max_connections_per_ip = (unsigned)cfg_getint(sec, "max-connections-per-ip");
    cfg->listen.max_handshakes = (unsigned)cfg_getint(sec, "max-handshakes");
    cfg->listen.max_handshakes_per_ip = (unsigned)cfg_getint(sec, "max-handshakes-per-ip");
    cfg->listen.idle_timeout_s = (unsigned)cfg_getint(sec, "idle-timeout");
    cfg->listen.handshake_timeout_s = (unsigned)cfg_getint(sec, "handshake-timeout");
    cfg->listen.packet_timeout_s = (unsigned)cfg_getint(sec, "packet-timeout");
    cfg->listen.max_requests_per_second = (unsigned)cfg_getint(sec, "max-requests-per-second");
    const char *r11 = cfg_getstr(sec, "radius-1.1");
    for (unsigned i = 0; r11 && radius11_names[i]; i++)
        if (strcmp(r11, radius11_names[i]) == 0)
            cfg->listen.radius11 = (enum rg_radius11_mode)i;
    build_proxy_protocol(ld, sec, cfg);

    bool present;
    sec = single_section(ld, root, "tls", &present);
    if (!sec)
        return;
    cfg->tls.certificate = dup_str(ld, cfg_getstr(sec, "certificate"));
    cfg->tls.key = dup_str(ld, cfg_getstr(sec, "key"));
    cfg->tls.min_version = strcmp(cfg_getstr(sec, "min-version"), "1.3") == 0 ? 13 : 12;
    cfg->tls.ciphers = dup_str(ld, cfg_getstr(sec, "ciphers"));
    if (!present)
        error_at(ld, ld->eof_line, "no tls block: the server certificate and key are required");
    else if (cfg->tls.certificate && !*cfg->tls.certificate)
        error_at(ld, sec_line(ld, sec), "tls certificate is not set");
    else if (cfg->tls.key && !*cfg->tls.key)
        error_at(ld, sec_line(ld, sec), "tls key is not set");

    build_pools(ld, root, cfg);

    cfg->norgs = cfg_size(root, "org");
    if (cfg->norgs == 0)
        error_at(ld, ld->eof_line, "no org block: at least one organisation is required");
    cfg->orgs = alloc_array(ld, cfg->norgs, sizeof(*cfg->orgs));
    if (!cfg->orgs)
        cfg->norgs = 0;
    for (size_t i = 0; i < cfg->norgs; i++)
        build_org(ld, cfg_getnsec(root, "org", (unsigned)i), cfg, &cfg->orgs[i]);

    build_top_realms(ld, root, cfg);

    sec = single_section(ld, root, "coa", &cfg->coa.enabled);
    if (!sec)
        return;
    build_coa(ld, sec, cfg);

    sec = single_section(ld, root, "cluster", &cfg->cluster.enabled);
    if (!sec)
        return;
    if (cfg->cluster.enabled)
        build_cluster(ld, sec, cfg);

    sec = single_section(ld, root, "log", NULL);
    if (!sec)
        return;
    cfg->log.facility = rg_log_facility_parse(cfg_getstr(sec, "facility"));
    cfg->log.level = rg_log_level_parse(cfg_getstr(sec, "level"));
    cfg->log.requests = cfg_getbool(sec, "requests");
    build_log_hash(ld, sec, cfg);

    sec = single_section(ld, root, "metrics", &cfg->metrics.enabled);
    if (!sec)
        return;
    cfg->metrics.address = dup_str(ld, cfg_getstr(sec, "address"));
    cfg->metrics.port = (uint16_t)cfg_getint(sec, "port");

    sec = single_section(ld, root, "stats", NULL);
    if (!sec)
        return;
    cfg->stats.interval_s = (unsigned)cfg_getint(sec, "interval");
}

static int count_lines(const char *buf, size_t len)
{
    int n = 1;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n' && i + 1 < len)
            n++;
    return n;
}

static void include_free(struct load *ld)
{
    for (size_t i = 0; i < ld->nfiles; i++)
        free(ld->files[i]);
    free(ld->files);
    free(ld->segs);
    ld->files = NULL;
    ld->segs = NULL;
    ld->nfiles = ld->nsegs = ld->segs_cap = 0;
}

static int load_text(const char *name, const char *buf, size_t len, bool check_files,
                     struct rg_config **out, struct rg_config_diag *diag)
{
    struct rg_config_diag scratch = {0};
    struct load ld = {
        .name = name,
        .check_files = check_files,
        .diag = diag ? diag : &scratch,
    };
    ld.diag_len = ld.diag->text ? strlen(ld.diag->text) : 0;
    *out = NULL;

    if (memchr(buf, '\0', len)) {
        error_at(&ld, 0, "contains a NUL byte: not a text file");
        rg_config_diag_free(&scratch);
        return -EINVAL;
    }
    ld.eof_line = count_lines(buf, len);

    struct rg_config *cfg = calloc(1, sizeof(*cfg));
    char *text = strip_comments(&ld, buf, len);
    if (text && include_expand(&ld, &text, &len) != 0) {
        free(text);
        text = NULL;
    }
    if (!cfg || !text) {
        free(cfg);
        free(text);
        include_free(&ld);
        rg_config_diag_free(&scratch);
        return ld.nerrors ? -EINVAL : -ENOMEM;
    }
    if (ld.segs)
        ld.eof_line = count_lines(text, len);

    current = &ld;
    cfg_t *root = cfg_init(root_opts, CFGF_NONE);
    int rc = -ENOMEM;
    if (root) {
        cfg_set_error_function(root, on_confuse_error);
        /* fmemopen of an empty buffer fails on older glibc: give it a blank line */
        FILE *fp = fmemopen(len ? text : "\n", len ? len : 1, "r");
        if (fp) {
            if (cfg_parse_fp(root, fp) != CFG_SUCCESS && ld.nerrors == 0)
                error_at(&ld, root->line, "syntax error");
            fclose(fp);
            if (ld.nerrors == 0 && !ld.nomem)
                build(&ld, root, cfg);
            rc = 0;
        }
        cfg_free(root);
    }
    current = NULL;

    if (ld.nomem)
        rc = -ENOMEM;
    else if (rc == 0 && ld.nerrors > 0)
        rc = -EINVAL;
    if (rc == 0) {
        cfg->refcount = 1;
        cfg->path = strdup(name);
        if (!cfg->path)
            rc = -ENOMEM;
        cfg->includes = ld.files;
        cfg->nincludes = ld.nfiles;
        ld.files = NULL;
        ld.nfiles = 0;
    }
    if (rc == 0)
        *out = cfg;
    else
        config_free(cfg);

    free(text);
    free(ld.marks);
    free(ld.sections);
    include_free(&ld);
    rg_config_diag_free(&scratch);
    return rc;
}

int rg_config_load_buf(const char *name, const char *buf, bool check_files, struct rg_config **out,
                       struct rg_config_diag *diag)
{
    return load_text(name, buf, strlen(buf), check_files, out, diag);
}

int rg_config_load(const char *path, bool check_files, struct rg_config **out,
                   struct rg_config_diag *diag)
{
    struct rg_config_diag scratch = {0};
    struct load ld = {.name = path, .diag = diag ? diag : &scratch};
    ld.diag_len = ld.diag->text ? strlen(ld.diag->text) : 0;
    *out = NULL;

    FILE *fp = fopen(path, "re");
    if (!fp) {
        int err = errno;
        error_at(&ld, 0, "cannot open: %s", strerror(err));
        rg_config_diag_free(&scratch);
        return -err;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *b = cap <= CONFIG_MAX_BYTES + 4096 ? realloc(buf, cap + 1) : NULL;
            if (!b) {
                rc = cap > CONFIG_MAX_BYTES ? -EFBIG : -ENOMEM;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp))
                rc = -EIO;
            break;
        }
    }
    fclose(fp);
    if (rc == -EFBIG)
        error_at(&ld, 0, "larger than %u MiB: not a config file", CONFIG_MAX_BYTES >> 20);
    else if (rc != 0)
        error_at(&ld, 0, "cannot read: %s", strerror(-rc));
    if (rc == 0) {
        buf[len] = '\0';
        rc = load_text(path, buf, len, check_files, out, diag);
    }
    free(buf);
    rg_config_diag_free(&scratch);
    return rc;
}

void rg_config_diag_free(struct rg_config_diag *diag)
{
    if (!diag)
        return;
    free(diag->text);
    memset(diag, 0, sizeof(*diag));
}

struct rg_config *rg_config_ref(struct rg_config *cfg)
{
    __atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
    return cfg;
}

void rg_config_unref(struct rg_config *cfg)
{
    if (!cfg)
        return;
    /* acq_rel: the last owner must see every other owner's reads finished before freeing */
    int left = __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL);
    RG_REQUIRE(left >= 0);
    if (left == 0)
        config_free(cfg);
}

struct rg_pool *rg_config_find_pool(const struct rg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npools; i++)
        if (cfg->pools[i].name && strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

struct rg_org *rg_config_find_org(const struct rg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->norgs; i++)
        if (cfg->orgs[i].name && strcmp(cfg->orgs[i].name, name) == 0)
            return &cfg->orgs[i];
    return NULL;
}

struct rg_pool *rg_config_route(const struct rg_org *org, const char *user_name)
{
    if (!org)
        return NULL;
    const char *at = user_name ? strrchr(user_name, '@') : NULL;
    if (at && at[1]) {
        for (size_t i = 0; i < org->nrealms; i++)
            if (strcasecmp(org->realms[i].name, at + 1) == 0)
                return org->realms[i].pool;
    }
    for (size_t i = 0; i < org->nrealms; i++)
        if (strcmp(org->realms[i].name, "*") == 0)
            return org->realms[i].pool;
    return org->pool;
}

bool rg_config_coa_client_reaches(const struct rg_coa_client *cl, const struct rg_org *org)
{
    for (size_t i = 0; org && i < cl->norgs; i++)
        if (cl->orgs[i] == org)
            return true;
    return false;
}

bool rg_config_match_string(const struct rg_match *m, const char *value)
{
    if (m->kind == RG_MATCH_SAN_IP || !m->regex || !value)
        return false;
    return regexec(m->regex, value, 0, NULL, 0) == 0;
}

/* ---- printing (-t) ------------------------------------------------------------------------ */

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
            cfg->listen.packet_timeout_s, radius11_names[cfg->listen.radius11]);
    if (cfg->listen.max_requests_per_second)
        fprintf(out, "%u requests per second per connection\n",
                cfg->listen.max_requests_per_second);
    else
        fprintf(out, "no request rate limit\n");
    fprintf(out, "tls certificate %s, key %s, TLS %s or later, ciphers %s\n", cfg->tls.certificate,
            cfg->tls.key, cfg->tls.min_version == 13 ? "1.3" : "1.2",
            cfg->tls.ciphers && *cfg->tls.ciphers ? cfg->tls.ciphers : "(built-in list)");

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

/* ---- prefixes ----------------------------------------------------------------------------- */

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int rg_prefix_parse(const char *text, struct rg_prefix *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!text || strlen(text) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, text);

    struct rg_prefix p = {0};
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        if (!*b || strlen(b) > 3)
            return -EINVAL;
        for (const char *c = b; *c; c++)
            if (!isdigit((unsigned char)*c))
                return -EINVAL;
        bits = strtol(b, NULL, 10);
    }
    if (inet_pton(AF_INET, buf, p.addr) == 1) {
        p.family = AF_INET;
        if (bits > 32)
            return -EINVAL;
        p.bits = bits < 0 ? 32 : (unsigned)bits;
    } else if (inet_pton(AF_INET6, buf, p.addr) == 1) {
        p.family = AF_INET6;
        if (bits > 128)
            return -EINVAL;
        p.bits = bits < 0 ? 128 : (unsigned)bits;
        /* ::ffff:a.b.c.d/96+ is an IPv4 prefix written the IPv6 way */
        if (p.bits >= 96 && memcmp(p.addr, v4_mapped, 12) == 0) {
            memmove(p.addr, p.addr + 12, 4);
            memset(p.addr + 4, 0, 12);
            p.family = AF_INET;
            p.bits -= 96;
        }
    } else {
        return -EINVAL;
    }
    /* Host bits are cleared, so 10.1.2.3/8 means 10.0.0.0/8. */
    size_t len = p.family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < len; i++) {
        unsigned keep = p.bits >= (i + 1) * 8 ? 8 : p.bits > i * 8 ? p.bits - i * 8 : 0;
        p.addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    *out = p;
    return 0;
}

bool rg_prefix_contains(const struct rg_prefix *p, const struct sockaddr *addr)
{
    const uint8_t *a;
    int family = addr->sa_family;
    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
    } else if (family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        if (memcmp(a, v4_mapped, 12) == 0) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return false;
    }
    if (family != p->family)
        return false;
    unsigned full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(a, p->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[full] & mask) == p->addr[full];
}
