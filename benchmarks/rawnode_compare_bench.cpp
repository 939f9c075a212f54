// The raftpp side of the etcd raft comparison: the same loops as
// benchmarks/compare/etcd/rawnode_compare_test.go and onemsg_compare_test.go, step for step.
//
//   one_node/batch=B:   one voter; per round propose B entries of 16 bytes, then ready cycles
//                       (append to memory_storage, set hard state, advance, walk the committed
//                       entries) until there is nothing left.
//   three_nodes/batch=B/payload=P: three voters on a synchronous in-process network (messages
//                       handed over by value); per round the leader gets B proposals, then
//                       every node runs ready cycles (persist, deliver, advance, apply) until
//                       none has work. A round ends when all three have applied everything.
//   three_nodes_one_msg/batch=B/payload=P: the same, but the B entries of a round reach the
//                       leader as one proposal message (raw_node::propose of a batch; etcd:
//                       one MsgProp stepped into the leader), etcd's best case for batching.
//
// The outbox transport takes a cycle's messages with send_all (the vectors trade places), as
// etcd's loop takes rd.Messages; the loop then steps each into its receiver.
//
// Counters: proposals/s, ns_per_proposal, allocs_per_proposal (heap allocations counted by a
// replaced global operator new, per proposal) and msgs_per_round (messages delivered).
//
// Instruction counts: `rawnode_compare_bench --rounds=N --loop=NAME` runs N rounds of one loop
// outside Google Benchmark and prints what it did, so that callgrind can count the
// instructions of N rounds; benchmarks/compare/instructions takes the difference of two N.
// NAME is one_node/B, three_nodes/B/P or three_nodes_one_msg/B/P.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <chrono>
#include <cstdio>
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
    // A cycle's messages at once, as etcd's loop takes rd.Messages: the vectors trade places.
    void send_all(std::vector<message>& ms) {
        if (out->empty()) {
            std::swap(*out, ms);
            return;
        }
        for (auto& m : ms) out->push_back(std::move(m));
    }
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

// One loop of the comparison: set up in the constructor, then round() as often as wanted,
// then check() (every node applied everything).
class one_node_loop {
public:
    explicit one_node_loop(int batch) : batch_(batch), n_(1, {1}) {
        while (n_.rn->has_ready()) n_.cycle();
        (void)n_.rn->campaign();
        while (n_.rn->has_ready()) n_.cycle();
        if (n_.rn->raft().role() != role::leader) error_ = "node 1 is not leader";
    }
    void round() {
        for (int j = 0; j < batch_; ++j)
            if (!n_.rn->propose(data_)) std::abort();
        while (n_.rn->has_ready()) n_.cycle();
    }
    int batch() const { return batch_; }
    std::uint64_t messages() const { return 0; }
    const char* error() const { return error_; }
    const char* check() const {
        return n_.applied == n_.rn->raft().log().last_index() ? nullptr : "not all applied";
    }

private:
    int batch_;
    cmp_node n_;
    // As in etcd's loop, one payload is made up front and proposed every time (a buffer is
    // shared, like the Go slice), so the loop measures consensus, not payload copies.
    const buffer data_ = buffer::uninitialized(16);
    const char* error_ = nullptr;
};

class three_nodes_loop {
public:
    three_nodes_loop(int batch, std::size_t payload, bool one_msg)
        : batch_(batch), one_msg_(one_msg),
          batch_data_(static_cast<std::size_t>(batch), buffer::uninitialized(payload)) {
        const std::vector<node_id> peers{1, 2, 3};
        for (auto id : peers) nodes_.push_back(std::make_unique<cmp_node>(id, peers));
        settle();
        (void)nodes_[0]->rn->campaign();
        settle();
        if (nodes_[0]->rn->raft().role() != role::leader) error_ = "node 1 is not leader";
        first_ = nodes_[0]->rn->raft().log().last_index();
        msgs_ = 0;
    }
    void round() {
        auto& leader = *nodes_[0]->rn;
        if (one_msg_) {
            if (!leader.propose(std::span<const buffer>(batch_data_))) std::abort();
        } else {
            for (int j = 0; j < batch_; ++j)
                if (!leader.propose(batch_data_[0])) std::abort();
        }
        settle();
        ++rounds_;
    }
    int batch() const { return batch_; }
    std::uint64_t messages() const { return msgs_; }
    const char* error() const { return error_; }
    const char* check() const {
        const index_t last = nodes_[0]->rn->raft().log().last_index();
        if (last - first_ != rounds_ * static_cast<std::uint64_t>(batch_))
            return "the leader appended a different number of entries";
        for (auto& n : nodes_)
            if (n->applied != last) return "a node did not apply everything";
        return nullptr;
    }

private:
    void settle() {
        for (bool busy = true; busy;) {
            busy = false;
            for (auto& n : nodes_) {
                if (!n->rn->has_ready()) continue;
                busy = true;
                n->cycle();
                msgs_ += n->outbox.size();
                for (auto& m : n->outbox) (void)nodes_[m.to - 1]->rn->step(std::move(m));
                n->outbox.clear();
            }
        }
    }

    int batch_;
    bool one_msg_;
    // The payload is made once and shared by every proposal, as the Go slice is.
    std::vector<buffer> batch_data_;
    std::vector<std::unique_ptr<cmp_node>> nodes_;
    index_t first_ = 0;
    std::uint64_t rounds_ = 0, msgs_ = 0;
    const char* error_ = nullptr;
};

template <class Loop>
void run_benchmark(benchmark::State& state, Loop& loop) {
    if (loop.error()) return state.SkipWithError(loop.error());
    const auto batch = static_cast<std::uint64_t>(loop.batch());
    std::uint64_t proposals = 0, rounds = 0;
    const auto msgs0 = loop.messages();
    const auto allocs0 = raftpp_bench::allocation_count();
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        loop.round();
        proposals += batch;
        ++rounds;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    if (const char* e = loop.check()) return state.SkipWithError(e);
    state.counters["proposals/s"] = static_cast<double>(proposals) / secs;
    state.counters["ns_per_proposal"] = secs * 1e9 / static_cast<double>(proposals);
    state.counters["allocs_per_proposal"] =
        static_cast<double>(allocs) / static_cast<double>(proposals);
    state.counters["msgs_per_round"] =
        static_cast<double>(loop.messages() - msgs0) / static_cast<double>(rounds);
    state.SetItemsProcessed(static_cast<std::int64_t>(proposals));
}

void BM_compare_one_node(benchmark::State& state) {
    one_node_loop loop(static_cast<int>(state.range(0)));
    run_benchmark(state, loop);
}
BENCHMARK(BM_compare_one_node)->ArgName("batch")->Arg(1)->Arg(64);

void BM_compare_three_nodes(benchmark::State& state) {
    three_nodes_loop loop(static_cast<int>(state.range(0)),
                          static_cast<std::size_t>(state.range(1)), false);
    run_benchmark(state, loop);
}
BENCHMARK(BM_compare_three_nodes)
    ->ArgNames({"batch", "payload"})
    ->Args({1, 16})
    ->Args({1, 1024})
    ->Args({64, 16})
    ->Args({64, 1024});

void BM_compare_three_nodes_one_msg(benchmark::State& state) {
    three_nodes_loop loop(static_cast<int>(state.range(0)),
                          static_cast<std::size_t>(state.range(1)), true);
    run_benchmark(state, loop);
}
BENCHMARK(BM_compare_three_nodes_one_msg)
    ->ArgNames({"batch", "payload"})
    ->ArgsProduct({{16, 64, 256}, {16, 1024}});

// --rounds=N --loop=NAME: N rounds of one loop, for an instruction count under callgrind.
template <class Loop>
int run_rounds(Loop&& loop, long rounds) {
    if (loop.error()) return std::fprintf(stderr, "%s\n", loop.error()), 1;
    for (long i = 0; i < rounds; ++i) loop.round();
    if (const char* e = loop.check()) return std::fprintf(stderr, "%s\n", e), 1;
    std::printf("rounds %ld proposals %ld messages %llu allocations %llu\n", rounds,
                rounds * loop.batch(), static_cast<unsigned long long>(loop.messages()),
                static_cast<unsigned long long>(raftpp_bench::allocation_count()));
    return 0;
}

int rounds_main(long rounds, const std::string& name) {
    int batch = 0, payload = 16;
    char kind[32] = {};
    if (std::sscanf(name.c_str(), "%31[a-z_]/%d/%d", kind, &batch, &payload) < 2 || batch < 1) {
        std::fprintf(stderr, "--loop: one_node/B, three_nodes/B/P or three_nodes_one_msg/B/P\n");
        return 2;
    }
    const std::string k = kind;
    if (k == "one_node") return run_rounds(one_node_loop(batch), rounds);
    if (k == "three_nodes" || k == "three_nodes_one_msg")
        return run_rounds(three_nodes_loop(batch, static_cast<std::size_t>(payload),
                                           k == "three_nodes_one_msg"),
                          rounds);
    std::fprintf(stderr, "--loop: unknown loop %s\n", kind);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    long rounds = 0;
    std::string loop;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::atol(argv[i] + 9);
        else if (std::strncmp(argv[i], "--loop=", 7) == 0) loop = argv[i] + 7;
    }
    if (rounds > 0 || !loop.empty()) return rounds_main(rounds, loop);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
