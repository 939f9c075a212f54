// ReadIndex throughput (linearizable reads, Raft thesis §6.4) on three voters in one process,
// in the synchronous loop of rawnode_compare_bench: every node runs ready cycles (persist,
// apply, advance) and the messages it sends are stepped into their recipient at once.
//
//   BM_read_index/safe/batch:B           per round the leader gets B read_index calls; each is
//                                        confirmed by a heartbeat round carrying its context.
//   BM_read_index/lease_based/batch:B    read_only = lease_based (needs check_quorum): the
//                                        leader answers from its lease, no round trip.
//   BM_read_index/safe_follower/batch:B  the B calls go to a follower, which forwards them to
//                                        the leader and gets read_index_resp back.
//
// B is the number of concurrent reads: 1, 64 or 1024. The reads are issued together (one ready
// cycle on the reading node), so with batched ReadIndex they share one heartbeat round.
// A round ends when the cluster is quiet; every request must then have exactly one read_state
// whose index is at least the leader's commit index when the request was made, else the
// benchmark fails (SkipWithError). Request j of a round carries the 8-byte context j, made once
// before the loop as an application with a pool of contexts would: allocs_per_read counts what
// raft allocates (global operator new, per read).
// Counters: reads/s, ns_per_read, allocs_per_read.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace raftpp;

// Messages a node sends during advance() land in its outbox; the loop delivers them.
struct outbox_transport {
    std::vector<message>* out = nullptr;
    void send(message&& m) { out->push_back(std::move(m)); }
};

struct ri_node {
    memory_storage storage;
    std::vector<message> outbox;
    std::unique_ptr<raw_node<memory_storage, outbox_transport>> rn;
    // read_states handed out by ready(), kept until the round checks them.
    std::vector<read_state> reads;

    ri_node(node_id id, const std::vector<node_id>& peers, read_only_option ro) {
        config c;
        c.id = id;
        c.election_tick = 10;
        c.heartbeat_tick = 1;
        c.max_size_per_msg = 1 << 20;
        c.max_inflight_msgs = 256;
        c.read_only = ro;
        c.check_quorum = ro == read_only_option::lease_based;
        rn = std::make_unique<raw_node<memory_storage, outbox_transport>>(
            c, storage, outbox_transport{&outbox});
        std::vector<peer> ps;
        for (auto p : peers) ps.push_back({p, false, {}});
        if (!rn->bootstrap(ps)) std::abort();
    }

    // One ready cycle through the storage policy; read_states are collected before advance()
    // clears them.
    void cycle() {
        auto& rd = rn->ready();
        if (!rn->persist(rd)) std::abort();
        for (const auto& e : rd.committed_entries) {
            if (e.type == entry_type::conf_change) {
                auto cc = decode_conf_change(e.data);
                (void)rn->apply_conf_change(*cc);
            }
        }
        reads.insert(reads.end(), rd.read_states.begin(), rd.read_states.end());
        rn->advance();
    }
};

std::uint64_t request_id(const buffer& ctx) {
    std::uint64_t id = ~std::uint64_t{0};
    if (ctx.size() == sizeof id) std::memcpy(&id, ctx.data(), sizeof id);
    return id;
}

void BM_read_index(benchmark::State& state, read_only_option ro, bool on_follower) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    const std::vector<node_id> peers{1, 2, 3};
    std::vector<std::unique_ptr<ri_node>> nodes;
    for (auto id : peers) nodes.push_back(std::make_unique<ri_node>(id, peers, ro));
    auto settle = [&] {
        for (bool busy = true; busy;) {
            busy = false;
            for (auto& n : nodes) {
                if (!n->rn->has_ready()) continue;
                busy = true;
                n->cycle();
                for (auto& m : n->outbox) (void)nodes[m.to - 1]->rn->step(std::move(m));
                n->outbox.clear();
            }
        }
    };
    settle();
    if (ro == read_only_option::lease_based) {
        // With lease reads a node refuses votes for its first election timeout (it may have
        // promised them to a leader before a crash): let that pass on nodes 2 and 3.
        for (std::size_t i = 1; i < nodes.size(); ++i) {
            auto& r = nodes[i]->rn->raft();
            r.set_randomized_election_timeout(1000);
            for (int t = 0; t < r.cfg().election_tick; ++t) nodes[i]->rn->tick();
        }
        settle();
    }
    (void)nodes[0]->rn->campaign();
    settle();
    auto& leader = *nodes[0];
    auto& reader = on_follower ? *nodes[1] : leader;
    if (leader.rn->raft().role() != role::leader) {
        state.SkipWithError("node 1 is not leader");
        return;
    }
    if (reader.rn->raft().lead() != 1) {
        state.SkipWithError("the reading node does not know the leader");
        return;
    }

    // Per request of the round: the leader's commit index when it was made, and whether it
    // was answered. Sized once: the loop allocates only what raft and the contexts need.
    std::vector<index_t> commit_at_request(batch);
    std::vector<bool> answered(batch);
    std::vector<buffer> ctxs;
    for (std::uint64_t j = 0; j < batch; ++j) ctxs.emplace_back(&j, sizeof j);
    reader.reads.reserve(batch);
    std::uint64_t reads = 0;
    const auto allocs0 = raftpp_bench::allocation_count();
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (std::size_t j = 0; j < batch; ++j) {
            commit_at_request[j] = leader.rn->raft().log().committed();
            answered[j] = false;
            reader.rn->read_index(ctxs[j]);
        }
        settle();
        if (reader.reads.size() != batch) {
            state.SkipWithError(("expected " + std::to_string(batch) + " read_states, got " +
                                 std::to_string(reader.reads.size()))
                                    .c_str());
            break;
        }
        bool ok = true;
        for (const auto& rs : reader.reads) {
            const std::uint64_t id = request_id(rs.request_ctx);
            if (id >= batch || answered[id]) {
                ok = false;
                break;
            }
            answered[id] = true;
            if (rs.index < commit_at_request[id]) ok = false;
        }
        if (!ok) {
            state.SkipWithError("a read_state is unknown, repeated, or below the commit index");
            break;
        }
        reader.reads.clear();
        reads += batch;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    if (reads == 0) return;
    state.counters["reads/s"] = static_cast<double>(reads) / secs;
    state.counters["ns_per_read"] = secs * 1e9 / static_cast<double>(reads);
    state.counters["allocs_per_read"] = static_cast<double>(allocs) / static_cast<double>(reads);
    state.SetItemsProcessed(static_cast<std::int64_t>(reads));
}
BENCHMARK_CAPTURE(BM_read_index, safe, read_only_option::safe, false)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024);
BENCHMARK_CAPTURE(BM_read_index, lease_based, read_only_option::lease_based, false)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024);
BENCHMARK_CAPTURE(BM_read_index, safe_follower, read_only_option::safe, true)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
