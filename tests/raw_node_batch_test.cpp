// raw_node's ways out and in for a batch: a transport with the optional send_all ability gets
// a cycle's messages at once, and propose() of a span sends its payloads as one message.
#include <catch2/catch.hpp>

#include "raw_node_test_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <span>
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

