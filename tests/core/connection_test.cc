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
    EXPECT_LT(MsSince(t0), 3000);
}

TEST_F(Connection, AMissingSocketIsConnection)
{
    kvorm_db *db = nullptr;
    int rc = TryOpen(&db, "unix://" + RedisEnvironment::Main().dir() + "/nope.sock");
    EXPECT_EQ(rc, KVORM_ECONNECTION) << LastError();
    EXPECT_EQ(db, nullptr);
}

// A peer that accepts TCP connections (the kernel completes the handshake) but never answers a command.
TEST_F(Connection, AServerThatNeverAnswersIsTimeoutAtOpen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(fd, 16), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len), 0);
    int port = ntohs(a.sin_port);
    kvorm_db *db = nullptr;
    auto t0 = Clock::now();
    int rc = TryOpen(&db, "redis://127.0.0.1:" + std::to_string(port) + "?timeout=150");
    long long took = MsSince(t0);
    close(fd);
    EXPECT_EQ(rc, KVORM_ETIMEOUT) << LastError();
    EXPECT_EQ(db, nullptr);
    EXPECT_LT(took, 2000);
}

TEST_F(Connection, AKilledConnectionFailsOnceWithConnectionThenReconnects)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl());
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"before"}})")));
    long long killed = raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    ASSERT_GE(killed, 1) << "kvorm's connection should have been killed";
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
        if (kvorm_open(&db, url.c_str(), s.get(), nullptr) != KVORM_OK)
            _exit(11);
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
        usleep(50 * 1000);  // let the close reach this side of the socket
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
                                         "(expected CONNECTION), 15 first call gave another error, 16 no reconnect";
}

// ---- TIMEOUT ---------------------------------------------------------------------------------------------------

// Pauses every client of the main server for ms milliseconds (from a connection of its own).
void PauseServer(int ms)
{
    Raw pauser(RedisEnvironment::Main().Connect());
    ASSERT_TRUE(pauser.ok());
    EXPECT_EQ(pauser.Str({"CLIENT", "PAUSE", std::to_string(ms), "ALL"}), "OK");
}

TEST_F(Connection, AServerThatDoesNotAnswerInTimeIsTimeoutAndTheDbRecovers)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("timeout=100"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "count")));
    auto paused_at = Clock::now();
    PauseServer(700);
    auto t0 = Clock::now();
    JRes r = ExecJson(db, Req("Item", "count"));
    long long took = MsSince(t0);
    KT_ASSERT_CODE(r, KVORM_ETIMEOUT, "TIMEOUT");
    EXPECT_LT(took, 600) << "the call should give up after about 100 ms";
    std::this_thread::sleep_for(std::chrono::milliseconds(800) - (Clock::now() - paused_at));
    JRes after = ExecJson(db, Req("Item", "count"));
    KT_ASSERT_OK(after);
    EXPECT_EQ(after.text, "0");
}

TEST_F(Connection, TheCommandTimeoutOfTheOptionsWinsOverTheUrl)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.command_timeout_ms = 100;
    kvorm_db *raw_db = nullptr;
    ASSERT_EQ(kvorm_open(&raw_db, RedisEnvironment::Main().UnixUrl("timeout=5000").c_str(), s.get(), &o), KVORM_OK)
        << LastError();
    DbPtr db(raw_db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("Item", "count")));
    auto paused_at = Clock::now();
    PauseServer(700);
    auto t0 = Clock::now();
    JRes r = ExecJson(db.get(), Req("Item", "create", R"({"data":{"id":"late"}})"));
    KT_ASSERT_CODE(r, KVORM_ETIMEOUT, "TIMEOUT");
    EXPECT_LT(MsSince(t0), 600);
    std::this_thread::sleep_for(std::chrono::milliseconds(800) - (Clock::now() - paused_at));
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

TEST_F(Connection, APoolOfOneConnectionServesManyThreads)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("pool=1"));
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(CreateFromFourThreads(db, "t"), 0);
    EXPECT_EQ(ExecJson(db, Req("Item", "count")).text, "200");
    EXPECT_EQ(OtherClients(raw_), 1) << "the pool never opened a second connection";
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
    EXPECT_EQ(OtherClients(raw_), 1);
}

TEST_F(Connection, ThePoolGrowsToServeParallelCalls)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("pool=4"));
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(CreateFromFourThreads(db, "g"), 0);
    long long n = OtherClients(raw_);
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 4) << "never more connections than the pool size";
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
    EXPECT_EQ(c["formatVersion"], mp::i(1));
    EXPECT_EQ(c["atomicWrites"], mp::boolean(true));
    EXPECT_EQ(c["transactions"], mp::boolean(false));
    EXPECT_EQ(c["ttl"], mp::boolean(false));
    EXPECT_EQ(c["generatedIntegerIds"], mp::boolean(true));
    EXPECT_EQ(c["generatedStringIds"], mp::arr({"ulid", "uuidv7"}));
    EXPECT_EQ(c["uniqueConstraints"], mp::boolean(true));
    EXPECT_EQ(c["compoundUnique"], mp::boolean(true));
    EXPECT_EQ(c["optimisticLocking"], mp::boolean(true));
    EXPECT_EQ(c["secondaryIndexes"], mp::boolean(false));
    EXPECT_EQ(c["relations"], mp::boolean(false));
    EXPECT_EQ(c["maxValueBytes"], mp::i(16777216));
    ASSERT_EQ(c["ops"].kind, mp::V::Arr) << c;
    std::set<std::string> ops;
    for (const auto &o : c["ops"].arr)
        ops.insert(o.s);
    for (const char *op : {"create", "findUnique", "findUniqueOrThrow", "update", "upsert", "delete", "count"})
        EXPECT_EQ(ops.count(op), 1u) << op << " missing from " << c["ops"];
    EXPECT_EQ(ops.count("findMany"), 0u) << "findMany has not landed";
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
