// The raftpp side of the etcd raft comparison: the same loops as
// benchmarks/compare/etcd/rawnode_compare_test.go, step for step.
//
//   one_node/batch=B:   one voter; per round propose B entries of 16 bytes, then ready cycles
//                       (append to memory_storage, set hard state, advance, walk the committed
//                       entries) until there is nothing left.
//   three_nodes/batch=B/payload=P: three voters on a synchronous in-process network (messages
//                       handed over by value); per round the leader gets B proposals, then
//                       every node runs ready cycles (persist, deliver, advance, apply) until
//                       none has work. A round ends when all three have applied everything.
//
// Counters: proposals/s, ns_per_proposal and allocs_per_proposal (heap allocations counted by a
// replaced global operator new, per proposal).
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>


namespace {

using namespace raftpp;

// Messages a node sends during advance() land in its outbox; the loop delivers them.
struct outbox_transport {
    std::vector<message>* out = nullptr;
    void send(message&& m) { out->push_back(std::move(m)); }
};

struct cmp_node {
    memory_storage storage;
    std::vector<message> outbox;
    std::unique_ptr<raw_node<memory_storage, outbox_transport>> rn;
    index_t applied = 0;

    cmp_node(node_id id, const std::vector<node_id>& peers) {
        config c;
        c.id = id;
        c.election_tick = 10;
        c.heartbeat_tick = 1;
        c.max_size_per_msg = 1 << 20;
        c.max_inflight_msgs = 256;
        rn = std::make_unique<raw_node<memory_storage, outbox_transport>>(
            c, storage, outbox_transport{&outbox});
        std::vector<peer> ps;
        for (auto p : peers) ps.push_back({p, false, {}});
        if (!rn->bootstrap(ps)) std::abort();
    }

    // One ready cycle: persist, apply, advance; the messages sent are left in outbox.
    void cycle() {
        auto& rd = rn->ready();
        if (!is_empty(rd.hard_state)) (void)storage.set_hard_state(rd.hard_state);
        (void)storage.append(rd.entries);
        for (const auto& e : rd.committed_entries) {
            if (e.type == entry_type::conf_change) {
                auto cc = decode_conf_change(e.data);
                (void)rn->apply_conf_change(*cc);
            }
            applied = e.index;
        }
        rn->advance();
    }
};

void BM_compare_one_node(benchmark::State& state) {
    const auto batch = static_cast<int>(state.range(0));
    cmp_node n(1, {1});
    while (n.rn->has_ready()) n.cycle();
    (void)n.rn->campaign();
    while (n.rn->has_ready()) n.cycle();
    if (n.rn->raft().role() != role::leader) state.SkipWithError("node 1 is not leader");
    // As in etcd's loop, one payload is made up front and proposed every time (a buffer is
    // shared, like the Go slice), so the loop measures consensus, not payload copies.
    const buffer data = buffer::uninitialized(16);
    std::uint64_t proposals = 0;
    const auto allocs0 = raftpp_bench::allocation_count();
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (int j = 0; j < batch; ++j) {
            if (!n.rn->propose(data)) std::abort();
        }
        while (n.rn->has_ready()) n.cycle();
        proposals += static_cast<std::uint64_t>(batch);
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    if (n.applied != n.rn->raft().log().last_index()) state.SkipWithError("not all applied");
    state.counters["proposals/s"] = static_cast<double>(proposals) / secs;
    state.counters["ns_per_proposal"] = secs * 1e9 / static_cast<double>(proposals);
    state.counters["allocs_per_proposal"] =
        static_cast<double>(allocs) / static_cast<double>(proposals);
    state.SetItemsProcessed(static_cast<std::int64_t>(proposals));
}
BENCHMARK(BM_compare_one_node)->ArgName("batch")->Arg(1)->Arg(64);

void BM_compare_three_nodes(benchmark::State& state) {
    const auto batch = static_cast<int>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const std::vector<node_id> peers{1, 2, 3};
    std::vector<std::unique_ptr<cmp_node>> nodes;
    for (auto id : peers) nodes.push_back(std::make_unique<cmp_node>(id, peers));
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
    (void)nodes[0]->rn->campaign();
    settle();
    if (nodes[0]->rn->raft().role() != role::leader) {
        state.SkipWithError("node 1 is not leader");
        return;
    }
    const buffer data = buffer::uninitialized(payload);
    std::uint64_t proposals = 0;
    const auto allocs0 = raftpp_bench::allocation_count();
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (int j = 0; j < batch; ++j) {
            if (!nodes[0]->rn->propose(data)) std::abort();
        }
        settle();
        proposals += static_cast<std::uint64_t>(batch);
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    const index_t last = nodes[0]->rn->raft().log().last_index();
    for (auto& n : nodes)
        if (n->applied != last) state.SkipWithError("a node did not apply everything");
    state.counters["proposals/s"] = static_cast<double>(proposals) / secs;
    state.counters["ns_per_proposal"] = secs * 1e9 / static_cast<double>(proposals);
    state.counters["allocs_per_proposal"] =
        static_cast<double>(allocs) / static_cast<double>(proposals);
    state.SetItemsProcessed(static_cast<std::int64_t>(proposals));
}
BENCHMARK(BM_compare_three_nodes)
    ->ArgNames({"batch", "payload"})
    ->Args({1, 16})
    ->Args({1, 1024})
    ->Args({64, 16})
    ->Args({64, 1024});

}  // namespace

BENCHMARK_MAIN();
