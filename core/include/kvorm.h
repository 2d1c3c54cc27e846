/*
 * kvorm.h - the one public header of libkvorm.
 *
 * kvorm is an ORM for key-value stores: schema, validation, unique constraints and atomic writes over one
 * documented data layout (docs/format.md), with the same request protocol (docs/protocol.md) from C, Python and
 * Node.js.
 *
 * Conventions (see docs/c-api.md):
 *   - Handles are opaque. What kvorm_xxx_from_* / kvorm_open makes, kvorm_xxx_free / kvorm_close frees (NULL-safe).
 *   - Every fallible call returns an int status: KVORM_OK (0) or a negative kvorm_status code. Out-parameters come
 *     first. After a failure, kvorm_last_error_code(), kvorm_last_error_message() and
 *     kvorm_last_error_retryable() describe it (thread-local). Messages are always valid UTF-8.
 *   - Buffers handed out by the library are freed with kvorm_free(). Binary data is always (pointer, length).
 *   - A kvorm_db may be used from several threads at once; calls run in parallel on a connection pool.
 *
 * The declarations between KVORM_API_BEGIN and KVORM_API_END are plain C that cffi's cdef and SWIG read as is
 * once the KVORM_EXTERN marker is removed.
 */
#ifndef KVORM_H
#define KVORM_H

#include <stddef.h>
#include <stdint.h>

#ifndef KVORM_EXTERN
#  if defined(_WIN32)
#    define KVORM_EXTERN
#  else
#    define KVORM_EXTERN __attribute__((visibility("default")))
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* KVORM_API_BEGIN */

#define KVORM_VERSION_MAJOR 0
#define KVORM_VERSION_MINOR 1
#define KVORM_VERSION_PATCH 0

/* Status codes. Stable: a code keeps its number and its name forever. */
typedef enum kvorm_status {
    KVORM_OK = 0,
    KVORM_EVALIDATION = -1,       /* VALIDATION: a value does not fit the schema */
    KVORM_ENOTFOUND = -2,         /* NOT_FOUND: the record to update or delete does not exist */
    KVORM_EUNIQUE = -3,           /* UNIQUE_VIOLATION: a unique value (or the id) is taken */
    KVORM_ECONFLICT = -4,         /* CONFLICT: the record changed since the version the caller expected */
    KVORM_ESCHEMA = -5,           /* SCHEMA: the schema document is invalid */
    KVORM_ESCHEMA_MISMATCH = -6,  /* SCHEMA_MISMATCH: the dataset was written with an incompatible schema */
    KVORM_EBAD_REQUEST = -7,      /* BAD_REQUEST: malformed request document, unknown op or argument */
    KVORM_ECONNECTION = -8,       /* CONNECTION: cannot reach the store, or the connection dropped */
    KVORM_ETIMEOUT = -9,          /* TIMEOUT: the store did not answer in time */
    KVORM_EUNSUPPORTED = -10,     /* UNSUPPORTED: valid, but this engine or version cannot do it */
    KVORM_EINTERNAL = -11,        /* INTERNAL: a bug, corrupt stored data, or out of memory */
    KVORM_EMISUSE = -12,          /* MISUSE: the C API was called wrongly (NULL handle, bad options version) */
    KVORM_EUNAVAILABLE = -13,     /* UNAVAILABLE: the store is up but cannot serve the request now: loading, busy,
                                     read-only, out of memory; nothing was written; retry later */
    KVORM_EREFUSED = -14,         /* REFUSED: the query would scan every record, and scans were refused
                                     (refuse_scans, refuseScans) */
    KVORM_ERELATION = -15         /* RELATION: a foreign key names no record, or a delete (or a change of a
                                     referenced key) is restricted by records that reference it */
} kvorm_status;

typedef struct kvorm_schema kvorm_schema;
typedef struct kvorm_db kvorm_db;

/* Options for kvorm_open. Initialize with kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION). A zero
 * field means "the default" (or the value given in the URL). Version 1 ends after pool_size, version 2 after
 * refuse_scans: a caller built against an older version passes the shorter struct, which stays valid. */
#define KVORM_OPEN_OPTIONS_VERSION 3

/* kvorm_open_options.sync: how an embedded store's commits reach the disk. */
enum {
    KVORM_SYNC_DEFAULT = 0,  /* the URL's sync parameter, else full */
    KVORM_SYNC_FULL = 1,     /* each commit is on disk when the call returns (fsync) */
    KVORM_SYNC_NOSYNC = 2,   /* no fsync: a crash of the machine (not of the process) may lose the last commits */
    KVORM_SYNC_NOMETASYNC = 3 /* fsync data, not the meta page: a machine crash may lose the last commit */
};

typedef struct kvorm_open_options {
    unsigned int version;
    int connect_timeout_ms;   /* default 2000 (network stores; no effect on lmdb://) */
    int command_timeout_ms;   /* default 5000 (network stores; no effect on lmdb://) */
    int pool_size;            /* connections kept for parallel calls; default 8 (no effect on lmdb://) */
    int refuse_scans;         /* version 2: non-zero makes a query that would scan every record fail with
                                 KVORM_EREFUSED unless it passes refuseScans: false */
    /* Version 3: the embedded store's options (lmdb://). Each one set (non-zero) wins over the URL parameter of
     * the same name; on any other store it is KVORM_EMISUSE. */
    unsigned long long map_size;     /* mapsize: the map's first size in bytes (>= 65536; default 1 GiB) */
    unsigned long long max_map_size; /* maxmapsize: how far the map grows when full (default 1 TiB) */
    int sync;                        /* sync: a KVORM_SYNC_* value */
    int read_only;                   /* readonly: non-zero opens an existing store and refuses every write */
    int max_readers;                 /* maxreaders: read transactions at once, all processes (default 126) */
} kvorm_open_options;

/* Library version as "MAJOR.MINOR.PATCH". */
KVORM_EXTERN const char *kvorm_version(void);

/* The last error of the calling thread: its code (KVORM_OK if none) and a message naming the model, field
 * and value ("" if none), always valid UTF-8. The message stays valid until the next kvorm call on this thread. */
KVORM_EXTERN int kvorm_last_error_code(void);
KVORM_EXTERN const char *kvorm_last_error_message(void);
/* 1 when the last error of the calling thread may go away if the same call is made again later, with nothing
 * written meanwhile (UNAVAILABLE, CONNECTION and TIMEOUT, except a write whose outcome is unknown and a failed
 * authentication), else 0. The error document says the same in its "retryable" key. */
KVORM_EXTERN int kvorm_last_error_retryable(void);
/* The stable name of a code ("VALIDATION", "NOT_FOUND", ...); "UNKNOWN" for a number that is not a code. */
KVORM_EXTERN const char *kvorm_error_name(int code);

/* Frees a buffer returned by the library. NULL-safe. */
KVORM_EXTERN void kvorm_free(void *buf);

/* Schemas (docs/schema.md). A schema is immutable once loaded and may be shared by several kvorm_db. */
KVORM_EXTERN int kvorm_schema_from_json(kvorm_schema **out, const char *json, size_t len);
KVORM_EXTERN int kvorm_schema_from_file(kvorm_schema **out, const char *path);
KVORM_EXTERN int kvorm_schema_from_msgpack(kvorm_schema **out, const void *data, size_t len);
KVORM_EXTERN void kvorm_schema_free(kvorm_schema *schema);

KVORM_EXTERN int kvorm_open_options_init(kvorm_open_options *opts, unsigned int version);

/* Opens a store by URL and checks the schema against the one stored in it:
 *   redis://[user:password@]host[:port][/db][?connect_timeout=ms&timeout=ms&pool=n]
 *   unix:///path/to/redis.sock[?db=n&user=u&password=p&connect_timeout=ms&timeout=ms&pool=n]
 *   lmdb:///abs/dir or lmdb://relative/dir[?mapsize=bytes&maxmapsize=bytes&sync=full|nosync|nometasync&
 *       readonly=1&maxreaders=n]   (an embedded LMDB environment, created if missing)
 * url NULL: the URL in the environment variable KVORM_URL, else KVORM_DEFAULT_URL. opts may be NULL. The db
 * keeps its own reference to the schema. */
KVORM_EXTERN int kvorm_open(kvorm_db **out, const char *url, const kvorm_schema *schema,
                            const kvorm_open_options *opts);
/* Closes the db and frees it. NULL-safe. No call on the db may be running or follow. */
KVORM_EXTERN void kvorm_close(kvorm_db *db);

/* Runs one request (docs/protocol.md), a MessagePack document, and returns one MessagePack document: the
 * result when the status is KVORM_OK, else the error document ({code, message, model, op, fields, retryable}).
 * *out is set in both cases (unless the status is KVORM_EMISUSE) and freed with kvorm_free. */
KVORM_EXTERN int kvorm_exec(unsigned char **out, size_t *out_len, kvorm_db *db,
                            const void *request, size_t request_len);
/* Runs n requests as n calls of kvorm_exec would, in order, and returns each one's status and response document
 * in statuses[i], outs[i] and out_lens[i] (free each outs[i] with kvorm_free). The reads and writes of
 * consecutive requests go to the store together: on Redis, one round trip for up to 128 of them instead of one
 * each. Returns KVORM_OK when every request ran (each may have failed on its own), or KVORM_EMISUSE, with
 * nothing run and nothing to free, when a pointer is NULL. The last error is that of the last request that
 * failed. */
KVORM_EXTERN int kvorm_exec_batch(unsigned char **outs, size_t *out_lens, int *statuses, kvorm_db *db,
                                  const void *const *requests, const size_t *request_lens, size_t n);
/* The same with JSON in and JSON out; datetimes are RFC 3339 strings and bytes are base64 strings. *out is
 * NUL-terminated. */
KVORM_EXTERN int kvorm_exec_json(char **out, size_t *out_len, kvorm_db *db, const char *request,
                                 size_t request_len);

/* What this engine guarantees, as a MessagePack map (docs/protocol.md#capabilities). */
KVORM_EXTERN int kvorm_capabilities(unsigned char **out, size_t *out_len, kvorm_db *db);

/* KVORM_API_END */

/* The store kvorm_open opens when url is NULL and KVORM_URL is unset or empty: an LMDB environment in the
 * directory kvorm-data of the working directory. (Outside the API block: cffi's cdef takes integer constants
 * only.) */
#define KVORM_DEFAULT_URL "lmdb://kvorm-data"

#ifdef __cplusplus
}
#endif

#endif /* KVORM_H */
