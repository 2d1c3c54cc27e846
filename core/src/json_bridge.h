/* JSON text <-> MessagePack documents (jansson), for schema files and kvorm_exec_json. */
#ifndef KVORM_JSON_BRIDGE_H
#define KVORM_JSON_BRIDGE_H

#include "error.h"

#include <msgpack.h>

/* Parses JSON text (duplicate keys rejected, nesting within KV_MAX_DEPTH) and appends its MessagePack form.
 * Fails with `code` and a message giving the line and column. */
int kv_json_to_msgpack(msgpack_sbuffer *out, const char *json, size_t len, int code, kv_error *err);

/* Converts one MessagePack document to compact JSON text (malloc'd, NUL-terminated): timestamps become RFC 3339
 * strings and bin becomes base64. */
int kv_msgpack_to_json(char **out, size_t *out_len, const char *doc, size_t len, kv_error *err);

#endif
