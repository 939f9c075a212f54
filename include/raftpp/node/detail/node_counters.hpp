// What a raftpp::node counts about its own cycles for node_status (and /metrics): cycles,
// syncs and their time histogram, entries persisted, snapshots, dropped messages and leader
// changes. Touched on the node's strand only; copied into the status when it is published.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <raftpp/node/options.hpp>

namespace raftpp::detail {

struct node_counters {
    std::uint64_t cycles = 0, syncs = 0, entries_persisted = 0;
    std::uint64_t snapshots_taken = 0, snapshots_restored = 0;
    std::uint64_t snapshot_nanoseconds = 0, snapshot_max_nanoseconds = 0;
    std::array<std::uint64_t, node_status::sync_bucket_bounds.size() + 1> sync_buckets{};
    std::uint64_t sync_nanoseconds = 0;
    std::uint64_t messages_dropped = 0;
    std::uint64_t leader_changes = 0;

    // One sync finished after `took`: counted, and into its histogram bucket and the total.
    // Counted here, not when it starts, so that a status published while a sync is in flight
    // has as many syncs as the histogram holds.
    void record_sync(std::chrono::steady_clock::duration took) {
        ++syncs;
        const double secs = std::chrono::duration<double>(took).count();
        const auto& bounds = node_status::sync_bucket_bounds;
        std::size_t k = 0;
        while (k < bounds.size() && secs > bounds[k]) ++k;
        ++sync_buckets[k];
        sync_nanoseconds += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
    }

    // One snapshot taken in `took`.
    void record_snapshot(std::chrono::steady_clock::duration took) {
        ++snapshots_taken;
        const auto ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
        snapshot_nanoseconds += ns;
        if (ns > snapshot_max_nanoseconds) snapshot_max_nanoseconds = ns;
    }

    void copy_to(node_status& s) const {
        s.cycles = cycles;
        s.syncs = syncs;
        s.entries_persisted = entries_persisted;
        s.snapshots_taken = snapshots_taken;
        s.snapshots_restored = snapshots_restored;
        s.snapshot_nanoseconds = snapshot_nanoseconds;
        s.snapshot_max_nanoseconds = snapshot_max_nanoseconds;
        s.sync_buckets = sync_buckets;
        s.sync_nanoseconds = sync_nanoseconds;
        s.messages_dropped = messages_dropped;
        s.leader_changes = leader_changes;
    }
};

}  // namespace raftpp::detail
