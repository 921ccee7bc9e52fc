#include "json.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void teq_json_init(teq_json *j) { memset(j, 0, sizeof *j); }
void teq_json_free(teq_json *j) {
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static void put(teq_json *j, const char *s, size_t n) {
    if (j->oom) return;
    if (j->len + n + 1 > j->cap) {
        size_t nc = j->cap ? j->cap * 2 : 1024;
        while (nc < j->len + n + 1) nc *= 2;
        char *nb = realloc(j->buf, nc);
        if (!nb) {
            j->oom = true;
            return;
        }
        j->buf = nb;
        j->cap = nc;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}
static void puts_(teq_json *j, const char *s) { put(j, s, strlen(s)); }

static void put_string(teq_json *j, const char *s) {
    put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            put(j, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(j, esc);
        } else {
            put(j, (const char *)p, 1);
        }
    }
    put(j, "\"", 1);
}

/* Comma, newline and indentation before a new member, then the key. */
static void member(teq_json *j, const char *key) {
    if (j->depth > 0) {
        if (j->need_comma[j->depth]) put(j, ",", 1);
        j->need_comma[j->depth] = true;
        put(j, "\n", 1);
        for (int i = 0; i < j->depth; i++) put(j, "  ", 2);
    }
    if (key) {
        put_string(j, key);
        put(j, ": ", 2);
    }
}

static void open_(teq_json *j, const char *key, const char *c) {
    member(j, key);
    puts_(j, c);
    if (j->depth < 31) j->depth++;
    j->need_comma[j->depth] = false;
}
static void close_(teq_json *j, const char *c) {
    bool had = j->need_comma[j->depth];
    if (j->depth > 0) j->depth--;
    if (had) {
        put(j, "\n", 1);
        for (int i = 0; i < j->depth; i++) put(j, "  ", 2);
    }
    puts_(j, c);
}

void teq_json_obj_begin(teq_json *j, const char *key) { open_(j, key, "{"); }
void teq_json_obj_end(teq_json *j) { close_(j, "}"); }
void teq_json_arr_begin(teq_json *j, const char *key) { open_(j, key, "["); }
void teq_json_arr_end(teq_json *j) { close_(j, "]"); }

void teq_json_num(teq_json *j, const char *key, double v) {
    member(j, key);
    char b[40];
    if (!isfinite(v)) snprintf(b, sizeof b, "null");
    else snprintf(b, sizeof b, "%.9g", v);
    puts_(j, b);
}
void teq_json_int(teq_json *j, const char *key, int64_t v) {
    member(j, key);
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(j, b);
}
void teq_json_str(teq_json *j, const char *key, const char *v) {
    member(j, key);
    put_string(j, v);
}
void teq_json_bool(teq_json *j, const char *key, bool v) {
    member(j, key);
    puts_(j, v ? "true" : "false");
}

teq_status teq_json_write_file(const teq_json *j, const char *path, teq_error *err) {
    if (j->oom) return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory building JSON", path);
    teq_file_out fo;
    teq_status s = teq_file_out_open(&fo, path, err);
    if (s) return s;
    s = teq_file_out_write(&fo, j->buf ? j->buf : "", j->len, err);
    if (!s) s = teq_file_out_write(&fo, "\n", 1, err);
    if (s) {
        teq_file_out_abort(&fo);
        return s;
    }
    return teq_file_out_commit(&fo, err);
}
