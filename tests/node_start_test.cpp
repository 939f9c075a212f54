// The three start paths of a durable member (new, join, restart) with every mismatch error,
// snapshots (automatic, sent to a member far behind, restored at restart), and how pending
// requests end: timed out without a quorum, failed by stop(), refused without forwarding.
#include "node_test_util.hpp"

#include "doc_node_summer.hpp"  // docs/node.md, snippet node-summer: doc_node_summer()

#include <raftpp/conf_change.hpp>
#include <raftpp/wal/snapshotter.hpp>
#include <raftpp/wal/wal.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;
namespace asio = boost::asio;

namespace {

const cluster_members three = cluster_members::parse(
    "n1=http://127.0.0.1:12380,n2=http://127.0.0.1:12381,n3=http://127.0.0.1:12382");

template <class F>
std::error_code thrown_by(F&& f, std::string* what = nullptr) {
    try {
        f();
    } catch (const std::system_error& e) {
        if (what) *what = e.what();
        return e.code();
    }
    return {};
}

// Puts through node `via`, one after another.
int put_sequence(node_cluster& c, std::size_t via, std::uint32_t from, int count) {
    int failed = 0;
    for (int i = 0; i < count; ++i) {
        const std::uint32_t v = from + static_cast<std::uint32_t>(i);
        auto f = c.node(via).async_propose(encode_kv(testing::kv_put(v % 16, v)),
                                           asio::use_future);
        try {
            if (!get_within(f).ok) ++failed;
        } catch (const boost::system::system_error&) {
            ++failed;
        }
    }
    return failed;
}

// The indexes of a member's snapshot files, oldest first.
std::vector<index_t> snapshot_files(const std::filesystem::path& dir) {
    std::vector<index_t> at;
    for (auto& p : std::filesystem::directory_iterator(dir / "snap"))
        if (auto n = wal::detail::parse_snapshot_file_name(p.path().filename().string()))
            at.push_back(n->second);
    std::sort(at.begin(), at.end());
    return at;
}

}  // namespace

TEST_CASE("start_new creates the WAL with the ids; the node bootstraps one conf change per "
          "member at term 1, committed", "[node][start]") {
    temp_dir d;
    const member& me = three.require("n2");
    {
        auto boot = start_new(d.path(), three, "n2");
        CHECK(boot.id == me.id);
        CHECK(boot.cluster_id == three.cluster_id());
        CHECK(boot.bootstrap.size() == 3);
        asio::io_context io;
        kv_machine sm;
        net::asio_transport t(io.get_executor(), {.id = boot.id, .cluster_id = boot.cluster_id});
        kv_node n(io.get_executor(), std::move(boot), std::move(t), sm, fast_node_options());
        REQUIRE(n.start());
        auto stopped = n.async_stop(asio::use_future);
        io.run_for(std::chrono::seconds(5));
        REQUIRE(stopped.wait_for(0s) == std::future_status::ready);
        // The bootstrap entries were applied: the member table came from their contexts.
        CHECK(n.members() == three);
    }
    auto w = wal::write_ahead_log<>::open(d / "wal", {});
    const auto c = w.read_all();
    CHECK(c.metadata.id == me.id);
    CHECK(c.metadata.cluster_id == three.cluster_id());
    REQUIRE(c.entries.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(c.entries[i].index == i + 1);
        CHECK(c.entries[i].term == 1);
        auto cc = decode_conf_change_entry(c.entries[i]);
        REQUIRE(cc);
        REQUIRE(cc->changes.size() == 1);
        CHECK(cc->changes[0].type == conf_change_type::add_node);
        CHECK(cc->changes[0].node == three.members()[i].id);
        auto m = cluster_members::decode_member(cc->context.bytes());
        REQUIRE(m);
        CHECK(*m == three.members()[i]);
    }
    CHECK(c.hard_state.commit == 3);
    CHECK(c.hard_state.term == 1);
}

TEST_CASE("start paths refuse what does not fit, naming it", "[node][start]") {
    temp_dir d;
    std::string what;
    // A name not in the cluster.
    CHECK(thrown_by([&] { (void)start_new(d / "a", three, "n9"); }, &what) ==
          errc::invalid_config);
    CHECK_THAT(what, Catch::Contains("n9"));
    // No WAL to restart from.
    CHECK(thrown_by([&] { (void)start_restart(d / "a"); }, &what) == errc::wal_not_found);
    (void)start_new(d / "a", three, "n1");
    // A new cluster over an existing WAL.
    CHECK(thrown_by([&] { (void)start_new(d / "a", three, "n1"); }, &what) == errc::wal_exists);
    CHECK_THAT(what, Catch::Contains("n1"));
    CHECK(thrown_by([&] { (void)start_join(d / "a", three, "n1"); }) == errc::wal_exists);
    // Restart with flags naming another member, or another cluster: both ids in the message.
    const member& n1 = three.require("n1");
    const member& n2 = three.require("n2");
    CHECK(thrown_by([&] { (void)start_restart(d / "a", {n2.id, 0}); }, &what) ==
          errc::metadata_mismatch);
    CHECK_THAT(what, Catch::Contains(std::to_string(n1.id)) &&
                         Catch::Contains(std::to_string(n2.id)));
    const auto other = cluster_members::parse(
        "n1=http://127.0.0.1:12380,n2=http://127.0.0.1:12381,n3=http://127.0.0.1:12382", "other");
    CHECK(other.cluster_id() != three.cluster_id());
    CHECK(thrown_by([&] { (void)start_member(d / "a", other, "n1"); }, &what) ==
          errc::metadata_mismatch);
    CHECK_THAT(what, Catch::Contains(std::to_string(three.cluster_id())));
    // The same flags restart it.
    auto again = start_member(d / "a", three, "n1");
    CHECK(again.id == n1.id);
    CHECK(again.bootstrap.empty());
}

TEST_CASE("start_join writes the ids and no log; the member waits to be added", "[node][start]") {
    temp_dir d;
    const std::uint64_t running_cluster = 0xabcdef;
    auto boot = start_join(d.path(), three, "n3", running_cluster);
    CHECK(boot.cluster_id == running_cluster);
    CHECK(boot.bootstrap.empty());
    CHECK(boot.storage.last_index().value() == 0);
    CHECK(boot.storage.metadata().id == three.require("n3").id);
    CHECK(boot.storage.metadata().cluster_id == running_cluster);
}

TEST_CASE("node: snapshots every snapshot_count entries; a member far behind catches up from "
          "a snapshot; a restarted cluster restores then replays", "[node][snapshot]") {
    node_options o = fast_node_options();
    o.snapshot_count = 100;
    o.snapshot_catchup_entries = 20;
    node_cluster c(3, o);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    const std::size_t behind = (lead + 1) % 3;
    REQUIRE(put_sequence(c, lead, 1, 30) == 0);
    REQUIRE(c.wait_converged());
    c.stop(behind);
    REQUIRE(put_sequence(c, lead, 1000, 400) == 0);
    const auto lst = c.node(lead).status();
    CHECK(lst.snapshots_taken >= 3);
    // Each was timed: the longest is part of the total, and no longer than it.
    CHECK(lst.snapshot_max_nanoseconds > 0);
    CHECK(lst.snapshot_max_nanoseconds <= lst.snapshot_nanoseconds);
    CHECK(lst.snapshot_index >= 300);
    c.restart(behind);
    REQUIRE(c.wait_converged());
    CHECK(c.sm(behind).data() == c.sm(lead).data());
    // It had no snapshot of its own (30 entries): what it restored came from the leader.
    CHECK(c.sm(behind).restores() >= 1);
    CHECK(c.node(behind).status().snapshots_restored >= 1);

    // The files are written off the node's strand; once a sync has carried the last one's
    // WAL marker, the older files go, with no write after it to prompt that sync.
    CHECK(wait_until([&] {
        const auto at = snapshot_files(c.slot(lead).dir);
        return at.size() == 2 && at.back() == c.node(lead).status().snapshot_index;
    }));
    // Everybody down, everybody back: each member restores its newest snapshot, then
    // replays its log after it.
    const auto before = c.sm(lead).data();
    std::vector<index_t> snapped;
    for (std::size_t i = 0; i < 3; ++i) snapped.push_back(c.node(i).status().snapshot_index);
    for (std::size_t i = 0; i < 3; ++i) c.stop(i);
    for (std::size_t i = 0; i < 3; ++i) c.restart(i);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(c.sm(i).restores() == 1);
        CHECK(c.sm(i).data().size() == before.size());
        CHECK(c.node(i).status().snapshot_index == snapped[i]);
    }
    (void)c.wait_leader();
    REQUIRE(c.wait_converged());
    for (std::size_t i = 0; i < 3; ++i) CHECK(c.sm(i).data() == before);
}

TEST_CASE("node: a snapshot taken with no write after it still gets its WAL marker synced and "
          "lets go of the older files", "[node][snapshot]") {
    node_options o = fast_node_options();
    o.snapshot_count = 50;
    o.snapshot_catchup_entries = 10;
    node_cluster c(3, o);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    REQUIRE(put_sequence(c, lead, 1, 120) == 0);
    REQUIRE(c.wait_converged());
    // Exactly up to the next snapshot: the last put is the last write anyone makes.
    const auto st = c.node(lead).status();
    REQUIRE(st.snapshots_taken >= 2);
    const auto left = static_cast<int>(st.snapshot_index + 50 - st.applied);
    REQUIRE(left > 0);
    REQUIRE(put_sequence(c, lead, 500, left) == 0);
    const index_t last = st.snapshot_index + 50;
    CHECK(wait_until([&] { return c.node(lead).status().snapshot_index == last; }));
    // Two kept (wal_storage's default): the third goes once a sync carried the marker,
    // which no later write would have started.
    CHECK(wait_until([&] {
        const auto at = snapshot_files(c.slot(lead).dir);
        return at.size() == 2 && at.back() == last;
    }));
    CHECK(c.node(lead).status().applied == last);
}

TEST_CASE("node: pending requests end — timed out without a quorum, stopped by stop(), "
          "refused without forwarding", "[node]") {
    node_options o = fast_node_options();
    o.request_timeout = 400ms;
    node_cluster c(3, o);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    REQUIRE(put_sequence(c, lead, 1, 5) == 0);

    // The leader alone: what it appends can never commit.
    c.stop((lead + 1) % 3);
    c.stop((lead + 2) % 3);
    callback_result<ec_t, testing::kv_output> lost;
    c.node(lead).async_propose(encode_kv(testing::kv_put(1, 99)), lost.handler());
    const auto [ec, out] = get_within(lost.f, 5s);
    CHECK((ec == errc::timed_out || ec == errc::proposal_dropped || ec == errc::no_leader));
    callback_result<ec_t, index_t> read;
    c.node(lead).async_read_index(read.handler());
    CHECK(std::get<0>(get_within(read.f, 5s)) == errc::timed_out);
    // Long past an election timeout, check_quorum has made it step down: it knows no leader,
    // and a proposal waits for one until its deadline, never entering the log.
    REQUIRE(c.node(lead).status().leader == none);
    callback_result<ec_t, testing::kv_output> leaderless;
    c.node(lead).async_propose(encode_kv(testing::kv_put(1, 98)), leaderless.handler());
    CHECK(std::get<0>(get_within(leaderless.f, 5s)) == errc::no_leader);
    CHECK(c.node(lead).status().proposals_failed >= 1);
    // A membership change too; one the member table refuses still fails at once.
    callback_result<ec_t, cluster_members> change;
    c.node(lead).async_propose_conf_change(
        {member_change_type::remove, c.member_of((lead + 1) % 3)}, change.handler());
    CHECK(std::get<0>(get_within(change.f, 5s)) == errc::no_leader);
    member stranger;
    stranger.id = 12345;
    callback_result<ec_t, cluster_members> refused;
    c.node(lead).async_propose_conf_change({member_change_type::remove, stranger},
                                           refused.handler());
    CHECK(std::get<0>(get_within(refused.f)) == errc::unknown_member);  // not no_leader

    // stop() ends what is pending, and everything after. (Without a leader now, a proposal
    // waits for one; a read too, asking again every read_retry.)
    callback_result<ec_t, index_t> pending;
    c.node(lead).async_read_index(pending.handler());
    callback_result<ec_t, testing::kv_output> waiting;
    c.node(lead).async_propose(encode_kv(testing::kv_put(1, 100)), waiting.handler());
    auto stopped = c.node(lead).async_stop(asio::use_future);
    CHECK(std::get<0>(get_within(pending.f, 5s)) == errc::stopped);
    CHECK(std::get<0>(get_within(waiting.f, 5s)) == errc::stopped);
    get_within(stopped);
    callback_result<ec_t, testing::kv_output> after;
    c.node(lead).async_propose(encode_kv(testing::kv_put(1, 101)), after.handler());
    CHECK(std::get<0>(get_within(after.f, 5s)) == errc::stopped);
    CHECK(c.node(lead).status().stopped);
}

TEST_CASE("node: a proposal made while no leader is known waits for the election, then "
          "applies", "[node]") {
    // etcd's Node.Propose blocks while there is no leader; raft alone would drop it at once.
    node_cluster c(3);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    REQUIRE(put_sequence(c, lead, 1, 3) == 0);
    const std::size_t alone = (lead + 1) % 3, other = (lead + 2) % 3;
    c.stop(lead);
    c.stop(other);
    // One member of three cannot win an election: it soon names no leader.
    REQUIRE(wait_until([&] { return c.node(alone).status().leader == none; }, 5s));
    callback_result<ec_t, testing::kv_output> r;
    c.node(alone).async_propose(encode_kv(testing::kv_put(7, 77)), r.handler());
    // Still waiting after a few election timeouts (dropped, it would have completed at once).
    CHECK(r.f.wait_for(300ms) == std::future_status::timeout);
    CHECK(c.node(alone).status().proposals_failed == 0);
    c.restart(other);  // a quorum again: an election, then the proposal goes in
    const auto [ec, out] = get_within(r.f, 10s);
    CHECK_FALSE(ec);
    CHECK(out.ok);
    REQUIRE(c.wait_converged());
    CHECK(c.sm(alone).data().at(7) == 77);
    CHECK(c.sm(other).data().at(7) == 77);

    // A membership change waits the same way (etcd's ProposeConfChange blocks too).
    c.stop(other);
    REQUIRE(wait_until([&] { return c.node(alone).status().leader == none; }, 5s));
    const std::size_t n4 = c.add_slot("n4");
    const member m4 = c.member_of(n4);
    callback_result<ec_t, cluster_members> add;
    c.node(alone).async_propose_conf_change({member_change_type::add_learner, m4},
                                            add.handler());
    CHECK(add.f.wait_for(300ms) == std::future_status::timeout);
    c.restart(other);
    const auto [add_ec, members] = get_within(add.f, 10s);
    CHECK_FALSE(add_ec);
    REQUIRE(members.find(m4.id) != nullptr);
    CHECK(members.find(m4.id)->is_learner);
}

TEST_CASE("node: with forwarding off a follower refuses proposals with not_leader",
          "[node]") {
    node_options o = fast_node_options();
    o.forward_proposals = false;
    node_cluster c(3, o);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    callback_result<ec_t, testing::kv_output> r;
    c.node((lead + 1) % 3).async_propose(encode_kv(testing::kv_put(1, 1)), r.handler());
    CHECK(std::get<0>(get_within(r.f)) == errc::not_leader);
    REQUIRE(put_sequence(c, lead, 1, 3) == 0);
}

TEST_CASE("docs/node.md: the one-member summer proposes three numbers and sums them",
          "[node][docs]") {
    temp_dir t;
    std::string dir = (t / "data").string();
    char prog[] = "summer";
    char* argv[] = {prog, dir.data(), nullptr};
    std::ostringstream out;
    auto* const saved = std::cout.rdbuf(out.rdbuf());
    int rc = -1;
    try {
        rc = doc_node_summer(2, argv);
    } catch (...) {
        std::cout.rdbuf(saved);
        throw;
    }
    std::cout.rdbuf(saved);
    CHECK(rc == 0);
    CHECK(out.str() == "sum 1\nsum 3\nsum 6\n");
    // It left a WAL a restart finds.
    CHECK(wal_storage<>::exists(dir));
}

TEST_CASE("node: beyond max_pending_proposals a proposal is refused with too_many_requests",
          "[node]") {
    node_options o = fast_node_options();
    o.max_pending_proposals = 1;
    node_cluster c(3, o);
    c.start_all_new();
    const std::size_t lead = c.wait_leader();
    std::vector<callback_result<ec_t, testing::kv_output>> rs(50);
    for (std::size_t i = 0; i < rs.size(); ++i)
        c.node(lead).async_propose(encode_kv(testing::kv_put(1, i + 1)), rs[i].handler());
    int ok = 0, refused = 0;
    for (auto& r : rs) {
        const auto ec = std::get<0>(get_within(r.f));
        if (!ec) ++ok;
        else if (ec == errc::too_many_requests) ++refused;
    }
    CHECK(ok >= 1);
    CHECK(refused >= 1);
    CHECK(ok + refused == 50);
}
