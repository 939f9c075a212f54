// Quorum arithmetic and flow control on the leader's hot path: the commit index after each
// append response, vote counting, and the inflight window per append sent and acked.
// Each benchmark reports allocs/op, which should be 0 for up to 7 voters.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>

#include <raftpp/detail/inflights.hpp>
#include <raftpp/detail/progress_tracker.hpp>
#include <raftpp/detail/quorum.hpp>

using namespace raftpp;
using namespace raftpp::detail;

namespace {

// Counts allocations made between construction and report().
class alloc_counter {
public:
    alloc_counter() : start_(raftpp_bench::allocation_count()) {}
    void report(benchmark::State& state) const {
        state.counters["allocs/op"] = benchmark::Counter(
            static_cast<double>(raftpp_bench::allocation_count() - start_), benchmark::Counter::kAvgIterations);
    }

private:
    std::uint64_t start_;
};

majority_config voters(node_id first, std::int64_t n) {
    majority_config c;
    for (std::int64_t i = 0; i < n; ++i) c.insert(first + static_cast<node_id>(i));
    return c;
}

// Acked indexes of nodes 1..16, nudged every iteration so nothing is constant-folded.
struct acked_table {
    std::array<index_t, 17> match{};
    std::optional<index_t> operator()(node_id id) const {
        if (id >= match.size()) return std::nullopt;
        return match[id];
    }
    void advance(std::uint64_t i) { match[1 + i % 16] += 1 + (i & 3); }
};

void BM_quorum_commit_index(benchmark::State& state) {
    const majority_config c = voters(1, state.range(0));
    acked_table acked;
    std::uint64_t i = 0;
    alloc_counter allocs;
    for (auto _ : state) {
        acked.advance(i++);
        benchmark::DoNotOptimize(committed_index(c, acked));
    }
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_quorum_commit_index)->Arg(1)->Arg(3)->Arg(5)->Arg(7)->Arg(9);

// Joint: the outgoing half replaces one voter of the incoming half.
void BM_quorum_joint_commit_index(benchmark::State& state) {
    const joint_config c{voters(1, state.range(0)), voters(2, state.range(0))};
    acked_table acked;
    std::uint64_t i = 0;
    alloc_counter allocs;
    for (auto _ : state) {
        acked.advance(i++);
        benchmark::DoNotOptimize(committed_index(c, acked));
    }
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_quorum_joint_commit_index)->Arg(1)->Arg(3)->Arg(5)->Arg(7);

// What the leader does per append response: update one match, recompute the commit index
// through the tracker's sorted progress map.
void BM_progress_tracker_committed(benchmark::State& state) {
    progress_tracker t(256);
    t.config().voters.incoming = voters(1, state.range(0));
    for (node_id id : t.voters().incoming) t.insert_progress(id, 1);
    const auto n = static_cast<node_id>(state.range(0));
    std::uint64_t i = 0;
    alloc_counter allocs;
    for (auto _ : state) {
        progress* pr = t.progress(1 + i % n);
        pr->maybe_update(pr->match + 1 + (i & 3));
        ++i;
        benchmark::DoNotOptimize(t.committed());
    }
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_progress_tracker_committed)->Arg(1)->Arg(3)->Arg(5)->Arg(7);

void BM_quorum_vote_result(benchmark::State& state) {
    const joint_config c{voters(1, state.range(0)), {}};
    std::uint64_t i = 0;
    alloc_counter allocs;
    for (auto _ : state) {
        const std::uint64_t mask = i++;
        auto votes = [mask](node_id id) -> std::optional<bool> {
            if ((mask >> (2 * id)) & 1) return std::nullopt;
            return ((mask >> (2 * id + 1)) & 1) != 0;
        };
        benchmark::DoNotOptimize(vote_result_of(c, votes));
    }
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_quorum_vote_result)->Arg(3)->Arg(5)->Arg(7);

// One append sent per iteration; the follower acks every `Arg` appends at once.
void BM_inflights_add_free(benchmark::State& state) {
    inflights in(256, 64 << 20);
    const auto batch = static_cast<index_t>(state.range(0));
    index_t index = 0;
    while (!in.full()) in.add(++index, 4096);  // warm up: the buffer grows to its size once
    in.free_le(index);
    alloc_counter allocs;
    for (auto _ : state) {
        ++index;
        if (in.full()) in.free_le(index - 1);
        in.add(index, 4096);
        if (index % batch == 0) in.free_le(index);
        benchmark::DoNotOptimize(in.bytes());
    }
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_inflights_add_free)->Arg(1)->Arg(16)->Arg(128);

}  // namespace

BENCHMARK_MAIN();
