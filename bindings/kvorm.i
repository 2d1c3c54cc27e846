/* kvorm.i - the SWIG interface of the Node.js addon (node/).
 *
 * SWIG (>= 4.2, -javascript -napi) wraps kvorm.h as is: the status constants, kvorm_version, kvorm_error_name,
 * kvorm_close. Upstream SWIG's Node-API backend makes synchronous wrappers only, and kvorm_open and kvorm_exec do
 * network I/O, so two hand-written natives below run them on libuv's threadpool (Napi::AsyncWorker):
 *
 *   openAsync(url, schema, schemaIsPath, options, callback)
 *       -> callback(status, db | null, message, retryable, schemaJson)
 *                                             url: a string, or null for the core's default (KVORM_URL, else
 *                                             KVORM_DEFAULT_URL);
 *                                             schema: JSON text (kvorm_schema_from_json), or with schemaIsPath
 *                                             a path the core reads (kvorm_schema_from_file, so a missing file
 *                                             is its SCHEMA error); schemaJson is the text that was loaded;
 *                                             options: an object whose numbers are the kvorm_open_options
 *                                             fields of their names (connectTimeoutMs, commandTimeoutMs,
 *                                             poolSize, mapSize, maxMapSize, sync, maxReaders) and whose
 *                                             booleans are its flags (refuseScans, readOnly); node/lib/db.js
 *                                             checks them, a missing one is 0
 *   execAsync(db, requests, callback)         requests: Uint8Arrays, each one MessagePack request document, run
 *                                             by kvorm_exec_batch
 *       -> callback(statuses, responses)      responses: Buffers holding each result or error document (or null)
 *
 * execAsync is generic: a new op of the core needs no new code here. Everything else (MessagePack, models,
 * errors, the guard that keeps calls away from a closed db) lives in node/lib/, in JavaScript.
 */
%module kvorm_native

%{
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "kvorm.h"
%}

/* kvorm.h is read as is; only the export marker goes. */
#define KVORM_EXTERN

/* These take out-parameters or raw buffers: the async natives below (or nothing) stand in for them. */
%ignore kvorm_open_options;
%ignore kvorm_open_options_init;
%ignore kvorm_open;
%ignore kvorm_exec;
%ignore kvorm_exec_batch;
%ignore kvorm_exec_json;
%ignore kvorm_capabilities;
%ignore kvorm_free;
%ignore kvorm_schema_from_json;
%ignore kvorm_schema_from_file;
%ignore kvorm_schema_from_msgpack;
%ignore kvorm_schema_free;
%ignore kvorm_last_error_code;
%ignore kvorm_last_error_message;
%ignore kvorm_last_error_retryable;

%include "kvorm.h"

%native(openAsync) void kvorm_node_open_async();
%native(execAsync) void kvorm_node_exec_async();

%wrapper %{
namespace {

/* kvorm_open (and the schema load before it) on a worker thread. The last error is thread-local, so it is read
 * in Execute, on the thread that made the calls. A schema given as a path is loaded by the core
 * (kvorm_schema_from_file: its messages for a missing or invalid file), then read here too, for the JavaScript
 * side's model names and field types. */
class OpenWorker : public Napi::AsyncWorker {
public:
    OpenWorker(const Napi::Function &callback, bool has_url, std::string url, std::string schema,
               bool schema_is_path, const kvorm_open_options &opts)
        : Napi::AsyncWorker(callback, "kvorm.open"), has_url_(has_url), url_(std::move(url)),
          schema_(std::move(schema)), schema_is_path_(schema_is_path), opts_(opts) {}

    void Execute() override {
        kvorm_schema *schema = NULL;
        if (schema_is_path_) {
            status_ = kvorm_schema_from_file(&schema, schema_.c_str());
            if (status_ == KVORM_OK && !read_file(schema_, &schema_json_)) {
                /* gone since the core read it: said as the core says it */
                kvorm_schema_free(schema);
                message_ = "schema: cannot open " + schema_ + ": " + std::strerror(errno);
                status_ = KVORM_ESCHEMA;
                return;
            }
        } else {
            schema_json_ = schema_;
            status_ = kvorm_schema_from_json(&schema, schema_json_.data(), schema_json_.size());
        }
        if (status_ == KVORM_OK)
            status_ = kvorm_open(&db_, has_url_ ? url_.c_str() : NULL, schema, &opts_);
        if (status_ != KVORM_OK) {
            message_ = kvorm_last_error_message();
            retryable_ = kvorm_last_error_retryable() != 0;
        }
        kvorm_schema_free(schema); /* the db keeps its own reference */
    }

    void OnOK() override {
        Napi::Env env = Env();
        Napi::Value db = env.Null();
        if (status_ == KVORM_OK)
            db = SWIG_NewPointerObj(db_, SWIGTYPE_p_kvorm_db, 0);
        Callback().Call({Napi::Number::New(env, status_), db, Napi::String::New(env, message_),
                         Napi::Boolean::New(env, retryable_), Napi::String::New(env, schema_json_)});
    }

private:
    static bool read_file(const std::string &path, std::string *out) {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            return false;
        out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return !in.bad();
    }

    bool has_url_;
    std::string url_, schema_, schema_json_, message_;
    bool schema_is_path_;
    kvorm_open_options opts_;
    kvorm_db *db_ = NULL;
    int status_ = KVORM_OK;
    bool retryable_ = false;
};

/* kvorm_exec_batch of a batch of requests on one worker thread: the core runs them in order and sends their reads
 * and writes to the store together (one round trip). The JavaScript side hands over the requests of one tick as
 * one batch: one work item and one callback per batch instead of per request, which is what keeps many requests
 * in flight cheap. The requests are copied: the caller's buffers may change or be collected before the worker
 * runs. */
class ExecWorker : public Napi::AsyncWorker {
public:
    ExecWorker(const Napi::Function &callback, kvorm_db *db, std::vector<std::vector<uint8_t>> requests)
        : Napi::AsyncWorker(callback, "kvorm.exec"), db_(db), requests_(std::move(requests)),
          results_(requests_.size()) {}

    ~ExecWorker() override {
        for (Result &result : results_)
            kvorm_free(result.out);
    }

    void Execute() override {
        size_t n = requests_.size();
        std::vector<const void *> requests(n);
        std::vector<size_t> lens(n);
        std::vector<unsigned char *> outs(n, NULL);
        std::vector<size_t> out_lens(n, 0);
        std::vector<int> statuses(n, KVORM_EINTERNAL);
        for (size_t i = 0; i < n; i++) {
            requests[i] = requests_[i].data();
            lens[i] = requests_[i].size();
        }
        int status = kvorm_exec_batch(outs.data(), out_lens.data(), statuses.data(), db_, requests.data(),
                                      lens.data(), n);
        for (size_t i = 0; i < n; i++) {
            results_[i].out = outs[i];
            results_[i].out_len = out_lens[i];
            results_[i].status = status == KVORM_OK ? statuses[i] : status;
        }
    }

    void OnOK() override {
        Napi::Env env = Env();
        Napi::Array statuses = Napi::Array::New(env, results_.size());
        Napi::Array responses = Napi::Array::New(env, results_.size());
        for (size_t i = 0; i < results_.size(); i++) {
            const Result &result = results_[i];
            uint32_t index = static_cast<uint32_t>(i);
            statuses.Set(index, Napi::Number::New(env, result.status));
            responses.Set(index, result.out == NULL ? env.Null()
                                                    : Napi::Buffer<uint8_t>::Copy(env, result.out, result.out_len));
        }
        Callback().Call({statuses, responses});
    }

private:
    struct Result {
        unsigned char *out = NULL;
        size_t out_len = 0;
        int status = KVORM_OK;
    };
    kvorm_db *db_;
    std::vector<std::vector<uint8_t>> requests_;
    std::vector<Result> results_;
};

Napi::Value kvorm_node_throw(Napi::Env env, const char *message) {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
}

} /* namespace */

/* The number (or boolean) property name of options, 0 when it is missing. */
static double kvorm_node_option(const Napi::Object &options, const char *name) {
    Napi::Value v = options.Get(name);
    if (v.IsBoolean())
        return v.As<Napi::Boolean>().Value() ? 1 : 0;
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
}

static Napi::Value kvorm_node_open_async(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() != 5 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsString() || !info[2].IsBoolean() ||
        !info[3].IsObject() || !info[4].IsFunction())
        return kvorm_node_throw(env, "openAsync(url, schema, schemaIsPath, options, callback)");
    Napi::Object options = info[3].As<Napi::Object>();
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    opts.connect_timeout_ms = (int)kvorm_node_option(options, "connectTimeoutMs");
    opts.command_timeout_ms = (int)kvorm_node_option(options, "commandTimeoutMs");
    opts.pool_size = (int)kvorm_node_option(options, "poolSize");
    opts.refuse_scans = (int)kvorm_node_option(options, "refuseScans");
    opts.map_size = (unsigned long long)kvorm_node_option(options, "mapSize");
    opts.max_map_size = (unsigned long long)kvorm_node_option(options, "maxMapSize");
    opts.sync = (int)kvorm_node_option(options, "sync");
    opts.read_only = (int)kvorm_node_option(options, "readOnly");
    opts.max_readers = (int)kvorm_node_option(options, "maxReaders");
    bool has_url = info[0].IsString();
    auto *worker = new OpenWorker(info[4].As<Napi::Function>(), has_url,
                                  has_url ? info[0].As<Napi::String>().Utf8Value() : std::string(),
                                  info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::Boolean>().Value(),
                                  opts);
    worker->Queue(); /* deletes itself after OnOK */
    return env.Undefined();
}

static Napi::Value kvorm_node_exec_async(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const char *usage = "execAsync(db, requests: Uint8Array[], callback)";
    void *db = NULL;
    if (info.Length() != 3 || !SWIG_IsOK(SWIG_ConvertPtr(info[0], &db, SWIGTYPE_p_kvorm_db, 0)) || db == NULL ||
        !info[1].IsArray() || !info[2].IsFunction())
        return kvorm_node_throw(env, usage);
    Napi::Array list = info[1].As<Napi::Array>();
    std::vector<std::vector<uint8_t>> requests(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
        Napi::Value item = list.Get(i);
        if (!item.IsTypedArray() || item.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
            return kvorm_node_throw(env, usage);
        Napi::Uint8Array request = item.As<Napi::Uint8Array>();
        requests[i].assign(request.Data(), request.Data() + request.ByteLength());
    }
    auto *worker = new ExecWorker(info[2].As<Napi::Function>(), static_cast<kvorm_db *>(db), std::move(requests));
    worker->Queue(); /* deletes itself after OnOK */
    return env.Undefined();
}
%}
