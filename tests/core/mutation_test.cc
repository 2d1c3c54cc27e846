// Broken MessagePack of every shape: valid requests cut at every byte and with every byte replaced by a few
// troublesome values. Whatever arrives, kvorm_exec answers with a known status and one well-formed document
// (the error document on failure), and never crashes (this suite also runs under ASan and UBSan).
#include "test_util.h"

namespace kt {
namespace {

class Mutations : public AppTest {
protected:
    // Runs one request and checks the contract every answer keeps.
    void ExpectWellFormedAnswer(const std::string &request, const std::string &what)
    {
        MRes r = Exec(db_, request);
        ASSERT_LE(r.rc, 0) << what;
        ASSERT_GE(r.rc, KVORM_EMISUSE) << what;
        ASSERT_TRUE(r.parsed) << what << ": the answer is not one MessagePack document";
        if (r.rc != KVORM_OK) {
            ASSERT_EQ(r.doc.kind, mp::V::Map) << what;
            EXPECT_EQ(r.doc["code"], mp::str(kvorm_error_name(r.rc))) << what;
        }
        answers_++;
    }

    static std::vector<std::string> Seeds()
    {
        std::string avatar("\x00\x01\xfe\xff", 4);
        return {
            mp::pack(MReq("User", "create",
                          mp::map({{"data", mp::map({{"email", "m@x.io"},
                                                     {"orgId", "o"},
                                                     {"age", mp::i(-70000)},
                                                     {"score", mp::f64(0.5)},
                                                     {"createdAt", mp::ext(-1, std::string("\x00\x00\x00\x01", 4))},
                                                     {"avatar", mp::bin(avatar)},
                                                     {"profile", mp::map({{"k", mp::arr({mp::nil(), mp::boolean(true)})}})}})},
                                   {"select", mp::map({{"id", mp::boolean(true)}, {"$version", mp::boolean(true)}})}}))),
            mp::pack(MReq("User", "update",
                          mp::map({{"where", mp::map({{"orgId_email", mp::map({{"orgId", "o"}, {"email", "m@x.io"}})}})},
                                   {"data", mp::map({{"age", mp::nil()}, {"balance", "12.50"}})},
                                   {"ifVersion", mp::i(1)}}))),
            mp::pack(MReq("Counter", "upsert",
                          mp::map({{"where", mp::map({{"id", mp::u(7)}})},
                                   {"create", mp::map({{"name", "x"}})},
                                   {"update", mp::map({{"name", "y"}})}}))),
        };
    }

    int answers_ = 0;
};

TEST_F(Mutations, EveryTruncationGetsAWellFormedAnswer)
{
    for (const std::string &seed : Seeds())
        for (size_t n = 0; n < seed.size(); n++)
            ExpectWellFormedAnswer(seed.substr(0, n), "cut at " + std::to_string(n));
    EXPECT_GT(answers_, 150);
}

TEST_F(Mutations, EveryByteReplacedGetsAWellFormedAnswer)
{
    // 0xc1 is never used; 0xdd/0xdf claim huge arrays/maps; 0xff is a negative fixint; 0x00 a zero.
    const unsigned char replacements[] = {0x00, 0xc1, 0xdd, 0xdf, 0xdb, 0xc7, 0xff, 0x7f};
    for (const std::string &seed : Seeds()) {
        for (size_t pos = 0; pos < seed.size(); pos++) {
            for (unsigned char b : replacements) {
                std::string m = seed;
                m[pos] = static_cast<char>(b);
                ExpectWellFormedAnswer(m, "byte " + std::to_string(pos) + " = " + std::to_string(b));
            }
        }
    }
    EXPECT_GT(answers_, 1000);
}

}  // namespace
}  // namespace kt
