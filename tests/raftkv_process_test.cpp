// raftkv as three real processes on loopback: the HTTP API end to end, a leader killed with
// SIGKILL and a restarted member catching up from its WAL, SIGTERM's clean stop, and bad
// requests and flags answered with a 4xx or a clear message. RAFTKV_BIN names the server
// (meson passes it).
#include <catch2/catch.hpp>

#include "raftkv_process_util.hpp"

#include <string>

using namespace raftkv::test;
using verb = boost::beast::http::verb;
using status = boost::beast::http::status;

namespace {

int code(const std::optional<raftkv::http::response>& r) {
    return r ? static_cast<int>(r->result_int()) : -1;
}

// A write through member i, retried while the cluster has no leader (503) or the attempt timed
// out; 204 or another final answer is returned.
int put(kv_cluster& c, std::size_t i, const std::string& key, const std::string& value,
        const std::string& query = {}) {
    int last = -1;
    poll_until(
        [&] {
            last = code(c.request(i, verb::put, "/kv/" + key + query, value));
            return last != -1 && last != 503 && last != 504;
        },
        10s);
    return last;
}

std::optional<std::string> get(kv_cluster& c, std::size_t i, const std::string& key,
                               const std::string& query = {}) {
    auto r = c.request(i, verb::get, "/kv/" + key + query);
    if (!r || r->result() != status::ok) return std::nullopt;
    return r->body();
}

// Starts every member and returns the one that leads, or fails with the members' logs.
std::size_t start_with_leader(kv_cluster& c) {
    REQUIRE_FALSE(raftkv_bin().empty());
    c.start_all();
    const auto lead = c.wait_leader();
    if (!lead) FAIL("no leader within the deadline\n" << c.logs());
    return *lead;
}

}  // namespace

TEST_CASE("raftkv: three processes serve the API; a leader killed with SIGKILL is replaced and "
          "catches up when restarted",
          "[raftkv][process]") {
    kv_cluster c(3);
    const std::optional<std::size_t> lead = start_with_leader(c);
    const std::size_t follower = (*lead + 1) % 3;

    // Writes through a follower are proposed through raft, not redirected.
    CHECK(put(c, follower, "a", "1") == 204);
    CHECK(get(c, *lead, "a") == "1");
    CHECK(get(c, follower, "a") == "1");
    CHECK(code(c.request(follower, verb::get, "/kv/missing")) == 404);

    // Compare-and-swap: the wrong previous value gets 412 and the current one.
    auto r = c.request(*lead, verb::put, "/kv/a?prev_value=7", "2");
    REQUIRE(r);
    CHECK(r->result() == status::precondition_failed);
    CHECK(r->body() == "1");
    CHECK(put(c, *lead, "a", "2", "?prev_value=1") == 204);
    CHECK(get(c, follower, "a") == "2");

    CHECK(code(c.request(*lead, verb::delete_, "/kv/a")) == 204);
    CHECK(code(c.request(*lead, verb::delete_, "/kv/a")) == 404);
    for (int i = 0; i < 50; ++i) CHECK(put(c, i % 3, "k" + std::to_string(i), std::to_string(i)) == 204);

    // The leader dies without warning; the other two elect one and go on.
    c.at(*lead).proc->signal(SIGKILL);
    REQUIRE(c.at(*lead).proc->wait(5s));
    const auto next = c.wait_leader();
    REQUIRE(next);
    CHECK(*next != *lead);
    for (int i = 50; i < 100; ++i) CHECK(put(c, *next, "k" + std::to_string(i), std::to_string(i)) == 204);

    // Restarted from its WAL, it catches up: every key reads back from it, locally.
    c.start(*lead);
    const bool caught_up = poll_until(
        [&] {
            auto s = c.status(*lead);
            auto l = c.status(*next);
            return s && l && s->at("applied").as_int64() >= l->at("commit").as_int64() &&
                   l->at("commit").as_int64() > 0;
        },
        15s);
    REQUIRE(caught_up);
    for (int i = 0; i < 100; ++i)
        CHECK(get(c, *lead, "k" + std::to_string(i), "?serializable") == std::to_string(i));
    CHECK(get(c, *lead, "k99") == "99");  // and linearizably
}

TEST_CASE("raftkv: bad requests get a 4xx with a message; status, members and metrics answer",
          "[raftkv][process]") {
    kv_cluster c(3);
    const std::optional<std::size_t> lead = start_with_leader(c);

    CHECK(code(c.request(*lead, verb::get, "/nowhere")) == 404);
    CHECK(code(c.request(*lead, verb::post, "/kv/x", "v")) == 405);
    CHECK(code(c.request(*lead, verb::get, "/kv/")) == 400);
    CHECK(code(c.request(*lead, verb::put, "/kv/" + std::string(5000, 'k'), "v")) == 400);
    CHECK(code(c.request(*lead, verb::put, "/kv/big", std::string(2 << 20, 'v'))) == 413);
    CHECK(code(c.request(*lead, verb::post, "/members", "{not json")) == 400);
    CHECK(code(c.request(*lead, verb::post, "/members", R"({"peer_url": "nowhere"})")) == 400);
    CHECK(code(c.request(*lead, verb::delete_, "/members/zz")) == 400);

    auto m = c.request(*lead, verb::get, "/members");
    REQUIRE(m);
    CHECK(m->result() == status::ok);
    const auto members = boost::json::parse(m->body()).as_object();
    CHECK(members.at("members").as_array().size() == 3);

    auto s = c.status(*lead);
    REQUIRE(s);
    CHECK(s->at("role").as_string() == "leader");
    CHECK(s->at("members").as_int64() == 3);
    CHECK(s->at("name").as_string() == c.at(*lead).name);

    CHECK(put(c, *lead, "m", "1") == 204);
    auto metrics = c.request(*lead, verb::get, "/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body().find("raftkv_proposals_committed_total 1\n") != std::string::npos);
    CHECK(metrics->body().find("raftkv_is_leader 1\n") != std::string::npos);
    CHECK(metrics->body().find("raftkv_wal_fsync_duration_seconds_bucket{le=\"+Inf\"}") !=
          std::string::npos);
    // No snapshot yet (one every 10000 entries by default), but the metrics are there.
    CHECK(metrics->body().find("raftkv_snapshots_taken_total 0\n") != std::string::npos);
    CHECK(metrics->body().find("raftkv_snapshot_max_seconds 0\n") != std::string::npos);
    // Still serving after all that.
    CHECK(get(c, *lead, "m") == "1");
}

TEST_CASE("raftkv: SIGTERM stops a member cleanly and it restarts with its data",
          "[raftkv][process]") {
    kv_cluster c(3);
    const std::optional<std::size_t> lead = start_with_leader(c);
    CHECK(put(c, *lead, "kept", "yes") == 204);
    const std::size_t f = (*lead + 1) % 3;
    REQUIRE(poll_until([&] { return get(c, f, "kept", "?serializable") == "yes"; }, 5s));

    c.at(f).proc->signal(SIGTERM);
    const auto st = c.at(f).proc->wait(10s);
    REQUIRE(st);
    CHECK(WIFEXITED(*st));
    CHECK(WEXITSTATUS(*st) == 0);
    CHECK(c.at(f).proc->log().find("stopped") != std::string::npos);

    c.start(f);
    CHECK(poll_until([&] { return get(c, f, "kept", "?serializable") == "yes"; }, 10s));
}

TEST_CASE("raftkv: a member added with POST /members joins with --initial-cluster-state "
          "existing and catches up; a removed one leaves",
          "[raftkv][process]") {
    kv_cluster c(3);
    const std::optional<std::size_t> lead = start_with_leader(c);
    for (int i = 0; i < 20; ++i) CHECK(put(c, *lead, "j" + std::to_string(i), std::to_string(i)) == 204);

    const std::size_t n4 = c.add_slot();
    const std::string url = "http://127.0.0.1:" + std::to_string(c.at(n4).peer_port);
    auto added = c.request(*lead, verb::post, "/members", R"({"peer_url": ")" + url + R"(", "name": "n4"})");
    REQUIRE(added);
    REQUIRE(added->result() == status::ok);
    const auto after = boost::json::parse(added->body()).as_object();
    CHECK(after.at("members").as_array().size() == 4);
    const std::string cluster_id(after.at("cluster_id").as_string());

    // Joining with no other member to ask for the cluster id is refused, saying what to give.
    {
        process p({raftkv_bin(), "--name=n4", "--data-dir=" + (c.dir() / "n4-no-id").string(),
                   "--initial-cluster-state=existing", "--initial-cluster=n4=" + url},
                  c.dir() / "n4-no-id.log");
        const auto st = p.wait(10s);
        REQUIRE(st);
        CHECK(WEXITSTATUS(*st) != 0);
        CHECK(p.log().find("--initial-cluster-id") != std::string::npos);
        const auto dir = c.dir() / "n4-no-id";
        CHECK((!std::filesystem::exists(dir) || std::filesystem::is_empty(dir)));  // nothing written
    }
    // No --initial-cluster-id: the joiner asks the running members (etcd's way).
    c.start(n4, "existing");
    CHECK(poll_until([&] { return get(c, n4, "j19", "?serializable") == "19"; }, 15s));
    CHECK(put(c, n4, "from-n4", "yes") == 204);
    CHECK(get(c, *lead, "from-n4") == "yes");
    auto s4 = c.status(n4);
    REQUIRE(s4);
    CHECK(s4->at("members").as_int64() == 4);
    CHECK(s4->at("cluster_id").as_string() == cluster_id);

    // Restarted, it comes back from its WAL (the flags need not name the cluster again).
    c.at(n4).proc->signal(SIGKILL);
    REQUIRE(c.at(n4).proc->wait(5s));
    c.start(n4, "existing");
    CHECK(poll_until([&] { return get(c, n4, "from-n4", "?serializable") == "yes"; }, 15s));

    // Removed, the cluster goes on with three.
    const std::string id4(s4->at("id").as_string());
    auto removed = c.request(*lead, verb::delete_, "/members/" + id4);
    REQUIRE(removed);
    CHECK(removed->result() == status::ok);
    CHECK(boost::json::parse(removed->body()).as_object().at("members").as_array().size() == 3);
    CHECK(put(c, *lead, "after-removal", "ok") == 204);
}

TEST_CASE("raftkv: a bad flag is named, with a non-zero exit; --help lists the flags",
          "[raftkv][process]") {
    REQUIRE_FALSE(raftkv_bin().empty());
    raftpp::test::temp_dir dir;
    {
        process p({raftkv_bin(), "--bogus=1"}, dir / "bad.log");
        const auto st = p.wait(10s);
        REQUIRE(st);
        CHECK(WIFEXITED(*st));
        CHECK(WEXITSTATUS(*st) == 2);
        CHECK(p.log().find("--bogus") != std::string::npos);
    }
    {
        process p({raftkv_bin(), "--help"}, dir / "help.log");
        const auto st = p.wait(10s);
        REQUIRE(st);
        CHECK(WEXITSTATUS(*st) == 0);
        CHECK(p.log().find("--initial-cluster") != std::string::npos);
    }
    {
        // Its own name missing from --initial-cluster: refused at start, not later.
        process p({raftkv_bin(), "--name=x", "--data-dir=" + (dir / "x").string(),
                   "--initial-cluster=y=http://127.0.0.1:1"},
                  dir / "name.log");
        const auto st = p.wait(10s);
        REQUIRE(st);
        CHECK(WEXITSTATUS(*st) != 0);
        CHECK(p.log().find("x") != std::string::npos);
    }
}
