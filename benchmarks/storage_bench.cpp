// memory_storage: appending batches (what the ready cycle does for every persisted batch) and
// reading slices (what the leader does to fill append messages).
// Payload buffers are built once and shared (as they are between log, messages and storage),
// so the numbers measure the log, not memcpy; allocs_per_iter counts heap allocations.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {

using raftpp::entry;
using raftpp::index_t;

// Keep at most this many entries after a compaction, so memory stays bounded however long
// the benchmark runs, and compact once this many more have piled up.
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

// Args: entries per append, payload bytes per entry.
void BM_memory_storage_append(benchmark::State& state) {
    const auto n = state.range(0);
    const auto payload = static_cast<std::size_t>(state.range(1));
    raftpp::memory_storage s;
    auto batch = make_batch(1, n, payload);
    std::int64_t compactions = 0;
    const auto allocs_before = raftpp_bench::allocation_count();
    for (auto _ : state) {
        if (!s.append(batch)) state.SkipWithError("append failed");
        const index_t last = *s.last_index();
        if (last - *s.first_index() + 1 >= keep_entries + compact_every) {
            if (!s.compact(last - keep_entries)) state.SkipWithError("compact failed");
            ++compactions;
        }
        // Renumber the batch for the next append: cheap next to the append itself and needs
        // no allocation, unlike building a fresh batch.
        for (auto& e : batch) e.index += static_cast<index_t>(n);
        benchmark::ClobberMemory();
    }
    const auto allocs = raftpp_bench::allocation_count() - allocs_before;
    state.SetItemsProcessed(state.iterations() * n);
    // Payload bytes made durable in the log (shared, not copied).
    state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(payload));
    state.counters["compactions"] = static_cast<double>(compactions);
    state.counters["allocs_per_iter"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_memory_storage_append)
    ->ArgNames({"entries", "payload"})
    ->Args({1, 16})
    ->Args({64, 16})
    ->Args({1024, 16})
    ->Args({1, 1024})
    ->Args({64, 1024})
    ->Args({1024, 1024});

// Args: entries per slice. Reads walk a 64k-entry log so slices are not all cache-hot.
void BM_memory_storage_entries(benchmark::State& state) {
    const auto n = state.range(0);
    constexpr index_t log_size = 65536;
    raftpp::memory_storage s;
    if (!s.append(make_batch(1, static_cast<std::int64_t>(log_size), 16))) {
        state.SkipWithError("append failed");
        return;
    }
    index_t lo = 1;
    const auto allocs_before = raftpp_bench::allocation_count();
    for (auto _ : state) {
        if (lo + static_cast<index_t>(n) > log_size + 1) lo = 1;
        auto got = s.entries(lo, lo + static_cast<index_t>(n), raftpp::no_limit);
        benchmark::DoNotOptimize(got);
        lo += static_cast<index_t>(n);
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["allocs_per_iter"] =  // the returned vector: one per slice
        static_cast<double>(raftpp_bench::allocation_count() - allocs_before) /
        static_cast<double>(state.iterations());
}
BENCHMARK(BM_memory_storage_entries)->Arg(1)->Arg(64)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
