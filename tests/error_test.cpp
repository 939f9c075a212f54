#include <catch2/catch.hpp>

#include <raftpp/error.hpp>

#include <string>

using namespace raftpp;

TEST_CASE("errc values live in the raftpp category and compare with error codes", "[error]") {
    std::error_code ec = errc::compacted;
    CHECK(ec.category().name() == std::string("raftpp"));
    CHECK(ec == errc::compacted);
    CHECK(ec != errc::unavailable);
    CHECK(ec.message() == "requested index is unavailable due to compaction");
    for (int i = static_cast<int>(errc::compacted); i <= static_cast<int>(errc::no_leader); ++i)
        CHECK(make_error_code(static_cast<errc>(i)).message() != "unknown raftpp error");
}

TEST_CASE("result carries either a value or an error", "[error]") {
    result<std::string> ok = std::string("v");
    REQUIRE(ok);
    CHECK(*ok == "v");
    CHECK(!ok.error());
    result<std::string> bad = errc::unavailable;
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == errc::unavailable);
    CHECK(bad.value_or("d") == "d");
    result<std::string> copy = bad;
    CHECK(copy.error() == errc::unavailable);
    copy = ok;
    CHECK(*copy == "v");
    result<void> rv;
    CHECK(rv);
    result<void> rb = errc::proposal_dropped;
    CHECK(rb.error() == errc::proposal_dropped);
}
