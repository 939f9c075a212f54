// The wire format's cost: an append message of B entries of P bytes framed by frame_encoder
// and read back by frame_decoder (prepare, copy in, commit, next), as a connection does. The
// figure to compare with is the three-node loop's cost per proposal (rawnode_compare_bench):
// the codec must not be what limits a cluster.
// Counters: ns per message, ns per entry, wire bytes per message, allocations per message.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <raftpp/net/frame.hpp>

namespace {

using namespace raftpp;

message append_message(int entries, std::size_t payload) {
    message m;
    m.type = message_type::app;
    m.from = 1;
    m.to = 2;
    m.term = 7;
    m.log_term = 7;
    m.index = 1000;
    m.commit = 990;
    const buffer data(std::string(payload, 'x'));
    for (int k = 0; k < entries; ++k)
        m.entries.push_back({7, 1001 + static_cast<index_t>(k), entry_type::normal, data});
    return m;
}

// Args: entries per message, payload bytes per entry.
void BM_frame_append_roundtrip(benchmark::State& state) {
    const auto entries = static_cast<int>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const message m = append_message(entries, payload);
    net::frame_encoder enc;
    net::frame_decoder dec;
    std::vector<std::byte> wire;
    std::size_t wire_bytes = 0;
    // Warm up: the buffers reach their steady capacity.
    for (int k = 0; k < 2; ++k) {
        wire.clear();
        enc.encode(m, wire);
        auto in = dec.prepare(wire.size());
        std::memcpy(in.data(), wire.data(), wire.size());
        dec.commit(wire.size());
        if (!dec.next()) state.SkipWithError("decode failed");
    }
    const auto allocs0 = raftpp_bench::allocation_count();
    for (auto _ : state) {
        wire.clear();
        enc.encode(m, wire);
        auto in = dec.prepare(wire.size());
        std::memcpy(in.data(), wire.data(), wire.size());
        dec.commit(wire.size());
        auto item = dec.next();
        if (!item || !*item) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(item);
        wire_bytes = wire.size();
    }
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    const auto n = static_cast<double>(state.iterations());
    state.counters["ns_per_message"] =
        benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["ns_per_entry"] = benchmark::Counter(
        n * entries, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["wire_bytes"] = static_cast<double>(wire_bytes);
    state.counters["allocs_per_message"] = static_cast<double>(allocs) / n;
    state.SetItemsProcessed(state.iterations() * entries);
}
BENCHMARK(BM_frame_append_roundtrip)
    ->ArgNames({"entries", "payload"})
    ->Args({1, 16})
    ->Args({1, 1024})
    ->Args({64, 16})
    ->Args({64, 1024});

}  // namespace

BENCHMARK_MAIN();
