// Flow control of the leader's appends (etcd raft_flow_control_test.go and the progress tests
// of raft_test.go): the inflight window (max_inflight_msgs, max_inflight_bytes), the size of
// one append (max_size_per_msg), the uncommitted tail (max_uncommitted_entries_size), and the
// per-state sending rules: one probe per heartbeat interval, pipelining in replicate, nothing
// while a snapshot is pending. As in etcd 3.4, a heartbeat response frees one slot of a full
// window. Randomized cases use fixed seeds, CAPTUREd.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <raftpp/testing/cluster.hpp>

#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

message prop(node_id id, std::string_view data = "somedata") {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, entry_type::normal, buffer(data)});
    return m;
}

message ack(const test_raft& r, node_id from, index_t index) {
    message m = make_message(message_type::app_resp, from, r.id(), r.term());
    m.index = index;
    return m;
}

message heartbeat_resp(const test_raft& r, node_id from) {
    return make_message(message_type::heartbeat_resp, from, r.id(), r.term());
}

message beat(node_id id) { return make_message(message_type::beat, id, id); }

detail::progress& pr_of(test_raft& r, node_id id) {
    auto* pr = r.tracker().progress(id);
    REQUIRE(pr != nullptr);
    return *pr;
}

// A leader of {1, ..peers} at term 1 whose own empty entry is persisted.
test_raft_ptr new_leader(config cfg, std::vector<node_id> peers) {
    auto r = new_test_raft(cfg, new_test_storage(std::move(peers)));
    r->become_candidate();
    r->become_leader();
    (void)read_messages(*r);
    return r;
}

test_raft_ptr new_leader(std::vector<node_id> peers, int election = 5) {
    return new_leader(test_config(1, election, 1), std::move(peers));
}

// Fills pr's window with one proposal per slot (TestMsgAppFlowControl*'s prologue).
void fill_window(test_raft& r) {
    for (std::size_t i = 0; i < r.cfg().max_inflight_msgs; ++i) {
        REQUIRE(r.step(prop(1)));
        REQUIRE(read_messages(r).size() == 1);
    }
}

std::vector<std::size_t> entry_counts(const std::vector<message>& msgs) {
    std::vector<std::size_t> out;
    for (const auto& m : msgs)
        if (m.type == message_type::app && !m.entries.empty()) out.push_back(m.entries.size());
    return out;
}

}  // namespace

// ---- the inflight window ------------------------------------------------------------------

TEST_CASE("appends fill the window, then nothing more is sent", "[flow_control]") {
    // TestMsgAppFlowControlFull.
    auto r = new_leader({1, 2});
    auto& pr2 = pr_of(*r, 2);
    pr2.become_replicate();
    fill_window(*r);
    CHECK(pr2.inflights.full());
    CHECK(pr2.is_paused());
    for (int i = 0; i < 10; ++i) {
        REQUIRE(r->step(prop(1)));
        CHECK(read_messages(*r).empty());
    }
}

TEST_CASE("an ack moves the window forward; stale acks do not", "[flow_control]") {
    // TestMsgAppFlowControlMoveForward.
    auto r = new_leader({1, 2});
    auto& pr2 = pr_of(*r, 2);
    pr2.become_replicate();
    fill_window(*r);
    // 1 is the empty entry, sent with the first proposal at 2: start from 2.
    for (index_t tt = 2; tt < r->cfg().max_inflight_msgs; ++tt) {
        CAPTURE(tt);
        REQUIRE(r->step(ack(*r, 2, tt)));
        (void)read_messages(*r);

        REQUIRE(r->step(prop(1)));
        CHECK(read_messages(*r).size() == 1);
        CHECK(pr2.inflights.full());

        for (index_t i = 0; i < tt; ++i) {
            REQUIRE(r->step(ack(*r, 2, i)));
            CHECK(pr2.inflights.full());
        }
    }
}

TEST_CASE("a heartbeat response frees one slot of a full window", "[flow_control]") {
    // TestMsgAppFlowControlRecvHeartbeat (etcd 3.4).
    auto r = new_leader({1, 2});
    auto& pr2 = pr_of(*r, 2);
    pr2.become_replicate();
    fill_window(*r);
    for (int tt = 1; tt < 5; ++tt) {
        CAPTURE(tt);
        REQUIRE(pr2.inflights.full());
        // Several heartbeat responses still free only one slot: only a full window is freed.
        for (int i = 0; i < tt; ++i) {
            REQUIRE(r->step(heartbeat_resp(*r, 2)));
            for (const auto& m : read_messages(*r)) CHECK(m.entries.empty());
            CHECK_FALSE(pr2.inflights.full());
        }
        REQUIRE(r->step(prop(1)));
        CHECK(read_messages(*r).size() == 1);  // one slot
        for (int i = 0; i < 10; ++i) {         // and just one
            REQUIRE(r->step(prop(1)));
            CHECK(read_messages(*r).empty());
        }
        // Frees a slot for the 10 pending entries, which fill it again.
        REQUIRE(r->step(heartbeat_resp(*r, 2)));
        (void)read_messages(*r);
    }
}

TEST_CASE("max_inflight_msgs bounds the appends in flight", "[flow_control]") {
    config cfg = test_config(1, 5, 1);
    cfg.max_inflight_msgs = 3;
    auto r = new_leader(cfg, {1, 2});
    auto& pr2 = pr_of(*r, 2);
    pr2.become_replicate();

    std::vector<message> sent;
    for (int i = 0; i < 5; ++i) {
        REQUIRE(r->step(prop(1)));
        for (auto& m : read_messages(*r)) sent.push_back(std::move(m));
    }
    REQUIRE(sent.size() == 3);
    CHECK(pr2.inflights.full());
    CHECK(pr2.inflights.count() == 3);

    // Acking the first append frees one slot; the two waiting entries go out together.
    REQUIRE(r->step(ack(*r, 2, sent[0].entries.back().index)));
    auto more = read_messages(*r);
    CHECK(entry_counts(more) == std::vector<std::size_t>{2});
    CHECK(pr2.inflights.full());

    REQUIRE(r->step(ack(*r, 2, r->log().last_index())));
    CHECK(pr2.inflights.count() == 0);
    CHECK(pr2.inflights.bytes() == 0);
    CHECK(pr2.match == r->log().last_index());
}

TEST_CASE("max_inflight_bytes: full by bytes, freed exactly when acknowledged",
          "[flow_control]") {
    const std::string big(100, 'x');
    config cfg = test_config(1, 5, 1);
    cfg.max_size_per_msg = entry_size(entry{0, 0, entry_type::normal, buffer(big)});  // 1 entry
    cfg.max_inflight_bytes = 400;
    auto r = new_leader(cfg, {1, 2});
    commit_noop_entry(*r);
    auto& pr2 = pr_of(*r, 2);
    REQUIRE(pr2.state == detail::progress_state::replicate);

    for (int i = 0; i < 4; ++i) {
        REQUIRE(r->step(prop(1, big)));
        CHECK(entry_counts(read_messages(*r)) == std::vector<std::size_t>{1});
    }
    CHECK(pr2.inflights.count() == 4);
    CHECK(pr2.inflights.bytes() == 400);
    CHECK(pr2.inflights.full());  // by bytes: 4 of 256 messages
    for (int i = 0; i < 2; ++i) {
        REQUIRE(r->step(prop(1, big)));
        CHECK(read_messages(*r).empty());
    }

    // Entries 2 and 3 acked: exactly their 200 bytes come back, and the two waiting entries
    // (6 and 7) take them.
    REQUIRE(r->step(ack(*r, 2, 3)));
    CHECK(entry_counts(read_messages(*r)) == std::vector<std::size_t>{1, 1});
    CHECK(pr2.inflights.bytes() == 400);
    CHECK(pr2.inflights.full());

    SECTION("everything acked: nothing is left in flight") {
        REQUIRE(r->step(ack(*r, 2, 7)));
        CHECK(pr2.inflights.count() == 0);
        CHECK(pr2.inflights.bytes() == 0);
    }
    SECTION("a state change forgets the bytes, so the full budget is available again") {
        // etcd-io/raft#54: a reset that kept the byte count stalled replication for good.
        REQUIRE(r->step(make_message(message_type::unreachable, 2, 1)));
        REQUIRE(pr2.state == detail::progress_state::probe);
        CHECK(pr2.inflights.count() == 0);
        CHECK(pr2.inflights.bytes() == 0);
        REQUIRE(r->step(heartbeat_resp(*r, 2)));  // lets a probe go: entry 4
        auto probe = read_messages(*r);
        REQUIRE(probe.size() == 1);
        CHECK(probe[0].index == 3);
        REQUIRE(r->step(ack(*r, 2, 4)));  // replicate again: 5, 6 and 7 are re-sent
        REQUIRE(pr2.state == detail::progress_state::replicate);
        CHECK(entry_counts(read_messages(*r)) == std::vector<std::size_t>{1, 1, 1});
        CHECK(pr2.inflights.bytes() == 300);
        REQUIRE(r->step(ack(*r, 2, 7)));
        CHECK(pr2.inflights.bytes() == 0);
        for (int i = 0; i < 4; ++i) {
            REQUIRE(r->step(prop(1, big)));
            CHECK(entry_counts(read_messages(*r)) == std::vector<std::size_t>{1});
        }
        CHECK(pr2.inflights.bytes() == 400);
    }
    SECTION("an entry larger than the budget still goes out when the window has room") {
        REQUIRE(r->step(ack(*r, 2, 7)));
        REQUIRE(r->step(prop(1, std::string(1000, 'y'))));
        CHECK(entry_counts(read_messages(*r)) == std::vector<std::size_t>{1});
        CHECK(pr2.inflights.bytes() == 1000);
        CHECK(pr2.inflights.full());
    }
}

// A leader and a real follower over a lossy link, heartbeats every round: whatever is lost,
// the window's bytes stay the exact sum of its slots, no slot at or below match survives an
// ack, and once the link heals everything is replicated and the window drains to zero.
TEST_CASE("the byte window never leaks over a long lossy run", "[flow_control]") {
    const std::uint64_t seed = GENERATE(1, 2, 3, 4);
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    config cfg = test_config(1, 10, 1);
    cfg.max_size_per_msg = 256;
    cfg.max_inflight_msgs = 8;
    cfg.max_inflight_bytes = 1024;
    auto lead = new_test_raft(cfg, new_test_storage({1, 2}));
    auto f = new_test_raft(test_config(2, 10, 1), new_test_storage({1, 2}));
    lead->become_candidate();
    lead->become_leader();
    f->become_follower(1, 1);
    auto& pr = pr_of(*lead, 2);

    std::uint64_t loss_pct = 20;  // integer draws: the same run on every standard library
    int full_by_bytes = 0;  // the run must actually hit the byte budget
    auto check_window = [&] {
        if (pr.inflights.full() && pr.inflights.count() < cfg.max_inflight_msgs) ++full_by_bytes;
        std::uint64_t sum = 0;
        pr.inflights.for_each([&](index_t i, std::uint64_t b) {
            sum += b;
            if (pr.state == detail::progress_state::replicate) CHECK(i > pr.match);
        });
        CHECK(pr.inflights.bytes() == sum);
        CHECK(pr.inflights.count() <= cfg.max_inflight_msgs);
    };
    auto exchange = [&] {
        // Leader -> follower -> leader, each message lost with probability loss_pct %.
        for (auto& m : read_messages(*lead)) {
            if (rng() % 100 < loss_pct) continue;
            REQUIRE(f->step(std::move(m)));
        }
        for (auto& m : read_messages(*f)) {
            if (rng() % 100 < loss_pct) continue;
            REQUIRE(lead->step(std::move(m)));
            check_window();
        }
    };
    for (int round = 0; round < 1500; ++round) {
        CAPTURE(round);
        const auto n = rng() % 3;
        for (std::uint64_t i = 0; i < n; ++i)
            REQUIRE(lead->step(prop(1, std::string(1 + rng() % 200, 'p'))));
        if (rng() % 50 == 0) REQUIRE(lead->step(make_message(message_type::unreachable, 2, 1)));
        lead->tick();
        exchange();
        REQUIRE(lead->role() == role::leader);
    }
    CHECK(full_by_bytes > 0);
    loss_pct = 0;
    for (int round = 0; round < 100 && pr.match < lead->log().last_index(); ++round) {
        lead->tick();
        exchange();
    }
    exchange();
    CHECK(pr.match == lead->log().last_index());
    CHECK(f->log().committed() == lead->log().committed());
    CHECK(lead->log().committed() == lead->log().last_index());
    CHECK(pr.inflights.count() == 0);
    CHECK(pr.inflights.bytes() == 0);
}

TEST_CASE("tight windows never stall a lossy cluster", "[flow_control][cluster]") {
    const std::uint64_t seed = GENERATE(11, 12, 13);
    CAPTURE(seed);
    raftpp::testing::cluster_options opts;
    opts.voters = {1, 2, 3};
    opts.seed = seed;
    opts.base.max_size_per_msg = 300;
    opts.base.max_inflight_msgs = 4;
    opts.base.max_inflight_bytes = 600;
    raftpp::testing::cluster<> c(opts);
    REQUIRE(c.bootstrap());
    c.net().drop(raftpp::testing::any_node, raftpp::testing::any_node, 0.2);
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 600; ++round) {
        if (auto l = c.leader(); l && rng() % 2 == 0)
            (void)c.propose(*l, std::string(1 + rng() % 250, static_cast<char>('a' + round % 26)));
        c.run_ticks(1);
    }
    c.net().heal();
    // Quiet: a leader whose last entry is "final", applied everywhere, with every follower
    // acked up to it and nothing left in flight.
    auto drained = [&] {
        const auto l = c.leader();
        if (!l) return false;
        const auto& lr = c.node(*l).raft();
        const index_t last = lr.log().last_index();
        const auto data = c.applied_data(*l);
        if (data.empty() || data.back() != "final") return false;
        for (node_id id : c.ids())
            if (c.applied(id).empty() || c.applied(id).back().index != last) return false;
        bool idle = true;
        lr.tracker().visit([&](node_id id, const detail::progress& pr) {
            if (id != *l) idle = idle && pr.match == last && pr.inflights.count() == 0;
        });
        return idle;
    };
    bool done = false;
    for (int round = 0; round < 1000 && !done; ++round) {
        if (auto l = c.leader(); l && round % 50 == 0) (void)c.propose(*l, "final");
        c.run_ticks(1);
        done = drained();
    }
    REQUIRE(done);
    CHECK(c.violations().empty());
    CHECK(c.applied_data(1) == c.applied_data(2));
    CHECK(c.applied_data(1) == c.applied_data(3));
    const node_id l = *c.leader();
    c.node(l).raft().tracker().visit([&](node_id id, const detail::progress& pr) {
        if (id == l) return;
        CAPTURE(id);
        CHECK(pr.inflights.bytes() == 0);
        CHECK(pr.state == detail::progress_state::replicate);
    });
}

// ---- message size -------------------------------------------------------------------------

TEST_CASE("max_size_per_msg bounds each append, but one entry always goes", "[flow_control]") {
    // The empty entry is 16 bytes by entry_size(), each "somedata" entry 24.
    struct tc {
        std::string_view name;
        std::uint64_t max_size;
        std::vector<std::size_t> payloads;  // of the proposals after the empty entry
        std::vector<std::size_t> want;       // entries per append
    };
    const std::vector<std::size_t> nine(9, 8);
    const tc cases[] = {
        {"no limit: one append", no_limit, nine, {10}},
        {"0: one entry each", 0, nine, std::vector<std::size_t>(10, 1)},
        {"smaller than any entry: one entry each", 1, nine, std::vector<std::size_t>(10, 1)},
        {"48 bytes: two entries each", 48, nine, {2, 2, 2, 2, 2}},
        {"64 bytes: the limit itself still fits", 64, nine, {3, 2, 2, 2, 1}},
        {"an entry above the limit goes alone", 48, {8, 200, 8, 8, 8}, {2, 1, 2, 1}},
    };
    const bool persisted = GENERATE(true, false);  // read from storage or the unstable tail
    for (const auto& c : cases) {
        CAPTURE(c.name, persisted);
        config cfg = test_config(1, 5, 1);
        cfg.max_size_per_msg = c.max_size;
        auto r = new_leader(cfg, {1, 2});
        auto& pr2 = pr_of(*r, 2);
        pr2.pause();  // a probe is out: proposals pile up
        for (std::size_t p : c.payloads) REQUIRE(r->step(prop(1, std::string(p, 'd'))));
        if (persisted) REQUIRE(read_messages(*r).empty());

        // The heartbeat response lets one probe go; its ack starts replication of the rest.
        REQUIRE(r->step(heartbeat_resp(*r, 2)));
        auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        REQUIRE_FALSE(msgs[0].entries.empty());
        REQUIRE(r->step(ack(*r, 2, msgs[0].entries.back().index)));
        for (auto& m : read_messages(*r)) msgs.push_back(std::move(m));

        CHECK(entry_counts(msgs) == c.want);
        CHECK(pr2.next == r->log().last_index() + 1);
    }
}

TEST_CASE("proposals of one cycle join the queued append to each follower", "[flow_control]") {
    // Nothing leaves before the ready cycle, so the entries proposed meanwhile can travel in
    // the append already queued for a replicating follower, within max_size_per_msg (each
    // "somedata" entry is 24 bytes by entry_size()). Its inflight slot grows with it.
    struct tc {
        std::uint64_t max_size;
        std::vector<std::size_t> want;  // entries per append, for each follower
    };
    const tc c = GENERATE(tc{no_limit, {5}}, tc{64, {2, 2, 1}}, tc{0, {1, 1, 1, 1, 1}});
    CAPTURE(c.max_size);
    config cfg = test_config(1, 5, 1);
    cfg.max_size_per_msg = c.max_size;
    auto r = new_leader(cfg, {1, 2, 3});
    for (node_id id : {2, 3}) REQUIRE(r->step(ack(*r, id, 1)));  // both replicate from 2
    (void)read_messages(*r);
    for (int i = 0; i < 5; ++i) REQUIRE(r->step(prop(1)));

    const auto msgs = read_messages(*r);
    for (node_id id : {2, 3}) {
        CAPTURE(id);
        std::vector<message> to_id;
        for (const auto& m : msgs)
            if (m.to == id) to_id.push_back(m);
        CHECK(entry_counts(to_id) == c.want);
        // Each append follows the previous one; together they carry 2..6 in order.
        index_t next = 2;
        for (const auto& m : to_id) {
            CHECK(m.index == next - 1);
            for (const auto& e : m.entries) CHECK(e.index == next++);
        }
        CHECK(next == 7);
        auto& pr = pr_of(*r, id);
        CHECK(pr.next == 7);
        CHECK(pr.inflights.count() == c.want.size());
        CHECK(pr.inflights.bytes() == 5 * std::string_view("somedata").size());
    }

    // Acking the first append frees exactly its (grown) slot.
    REQUIRE(r->step(ack(*r, 2, 1 + c.want[0])));
    CHECK(pr_of(*r, 2).inflights.count() == c.want.size() - 1);
}

// ---- uncommitted tail ---------------------------------------------------------------------

TEST_CASE("proposals past max_uncommitted_entries_size are dropped until the tail commits",
          "[flow_control]") {
    // TestUncommittedEntryLimit, with a real commit and apply instead of reduceUncommittedSize.
    const std::size_t max_entries = 1024;
    const entry test_entry{0, 0, entry_type::normal, buffer("testdata")};
    config cfg = test_config(1, 5, 1);
    cfg.max_uncommitted_entries_size = max_entries * payload_size(test_entry);
    cfg.max_inflight_msgs = 2 * 1024;  // avoid interference
    auto r = new_test_raft(cfg, new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    CHECK(r->uncommitted_size() == 0);  // the empty entry does not count
    pr_of(*r, 2).become_replicate();
    pr_of(*r, 3).become_replicate();

    auto prop_msg = [&](std::size_t n) {
        message m = make_message(message_type::prop, 1, 1);
        m.entries.assign(n, test_entry);
        return m;
    };
    auto commit_and_apply = [&] {
        for (node_id id : {2, 3}) REQUIRE(r->step(ack(*r, id, r->log().last_index())));
        advance_messages_after_append(*r);
        REQUIRE(r->log().committed() == r->log().last_index());
        auto ents = r->log().next_committed_entries(no_limit);
        r->on_applied(ents.back().index, ents);
        (void)read_messages(*r);
    };

    for (std::size_t i = 0; i < max_entries; ++i) REQUIRE(r->step(prop_msg(1)));
    auto dropped = r->step(prop_msg(1));
    REQUIRE_FALSE(dropped);
    CHECK(dropped.error() == errc::proposal_dropped);
    // etcd sends one append per proposal and follower; raftpp joins the proposals of one
    // cycle into one append per follower (see "proposals of one cycle join ...").
    auto msgs = read_messages(*r);
    REQUIRE(msgs.size() == 2);
    // Replication starts at index 1 here, so the leader's empty entry travels too.
    for (const auto& m : msgs) CHECK(m.entries.size() == max_entries + 1);
    CHECK(r->uncommitted_size() == max_entries * payload_size(test_entry));

    commit_and_apply();
    CHECK(r->uncommitted_size() == 0);

    // One large proposal is admitted while the tail is empty, though it exceeds the limit.
    REQUIRE(r->step(prop_msg(2 * max_entries)));
    dropped = r->step(prop_msg(1));
    REQUIRE_FALSE(dropped);
    CHECK(dropped.error() == errc::proposal_dropped);
    CHECK(read_messages(*r).size() == 2);

    commit_and_apply();
    CHECK(r->uncommitted_size() == 0);
    CHECK(r->step(prop_msg(1)));  // admitted again
}

// ---- sending rules per progress state -----------------------------------------------------

TEST_CASE("a probing follower gets one append per heartbeat response", "[flow_control]") {
    // TestSendAppendForProgressProbe.
    auto r = new_leader({1, 2}, 10);
    auto& pr2 = pr_of(*r, 2);
    pr2.become_probe();
    for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        if (i == 0) {
            // Only the first append goes; then the follower is paused until it answers.
            REQUIRE(r->step(prop(1)));
            auto msgs = read_messages(*r);
            REQUIRE(msgs.size() == 1);
            CHECK(msgs[0].index == 0);
        }
        CHECK(pr2.probe_sent);
        for (int j = 0; j < 10; ++j) {
            REQUIRE(r->step(prop(1)));
            CHECK(read_messages(*r).empty());
        }
        for (int j = 0; j < r->cfg().heartbeat_tick; ++j) REQUIRE(r->step(beat(1)));
        CHECK(pr2.probe_sent);  // a heartbeat alone does not unpause
        auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::heartbeat);
    }
    // The heartbeat response lets exactly one more append go.
    REQUIRE(r->step(heartbeat_resp(*r, 2)));
    auto msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::app);
    CHECK(msgs[0].index == 0);
    CHECK(pr2.probe_sent);
}

TEST_CASE("a rejected probe is followed at once by one from further back", "[flow_control]") {
    // The leader's log is 1..3 at term 1 and its empty entry 4 at term 2; the follower's log
    // ends at 2 (term 1).
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2}).append(entries_at(1, {1, 1, 1})));
    r->become_follower(1, none);
    r->become_candidate();
    r->become_leader();
    (void)read_messages(*r);
    auto& pr2 = pr_of(*r, 2);
    REQUIRE(r->step(prop(1)));
    auto msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].index == 3);
    REQUIRE(pr2.probe_sent);

    message rej = make_message(message_type::app_resp, 2, 1, r->term());
    rej.index = 3;
    rej.reject = true;
    rej.reject_hint = 2;
    rej.log_term = 1;
    REQUIRE(r->step(rej));
    msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].index == 2);
    CHECK(msgs[0].log_term == 1);
    CHECK(pr2.probe_sent);
    CHECK(pr2.next == 3);

    // A duplicate of the same rejection is stale: nothing more goes out.
    REQUIRE(r->step(rej));
    CHECK(read_messages(*r).empty());
}

TEST_CASE("a probing follower gets at most one append per heartbeat interval", "[flow_control]") {
    config cfg = test_config(1, 10, 3);
    auto r = new_leader(cfg, {1, 2});
    auto& pr2 = pr_of(*r, 2);
    REQUIRE(r->step(prop(1)));
    REQUIRE(read_messages(*r).size() == 1);  // the probe
    for (int interval = 0; interval < 4; ++interval) {
        CAPTURE(interval);
        for (int t = 0; t < cfg.heartbeat_tick; ++t) {
            REQUIRE(r->step(prop(1)));
            r->tick();
        }
        auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::heartbeat);
        REQUIRE(r->step(heartbeat_resp(*r, 2)));
        msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::app);
        CHECK(msgs[0].index == 0);  // still probing from the start: never acked
        CHECK(pr2.state == detail::progress_state::probe);
    }
}

TEST_CASE("a replicating follower gets every append at once", "[flow_control]") {
    // TestSendAppendForProgressReplicate.
    auto r = new_leader({1, 2}, 10);
    pr_of(*r, 2).become_replicate();
    for (int i = 0; i < 10; ++i) {
        REQUIRE(r->step(prop(1)));
        CHECK(read_messages(*r).size() == 1);
    }
}

TEST_CASE("a follower with a pending snapshot gets no appends", "[flow_control]") {
    // TestSendAppendForProgressSnapshot.
    auto r = new_leader({1, 2}, 10);
    pr_of(*r, 2).become_snapshot(10);
    for (int i = 0; i < 10; ++i) {
        REQUIRE(r->step(prop(1)));
        CHECK(read_messages(*r).empty());
    }
}

TEST_CASE("an ack ends a follower's wait while the others still wait", "[flow_control]") {
    // TestMsgAppRespWaitReset: win an election the way the core does, which broadcasts.
    auto r = new_test_raft(1, 5, 1, new_test_storage({1, 2, 3}));
    REQUIRE(r->step(make_message(message_type::hup, 1, 1)));
    (void)read_messages(*r);  // the vote requests
    message granted = make_message(message_type::vote_resp, 2, 1, r->term());
    REQUIRE(r->step(granted));
    REQUIRE(r->role() == role::leader);
    (void)read_messages(*r);  // the empty entry to 2 and 3

    REQUIRE(r->step(ack(*r, 2, 1)));
    CHECK(r->log().committed() == 1);
    (void)read_messages(*r);  // the commit index update

    REQUIRE(r->step(prop(1, "")));
    auto msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);  // 3 still waits for its probe's answer
    CHECK(msgs[0].type == message_type::app);
    CHECK(msgs[0].to == 2);
    REQUIRE(msgs[0].entries.size() == 1);
    CHECK(msgs[0].entries[0].index == 2);

    REQUIRE(r->step(ack(*r, 3, 1)));
    msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::app);
    CHECK(msgs[0].to == 3);
    REQUIRE(msgs[0].entries.size() == 1);
    CHECK(msgs[0].entries[0].index == 2);
}

TEST_CASE("unreachable moves a replicating follower back to probe", "[flow_control]") {
    // TestRecvMsgUnreachable.
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2}).append(entries_at(1, {1, 1, 1})));
    r->become_candidate();
    r->become_leader();
    (void)read_messages(*r);
    auto& pr2 = pr_of(*r, 2);
    pr2.match = 3;
    pr2.become_replicate();
    pr2.optimistic_update(5);

    REQUIRE(r->step(make_message(message_type::unreachable, 2, 1)));
    CHECK(pr2.state == detail::progress_state::probe);
    CHECK(pr2.next == pr2.match + 1);

    SECTION("in probe or snapshot state it changes nothing") {
        pr2.become_snapshot(3);
        REQUIRE(r->step(make_message(message_type::unreachable, 2, 1)));
        CHECK(pr2.state == detail::progress_state::snapshot);
        CHECK(pr2.pending_snapshot == 3);
    }
}
