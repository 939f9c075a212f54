// Snapshot send + restore (Raft §7) on three voters in one process, in the synchronous loop of
// rawnode_compare_bench. Each iteration:
//   1. node 3 is cut off; the leader (node 1) commits a few entries with node 2;
//   2. the leader's application snapshots its state machine (a `size`-byte buffer) at its
//      applied index and compacts its storage there: node 3's log now ends before the
//      leader's first index, so only a snapshot can catch it up;
//   3. node 3 is reconnected and the leader ticks (a heartbeat). Timed from here until the
//      cluster is quiet: the leader sends a snap message (reported delivered with
//      report_snapshot, as an application's transport would), node 3 persists it through
//      memory_storage::apply_snapshot in its ready cycle and restores its state machine from
//      ready.snapshot, and its ack brings the leader's progress for it back to replicate.
// The payload is never copied: raftpp::buffer is reference counted and a snap message holds the
// snapshot through a shared_ptr, so node 3's state machine must end up sharing the very bytes
// the leader's application produced (checked, else SkipWithError).
// The clock stops before node 3's previous state (the last snapshot's bytes) is released; see
// the loop. The leader's memset of a 64 MiB snapshot also evicts the caches before the clock
// starts, so the 64 MiB case runs colder than the 1 MiB one: same work, ~20 µs more.
// Counters: bytes/s (SetBytesProcessed, `size` per iteration; manual time = step 3 only),
// alloc_bytes_per_iter (bytes requested from operator new from step 2 on: the snapshot buffer
// once, ~`size`, not a multiple of it), alloc_bytes_per_snapshot_byte (that over `size`),
// allocs_per_iter, snap_msgs_per_iter (snap messages delivered; 1 expected) and peak_rss_mib
// (getrusage ru_maxrss: the process's high-water mark, so it includes earlier runs).
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace {

using namespace raftpp;

// Messages a node sends during advance() land in its outbox; the loop delivers them.
struct outbox_transport {
    std::vector<message>* out = nullptr;
    void send(message&& m) { out->push_back(std::move(m)); }
};

struct sn_node {
    memory_storage storage;
    std::vector<message> outbox;
    std::unique_ptr<raw_node<memory_storage, outbox_transport>> rn;
    index_t applied = 0;
    // The state machine: the bytes of the last snapshot it was restored from.
    buffer state_machine;

    sn_node(node_id id, const std::vector<node_id>& peers) {
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

    // One ready cycle: persist (snapshot, hard state, entries), restore / apply, advance.
    void cycle() {
        auto& rd = rn->ready();
        if (!rn->persist(rd)) std::abort();
        if (!is_empty(rd.snapshot)) {
            state_machine = rd.snapshot.data;
            applied = rd.snapshot.metadata.index;
        }
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

double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void BM_snapshot_send_restore(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::vector<node_id> peers{1, 2, 3};
    std::vector<std::unique_ptr<sn_node>> nodes;
    for (auto id : peers) nodes.push_back(std::make_unique<sn_node>(id, peers));
    std::array<bool, 4> connected{true, true, true, true};  // by node id
    std::vector<node_id> snap_sent_to;
    std::uint64_t snap_messages = 0;  // snap messages delivered
    auto settle = [&] {
        for (bool busy = true; busy;) {
            busy = false;
            for (auto& n : nodes) {
                if (!n->rn->has_ready()) continue;
                busy = true;
                n->cycle();
                for (auto& m : n->outbox) {
                    if (!connected[m.from] || !connected[m.to]) continue;  // dropped
                    if (m.type == message_type::snap) {
                        snap_sent_to.push_back(m.to);
                        ++snap_messages;
                    }
                    (void)nodes[m.to - 1]->rn->step(std::move(m));
                }
                n->outbox.clear();
                // The transport tells the sender that its snapshot went out (etcd's
                // ReportSnapshot), after the outbox is done with.
                for (auto to : snap_sent_to) n->rn->report_snapshot(to, snapshot_status::finish);
                snap_sent_to.clear();
            }
        }
    };
    settle();
    (void)nodes[0]->rn->campaign();
    settle();
    auto& leader = *nodes[0];
    auto& lagging = *nodes[2];
    if (leader.rn->raft().role() != role::leader) {
        state.SkipWithError("node 1 is not leader");
        return;
    }
    const buffer payload = buffer::uninitialized(16);

    std::uint64_t alloc_bytes = 0;
    std::uint64_t allocs = 0;
    std::int64_t iterations = 0;
    const std::uint64_t snap_messages0 = snap_messages;
    for (auto _ : state) {
        // 1. Cut node 3 off and move the log on without it.
        connected[3] = false;
        for (int j = 0; j < 8; ++j) {
            if (!leader.rn->propose(payload)) std::abort();
        }
        settle();

        // 2. Snapshot at the leader's applied index and compact past node 3's log.
        const auto bytes0 = raftpp_bench::allocated_byte_count();
        const auto allocs0 = raftpp_bench::allocation_count();
        const index_t snap_index = leader.applied;
        const conf_state cs = leader.rn->raft().tracker().conf_state();
        const std::byte* snap_bytes = nullptr;
        {
            // Scoped: no extra reference outlives this; the leader's storage holds it.
            auto snap =
                leader.storage.create_snapshot(snap_index, &cs, buffer::uninitialized(size));
            if (snap) snap_bytes = snap->data.data();
        }
        if (snap_bytes == nullptr || !leader.storage.compact(snap_index)) {
            state.SkipWithError("create_snapshot / compact failed");
            break;
        }
        if (lagging.rn->raft().log().last_index() + 1 >= *leader.storage.first_index()) {
            state.SkipWithError("node 3 is not behind the compacted log");
            break;
        }

        // 3. Reconnect node 3; a heartbeat lets the leader find it behind.
        // Node 3's old state is freed after the clock stops: dropping the last reference to a
        // 64 MiB buffer is an munmap that costs ~10 ms of kernel page freeing, which would
        // otherwise be most of what this measures and is no part of the protocol.
        buffer previous = lagging.state_machine;
        const auto start = std::chrono::steady_clock::now();
        connected[3] = true;
        leader.rn->tick();
        settle();
        const auto end = std::chrono::steady_clock::now();
        state.SetIterationTime(std::chrono::duration<double>(end - start).count());
        previous = buffer();
        alloc_bytes += raftpp_bench::allocated_byte_count() - bytes0;
        allocs += raftpp_bench::allocation_count() - allocs0;
        ++iterations;

        const auto stored = lagging.storage.snapshot();
        const auto* pr = leader.rn->raft().tracker().progress(3);
        if (!stored || stored->metadata.index != snap_index || lagging.applied != snap_index) {
            state.SkipWithError("node 3 did not persist and apply the snapshot");
            break;
        }
        if (lagging.state_machine.data() != snap_bytes || stored->data.data() != snap_bytes) {
            state.SkipWithError("the snapshot payload was copied on its way to node 3");
            break;
        }
        if (pr == nullptr || pr->state != detail::progress_state::replicate ||
            pr->match < snap_index) {
            state.SkipWithError("the leader's progress for node 3 is not back in replicate");
            break;
        }
    }
    if (iterations == 0) return;
    const auto n = static_cast<double>(iterations);
    state.SetBytesProcessed(iterations * static_cast<std::int64_t>(size));
    state.counters["alloc_bytes_per_iter"] = static_cast<double>(alloc_bytes) / n;
    state.counters["alloc_bytes_per_snapshot_byte"] =
        static_cast<double>(alloc_bytes) / n / static_cast<double>(size);
    state.counters["allocs_per_iter"] = static_cast<double>(allocs) / n;
    state.counters["snap_msgs_per_iter"] = static_cast<double>(snap_messages - snap_messages0) / n;
    state.counters["peak_rss_mib"] = peak_rss_mib();
}
BENCHMARK(BM_snapshot_send_restore)
    ->ArgName("bytes")
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
