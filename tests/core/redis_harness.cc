#include "redis_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace kt {

// ---------------------------------------------------------------------------------------------------------------
// redis-server processes

int FreePort()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

// ---------------------------------------------------------------------------------------------------------------
// Waiting for events

bool WaitFor(const std::function<bool()> &cond, int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (cond())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

std::set<int> SocketFds()
{
    std::set<int> out;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return out;
    int self = dirfd(d);
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = std::atoi(e->d_name);
        struct stat st;
        if (fd != self && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
            out.insert(fd);
    }
    closedir(d);
    return out;
}

bool WaitReadable(const std::set<int> &fds, int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::set<int> waiting = fds;
    while (!waiting.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        std::vector<pollfd> p;
        for (int fd : waiting)
            p.push_back(pollfd{fd, POLLIN | POLLRDHUP, 0});
        int n = poll(p.data(), p.size(), static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR)
            return false;
        for (const auto &one : p)
            if (one.revents != 0)
                waiting.erase(one.fd);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------------------
// The gate proxy

GateProxy::~GateProxy() { Stop(); }

bool GateProxy::Start(int upstream_port, std::string *why)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        *why = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    std::string script = std::string(KVORM_TEST_TOOLS_DIR) + "/gate_proxy.py";
    std::string upstream = "127.0.0.1:" + std::to_string(upstream_port);
    std::vector<std::string> args = {"python3", script, "--upstream", upstream};
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *why = std::string("fork: ") + std::strerror(errno);
        close(sv[0]);
        close(sv[1]);
        return false;
    }
    if (pid == 0) {
        // the child: only async-signal-safe calls until exec
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(sv[1], 0);  // dup2 clears close-on-exec on the copies
        dup2(sv[1], 1);
        // no copy of this process's other sockets (kvorm's, the raw connections) may outlive their close here
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(sv[1]);
    pid_ = pid;
    io_ = sv[0];
    std::string line;
    if (!ReadLine(&line, kHangGuardMs, why)) {
        *why = "gate_proxy.py (" + script + ") did not say its port: " + *why;
        Stop();
        return false;
    }
    if (line.rfind("port ", 0) != 0 || (port_ = std::atoi(line.c_str() + 5)) <= 0) {
        *why = "gate_proxy.py said \"" + line + "\" instead of its port";
        Stop();
        return false;
    }
    return true;
}

void GateProxy::Stop()
{
    if (io_ >= 0) {
        std::string ignored;
        Send("quit", &ignored);
        shutdown(io_, SHUT_WR);  // the end of its stdin: it exits too
    }
    if (pid_ > 0) {
        int status = 0;
        // it exits on "quit"; SIGTERM only if it has not within the hang guard
        if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; })) {
            kill(pid_, SIGTERM);
            waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }
    if (io_ >= 0) {
        close(io_);
        io_ = -1;
    }
    port_ = 0;
}

bool GateProxy::Send(const std::string &line, std::string *why)
{
    std::string out = line + "\n";
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = send(io_, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = std::string("writing to gate_proxy.py: ") + std::strerror(errno);
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

bool GateProxy::ReadLine(std::string *line, int timeout_ms, std::string *why)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        size_t nl = buf_.find('\n');
        if (nl != std::string::npos) {
            *line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return true;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            *why = "no answer from gate_proxy.py within " + std::to_string(timeout_ms / 1000) + " s";
            return false;
        }
        pollfd p{io_, POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char chunk[512];
        ssize_t n = recv(io_, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = "gate_proxy.py exited (is python3 on the PATH?)";
            return false;
        }
        buf_.append(chunk, static_cast<size_t>(n));
    }
}

bool GateProxy::Hold(int n, int seconds, std::string *why)
{
    if (!Send("hold " + std::to_string(n) + " " + std::to_string(seconds), why))
        return false;
    std::string line;
    if (!ReadLine(&line, kHangGuardMs, why))
        return false;
    if (line != "holding") {
        *why = "gate_proxy.py answered \"" + line + "\" to hold";
        return false;
    }
    return true;
}

int GateProxy::WaitReleased(std::string *why, int timeout_ms)
{
    std::string line;
    if (!ReadLine(&line, timeout_ms, why))
        return -1;
    if (line.rfind("released ", 0) != 0) {
        *why = "gate_proxy.py said \"" + line + "\" instead of released";
        return -1;
    }
    return std::atoi(line.c_str() + 9);
}

// ---------------------------------------------------------------------------------------------------------------
// redis-server processes

RedisServer::RedisServer(std::string name, std::vector<std::string> extra_args, std::string password)
    : name_(std::move(name)), extra_(std::move(extra_args)), password_(std::move(password))
{
}

RedisServer::~RedisServer() { Stop(); }

std::string RedisServer::UnixUrl(const std::string &query) const
{
    return "unix://" + socket_path() + (query.empty() ? "" : "?" + query);
}

std::string RedisServer::TcpUrl(const std::string &path_and_query, const std::string &userinfo) const
{
    return "redis://" + (userinfo.empty() ? "" : userinfo + "@") + "127.0.0.1:" + std::to_string(port_) +
           path_and_query;
}

std::string RedisServer::Log() const
{
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

redisContext *RedisServer::Connect() const
{
    timeval tv{2, 0};
    redisContext *c = redisConnectUnixWithTimeout(socket_path().c_str(), tv);
    if (!c)
        return nullptr;
    if (c->err) {
        redisFree(c);
        return nullptr;
    }
    if (!password_.empty()) {
        redisReply *r = static_cast<redisReply *>(redisCommand(c, "AUTH %b", password_.data(), password_.size()));
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return nullptr;
        }
    }
    return c;
}

bool RedisServer::Start(std::string *why)
{
    char tmpl[] = "/tmp/kvorm-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
        *why = std::string("mkdtemp: ") + std::strerror(errno);
        return false;
    }
    dir_ = tmpl;
    {
        // who owns the directory, so that a later run can remove it if this process dies before its TearDown
        std::ofstream owner(dir_ + "/owner");
        owner << getpid() << "\n";
    }
    port_ = FreePort();
    if (port_ <= 0) {
        *why = "cannot find a free TCP port";
        return false;
    }
    const char *bin_env = std::getenv("KVORM_REDIS_SERVER");
    std::string bin = bin_env && *bin_env ? bin_env : "redis-server";
    std::vector<std::string> args = {bin,
                                     "--port", std::to_string(port_),
                                     "--bind", "127.0.0.1",
                                     "--unixsocket", socket_path(),
                                     "--unixsocketperm", "700",
                                     "--save", "",
                                     "--appendonly", "no",
                                     "--dir", dir_,
                                     "--daemonize", "no",
                                     "--databases", "16"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = dir_ + "/redis.log";

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *why = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    if (pid == 0) {
        // the child: only async-signal-safe calls until exec
        prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the test process
        if (getppid() != parent)
            _exit(127);
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv.data());
        _exit(127);
    }
    pid_ = pid;

    // a hang guard, not a verdict: a loaded machine may take its time to start a process
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHangGuardMs);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            *why = name_ + ": redis-server exited before answering PING (" + bin + "); its log:\n" + Log();
            return false;
        }
        redisContext *c = Connect();
        if (c) {
            redisReply *r = static_cast<redisReply *>(redisCommand(c, "PING"));
            bool pong = r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (pong)
                return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *why = name_ + ": redis-server did not answer PING within " + std::to_string(kHangGuardMs / 1000) +
           " s; its log:\n" + Log();
    Stop();
    return false;
}

void RedisServer::Stop()
{
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        int status = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        bool reaped = false;
        while (std::chrono::steady_clock::now() < deadline) {
            pid_t r = waitpid(pid_, &status, WNOHANG);
            if (r == pid_ || (r < 0 && errno == ECHILD)) {
                reaped = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!reaped) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

namespace {
RedisServer *g_main = nullptr;
RedisServer *g_auth = nullptr;
bool g_ready = false;
}  // namespace

// Removes the directories of earlier runs whose process died without its TearDown (a crash or an abort under a
// sanitizer): those whose owner file names a process that no longer exists. Their redis-server went with them
// (PR_SET_PDEATHSIG).
static void RemoveStaleDirs()
{
    std::error_code ec;
    for (const auto &entry : std::filesystem::directory_iterator("/tmp", ec)) {
        std::string name = entry.path().filename().string();
        if (name.rfind("kvorm-test-", 0) != 0 || !entry.is_directory(ec))
            continue;
        std::ifstream owner(entry.path() / "owner");
        long pid = 0;
        if (!(owner >> pid) || pid <= 0)
            continue;
        if (kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH)
            std::filesystem::remove_all(entry.path(), ec);
    }
}

void RedisEnvironment::SetUp()
{
    RemoveStaleDirs();
    g_main = new RedisServer("main", {});
    g_auth = new RedisServer("auth",
                             {"--requirepass", "secret",
                              "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all",
                              "--user", "bob", "on", ">p@ss w:rd", "~*", "&*", "+@all"},
                             "secret");
    std::string why;
    ASSERT_TRUE(g_main->Start(&why)) << why;
    ASSERT_TRUE(g_auth->Start(&why)) << why;
    g_ready = true;
}

void RedisEnvironment::TearDown()
{
    g_ready = false;
    delete g_auth;  // stops the server it started and removes its directory
    delete g_main;
    g_auth = g_main = nullptr;
}

RedisServer &RedisEnvironment::Main() { return *g_main; }
RedisServer &RedisEnvironment::Auth() { return *g_auth; }
bool RedisEnvironment::Ready() { return g_ready; }

// ---------------------------------------------------------------------------------------------------------------
// Raw Redis

Raw::~Raw()
{
    if (c_)
        redisFree(c_);
}

Raw &Raw::operator=(Raw &&o) noexcept
{
    if (this != &o) {
        if (c_)
            redisFree(c_);
        c_ = o.c_;
        o.c_ = nullptr;
    }
    return *this;
}

ReplyPtr Raw::Cmd(const std::vector<std::string> &args)
{
    if (!c_) {
        ADD_FAILURE() << "raw Redis connection is not open";
        return nullptr;
    }
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const auto &a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    auto *r = static_cast<redisReply *>(redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(),
                                                         lens.data()));
    if (!r) {
        ADD_FAILURE() << "raw Redis command " << (args.empty() ? "" : args[0]) << " failed: " << c_->errstr;
        return nullptr;
    }
    return ReplyPtr(r);
}

std::string Raw::Str(const std::vector<std::string> &args)
{
    auto r = Cmd(args);
    if (!r)
        return "";
    if (r->type == REDIS_REPLY_ERROR)
        ADD_FAILURE() << "raw Redis " << args[0] << ": " << std::string(r->str, r->len);
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR)
        return std::string(r->str, r->len);
    return "";
}

long long Raw::Int(const std::vector<std::string> &args)
{
    auto r = Cmd(args);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        ADD_FAILURE() << "raw Redis " << args[0] << ": expected an integer reply, got type " << r->type
                      << (r->type == REDIS_REPLY_ERROR ? ": " + std::string(r->str, r->len) : "");
        return -1;
    }
    return r->integer;
}

std::vector<std::string> Raw::Keys()
{
    std::vector<std::string> out;
    auto r = Cmd({"KEYS", "*"});
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t k = 0; k < r->elements; k++)
            out.emplace_back(r->element[k]->str, r->element[k]->len);
    std::sort(out.begin(), out.end());
    return out;
}

long long Raw::DbSize() { return Int({"DBSIZE"}); }
bool Raw::Exists(const std::string &key) { return Int({"EXISTS", key}) == 1; }
std::string Raw::Type(const std::string &key) { return Str({"TYPE", key}); }

std::optional<std::string> Raw::Get(const std::string &key)
{
    auto r = Cmd({"GET", key});
    if (r && r->type == REDIS_REPLY_STRING)
        return std::string(r->str, r->len);
    return std::nullopt;
}

std::optional<std::string> Raw::HGet(const std::string &key, const std::string &field)
{
    auto r = Cmd({"HGET", key, field});
    if (r && r->type == REDIS_REPLY_STRING)
        return std::string(r->str, r->len);
    return std::nullopt;
}

std::map<std::string, std::string> Raw::HGetAll(const std::string &key)
{
    std::map<std::string, std::string> out;
    auto r = Cmd({"HGETALL", key});
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t k = 0; k + 1 < r->elements; k += 2)
            out[std::string(r->element[k]->str, r->element[k]->len)] =
                std::string(r->element[k + 1]->str, r->element[k + 1]->len);
    return out;
}

long long Raw::HLen(const std::string &key) { return Int({"HLEN", key}); }
long long Raw::ZCard(const std::string &key) { return Int({"ZCARD", key}); }

std::vector<std::pair<std::string, std::string>> Raw::ZRangeWithScores(const std::string &key)
{
    std::vector<std::pair<std::string, std::string>> out;
    auto r = Cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"});
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t k = 0; k + 1 < r->elements; k += 2)
            out.emplace_back(std::string(r->element[k]->str, r->element[k]->len),
                             std::string(r->element[k + 1]->str, r->element[k + 1]->len));
    return out;
}

void Raw::FlushAll()
{
    std::string s = Str({"FLUSHALL"});
    EXPECT_EQ(s, "OK");
}

void Raw::Select(int db)
{
    std::string s = Str({"SELECT", std::to_string(db)});
    EXPECT_EQ(s, "OK");
}

std::map<std::string, std::string> Raw::Snapshot()
{
    std::map<std::string, std::string> out;
    for (const auto &key : Keys()) {
        std::string type = Type(key);
        std::string content = type + ":";
        if (type == "hash") {
            for (const auto &kv : HGetAll(key))
                content += Hex(kv.first) + "=" + Hex(kv.second) + ";";
        } else if (type == "zset") {
            for (const auto &kv : ZRangeWithScores(key))
                content += Hex(kv.first) + "@" + kv.second + ";";
        } else if (type == "string") {
            content += Hex(Get(key).value_or(""));
        } else {
            auto r = Cmd({"DUMP", key});
            if (r && r->type == REDIS_REPLY_STRING)
                content += Hex(std::string(r->str, r->len));
        }
        out[key] = content;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// kvorm handles

std::string LastError()
{
    return std::string(kvorm_error_name(kvorm_last_error_code())) + ": " + kvorm_last_error_message();
}

SchemaPtr LoadSchema(const std::string &json)
{
    kvorm_schema *s = nullptr;
    int rc = kvorm_schema_from_json(&s, json.data(), json.size());
    if (rc != KVORM_OK) {
        ADD_FAILURE() << "kvorm_schema_from_json failed: " << rc << " " << LastError() << "\nschema: " << json;
        return nullptr;
    }
    if (!s)
        ADD_FAILURE() << "kvorm_schema_from_json returned OK but no schema";
    return SchemaPtr(s);
}

namespace {
std::string g_lmdb_dir;  // the current test's LMDB environment (KVORM_TEST_ENGINE=lmdb), made on first use
}

bool OnLmdb()
{
    const char *e = getenv("KVORM_TEST_ENGINE");
    return e && std::string(e) == "lmdb";
}

std::string DefaultUrl()
{
    if (!OnLmdb())
        return RedisEnvironment::Main().UnixUrl();
    if (g_lmdb_dir.empty()) {
        char tmpl[] = "/tmp/kvorm-test-lmdb-XXXXXX";
        if (!mkdtemp(tmpl)) {
            ADD_FAILURE() << "mkdtemp: " << strerror(errno);
            return "lmdb:///nonexistent";
        }
        g_lmdb_dir = tmpl;
    }
    return "lmdb://" + g_lmdb_dir + "/env?sync=nosync&mapsize=16777216";
}

void ForgetDefaultStore()
{
    if (g_lmdb_dir.empty())
        return;
    std::error_code ec;
    std::filesystem::remove_all(g_lmdb_dir, ec);
    g_lmdb_dir.clear();
}

DbPtr OpenDb(const kvorm_schema *schema, const std::string &url)
{
    std::string u = url.empty() ? DefaultUrl() : url;
    kvorm_db *db = nullptr;
    int rc = kvorm_open(&db, u.c_str(), schema, nullptr);
    if (rc != KVORM_OK) {
        ADD_FAILURE() << "kvorm_open(" << u << ") failed: " << rc << " " << LastError();
        return nullptr;
    }
    if (!db)
        ADD_FAILURE() << "kvorm_open returned OK but no db";
    return DbPtr(db);
}

DbPtr OpenDb(const std::string &schema_json, const std::string &url)
{
    SchemaPtr s = LoadSchema(schema_json);
    if (!s)
        return nullptr;
    return OpenDb(s.get(), url);  // the db keeps its own reference to the schema
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

JsonPtr ParseJson(const std::string &text)
{
    json_error_t e;
    json_t *j = json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    return JsonPtr(j, JsonDeleter());
}

std::string DumpJson(const json_t *j)
{
    if (!j)
        return "(null)";
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    std::string out = s ? s : "(unprintable)";
    free(s);
    return out;
}

const json_t *JRes::at(const char *key) const
{
    if (!doc || !json_is_object(doc.get()))
        return nullptr;
    return json_object_get(doc.get(), key);
}

std::string JRes::str(const char *key) const
{
    const json_t *v = at(key);
    return v && json_is_string(v) ? std::string(json_string_value(v), json_string_length(v)) : std::string();
}

long long JRes::integer(const char *key) const
{
    const json_t *v = at(key);
    return v && json_is_integer(v) ? json_integer_value(v) : -999999;
}

bool JRes::is_null(const char *key) const
{
    const json_t *v = at(key);
    return v && json_is_null(v);
}

bool JRes::has(const char *key) const { return at(key) != nullptr; }

std::vector<std::string> JRes::fields() const
{
    std::vector<std::string> out;
    const json_t *f = at("fields");
    if (f && json_is_array(f))
        for (size_t k = 0; k < json_array_size(f); k++) {
            const json_t *s = json_array_get(f, k);
            out.push_back(json_is_string(s) ? json_string_value(s) : "(not a string)");
        }
    return out;
}

JRes ExecJson(kvorm_db *db, const std::string &request)
{
    JRes r;
    char *out = nullptr;
    size_t len = 0;
    r.rc = kvorm_exec_json(&out, &len, db, request.data(), request.size());
    if (out) {
        r.text.assign(out, len);
        EXPECT_EQ(std::strlen(out), len) << "kvorm_exec_json: out_len disagrees with the NUL terminator";
        kvorm_free(out);
        r.doc = ParseJson(r.text);
    } else if (r.rc != KVORM_EMISUSE) {
        ADD_FAILURE() << "kvorm_exec_json returned " << r.rc << " without setting *out";
    }
    return r;
}

std::string Req(const std::string &model, const std::string &op, const std::string &args)
{
    std::string s = "{\"model\":" + JStr(model) + ",\"op\":" + JStr(op);
    if (!args.empty())
        s += ",\"args\":" + args;
    return s + "}";
}

std::string JStr(const std::string &s)
{
    json_t *j = json_stringn_nocheck(s.data(), s.size());
    std::string out = DumpJson(j);
    json_decref(j);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// MessagePack

MRes Exec(kvorm_db *db, const std::string &request_bytes)
{
    MRes r;
    unsigned char *out = nullptr;
    size_t len = 0;
    r.rc = kvorm_exec(&out, &len, db, request_bytes.data(), request_bytes.size());
    if (out) {
        r.raw.assign(reinterpret_cast<const char *>(out), len);
        kvorm_free(out);
        r.parsed = mp::unpack(r.raw, &r.doc);
    } else if (r.rc != KVORM_EMISUSE) {
        ADD_FAILURE() << "kvorm_exec returned " << r.rc << " without setting *out";
    }
    return r;
}

MRes Exec(kvorm_db *db, const mp::V &request) { return Exec(db, mp::pack(request)); }

mp::V MReq(const std::string &model, const std::string &op, const mp::V &args)
{
    std::vector<std::pair<mp::V, mp::V>> items = {{"model", model}, {"op", op}};
    if (!args.is_nil())
        items.emplace_back("args", args);
    return mp::map(std::move(items));
}

// ---------------------------------------------------------------------------------------------------------------
// Bytes

std::string Hex(const std::string &bytes)
{
    static const char *digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string Unhex(const std::string &hex)
{
    std::string out;
    auto val = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (size_t k = 0; k + 1 < hex.size(); k += 2)
        out += static_cast<char>(val(hex[k]) * 16 + val(hex[k + 1]));
    return out;
}

static std::string be(uint64_t v, int n)
{
    std::string out;
    for (int k = n - 1; k >= 0; k--)
        out += static_cast<char>((v >> (8 * k)) & 0xff);
    return out;
}

std::string MpStr(const std::string &s)
{
    size_t n = s.size();
    if (n < 32)
        return std::string(1, static_cast<char>(0xa0 | n)) + s;
    if (n < 256)
        return "\xd9" + be(n, 1) + s;
    if (n < 65536)
        return "\xda" + be(n, 2) + s;
    return "\xdb" + be(n, 4) + s;
}

std::string MpInt(long long v)
{
    if (v >= 0) {
        uint64_t u = static_cast<uint64_t>(v);
        if (u <= 0x7f)
            return std::string(1, static_cast<char>(u));
        if (u <= 0xff)
            return "\xcc" + be(u, 1);
        if (u <= 0xffff)
            return "\xcd" + be(u, 2);
        if (u <= 0xffffffffull)
            return "\xce" + be(u, 4);
        return "\xcf" + be(u, 8);
    }
    if (v >= -32)
        return std::string(1, static_cast<char>(v));
    uint64_t u = static_cast<uint64_t>(v);
    if (v >= -128)
        return "\xd0" + be(u, 1);
    if (v >= -32768)
        return "\xd1" + be(u, 2);
    if (v >= -2147483648LL)
        return "\xd2" + be(u, 4);
    return "\xd3" + be(u, 8);
}

std::string MpBin(const std::string &b)
{
    size_t n = b.size();
    if (n < 256)
        return "\xc4" + be(n, 1) + b;
    if (n < 65536)
        return "\xc5" + be(n, 2) + b;
    return "\xc6" + be(n, 4) + b;
}

std::string TsPayload(long long sec, unsigned ns)
{
    if (ns == 0 && sec >= 0 && sec < (1LL << 32))
        return be(static_cast<uint64_t>(sec), 4);
    if (sec >= 0 && sec < (1LL << 34))
        return be((static_cast<uint64_t>(ns) << 34) | static_cast<uint64_t>(sec), 8);
    return be(ns, 4) + be(static_cast<uint64_t>(sec), 8);
}

std::string TsObject(long long sec, unsigned ns)
{
    std::string p = TsPayload(sec, ns);
    if (p.size() == 4)
        return "\xd6\xff" + p;
    if (p.size() == 8)
        return "\xd7\xff" + p;
    return std::string("\xc7\x0c\xff", 3) + p;
}

std::string Base64(const std::string &bytes)
{
    static const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t k = 0;
    for (; k + 2 < bytes.size(); k += 3) {
        uint32_t v = (uint8_t(bytes[k]) << 16) | (uint8_t(bytes[k + 1]) << 8) | uint8_t(bytes[k + 2]);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    if (k + 1 == bytes.size()) {
        uint32_t v = uint8_t(bytes[k]) << 16;
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += "==";
    } else if (k + 2 == bytes.size()) {
        uint32_t v = (uint8_t(bytes[k]) << 16) | (uint8_t(bytes[k + 1]) << 8);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
long long DaysFromCivil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

long long UnixSeconds(int y, int mo, int d, int h, int mi, int s)
{
    return DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600LL +
           mi * 60LL + s;
}

// ---------------------------------------------------------------------------------------------------------------
// Fixture

void KvTest::SetUp()
{
    ASSERT_TRUE(RedisEnvironment::Ready()) << "the test redis-server is not running";
    raw_ = Raw(RedisEnvironment::Main().Connect());
    ASSERT_TRUE(raw_.ok()) << "cannot connect to the test redis-server";
    raw_.FlushAll();
}

void KvTest::TearDown()
{
    dbs_.clear();  // close every db before the next test flushes the server
    ForgetDefaultStore();
}

kvorm_db *KvTest::Open(const std::string &schema_json, const std::string &url)
{
    DbPtr db = OpenDb(schema_json, url);
    kvorm_db *p = db.get();
    if (db)
        dbs_.push_back(std::move(db));
    return p;
}

// The INFO that ends the count is one of the reads, taken off.
long long SocketReads(Raw &raw, const std::function<void()> &fn)
{
    auto reads = [&] {
        std::string info = raw.Str({"INFO", "stats"});
        size_t at = info.find("total_reads_processed:");
        return at == std::string::npos ? -1LL : std::atoll(info.c_str() + at + 22);
    };
    long long before = reads();
    fn();
    return reads() - before - 1;
}

}  // namespace kt
