/* A small JSON writer into a growing buffer: enough for teq's reports. Keys and strings are
 * escaped; numbers are written with %.9g (NaN and infinities become null). */
#ifndef TEQ_JSON_H
#define TEQ_JSON_H

#include "core.h"

typedef struct teq_json {
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[32];
    bool oom;
} teq_json;

void teq_json_init(teq_json *j);
void teq_json_free(teq_json *j);
void teq_json_obj_begin(teq_json *j, const char *key); /* key NULL inside arrays / at top */
void teq_json_obj_end(teq_json *j);
void teq_json_arr_begin(teq_json *j, const char *key);
void teq_json_arr_end(teq_json *j);
void teq_json_num(teq_json *j, const char *key, double v);
void teq_json_int(teq_json *j, const char *key, int64_t v);
void teq_json_str(teq_json *j, const char *key, const char *v);
void teq_json_bool(teq_json *j, const char *key, bool v);
/* Write the buffer (plus a newline) atomically to path. */
teq_status teq_json_write_file(const teq_json *j, const char *path, teq_error *err);

#endif
