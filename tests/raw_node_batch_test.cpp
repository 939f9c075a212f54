// raw_node's ways out and in for a batch: a transport with the optional send_all ability gets
// a cycle's messages at once, and propose() of a span sends its payloads as one message.
#include <catch2/catch.hpp>

#include "raw_node_test_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <span>
#include <tuple>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

// A transport with the optional batch ability: advance() hands it the cycle's messages at
// once, through send_all only.
struct batch_transport {
    std::vector<message>* got = nullptr;
    int* send_calls = nullptr;
    int* send_all_calls = nullptr;
    void send(message&& m) {
        ++*send_calls;
        got->push_back(std::move(m));
    }
    void send_all(std::vector<message>& ms) {
        ++*send_all_calls;
        std::swap(*got, ms);  // the vectors trade places; the caller clears its new one
    }
};

}  // namespace

TEST_CASE("advance() gives a transport with send_all the cycle's messages at once",
          "[raw_node][transport]") {
    memory_storage st;
    std::vector<message> got;
    int sends = 0, batches = 0;
    raw_node<memory_storage, batch_transport> n(cfg_for(1), st,
                                                batch_transport{&got, &sends, &batches});
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);
    got.clear();
    REQUIRE(n.campaign());
    auto& rd = n.ready();
    REQUIRE(rd.messages.size() == 2);
    REQUIRE(n.persist(rd));
    n.advance();
    CHECK(sends == 0);
    CHECK(batches == 1);
    REQUIRE(got.size() == 2);
    CHECK(got[0].type == message_type::vote);
    CHECK(got[0].to == 2);
    CHECK(got[1].to == 3);
    // The vector it handed back is cleared and reused: the next cycle is not polluted.
    CHECK_FALSE(n.has_ready());
}

TEST_CASE("propose of a batch appends its entries as one, or refuses them together",
          "[raw_node][propose]") {
    // etcd: one MsgProp carrying several entries. Consecutive indexes, one append per
    // follower, all or nothing.
    memory_storage st;
    config c = cfg_for(1);
    c.max_uncommitted_entries_size = 10;
    node n(c, st);
    REQUIRE(n.bootstrap(voters({1, 2})));
    settle(n);
    const std::vector<buffer> none_yet;
    CHECK(n.propose(std::span<const buffer>(none_yet)));  // empty: nothing happens
    const std::vector<buffer> batch{buffer("a"), buffer("bb"), buffer("c")};
    // Not the leader, and no leader to forward to: all dropped, none appended.
    CHECK(n.propose(std::span<const buffer>(batch)).error() == errc::proposal_dropped);
    CHECK(n.raft().log().last_index() == 2);

    REQUIRE(n.campaign());
    settle(n);
    message v = make_message(message_type::vote_resp, 2, 1, n.raft().term());
    REQUIRE(n.step(std::move(v)));
    settle(n);
    REQUIRE(n.raft().role() == role::leader);
    const index_t last = n.raft().log().last_index();
    // The follower acks the leader's log, so it is replicated to without probing.
    message ack = make_message(message_type::app_resp, 2, 1, n.raft().term());
    ack.index = last;
    REQUIRE(n.step(std::move(ack)));
    settle(n);
    REQUIRE(n.propose(std::span<const buffer>(batch)));
    auto out = cycle(n);
    REQUIRE(out.entries.size() == 3);
    CHECK(out.entries[0] == ent(n.raft().term(), last + 1, "a"));
    CHECK(out.entries[1] == ent(n.raft().term(), last + 2, "bb"));
    CHECK(out.entries[2] == ent(n.raft().term(), last + 3, "c"));
    // One append to the follower carries the whole batch.
    std::size_t appends = 0;
    for (const auto& m : out.messages)
        if (m.type == message_type::app && m.to == 2 && !m.entries.empty()) {
            ++appends;
            CHECK(indexes(m.entries) == std::vector<index_t>{last + 1, last + 2, last + 3});
        }
    CHECK(appends == 1);
    // Over the uncommitted-size limit (4 bytes pending, 4 + 8 > 10): the whole batch is
    // refused, none of it appended.
    const std::vector<buffer> big{buffer("1234"), buffer("5678")};
    CHECK(n.propose(std::span<const buffer>(big)).error() == errc::proposal_dropped);
    CHECK(n.raft().log().last_index() == last + 3);
}


namespace {

// A three-voter leader (node 1) whose follower 2 acked its log (replicate state) and whose
// follower 3 never answered (probe state, paused by the election's probe).
void lead_three(node& n) {
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);
    REQUIRE(n.campaign());
    settle(n);
    REQUIRE(n.step(make_message(message_type::vote_resp, 2, 1, n.raft().term())));
    settle(n);
    REQUIRE(n.raft().role() == role::leader);
    message ack = make_message(message_type::app_resp, 2, 1, n.raft().term());
    ack.index = n.raft().log().last_index();
    REQUIRE(n.step(std::move(ack)));
    settle(n);
}

std::vector<buffer> payloads(int n, std::size_t size) {
    std::vector<buffer> out;
    for (int i = 0; i < n; ++i) out.push_back(buffer(std::string(size, static_cast<char>('a' + i))));
    return out;
}

// What a script did to the node: each ready cycle's messages, and the followers' progress
// (match, next, state, appends in flight) after each step of the script.
struct script_out {
    std::vector<std::vector<message>> cycles;
    std::vector<std::vector<std::tuple<node_id, index_t, index_t, int, std::size_t>>> progress;
    friend bool operator==(const script_out&, const script_out&) = default;
};

script_out run_script(node& n, const std::vector<buffer>& ps) {
    script_out out;
    auto take = [&] {
        while (n.has_ready()) out.cycles.push_back(cycle(n).messages);
        auto& p = out.progress.emplace_back();
        for (const auto& pr : n.status().progress)
            p.emplace_back(pr.id, pr.match, pr.next, static_cast<int>(pr.state), pr.inflight);
    };
    const term_t t = n.raft().term();
    // Proposals, each at the next index the moment propose() returns.
    for (std::size_t i = 0; i < 3; ++i) {
        const index_t before = n.raft().log().last_index();
        REQUIRE(n.propose(ps[i]));
        CHECK(n.raft().log().last_index() == before + 1);
    }
    take();
    // Proposals, then a tick (a heartbeat): the appends leave first.
    REQUIRE(n.propose(ps[3]));
    REQUIRE(n.propose(ps[4]));
    n.tick();
    take();
    // Proposals, then an ack from follower 2.
    REQUIRE(n.propose(ps[5]));
    message ack = make_message(message_type::app_resp, 2, 1, t);
    ack.index = n.raft().log().last_index() - 1;
    REQUIRE(n.step(std::move(ack)));
    REQUIRE(n.propose(ps[6]));
    take();
    // Proposals, then a heartbeat response from the paused follower 3, which unpauses it and
    // sends it what it lacks: the append to 2 was owed first.
    REQUIRE(n.propose(ps[9]));
    REQUIRE(n.step(make_message(message_type::heartbeat_resp, 3, 1, t)));
    take();
    // Proposals, then a read forwarded by follower 2: the appends that were owed go before
    // the read's heartbeats.
    REQUIRE(n.propose(ps[10]));
    message read = make_message(message_type::read_index, 2, 1, t);
    read.entries.push_back(ent(0, 0, "read"));
    REQUIRE(n.step(std::move(read)));
    take();
    // Proposals, then a newer term: the leader steps down after sending them.
    REQUIRE(n.propose(ps[7]));
    REQUIRE(n.step(make_message(message_type::heartbeat, 3, 1, t + 1)));
    CHECK(n.raft().role() == role::follower);
    CHECK(n.raft().lead() == 3);
    REQUIRE(n.propose(ps[8]));  // forwarded to the new leader
    take();
    return out;
}

}  // namespace

TEST_CASE("proposals between two ready cycles share one append per follower, sent as a "
          "broadcast per proposal would have",
          "[raw_node][propose]") {
    // raw_node batches the broadcast of proposals (raft::set_proposal_batching); a bare
    // raft, and this node with batching turned off, broadcast each one (etcd's bcastAppend).
    const auto ps = payloads(11, 8);
    memory_storage s1, s2;
    node batched(cfg_for(1), s1), eager(cfg_for(1), s2);
    lead_three(batched);
    lead_three(eager);
    CHECK(batched.raft().proposal_batching());
    eager.raft().set_proposal_batching(false);
    const auto got = run_script(batched, ps);
    const auto want = run_script(eager, ps);
    CHECK(got.cycles == want.cycles);
    CHECK(got.progress == want.progress);
    // The first burst: one append to follower 2 carrying the three entries. The paused
    // follower 3 gets one append in all, after its heartbeat response.
    REQUIRE_FALSE(got.cycles.empty());
    REQUIRE_FALSE(got.cycles[0].empty());
    const message& first = got.cycles[0][0];
    CHECK(first.type == message_type::app);
    CHECK(first.to == 2);
    CHECK(first.entries.size() == 3);
    std::size_t to3 = 0;
    for (const auto& c : got.cycles)
        for (const auto& m : c)
            if (m.to == 3 && m.type == message_type::app && !m.entries.empty()) ++to3;
    CHECK(to3 == 1);
}

TEST_CASE("batched proposals: observers see the appends they owe", "[raw_node][propose]") {
    memory_storage st;
    node n(cfg_for(1), st);
    lead_three(n);
    const index_t last = n.raft().log().last_index();
    const auto ps = payloads(4, 8);
    for (const auto& p : ps) REQUIRE(n.propose(p));
    // status() (const) shows follower 2 with the four entries in flight, as after eager
    // broadcasts.
    const node& cn = n;
    const auto st2 = cn.status();
    const auto* p2 = progress_of(st2, 2);
    REQUIRE(p2 != nullptr);
    CHECK(p2->next == last + 5);
    CHECK(p2->inflight == 1);
    REQUIRE(n.propose(payloads(1, 3)[0]));
    // The index is known at once, and the non-const observers send the append owed: the one
    // queued for follower 2 holds all five.
    CHECK(cn.raft().log().last_index() == last + 5);
    const auto& msgs = n.raft().messages();
    REQUIRE(msgs.size() == 1);
    CHECK(indexes(msgs[0].entries) ==
          std::vector<index_t>{last + 1, last + 2, last + 3, last + 4, last + 5});
    CHECK(cn.raft().tracker().progress(2)->next == last + 6);
    REQUIRE(n.propose(payloads(1, 3)[0]));
    CHECK(n.raft().tracker().progress(2)->next == last + 7);
}

TEST_CASE("batched proposals: appends keep to max_size_per_msg and the inflight limit",
          "[raw_node][propose][flow]") {
    memory_storage st;
    config c = cfg_for(1);
    // entry_size() is 16 + payload: two 10-byte entries (52) fit, three (78) do not.
    c.max_size_per_msg = 60;
    c.max_inflight_msgs = 2;
    node n(c, st);
    lead_three(n);
    const index_t last = n.raft().log().last_index();
    for (const auto& p : payloads(7, 10)) REQUIRE(n.propose(p));
    auto out = cycle(n);
    std::vector<std::vector<index_t>> to2;
    for (const auto& m : out.messages)
        if (m.to == 2 && m.type == message_type::app) to2.push_back(indexes(m.entries));
    // Two appends of two entries each, then the window is full: the rest waits.
    CHECK(to2 == std::vector<std::vector<index_t>>{{last + 1, last + 2}, {last + 3, last + 4}});
    CHECK(n.raft().tracker().progress(2)->inflights.full());
    // Follower 2 acks the first append: one slot frees and the next two entries go.
    message ack = make_message(message_type::app_resp, 2, 1, n.raft().term());
    ack.index = last + 2;
    REQUIRE(n.step(std::move(ack)));
    out = cycle(n);
    to2.clear();
    for (const auto& m : out.messages)
        if (m.to == 2 && m.type == message_type::app && !m.entries.empty())
            to2.push_back(indexes(m.entries));
    CHECK(to2 == std::vector<std::vector<index_t>>{{last + 5, last + 6}});
}

TEST_CASE("batched proposals: a follower being probed gets one probe carrying the burst",
          "[raw_node][propose]") {
    // One proposal at a time, the probe would carry the first entry and the rest would wait
    // for its answer; batched, the probe carries them all. Then the follower is paused.
    memory_storage st;
    node n(cfg_for(1), st);
    lead_three(n);
    const index_t last = n.raft().log().last_index();
    n.report_unreachable(2);  // replicate -> probe, not paused
    REQUIRE(n.raft().tracker().progress(2)->state == detail::progress_state::probe);
    for (const auto& p : payloads(3, 8)) REQUIRE(n.propose(p));
    auto out = cycle(n);
    std::vector<std::vector<index_t>> to2;
    for (const auto& m : out.messages)
        if (m.to == 2 && m.type == message_type::app) to2.push_back(indexes(m.entries));
    CHECK(to2 == std::vector<std::vector<index_t>>{{last + 1, last + 2, last + 3}});
    REQUIRE(n.propose(payloads(1, 8)[0]));
    out = cycle(n);
    for (const auto& m : out.messages) CHECK_FALSE((m.to == 2 && m.type == message_type::app));
}

TEST_CASE("batched proposals: a refused message sends nothing of what they owe",
          "[raw_node][propose]") {
    // A refusal leaves the node as it was (the step fuzzer's invariant): the appends wait.
    memory_storage st;
    node n(cfg_for(1), st);
    lead_three(n);
    const index_t next = n.raft().tracker().progress(2)->next;
    for (const auto& p : payloads(2, 8)) REQUIRE(n.propose(p));
    const node& cn = n;
    message bad = make_message(static_cast<message_type>(message_type_count), 2, 1,
                               n.raft().term());
    CHECK(n.step(std::move(bad)).error() == errc::malformed_message);
    CHECK(n.step(make_message(message_type::app_resp, 9, 1, n.raft().term())).error() ==
          errc::step_peer_not_found);
    CHECK(cn.raft().messages().empty());
    CHECK(cn.raft().tracker().progress(2)->next == next);
    // The next thing that is stepped sends them.
    n.tick();
    REQUIRE_FALSE(cn.raft().messages().empty());
    CHECK(cn.raft().tracker().progress(2)->next == next + 2);
}
