// raft_log<memory_storage>: the ready cycle's append path (append to the unstable tail,
// persist to storage, stable_to) and slices the leader reads to fill append messages, which
// mix storage entries with unstable ones. Payload buffers are built once and shared, so the
// numbers measure the log, not memcpy; allocs_per_iter counts heap allocations.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raft_log.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {

using raftpp::entry;
using raftpp::index_t;
using log_t = raftpp::raft_log<raftpp::memory_storage>;

// Storage keeps at most keep_entries after a compaction and compacts once compact_every more
// have piled up, so memory stays bounded however long the benchmark runs.
constexpr index_t keep_entries = 1024;
constexpr index_t compact_every = 4096;

std::vector<entry> make_batch(index_t first, std::int64_t n, std::size_t payload) {
    const raftpp::buffer data(std::string(payload, 'x'));
    std::vector<entry> batch;
    batch.reserve(static_cast<std::size_t>(n));
    for (std::int64_t k = 0; k < n; ++k)
        batch.push_back(entry{1, first + static_cast<index_t>(k), {}, data});
    return batch;
}

// One ready cycle per iteration: append a batch to the log, persist the unstable entries,
// stable_to the last one, then commit and apply it. Args: entries per batch, payload bytes.
void BM_raft_log_append(benchmark::State& state) {
    const auto n = state.range(0);
    const auto payload = static_cast<std::size_t>(state.range(1));
    raftpp::memory_storage s;
    log_t log(s);
    auto batch = make_batch(1, n, payload);
    const auto allocs_before = raftpp_bench::allocation_count();
    for (auto _ : state) {
        const index_t last = log.append(batch);
        if (!s.append(log.unstable_entries())) state.SkipWithError("storage append failed");
        log.stable_to(last, 1);
        if (!log.maybe_commit(last, 1) || !log.applied_to(last))
            state.SkipWithError("commit failed");
        if (last - *s.first_index() + 1 >= keep_entries + compact_every) {
            if (!s.compact(last - keep_entries)) state.SkipWithError("compact failed");
        }
        // Renumber the batch in place: no allocation, unlike building a fresh batch.
        for (auto& e : batch) e.index += static_cast<index_t>(n);
        benchmark::ClobberMemory();
    }
    const auto allocs = raftpp_bench::allocation_count() - allocs_before;
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(payload));
    state.counters["allocs_per_iter"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_raft_log_append)
    ->ArgNames({"entries", "payload"})
    ->Args({1, 16})
    ->Args({64, 16})
    ->Args({1024, 16})
    ->Args({64, 1024});

enum where : std::int64_t { from_storage = 0, mixed = 1, from_unstable = 2 };

// Reads n-entry slices from a log of 64k stable entries followed by 4k unstable ones.
// Args: entries per slice; where the slices lie: 0 storage only, 1 straddling the boundary
// (half from each), 2 unstable only. Into: slice_into() a reused vector (what the leader's
// send path does) instead of slice() returning a fresh one.
template <bool Into>
void raft_log_slice(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    const auto at = static_cast<where>(state.range(1));
    constexpr index_t stable = 65536, unstable = 4096;
    raftpp::memory_storage s;
    if (!s.append(make_batch(1, static_cast<std::int64_t>(stable), 16))) {
        state.SkipWithError("append failed");
        return;
    }
    log_t log(s);
    log.append(make_batch(stable + 1, static_cast<std::int64_t>(unstable), 16));
    // Slices start at lo and advance by n through the chosen region, so not all are cache-hot.
    const index_t region_lo = at == from_unstable ? stable + 1 : 1;
    const index_t region_hi = at == from_storage ? stable + 1 : stable + unstable + 1;
    index_t lo = at == mixed ? stable + 1 - n / 2 : region_lo;
    std::vector<entry> out;
    const auto allocs_before = raftpp_bench::allocation_count();
    for (auto _ : state) {
        if (lo + n > region_hi) lo = region_lo;
        if constexpr (Into) {
            out.clear();
            if (log.slice_into(lo, lo + n, raftpp::no_limit, out) || out.size() != n)
                state.SkipWithError("slice_into failed");
            benchmark::DoNotOptimize(out.data());
        } else {
            auto got = log.slice(lo, lo + n, raftpp::no_limit);
            if (!got || got->size() != n) state.SkipWithError("slice failed");
            benchmark::DoNotOptimize(got);
        }
        // Mixed slices stay on the boundary: that is the case being measured.
        if (at != mixed) lo += n;
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
    state.counters["allocs_per_iter"] =
        static_cast<double>(raftpp_bench::allocation_count() - allocs_before) /
        static_cast<double>(state.iterations());
}

void slice_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"entries", "where"});
    for (std::int64_t n : {64, 1024})
        for (std::int64_t at : {from_storage, mixed, from_unstable}) b->Args({n, at});
}

void BM_raft_log_slice(benchmark::State& state) { raft_log_slice<false>(state); }
void BM_raft_log_slice_into(benchmark::State& state) { raft_log_slice<true>(state); }
BENCHMARK(BM_raft_log_slice)->Apply(slice_args);
BENCHMARK(BM_raft_log_slice_into)->Apply(slice_args);

}  // namespace

BENCHMARK_MAIN();
