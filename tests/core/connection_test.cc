// Connecting (kvorm_open URLs, AUTH, database numbers), CONNECTION and TIMEOUT errors, reconnection, the
// capabilities map, and MISUSE of kvorm_open.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "test_util.h"

namespace kt {
namespace {

using Clock = std::chrono::steady_clock;

long long MsSince(Clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string Lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Opens and returns the status; *db is set on success.
int TryOpen(kvorm_db **db, const std::string &url, const std::string &schema_json = kAppSchema,
            const kvorm_open_options *opts = nullptr)
{
    SchemaPtr s = LoadSchema(schema_json);
    if (!s)
        return -999;
    *db = nullptr;
    return kvorm_open(db, url.c_str(), s.get(), opts);
}

class Connection : public KvTest {};

// ---- URLs ------------------------------------------------------------------------------------------------------

TEST_F(Connection, OpensOverTheUnixSocket)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl());
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"u"}})")));
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:u"));
}

TEST_F(Connection, OpensOverTcp)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl());
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"t"}})")));
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:t"));
}

TEST_F(Connection, TheDatabaseNumberOfARedisUrlSelectsTheDatabase)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl("/3"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"in3"}})")));
    EXPECT_EQ(raw_.DbSize(), 0) << "nothing in database 0";
    raw_.Select(3);
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:in3"));
    EXPECT_TRUE(raw_.Exists("app:$schema"));
    raw_.Select(0);
}

TEST_F(Connection, TheDbParameterOfAUnixUrlSelectsTheDatabase)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("db=2"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"in2"}})")));
    EXPECT_EQ(raw_.DbSize(), 0);
    raw_.Select(2);
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:in2"));
    raw_.Select(0);
}

TEST_F(Connection, DatabasesHoldSeparateData)
{
    kvorm_db *a = Open(kAppSchema, RedisEnvironment::Main().TcpUrl("/0"));
    kvorm_db *b = Open(kAppSchema, RedisEnvironment::Main().TcpUrl("/5"));
    ASSERT_TRUE(a && b);
    KT_ASSERT_OK(ExecJson(a, Req("Item", "create", R"({"data":{"id":"same"}})")));
    KT_ASSERT_OK(ExecJson(b, Req("Item", "create", R"({"data":{"id":"same"}})")));  // no UNIQUE_VIOLATION
    EXPECT_EQ(ExecJson(a, Req("Item", "count")).text, "1");
    EXPECT_EQ(ExecJson(b, Req("Item", "count")).text, "1");
}

TEST_F(Connection, QueryParametersAreAccepted)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("db=0&timeout=2000&connect_timeout=500&pool=2"));
    ASSERT_NE(db, nullptr);
    KT_EXPECT_OK(ExecJson(db, Req("Item", "count")));
    kvorm_db *tcp = Open(kAppSchema, RedisEnvironment::Main().TcpUrl("/0?timeout=2000&connect_timeout=500&pool=3"));
    ASSERT_NE(tcp, nullptr);
    KT_EXPECT_OK(ExecJson(tcp, Req("Item", "count")));
}

TEST_F(Connection, InvalidUrlsAreMisuseWithoutADb)
{
    const std::string port = std::to_string(RedisEnvironment::Main().port());
    const std::string cases[] = {
        "",
        "http://127.0.0.1:" + port,
        "redis//127.0.0.1:" + port,
        "redis://127.0.0.1:notaport",
        "redis://127.0.0.1:70000",
        "redis://127.0.0.1:" + port + "/notadb",
        "redis://127.0.0.1:" + port + "/-1",
        "redis://127.0.0.1:" + port + "?bogus=1",
        "unix://relative/redis.sock",
        "unix://",
        RedisEnvironment::Main().UnixUrl("bogus=1"),
        RedisEnvironment::Main().UnixUrl("db=x"),
        RedisEnvironment::Main().UnixUrl("timeout=-5"),
    };
    for (const auto &url : cases) {
        kvorm_db *db = reinterpret_cast<kvorm_db *>(0x1);
        int rc = TryOpen(&db, url);
        EXPECT_EQ(rc, KVORM_EMISUSE) << "url: " << url << "\n" << LastError();
        EXPECT_EQ(db, nullptr) << "url: " << url;
        EXPECT_STRNE(kvorm_last_error_message(), "") << "url: " << url;
        if (rc == KVORM_OK)
            kvorm_close(db);
    }
}

TEST_F(Connection, APasswordInAnInvalidUrlIsNeverShown)
{
    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, "redis://alice:S3cretPw0rd@127.0.0.1:notaport/0");
    EXPECT_EQ(rc, KVORM_EMISUSE);
    std::string msg = kvorm_last_error_message();
    EXPECT_EQ(msg.find("S3cretPw0rd"), std::string::npos) << msg;
    rc = TryOpen(&db, RedisEnvironment::Main().UnixUrl("password=S3cretPw0rd&bogus=1"));
    EXPECT_EQ(rc, KVORM_EMISUSE);
    msg = kvorm_last_error_message();
    EXPECT_EQ(msg.find("S3cretPw0rd"), std::string::npos) << msg;
}

// ---- CONNECTION ------------------------------------------------------------------------------------------------

TEST_F(Connection, AClosedPortIsConnection)
{
    int port = FreePort();
    ASSERT_GT(port, 0);
    kvorm_db *db = nullptr;
    auto t0 = Clock::now();
    int rc = TryOpen(&db, "redis://127.0.0.1:" + std::to_string(port) + "?connect_timeout=1000");
    EXPECT_EQ(rc, KVORM_ECONNECTION) << LastError();
    EXPECT_EQ(db, nullptr);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_ECONNECTION);
    EXPECT_NE(std::string(kvorm_last_error_message()).find(std::to_string(port)), std::string::npos)
        << "the message says where: " << kvorm_last_error_message();
    // A refused connection fails at once; the bound is only generous enough that a loaded machine cannot miss it
    // while a retry loop of any length still would.
    EXPECT_LT(MsSince(t0), kHangGuardMs / 2) << "a refused connection is not retried for long";
}

TEST_F(Connection, AMissingSocketIsConnection)
{
    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, "unix://" + RedisEnvironment::Main().dir() + "/nope.sock");
    EXPECT_EQ(rc, KVORM_ECONNECTION) << LastError();
    EXPECT_EQ(db, nullptr);
}

// A peer that accepts TCP connections (the kernel completes the handshake) but never answers a command:
// a listening socket on a free loopback port that nobody answers on.
struct SilentPeer {
    SilentPeer()
    {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0 && listen(fd, 16) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
            port = ntohs(a.sin_port);
    }
    ~SilentPeer() { Close(); }
    void Close()
    {
        for (int *f : {&accepted, &fd})
            if (*f >= 0) {
                close(*f);
                *f = -1;
            }
    }
    std::string Url(const std::string &query) const { return "redis://127.0.0.1:" + std::to_string(port) + query; }
    int fd = -1, port = 0;
    int accepted = -1;  // the connection taken off the backlog, when the test wants to end it
};

// The open under test waits on one silent peer with timeout=150. A reference open, started before it, waits on
// another with timeout=60000. That the first ends in TIMEOUT while the reference is still waiting (a close of
// its connection, made only after, is what ends it, with CONNECTION) proves that the 150 ms configured is what
// ended the call, and not the default (5000 ms) or any other bound, without timing anything.
TEST_F(Connection, AServerThatNeverAnswersIsTimeoutAtOpen)
{
    SilentPeer silent, reference_peer;
    ASSERT_GT(silent.port, 0);
    ASSERT_GT(reference_peer.port, 0);
    std::atomic<int> reference_rc{1};
    std::thread reference([&] {
        kvorm_db *db = nullptr;
        reference_rc = TryOpen(&db, reference_peer.Url("?timeout=60000"));
        if (db)
            kvorm_close(db);
    });
    struct Joiner {
        std::thread &t;
        SilentPeer &peer;
        ~Joiner()
        {
            peer.Close();  // ends the reference open whatever happened
            if (t.joinable())
                t.join();
        }
    } joiner{reference, reference_peer};
    // the reference has connected and sent its first command: it is waiting for an answer
    ASSERT_TRUE(WaitFor([&] {
        reference_peer.accepted = accept4(reference_peer.fd, nullptr, nullptr, SOCK_CLOEXEC);
        return reference_peer.accepted >= 0;
    })) << "the reference open never connected";
    ASSERT_TRUE(WaitReadable({reference_peer.accepted})) << "the reference open never sent a command";

    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, silent.Url("?timeout=150"));
    EXPECT_EQ(rc, KVORM_ETIMEOUT) << LastError();
    EXPECT_EQ(db, nullptr);

    close(reference_peer.accepted);  // the reference's peer hangs up only now
    reference_peer.accepted = -1;
    reference.join();
    EXPECT_EQ(reference_rc.load(), KVORM_ECONNECTION)
        << "the reference open (timeout=60000) should still have been waiting when the one with timeout=150 gave up, "
           "and end when its peer hung up; it ended with "
        << kvorm_error_name(reference_rc.load());
}

// The sockets a step opened: those there after it and not before.
std::set<int> NewSockets(const std::set<int> &before)
{
    std::set<int> out;
    for (int fd : SocketFds())
        if (!before.count(fd))
            out.insert(fd);
    return out;
}

TEST_F(Connection, AKilledConnectionFailsOnceWithConnectionThenReconnects)
{
    std::set<int> before_open = SocketFds();
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl());
    ASSERT_NE(db, nullptr);
    std::set<int> kvorm_sockets = NewSockets(before_open);
    ASSERT_EQ(kvorm_sockets.size(), 1u) << "the open keeps one connection";
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"before"}})")));
    long long killed = raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    ASSERT_GE(killed, 1) << "kvorm's connection should have been killed";
    // The server closed it before it answered CLIENT KILL; wait until the close has reached kvorm's end (over TCP
    // the FIN can lag behind), so that the next call surely meets a closed connection.
    ASSERT_TRUE(WaitReadable(kvorm_sockets)) << "the server's close never reached kvorm's socket";
    JRes dropped = ExecJson(db, Req("Item", "findUnique", R"({"where":{"id":"before"}})"));
    KT_ASSERT_CODE(dropped, KVORM_ECONNECTION, "CONNECTION");
    EXPECT_FALSE(dropped.str("message").empty());
    JRes again = ExecJson(db, Req("Item", "findUnique", R"({"where":{"id":"before"}})"));
    KT_ASSERT_OK(again);
    EXPECT_EQ(again.str("id"), "before");
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"after"}})")));
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:after"));
}

// The same over the unix socket, where writing to a closed connection raises SIGPIPE: a dropped connection must
// be a CONNECTION error, not the death of the process. Run in a child process so that a SIGPIPE shows as such.
TEST_F(Connection, AKilledUnixConnectionIsAnErrorNotSigpipe)
{
    const std::string url = RedisEnvironment::Main().UnixUrl();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        SchemaPtr s;
        kvorm_schema *raw_schema = nullptr;
        if (kvorm_schema_from_json(&raw_schema, kAppSchema, std::strlen(kAppSchema)) != KVORM_OK)
            _exit(10);
        s.reset(raw_schema);
        kvorm_db *db = nullptr;
        std::set<int> before_open = SocketFds();
        if (kvorm_open(&db, url.c_str(), s.get(), nullptr) != KVORM_OK)
            _exit(11);
        std::set<int> kvorm_sockets = NewSockets(before_open);
        if (kvorm_sockets.size() != 1)
            _exit(17);
        auto run = [&](const std::string &req) {
            char *out = nullptr;
            size_t len = 0;
            int rc = kvorm_exec_json(&out, &len, db, req.data(), req.size());
            kvorm_free(out);
            return rc;
        };
        if (run(Req("Item", "count")) != KVORM_OK)
            _exit(12);
        Raw killer(RedisEnvironment::Main().Connect());
        redisReply *r = static_cast<redisReply *>(redisCommand(killer.ctx(), "CLIENT KILL TYPE normal SKIPME yes"));
        if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 1)
            _exit(13);
        freeReplyObject(r);
        // the server closed kvorm's connection before it answered; wait until this side sees the close
        if (!WaitReadable(kvorm_sockets))
            _exit(18);
        int first = run(Req("Item", "count"));
        if (first != KVORM_ECONNECTION)
            _exit(first == KVORM_OK ? 14 : 15);
        if (run(Req("Item", "count")) != KVORM_OK)
            _exit(16);
        kvorm_close(db);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        FAIL() << "the process died of signal " << WTERMSIG(status) << " (" << strsignal(WTERMSIG(status))
               << ") when kvorm used a connection the server had closed";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child step failed: 10-13 setup, 14 first call after the kill succeeded "
                                         "(expected CONNECTION), 15 first call gave another error, 16 no reconnect, "
                                         "17 the open did not keep one connection, 18 the close never reached it";
}

// ---- TIMEOUT ---------------------------------------------------------------------------------------------------

// Pauses the writes of every client of the main server (CLIENT PAUSE 60000 WRITE, from a connection of its own)
// until Unpause or the end of the scope. It lasts far longer than any test needs: only Unpause ends it in a test
// that passes. Reads (and CLIENT UNPAUSE) still run, so the test can look at the server while it lasts. (In ALL
// mode the pausing connection's own commands, CLIENT UNPAUSE included, would wait too.)
class WritePause {
public:
    WritePause() : c_(RedisEnvironment::Main().Connect())
    {
        ok_ = c_.ok() && c_.Str({"CLIENT", "PAUSE", std::to_string(kHangGuardMs), "WRITE"}) == "OK";
    }
    ~WritePause() { Unpause(); }
    bool ok() const { return ok_; }
    void Unpause()
    {
        if (ok_) {
            EXPECT_EQ(c_.Str({"CLIENT", "UNPAUSE"}), "OK");
        }
        ok_ = false;
    }

private:
    Raw c_;
    bool ok_ = false;
};

// The clients whose command the server holds back (INFO clients; a pause counts there).
long long BlockedClients(Raw &raw)
{
    std::string info = raw.Str({"INFO", "clients"});
    size_t at = info.find("blocked_clients:");
    return at == std::string::npos ? -1 : std::atoll(info.c_str() + at + 16);
}

// Runs a create on db while the server's writes are paused and proves that it ended in TIMEOUT while the pause
// still held: a witness write with a timeout of a day, held back by the pause since before the call, has still
// not run when the call returns, and completes once the pause is lifted. Nothing here depends on how long
// anything takes.
void ExpectTimeoutWhileWritesArePaused(Raw &raw, kvorm_db *db)
{
    DbPtr witness = OpenDb(kAppSchema, RedisEnvironment::Main().UnixUrl("timeout=86400000"));
    ASSERT_TRUE(witness);
    KT_ASSERT_OK(ExecJson(witness.get(), Req("Item", "count")));  // opened, and its connection ready, before
    WritePause pause;
    ASSERT_TRUE(pause.ok());
    JRes witnessed;
    std::thread writer([&] { witnessed = ExecJson(witness.get(), Req("Item", "create", R"({"data":{"id":"witness"}})")); });
    struct Joiner {
        std::thread &t;
        WritePause &p;
        ~Joiner()
        {
            p.Unpause();  // lets the witness finish whatever happened
            if (t.joinable())
                t.join();
        }
    } joiner{writer, pause};
    ASSERT_TRUE(WaitFor([&] { return BlockedClients(raw) == 1; })) << "the pause did not hold the witness back";

    JRes r = ExecJson(db, Req("Item", "create", R"({"data":{"id":"late"}})"));
    EXPECT_EQ(r.rc, KVORM_ETIMEOUT) << r.text;
    EXPECT_EQ(r.str("code"), "TIMEOUT") << r.text;
    EXPECT_FALSE(r.str("message").empty()) << r.text;
    // the pause still held when the call gave up
    EXPECT_FALSE(raw.Exists("app:{Item}:r:witness")) << "the witness ran: the pause ended before the call did";
    EXPECT_GE(BlockedClients(raw), 1);

    pause.Unpause();
    writer.join();
    KT_EXPECT_OK(witnessed);  // it waited the pause out: a call with a long timeout does not give up
    EXPECT_TRUE(raw.Exists("app:{Item}:r:witness"));
}

TEST_F(Connection, AServerThatDoesNotAnswerInTimeIsTimeoutAndTheDbRecovers)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("timeout=100"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "count")));
    ASSERT_NO_FATAL_FAILURE(ExpectTimeoutWhileWritesArePaused(raw_, db));
    // the db recovers: a new connection replaces the one that timed out ("late" may or may not have been written:
    // a write that timed out is not known to have failed)
    JRes after = ExecJson(db, Req("Item", "findUnique", R"({"where":{"id":"witness"}})"));
    KT_ASSERT_OK(after);
    EXPECT_EQ(after.str("id"), "witness");
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"after"}})")));
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:after"));
}

// The URL says a day, the options 100 ms: were the URL's to win, the call would wait for the end of the pause and
// succeed instead of giving up while the pause holds.
TEST_F(Connection, TheCommandTimeoutOfTheOptionsWinsOverTheUrl)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.command_timeout_ms = 100;
    kvorm_db *raw_db = nullptr;
    ASSERT_EQ(kvorm_open(&raw_db, RedisEnvironment::Main().UnixUrl("timeout=86400000").c_str(), s.get(), &o),
              KVORM_OK)
        << LastError();
    DbPtr db(raw_db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("Item", "count")));
    ASSERT_NO_FATAL_FAILURE(ExpectTimeoutWhileWritesArePaused(raw_, db.get()));
    KT_ASSERT_OK(ExecJson(db.get(), Req("Item", "count")));
}

// ---- AUTH ------------------------------------------------------------------------------------------------------

class Auth : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(RedisEnvironment::Ready());
        raw_ = Raw(RedisEnvironment::Auth().Connect());
        ASSERT_TRUE(raw_.ok());
        raw_.FlushAll();
    }
    // The users of the server's other connections (CLIENT LIST), to see who kvorm logged in as.
    std::vector<std::string> ClientUsers()
    {
        std::vector<std::string> users;
        std::string list = raw_.Str({"CLIENT", "LIST"});
        std::string self = std::to_string(raw_.Int({"CLIENT", "ID"}));
        size_t pos = 0;
        while (pos < list.size()) {
            size_t end = list.find('\n', pos);
            std::string line = list.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            pos = end == std::string::npos ? list.size() : end + 1;
            if (line.rfind("id=" + self + " ", 0) == 0)
                continue;
            size_t u = line.find(" user=");
            if (u != std::string::npos)
                users.push_back(line.substr(u + 6, line.find(' ', u + 6) - (u + 6)));
        }
        return users;
    }
    void ExpectWorks(kvorm_db *db, const std::string &id)
    {
        JRes r = ExecJson(db, Req("Item", "create", "{\"data\":{\"id\":" + JStr(id) + "}}"));
        KT_EXPECT_OK(r);
        EXPECT_TRUE(raw_.Exists("app:{Item}:r:" + id));
    }
    Raw raw_;
};

TEST_F(Auth, APasswordInTheUrlAuthenticates)
{
    DbPtr db = OpenDb(kAppSchema, RedisEnvironment::Auth().TcpUrl("", ":secret"));
    ASSERT_TRUE(db);
    ExpectWorks(db.get(), "p");
    EXPECT_EQ(ClientUsers(), std::vector<std::string>{"default"});
}

TEST_F(Auth, AnAclUserInTheUrlAuthenticates)
{
    DbPtr db = OpenDb(kAppSchema, RedisEnvironment::Auth().TcpUrl("", "alice:alicepw"));
    ASSERT_TRUE(db);
    ExpectWorks(db.get(), "a");
    EXPECT_EQ(ClientUsers(), std::vector<std::string>{"alice"});
}

TEST_F(Auth, AnAclUserInUnixUrlParametersAuthenticates)
{
    DbPtr db = OpenDb(kAppSchema, RedisEnvironment::Auth().UnixUrl("user=alice&password=alicepw"));
    ASSERT_TRUE(db);
    ExpectWorks(db.get(), "u");
    EXPECT_EQ(ClientUsers(), std::vector<std::string>{"alice"});
}

TEST_F(Auth, APasswordOnlyUnixUrlAuthenticatesTheDefaultUser)
{
    DbPtr db = OpenDb(kAppSchema, RedisEnvironment::Auth().UnixUrl("password=secret"));
    ASSERT_TRUE(db);
    ExpectWorks(db.get(), "d");
    EXPECT_EQ(ClientUsers(), std::vector<std::string>{"default"});
}

TEST_F(Auth, PercentEncodedCredentialsAreDecoded)
{
    // bob's password is "p@ss w:rd"
    DbPtr db = OpenDb(kAppSchema, RedisEnvironment::Auth().TcpUrl("", "bob:p%40ss%20w%3Ard"));
    ASSERT_TRUE(db);
    ExpectWorks(db.get(), "b");
    EXPECT_EQ(ClientUsers(), std::vector<std::string>{"bob"});
}

TEST_F(Auth, AWrongPasswordIsConnectionWithAClearMessage)
{
    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, RedisEnvironment::Auth().TcpUrl("", "alice:Wr0ngPassw0rd"));
    EXPECT_EQ(rc, KVORM_ECONNECTION) << LastError();
    EXPECT_EQ(db, nullptr);
    std::string msg = kvorm_last_error_message();
    std::string low = Lower(msg);
    EXPECT_TRUE(low.find("auth") != std::string::npos || low.find("password") != std::string::npos ||
                low.find("wrongpass") != std::string::npos)
        << "the message should say that authentication failed: " << msg;
    EXPECT_EQ(msg.find("Wr0ngPassw0rd"), std::string::npos) << "the message must not echo the password: " << msg;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{});
}

TEST_F(Auth, AWrongDefaultPasswordIsConnection)
{
    kvorm_db *db = nullptr;
    EXPECT_EQ(TryOpen(&db, RedisEnvironment::Auth().UnixUrl("password=nope")), KVORM_ECONNECTION) << LastError();
    EXPECT_EQ(db, nullptr);
}

TEST_F(Auth, NoPasswordOnAServerThatRequiresOneFails)
{
    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, RedisEnvironment::Auth().TcpUrl());
    EXPECT_LT(rc, 0) << LastError();
    EXPECT_EQ(db, nullptr);
    EXPECT_STRNE(kvorm_last_error_message(), "");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{});
}

// ---- pool ------------------------------------------------------------------------------------------------------

// Runs 4 threads x 50 creates on db; returns the number of failures.
int CreateFromFourThreads(kvorm_db *db, const std::string &prefix)
{
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (int k = 0; k < 50; k++) {
                std::string req = Req("Item", "create", "{\"data\":{\"id\":\"" + prefix + std::to_string(t) + "-" +
                                                            std::to_string(k) + "\"}}");
                char *out = nullptr;
                size_t len = 0;
                if (kvorm_exec_json(&out, &len, db, req.data(), req.size()) != KVORM_OK)
                    failures++;
                kvorm_free(out);
            }
        });
    for (auto &th : threads)
        th.join();
    return failures.load();
}

// The connections of the main server other than the raw one.
long long OtherClients(Raw &raw)
{
    std::string list = raw.Str({"CLIENT", "LIST"});
    return static_cast<long long>(std::count(list.begin(), list.end(), '\n')) - 1;
}

// Waits until the main server has exactly n connections besides the raw one: the connections of earlier tests
// are closed, but the server may see the last closes (a TCP FIN over loopback) a little after this test starts.
// A pool that opened more than n connections keeps them, so this still fails then.
bool OtherClientsAre(Raw &raw, long long n)
{
    return WaitFor([&] { return OtherClients(raw) == n; });
}

TEST_F(Connection, APoolOfOneConnectionServesManyThreads)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("pool=1"));
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(CreateFromFourThreads(db, "t"), 0);
    EXPECT_EQ(ExecJson(db, Req("Item", "count")).text, "200");
    EXPECT_TRUE(OtherClientsAre(raw_, 1)) << OtherClients(raw_) << ": the pool never opened a second connection";
}

TEST_F(Connection, ThePoolSizeOfTheOptionsWinsOverTheUrl)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.pool_size = 1;
    kvorm_db *raw_db = nullptr;
    ASSERT_EQ(kvorm_open(&raw_db, RedisEnvironment::Main().UnixUrl("pool=8").c_str(), s.get(), &o), KVORM_OK)
        << LastError();
    DbPtr db(raw_db);
    EXPECT_EQ(CreateFromFourThreads(db.get(), "o"), 0);
    EXPECT_TRUE(OtherClientsAre(raw_, 1)) << OtherClients(raw_);
}

// Through the gate proxy (tests/tools/gate_proxy.py), which holds back what clients send until 4 connections
// have something held: "released 4" proves that 4 calls were in flight at once, each on a connection of its own.
TEST_F(Connection, ThePoolGrowsToServeParallelCalls)
{
    GateProxy gate;
    std::string why;
    ASSERT_TRUE(gate.Start(RedisEnvironment::Main().port(), &why)) << why;
    // a command timeout longer than the gate's hold, so that a held call waits for the verdict
    kvorm_db *db = Open(kAppSchema, "redis://127.0.0.1:" + std::to_string(gate.port()) + "?pool=4&timeout=120000");
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "count")));
    ASSERT_TRUE(gate.Hold(4, kHangGuardMs / 1000, &why)) << why;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            if (ExecJson(db, Req("Item", "create", "{\"data\":{\"id\":\"p" + std::to_string(t) + "\"}}")).rc != KVORM_OK)
                failures++;
        });
    int released = gate.WaitReleased(&why);
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(released, 4) << why << " (1 means the calls ran one after another)";
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(CreateFromFourThreads(db, "g"), 0);
    EXPECT_EQ(ExecJson(db, Req("Item", "count")).text, "204");
    EXPECT_TRUE(OtherClientsAre(raw_, 4)) << OtherClients(raw_) << ": the pool grows to its size, and no further";
}

// ---- capabilities ----------------------------------------------------------------------------------------------

class Capabilities : public AppTest {
protected:
    mp::V Caps()
    {
        unsigned char *out = nullptr;
        size_t len = 0;
        int rc = kvorm_capabilities(&out, &len, db_);
        EXPECT_EQ(rc, KVORM_OK) << LastError();
        mp::V v;
        if (out) {
            EXPECT_TRUE(mp::unpack(std::string(reinterpret_cast<char *>(out), len), &v));
            kvorm_free(out);
        }
        return v;
    }
};

TEST_F(Capabilities, DescribeTheRedisEngineTruthfully)
{
    mp::V c = Caps();
    ASSERT_TRUE(c.is_map()) << c;
    EXPECT_EQ(c["engine"], mp::str("redis"));
    EXPECT_EQ(c["formatVersion"], mp::i(2));
    EXPECT_EQ(c["atomicWrites"], mp::boolean(true));
    EXPECT_EQ(c["transactions"], mp::boolean(false));
    EXPECT_EQ(c["ttl"], mp::boolean(false));
    EXPECT_EQ(c["generatedIntegerIds"], mp::boolean(true));
    EXPECT_EQ(c["generatedStringIds"], mp::arr({"ulid", "uuidv7"}));
    EXPECT_EQ(c["uniqueConstraints"], mp::boolean(true));
    EXPECT_EQ(c["compoundUnique"], mp::boolean(true));
    EXPECT_EQ(c["optimisticLocking"], mp::boolean(true));
    EXPECT_EQ(c["secondaryIndexes"], mp::boolean(true));
    EXPECT_EQ(c["relations"], mp::boolean(true));
    EXPECT_EQ(c["maxValueBytes"], mp::i(16777216));
    EXPECT_EQ(c["scanChunk"], mp::i(1000));
    EXPECT_EQ(c["writesPerTrip"], mp::i(128));
    EXPECT_EQ(c["parallelCalls"], mp::boolean(true));
    // the server's own version, as INFO gives it (this suite runs a 7.x server)
    ASSERT_EQ(c["serverVersion"].kind, mp::V::Str) << c;
    EXPECT_FALSE(c["serverVersion"].s.empty()) << c;
    ASSERT_EQ(c["ops"].kind, mp::V::Arr) << c;
    std::set<std::string> ops;
    for (const auto &o : c["ops"].arr)
        ops.insert(o.s);
    for (const char *op : {"capabilities", "create", "findUnique", "findUniqueOrThrow", "update", "upsert", "delete",
                           "findMany", "findFirst", "findFirstOrThrow", "count", "aggregate", "groupBy", "createMany",
                           "updateMany", "deleteMany", "explain", "check", "reindex"})
        EXPECT_EQ(ops.count(op), 1u) << op << " missing from " << c["ops"];
    EXPECT_EQ(ops.size(), c["ops"].arr.size()) << "an op listed twice: " << c["ops"];
}

TEST_F(Capabilities, TheCapabilitiesOpGivesTheSameMap)
{
    mp::V c = Caps();
    MRes r = Exec(db_, mp::map({{"op", "capabilities"}}));
    ASSERT_EQ(r.rc, KVORM_OK) << r.doc;
    EXPECT_EQ(r.doc, c);
}

// ---- MISUSE of kvorm_open --------------------------------------------------------------------------------------

TEST_F(Connection, OpenWithNullArgumentsIsMisuse)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    const std::string url = RedisEnvironment::Main().UnixUrl();
    kvorm_db *db = nullptr;
    EXPECT_EQ(kvorm_open(nullptr, url.c_str(), s.get(), nullptr), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_open(&db, url.c_str(), nullptr, nullptr), KVORM_EMISUSE);
    EXPECT_EQ(db, nullptr);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EMISUSE);
}

TEST_F(Connection, OpenOptionsOfAnUnknownVersionAreMisuse)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.version = KVORM_OPEN_OPTIONS_VERSION + 1;
    kvorm_db *db = nullptr;
    EXPECT_EQ(kvorm_open(&db, RedisEnvironment::Main().UnixUrl().c_str(), s.get(), &o), KVORM_EMISUSE);
    EXPECT_EQ(db, nullptr);
}

}  // namespace
}  // namespace kt
