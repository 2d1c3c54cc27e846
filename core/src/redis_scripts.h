/* The Lua scripts of the Redis engine. Each write is one EVALSHA of the main script: it checks everything first
 * and writes only when every check passed, so a failed write leaves nothing behind. */
#ifndef KVORM_REDIS_SCRIPTS_H
#define KVORM_REDIS_SCRIPTS_H

extern const char kv_script_main[];
extern const char kv_script_schema_cas[];

#endif
