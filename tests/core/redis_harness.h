// The test harness: real redis-server processes started by the suite itself, a raw hiredis connection to check
// what kvorm stored, and helpers to load schemas, open dbs and run requests in JSON and in MessagePack.
#ifndef KVORM_TESTS_REDIS_HARNESS_H
#define KVORM_TESTS_REDIS_HARNESS_H

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kvorm.h"
#include "mp_value.h"

namespace kt {

// ---------------------------------------------------------------------------------------------------------------
// redis-server processes

// One redis-server in its own temporary directory, listening on 127.0.0.1:<free port> and <dir>/redis.sock.
class RedisServer {
public:
    RedisServer(std::string name, std::vector<std::string> extra_args, std::string password = "");
    ~RedisServer();
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    // Starts the server and waits (5 s at most) until it answers PING. On failure *why says what happened.
    bool Start(std::string *why);
    // Stops the server started by Start (SIGTERM to its pid, waitpid) and removes its directory.
    void Stop();

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string &dir() const { return dir_; }
    std::string socket_path() const { return dir_ + "/redis.sock"; }
    // unix:///<dir>/redis.sock[?query]
    std::string UnixUrl(const std::string &query = "") const;
    // redis://[userinfo@]127.0.0.1:<port>[path_and_query]
    std::string TcpUrl(const std::string &path_and_query = "", const std::string &userinfo = "") const;
    // A new raw connection over the unix socket, authenticated with the server password when there is one.
    // nullptr on failure.
    redisContext *Connect() const;
    std::string Log() const;

private:
    std::string name_;
    std::vector<std::string> extra_;
    std::string password_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// Starts the servers before the first test and stops them after the last one.
class RedisEnvironment : public ::testing::Environment {
public:
    void SetUp() override;
    void TearDown() override;
    static RedisServer &Main();  // no auth
    static RedisServer &Auth();  // requirepass "secret", ACL users alice/"alicepw" and bob/"p@ss w:rd"
    static bool Ready();
};

// A TCP port on 127.0.0.1 that nothing listens on right now (bound to port 0, then released).
int FreePort();

// ---------------------------------------------------------------------------------------------------------------
// Waiting for events, never for a guessed amount of time

// The generous bound of every wait below: it only stops a test that would otherwise hang, it never decides
// whether a test passes on a slow or loaded machine.
constexpr int kHangGuardMs = 60 * 1000;

// Checks cond every millisecond or so until it holds or timeout_ms passes; returns whether it held.
bool WaitFor(const std::function<bool()> &cond, int timeout_ms = kHangGuardMs);

// The file descriptors of this process that are sockets (from /proc/self/fd): the ones a call opened are those
// in the set after it and not before.
std::set<int> SocketFds();
// Waits until every one of fds is readable or hung up (the peer closed it), timeout_ms at most; true if so.
bool WaitReadable(const std::set<int> &fds, int timeout_ms = kHangGuardMs);

// ---------------------------------------------------------------------------------------------------------------
// tests/tools/gate_proxy.py: a TCP proxy in front of a server that proves calls overlap by counting them (see its
// docstring). Run by python3 from the PATH; its stdin and stdout are a socket pair of this process.

class GateProxy {
public:
    GateProxy() = default;
    ~GateProxy();
    GateProxy(const GateProxy &) = delete;
    GateProxy &operator=(const GateProxy &) = delete;

    // Starts it in front of 127.0.0.1:upstream_port and reads its "port N".
    bool Start(int upstream_port, std::string *why);
    // "quit"; then SIGTERM to its pid if it is still there, and waitpid.
    void Stop();
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    // "hold n seconds": from now on it holds back what clients send until n connections have something held
    // (or the seconds pass). True once it answered "holding".
    bool Hold(int n, int seconds, std::string *why);
    // Reads its "released K": K is the most connections that had something held at once, -1 on failure.
    int WaitReleased(std::string *why, int timeout_ms = 2 * kHangGuardMs);

private:
    bool Send(const std::string &line, std::string *why);
    bool ReadLine(std::string *line, int timeout_ms, std::string *why);

    pid_t pid_ = -1;
    int io_ = -1;  // our end of the socket pair that is its stdin and stdout
    int port_ = 0;
    std::string buf_;
};

// ---------------------------------------------------------------------------------------------------------------
// Raw Redis, for assertions about stored bytes and keys

struct ReplyDeleter {
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

class Raw {
public:
    Raw() = default;
    explicit Raw(redisContext *c) : c_(c) {}
    ~Raw();
    Raw(Raw &&o) noexcept : c_(o.c_) { o.c_ = nullptr; }
    Raw &operator=(Raw &&o) noexcept;
    Raw(const Raw &) = delete;
    Raw &operator=(const Raw &) = delete;

    bool ok() const { return c_ != nullptr && c_->err == 0; }
    redisContext *ctx() const { return c_; }

    // Runs a command given as binary-safe arguments. Returns nullptr (and records a test failure) on I/O errors.
    ReplyPtr Cmd(const std::vector<std::string> &args);
    // Runs a command and expects a status/string reply; returns its text ("" on failure).
    std::string Str(const std::vector<std::string> &args);
    long long Int(const std::vector<std::string> &args);

    std::vector<std::string> Keys();  // sorted
    long long DbSize();
    bool Exists(const std::string &key);
    std::string Type(const std::string &key);
    std::optional<std::string> Get(const std::string &key);
    std::optional<std::string> HGet(const std::string &key, const std::string &field);
    std::map<std::string, std::string> HGetAll(const std::string &key);
    long long HLen(const std::string &key);
    // member -> score text
    std::vector<std::pair<std::string, std::string>> ZRangeWithScores(const std::string &key);
    long long ZCard(const std::string &key);
    void FlushAll();
    void Select(int db);
    // Every key with its type and full content, to compare the whole dataset before and after a call.
    std::map<std::string, std::string> Snapshot();

private:
    redisContext *c_ = nullptr;
};

// Socket reads Redis's event loop made from its clients (INFO stats total_reads_processed) while fn ran: a count of
// round trips, whatever the machine's speed (-1: this Redis does not count them).
long long SocketReads(Raw &raw, const std::function<void()> &fn);

// ---------------------------------------------------------------------------------------------------------------
// kvorm handles

struct SchemaDeleter {
    void operator()(kvorm_schema *s) const { kvorm_schema_free(s); }
};
struct DbDeleter {
    void operator()(kvorm_db *d) const { kvorm_close(d); }
};
using SchemaPtr = std::unique_ptr<kvorm_schema, SchemaDeleter>;
using DbPtr = std::unique_ptr<kvorm_db, DbDeleter>;

// Loads a schema from JSON text; records a test failure (with kvorm's message) and returns null on failure.
SchemaPtr LoadSchema(const std::string &json);
// Opens a db on url (default: the main server's unix socket); records a failure and returns null on failure.
// The engine the behaviour tests run on: with KVORM_TEST_ENGINE=lmdb (ctest's kvorm_core_tests_lmdb), a db
// opened with no URL is an LMDB environment of the current test's own, removed at KvTest::TearDown; else the main
// redis-server's unix socket. Tests that read raw Redis keys are Redis-only (tests/CMakeLists.txt lists the
// suites that run on both).
bool OnLmdb();
// Marks a test of a suite that runs on both engines as Redis-only (it reads raw Redis keys or drives the server):
// on LMDB it is skipped, saying why.
#define KT_REDIS_ONLY(why)                          \
    do {                                            \
        if (::kt::OnLmdb())                         \
            GTEST_SKIP() << "Redis-only: " << why;  \
    } while (0)
std::string DefaultUrl();
void ForgetDefaultStore();
DbPtr OpenDb(const kvorm_schema *schema, const std::string &url = "");
DbPtr OpenDb(const std::string &schema_json, const std::string &url = "");

// The status and message of kvorm's last error on this thread, for failure messages.
std::string LastError();

// ---------------------------------------------------------------------------------------------------------------
// JSON requests (kvorm_exec_json)

struct JsonDeleter {
    void operator()(json_t *j) const { json_decref(j); }
};
using JsonPtr = std::shared_ptr<json_t>;

JsonPtr ParseJson(const std::string &text);  // null when the text is not JSON
std::string DumpJson(const json_t *j);        // compact

struct JRes {
    int rc = 0;
    std::string text;  // the response as returned
    JsonPtr doc;       // parsed response (null when it is not JSON)

    const json_t *get() const { return doc.get(); }
    // Member of the top-level object (nullptr when absent or not an object).
    const json_t *at(const char *key) const;
    std::string str(const char *key) const;  // "" when absent or not a string
    long long integer(const char *key) const;
    bool is_null(const char *key) const;
    bool has(const char *key) const;
    // The "fields" array of an error document.
    std::vector<std::string> fields() const;
};

JRes ExecJson(kvorm_db *db, const std::string &request);
// {"model": model, "op": op, "args": args}; args is JSON text, omitted when empty.
std::string Req(const std::string &model, const std::string &op, const std::string &args = "");
// A JSON string literal for s (quotes and escapes), e.g. for ids with newlines.
std::string JStr(const std::string &s);

#define KT_ASSERT_OK(res) ASSERT_EQ((res).rc, KVORM_OK) << (res).text
#define KT_EXPECT_OK(res) EXPECT_EQ((res).rc, KVORM_OK) << (res).text
#define KT_ASSERT_CODE(res, status, name)                                 \
    do {                                                                  \
        ASSERT_EQ((res).rc, (status)) << (res).text;                      \
        ASSERT_TRUE((res).doc) << "error document is not JSON: " << (res).text; \
        EXPECT_EQ((res).str("code"), (name)) << (res).text;               \
    } while (0)

// ---------------------------------------------------------------------------------------------------------------
// MessagePack requests (kvorm_exec)

struct MRes {
    int rc = 0;
    std::string raw;  // the response bytes
    bool parsed = false;
    mp::V doc;  // the response, when it is exactly one MessagePack object
};

MRes Exec(kvorm_db *db, const std::string &request_bytes);
MRes Exec(kvorm_db *db, const mp::V &request);
// {"model": model, "op": op, "args": args} (args omitted when nil)
mp::V MReq(const std::string &model, const std::string &op, const mp::V &args = mp::V());

// ---------------------------------------------------------------------------------------------------------------
// Bytes

std::string Hex(const std::string &bytes);
std::string Unhex(const std::string &hex);
// The canonical MessagePack encodings the tests expect, written from the MessagePack specification.
std::string MpStr(const std::string &s);
std::string MpInt(long long v);
std::string MpBin(const std::string &b);
// Canonical timestamp extension payload (4, 8 or 12 bytes) and whole object.
std::string TsPayload(long long sec, unsigned ns);
std::string TsObject(long long sec, unsigned ns);
std::string Base64(const std::string &bytes);

// Seconds since the epoch (UTC) for a proleptic Gregorian date, independent of kvorm.
long long DaysFromCivil(long long y, unsigned m, unsigned d);
long long UnixSeconds(int y, int mo, int d, int h = 0, int mi = 0, int s = 0);

// ---------------------------------------------------------------------------------------------------------------
// The fixture most tests use: a clean main server (FLUSHALL) and a raw connection to it.

class KvTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Opens (and keeps until the end of the test) a db over the main server's unix socket.
    kvorm_db *Open(const std::string &schema_json, const std::string &url = "");

    Raw raw_;
    std::vector<DbPtr> dbs_;
};

}  // namespace kt

#endif
