// Async storage writes (config::async_storage_writes, etcd's AsyncStorageWrites): persistence
// runs off the raft loop and completes later through on_write_complete(). The durability rule
// still holds: responses leave only once the state they vouch for is durable, and nothing is
// applied that a crash could take back; meanwhile the leader keeps replicating.
#include <catch2/catch.hpp>

#include "core_instances.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace raftpp;

namespace {

using node_t = raw_node<memory_storage, vector_transport>;

struct async_member {
    memory_storage storage;
    std::unique_ptr<node_t> node;
    std::deque<storage_write> pending;  // handed out, not yet durable (completed in order)
    std::vector<std::string> applied;

    async_member(node_id id, const std::vector<node_id>& peers, bool async) {
        config c;
        c.id = id;
        c.election_tick = 10;
        c.heartbeat_tick = 1;
        c.async_storage_writes = async;
        c.seed = 7 + id;
        node = std::make_unique<node_t>(c, storage);
        std::vector<peer> ps;
        for (auto p : peers) ps.push_back({.id = p, .learner = false, .context = {}});
        REQUIRE(node->bootstrap(ps));
    }

    // One ready: apply what is committed, queue the write, advance (sends what may go now).
    void cycle() {
        auto& rd = node->ready();
        if (rd.write) pending.push_back(std::move(*rd.write));
        else REQUIRE(node->persist(rd));
        for (const auto& e : rd.committed_entries) {
            if (e.type != entry_type::normal) {
                auto cc = decode_conf_change_entry(e);
                REQUIRE(cc);
                REQUIRE(node->apply_conf_change(*cc));
            } else if (!e.data.empty()) {
                applied.push_back(e.data.str());
            }
        }
        node->advance();
    }

    // The storage thread finishes the oldest write.
    bool complete_one() {
        if (pending.empty()) return false;
        REQUIRE(node->persist(pending.front()));
        node->on_write_complete(std::move(pending.front()));
        pending.pop_front();
        return true;
    }
    void complete_all() {
        while (complete_one()) {
        }
    }
};

struct async_cluster {
    std::map<node_id, std::unique_ptr<async_member>> members;

    async_cluster(const std::vector<node_id>& ids, bool async) {
        for (auto id : ids) members[id] = std::make_unique<async_member>(id, ids, async);
    }
    async_member& operator[](node_id id) { return *members.at(id); }

    // Delivers everything the transports hold; returns whether anything moved.
    bool deliver() {
        bool moved = false;
        for (auto& [id, m] : members) {
            for (auto& msg : m->node->transport().take()) {
                moved = true;
                auto it = members.find(msg.to);
                if (it != members.end()) (void)it->second->node->step(std::move(msg));
            }
        }
        return moved;
    }
    // Ready cycles and deliveries until quiet; writes complete only when `complete` says so.
    void settle(bool complete_writes) {
        for (int round = 0; round < 1000; ++round) {
            bool busy = false;
            for (auto& [id, m] : members) {
                while (m->node->has_ready()) {
                    busy = true;
                    m->cycle();
                }
                if (complete_writes && m->complete_one()) busy = true;
            }
            busy = deliver() || busy;
            if (!busy) return;
        }
        FAIL("cluster did not settle");
    }
};

}  // namespace

TEST_CASE("async: a single node commits its entry only after its write completes", "[async]") {
    async_member n(1, {1}, true);
    for (int i = 0; i < 10 && n.node->has_ready(); ++i) {
        n.cycle();
        n.complete_all();
    }
    REQUIRE(n.node->campaign());
    for (int i = 0; i < 10 && (n.node->has_ready() || !n.pending.empty()); ++i) {
        n.cycle();
        n.complete_all();
    }
    REQUIRE(n.node->raft().role() == role::leader);
    const index_t commit_before = n.node->raft().log().committed();

    REQUIRE(n.node->propose(buffer("x")));
    REQUIRE(n.node->has_ready());
    auto& rd = n.node->ready();
    // In async mode the entries travel in the write, not in the ready itself.
    REQUIRE(rd.write.has_value());
    CHECK(rd.entries.empty());
    REQUIRE(rd.write->entries.size() == 1);
    CHECK(rd.write->entries[0].data.view() == "x");
    CHECK(rd.committed_entries.empty());
    storage_write w = std::move(*rd.write);
    n.node->advance();
    // Not durable yet: the leader has not acked itself, nothing is committed.
    CHECK(n.node->raft().log().committed() == commit_before);
    CHECK_FALSE(n.node->has_ready());

    REQUIRE(n.node->persist(w));
    n.node->on_write_complete(std::move(w));
    CHECK(n.node->raft().log().committed() == commit_before + 1);
    REQUIRE(n.node->has_ready());
    auto& rd2 = n.node->ready();
    REQUIRE(rd2.committed_entries.size() == 1);
    CHECK(rd2.committed_entries[0].data.view() == "x");
    n.node->advance();
}

TEST_CASE("async: a follower's append response leaves only after its write", "[async]") {
    async_cluster c({1, 2, 3}, true);
    c.settle(true);
    REQUIRE(c[1].node->campaign());
    c.settle(true);
    REQUIRE(c[1].node->raft().role() == role::leader);

    REQUIRE(c[1].node->propose(buffer("v")));
    c[1].cycle();
    REQUIRE(c.deliver());  // the appends reach 2 and 3 before the leader's write completes
    c[2].cycle();
    REQUIRE(c[2].pending.size() == 1);
    // The follower's ack waits inside the write.
    CHECK(c[2].node->transport().empty());
    bool ack_in_write = false;
    for (const auto& m : c[2].pending.front().responses)
        ack_in_write |= m.type == message_type::app_resp && m.to == 1 && !m.reject;
    CHECK(ack_in_write);
    c[2].complete_one();
    const auto sent = c[2].node->transport().take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].type == message_type::app_resp);
    CHECK(sent[0].index == c[1].node->raft().log().last_index());
}

TEST_CASE("async: the leader commits on its followers' acks while its own disk syncs",
          "[async]") {
    async_cluster c({1, 2, 3}, true);
    c.settle(true);
    REQUIRE(c[1].node->campaign());
    c.settle(true);
    REQUIRE(c[1].node->raft().role() == role::leader);

    REQUIRE(c[1].node->propose(buffer("p")));
    c[1].cycle();  // leader's write is queued, not completed
    REQUIRE(c[1].pending.size() == 1);
    const index_t idx = c[1].node->raft().log().last_index();
    // Followers persist and ack; the leader never completes its write in this phase.
    for (int round = 0; round < 10; ++round) {
        c.deliver();
        for (node_id id : {2, 3}) {
            while (c[id].node->has_ready()) c[id].cycle();
            c[id].complete_all();
        }
        c.deliver();
        while (c[1].node->has_ready()) c[1].cycle();
    }
    // Committed by the followers' quorum, but the leader applies nothing it has not persisted.
    CHECK(c[1].node->raft().log().committed() >= idx);
    CHECK(c[1].applied.empty());
    CHECK(c[1].pending.size() >= 1);

    c[1].complete_all();
    c.settle(true);
    REQUIRE(c[1].applied == std::vector<std::string>{"p"});
}

TEST_CASE("async: a candidate's own vote counts only once its vote is durable", "[async]") {
    async_member n(1, {1, 2, 3}, true);
    while (n.node->has_ready()) {
        n.cycle();
        n.complete_all();
    }
    REQUIRE(n.node->campaign());
    n.cycle();
    REQUIRE(n.pending.size() == 1);
    // The hard state recording the vote is in the write, with the self-vote behind it.
    CHECK(n.pending.front().hard_state.vote == 1);
    bool self_vote = false;
    for (const auto& m : n.pending.front().responses) self_vote |= m.type == message_type::vote_resp && m.to == 1;
    CHECK(self_vote);
    CHECK(n.node->raft().tracker().tally_votes().granted == 0);
    n.complete_all();
    CHECK(n.node->raft().tracker().tally_votes().granted == 1);
}

TEST_CASE("async: a mixed cluster with randomly delayed writes converges", "[async]") {
    const auto seed = GENERATE(1u, 2u, 3u);
    CAPTURE(seed);
    std::mt19937 rng(seed);
    async_cluster c({1, 2, 3}, true);
    c.settle(true);
    REQUIRE(c[1].node->campaign());
    c.settle(true);
    REQUIRE(c[1].node->raft().role() == role::leader);

    std::vector<std::string> proposed;
    for (int i = 0; i < 200; ++i) {
        const std::string v = "e" + std::to_string(i);
        if (c[1].node->propose(buffer(v))) proposed.push_back(v);
        for (auto& [id, m] : c.members) {
            while (m->node->has_ready()) m->cycle();
            // Each storage thread finishes a random number of its queued writes.
            const auto k = std::uniform_int_distribution<int>(0, 2)(rng);
            for (int j = 0; j < k; ++j) m->complete_one();
        }
        c.deliver();
    }
    c.settle(true);
    for (auto& [id, m] : c.members) {
        CAPTURE(id);
        CHECK(m->applied == proposed);
        CHECK(m->pending.empty());
        CHECK(*m->storage.last_index() == c[1].node->raft().log().last_index());
    }
}

TEST_CASE("async: proposals batched between two readies go out as a broadcast per proposal would",
          "[async][propose]") {
    // raw_node batches the broadcast of proposals (raft::set_proposal_batching); with async
    // writes the appends leave in advance(), the acks in the writes. The same bursts, with
    // batching off, must send the same messages and apply the same entries.
    std::vector<std::vector<message>> sent[2];
    std::vector<std::string> applied[2];
    for (int k = 0; k < 2; ++k) {
        async_cluster c({1, 2, 3}, true);
        if (k == 1)
            for (auto& [id, m] : c.members) m->node->raft().set_proposal_batching(false);
        c.settle(true);
        REQUIRE(c[1].node->campaign());
        c.settle(true);
        REQUIRE(c[1].node->raft().role() == role::leader);
        for (int burst = 0; burst < 4; ++burst) {
            for (int i = 0; i < 5; ++i)
                REQUIRE(c[1].node->propose(buffer(std::to_string(burst * 5 + i))));
            REQUIRE(c[1].node->has_ready());
            c[1].cycle();
            sent[k].push_back(c[1].node->transport().take());
            for (const auto& m : sent[k].back()) (void)c[m.to].node->step(message(m));
            // Every other burst the writes stay pending, so acks lag behind the next burst.
            c.settle(burst % 2 == 1);
        }
        c.settle(true);
        applied[k] = c[3].applied;
        CHECK(c[2].applied == applied[k]);
    }
    CHECK(sent[0] == sent[1]);
    CHECK(applied[0] == applied[1]);
    CHECK(applied[0].size() == 20);
    // Each burst: one append to each follower, carrying the five entries.
    for (const auto& burst : sent[0]) {
        std::map<node_id, std::size_t> entries_to;
        for (const auto& m : burst)
            if (m.type == message_type::app) entries_to[m.to] += m.entries.size();
        CHECK(entries_to[2] == 5);
        CHECK(entries_to[3] == 5);
    }
}
