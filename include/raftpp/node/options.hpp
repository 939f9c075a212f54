// The options of raftpp::node and the status it reports.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <raftpp/config.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

inline config default_raft_config() {
    config c;
    c.pre_vote = true;
    c.check_quorum = true;
    c.step_down_on_removal = true;
    return c;
}

struct node_options {
    // The consensus settings (election_tick, heartbeat_tick, pre_vote, check_quorum, ...).
    // id and applied are filled in by the node from what it starts from. Defaults as etcd's
    // server: pre-vote and check-quorum on; and a removed leader steps down at once.
    config raft = default_raft_config();
    // One raft tick per interval (etcd's --heartbeat-interval, 100 ms): with the default
    // election_tick of 10 a follower waits a second for its leader.
    std::chrono::milliseconds tick_interval{100};
    // A snapshot of the state machine is taken, and the log compacted, every snapshot_count
    // applied entries (etcd's --snapshot-count); the log keeps snapshot_catchup_entries
    // behind the snapshot so a follower slightly behind catches up from the log, not a
    // snapshot (etcd's SnapshotCatchUpEntries). 0 turns automatic snapshots off.
    std::uint64_t snapshot_count = 10000;
    std::uint64_t snapshot_catchup_entries = 5000;
    // How long a proposal, read, conf change or transfer may wait before completing with
    // errc::timed_out (etcd: 5 s plus two election timeouts).
    std::chrono::milliseconds request_timeout{7000};
    // A ReadIndex that got no answer (no leader, a lost message) is asked again after this.
    std::chrono::milliseconds read_retry{500};
    // A follower forwards proposals to its leader (etcd's default). Off: a proposal made
    // away from the leader completes at once with errc::not_leader.
    bool forward_proposals = true;
    // Proposals waiting to be applied at most; beyond, errc::too_many_requests.
    std::size_t max_pending_proposals = 1 << 16;
    // Seeds the request numbering (0: from std::random_device), which must differ from any
    // earlier run of this member so a restarted node never takes an old entry for its own.
    std::uint64_t seed = 0;
};

// What node::status() reports: a copy taken at the end of the node's last cycle.
struct node_status {
    node_id id = none;
    std::uint64_t cluster_id = 0;
    raftpp::role role = role::follower;
    node_id leader = none;
    term_t term = 0;
    index_t commit = 0;
    index_t applied = 0;
    index_t snapshot_index = 0;
    std::size_t members = 0;
    bool started = false;
    bool stopped = false;
    bool removed = false;
    bool learner = false;  // this member is a learner (etcd has no learner role either)
    // Set when the node stopped on a failure (a storage write or a snapshot that failed).
    std::error_code failure;

    // Counters since start.
    std::uint64_t proposals_applied = 0;   // this node's proposals applied
    std::uint64_t proposals_failed = 0;    // completed with an error (dropped, timed out, ...)
    std::uint64_t reads_completed = 0;
    std::uint64_t cycles = 0;              // ready cycles
    std::uint64_t syncs = 0;               // storage syncs completed (each in sync_buckets)
    std::uint64_t entries_persisted = 0;   // entries written to the storage
    std::uint64_t snapshots_taken = 0;
    std::uint64_t snapshots_restored = 0;  // from the leader or at start
    // Time the node's cycle spent taking snapshots (the state machine's snapshot(), the
    // storage's create_snapshot, the compaction), in total and the longest one: nothing else
    // runs on the node meanwhile, so a long one shows in the proposals' tail latency. With
    // wal_storage the file and its fsyncs are written on a thread of their own, not counted.
    std::uint64_t snapshot_nanoseconds = 0;
    std::uint64_t snapshot_max_nanoseconds = 0;

    // Storage syncs by duration, as etcd's wal_fsync_duration_seconds: sync_buckets[k] counts
    // the syncs that took more than sync_bucket_bounds[k - 1] and at most sync_bucket_bounds[k]
    // seconds (the last, more than the largest bound); sync_nanoseconds is their total.
    static constexpr std::array<double, 14> sync_bucket_bounds = {
        0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,
        0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192};
    std::array<std::uint64_t, sync_bucket_bounds.size() + 1> sync_buckets{};
    std::uint64_t sync_nanoseconds = 0;
    // Messages the transport dropped (a full queue, a peer down), all peers together; updated
    // once a tick.
    std::uint64_t messages_dropped = 0;
    // Leaders this node has seen elected (etcd's leader_changes_seen): each time a ready cycle
    // names a leader after none or another, the first election and a leader re-elected after
    // an election included.
    std::uint64_t leader_changes = 0;
};

}  // namespace raftpp
