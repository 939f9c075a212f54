// Batched ReadIndex: reads share heartbeat rounds. With batching on (raw_node turns it on and
// seals the rounds its ready cycle sends), a read joins the round whose heartbeats have not
// left yet, or waits with the others for the next round while one is in flight; a follower
// forwards the reads of a cycle in one message. Invariant under test: every read is answered
// with an index at least the commit index at its arrival, and only after a quorum acked a
// heartbeat that left after it arrived.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"
#include "read_test_util.hpp"

#include <raftpp/testing/cluster.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

using hb = std::pair<node_id, std::string>;

test_raft_ptr batching_leader() {
    auto r = committed_leader();
    r->set_read_batching(true);
    return r;
}

// "r17": built by appending (GCC 12 at -O3 warns falsely on "r" + std::to_string(i)).
std::string name(char prefix, int i) {
    std::string s(1, prefix);
    s += std::to_string(i);
    return s;
}

// What a ready cycle does with the messages: takes them, and says so.
std::vector<message> take(test_raft& r) {
    auto out = read_messages(r);
    r.seal_reads();
    return out;
}

}  // namespace

TEST_CASE("a thousand reads in one cycle cost one heartbeat round", "[read_index][batch]") {
    auto r = batching_leader();
    for (int i = 0; i < 1000; ++i) REQUIRE(r->step(read_index(1, 1, name('r', i))));
    CHECK(r->pending_reads() == 1000);
    CHECK(r->pending_read_rounds() == 1);
    const auto out = take(*r);
    CHECK(out.size() == 2);
    CHECK(heartbeats(out) == std::vector<hb>{{2, "r0"}, {3, "r0"}});

    REQUIRE(r->step(heartbeat_resp(3, 1, 1, "r0")));
    REQUIRE(r->read_states().size() == 1000);
    for (int i = 0; i < 1000; ++i) CHECK(r->read_states()[i] == rs(1, name('r', i)));
    CHECK(r->pending_reads() == 0);
    CHECK(take(*r).empty());
}

TEST_CASE("a read after the round left waits for the next round and gets a fresh index",
          "[read_index][batch]") {
    auto r = batching_leader();
    REQUIRE(r->step(read_index(1, 1, "a")));  // commit 1
    CHECK(heartbeats(take(*r)) == std::vector<hb>{{2, "a"}, {3, "a"}});
    commit_one(*r);
    REQUIRE(r->log().committed() == 2);
    REQUIRE(r->step(read_index(1, 1, "b")));  // commit 2: round "a" cannot vouch for it
    REQUIRE(r->step(read_index(1, 1, "c")));
    CHECK(take(*r).empty());  // waiting: one round in flight
    CHECK(r->pending_read_rounds() == 2);

    commit_one(*r);  // commit 3 before round "a" is acked
    REQUIRE(r->step(heartbeat_resp(2, 1, 1, "a")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "a")});
    // The next round goes at once, at today's commit index.
    CHECK(heartbeats(take(*r)) == std::vector<hb>{{2, "b"}, {3, "b"}});

    SECTION("an ack of the old round again does not answer the new one") {
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "a")));
        CHECK(r->read_states().size() == 1);
    }
    SECTION("its ack answers both reads with the index at its launch") {
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "b")));
        CHECK(r->read_states() == std::vector<read_state>{rs(1, "a"), rs(3, "b"), rs(3, "c")});
    }
}

TEST_CASE("a read joining a round whose heartbeats are still queued raises its index",
          "[read_index][batch]") {
    auto r = batching_leader();
    REQUIRE(r->step(read_index(1, 1, "a")));  // commit 1, heartbeats queued
    // The commit index moves before the cycle ends (an ack arrives in the same batch).
    REQUIRE(r->step(propose(1)));
    for (auto& m : r->messages())
        if (m.to == 2 && m.type == message_type::app) REQUIRE(r->step(accept_and_reply(m)));
    advance_messages_after_append(*r);
    REQUIRE(r->log().committed() == 2);
    REQUIRE(r->step(read_index(1, 1, "b")));
    CHECK(r->pending_read_rounds() == 1);
    CHECK(heartbeats(take(*r)) == std::vector<hb>{{2, "a"}, {3, "a"}});
    REQUIRE(r->step(heartbeat_resp(2, 1, 1, "a")));
    CHECK(r->read_states() == std::vector<read_state>{rs(2, "a"), rs(2, "b")});
}

TEST_CASE("when the acks of a round are lost the next beat launches the waiting round",
          "[read_index][batch]") {
    auto r = batching_leader();
    REQUIRE(r->step(read_index(1, 1, "a")));
    (void)take(*r);
    REQUIRE(r->step(read_index(1, 1, "b")));
    CHECK(take(*r).empty());
    r->tick();  // heartbeat_tick 1: a beat
    CHECK(heartbeats(take(*r)) == std::vector<hb>{{2, "b"}, {3, "b"}});
    r->tick();  // nothing waits now: the newest round's key again
    CHECK(heartbeats(take(*r)) == std::vector<hb>{{2, "b"}, {3, "b"}});
    // An ack of the newer round answers the older one too: its heartbeats left later.
    REQUIRE(r->step(heartbeat_resp(2, 1, 1, "b")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "a"), rs(1, "b")});
}

TEST_CASE("without batching every read is a round of its own, as in etcd", "[read_index][batch]") {
    auto r = committed_leader();
    REQUIRE_FALSE(r->read_batching());
    REQUIRE(r->step(read_index(1, 1, "a")));
    REQUIRE(r->step(read_index(1, 1, "b")));
    CHECK(heartbeats(read_messages(*r)) == std::vector<hb>{{2, "a"}, {3, "a"}, {2, "b"}, {3, "b"}});
    CHECK(r->pending_read_rounds() == 2);
}

TEST_CASE("a follower forwards the reads of one cycle in one message and gets one answer",
          "[read_index][batch][forward]") {
    auto leader = batching_leader();
    auto f = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
    f->set_read_batching(true);
    f->become_follower(1, 1);
    for (const char* ctx : {"x", "y", "z"}) REQUIRE(f->step(read_index(2, 2, ctx)));
    auto out = take(*f);
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == message_type::read_index);
    CHECK(out[0].to == 1);
    REQUIRE(out[0].entries.size() == 3);
    CHECK(out[0].entries[2].data == buffer("z"));
    REQUIRE(f->step(read_index(2, 2, "next cycle")));
    CHECK(take(*f).size() == 1);  // a new message: the first one left

    REQUIRE(leader->step(out[0]));
    CHECK(heartbeats(take(*leader)) == std::vector<hb>{{2, "x"}, {3, "x"}});
    REQUIRE(leader->step(heartbeat_resp(3, 1, 1, "x")));
    auto resp = take(*leader);
    REQUIRE(resp.size() == 1);
    CHECK(resp[0].type == message_type::read_index_resp);
    CHECK(resp[0].entries.size() == 3);
    REQUIRE(f->step(resp[0]));
    CHECK(f->read_states() == std::vector<read_state>{rs(1, "x"), rs(1, "y"), rs(1, "z")});
}

// The same through raw_node and the cluster harness: a ready cycle seals the round.
TEST_CASE("raw_node: reads issued together on a leader share one round", "[read_index][batch][raw_node]") {
    raftpp::testing::cluster<> c({1, 2, 3}, 7);
    REQUIRE(c.bootstrap());
    const auto l = c.wait_for_leader();
    REQUIRE(l);
    c.run_ticks(3);
    const index_t commit = c.node(*l).raft().log().committed();
    for (int i = 0; i < 1000; ++i) c.node(*l).read_index(buffer(name('q', i)));
    std::size_t beats = 0;
    for (const auto& m : c.node(*l).raft().messages()) beats += m.type == message_type::heartbeat;
    CHECK(beats == 2);
    c.process_all();
    c.deliver();
    c.process_all();
    c.deliver();
    c.process_all();
    const auto reads = c.take_read_states(*l);
    REQUIRE(reads.size() == 1000);
    for (std::size_t i = 0; i < reads.size(); ++i) {
        CHECK(reads[i].request_ctx == buffer(name('q', static_cast<int>(i))));
        CHECK(reads[i].index >= commit);
    }
}
