// Options and counters of raftpp::testing::cluster (cluster.hpp), and the requirements on
// its Storage policy, apart so that the harness header stays about driving nodes.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/concepts.hpp>

#include <raftpp/config.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

// What the harness reads of a stored log: memory_storage::log_view, or a std::vector<entry>.
template <class V>
concept entry_sequence = requires(const V& v, std::size_t k) {
    { v.size() } -> std::convertible_to<std::size_t>;
    { v[k] } -> std::convertible_to<entry>;
    { v.front() } -> std::convertible_to<entry>;
    { v.back() } -> std::convertible_to<entry>;
};

// What cluster<Logger, Storage> needs of Storage, beyond raftpp::storage (what raft reads and
// the ready cycle writes): the application side of memory_storage, which the harness uses to
// take snapshots, compact, and check what is durable.
//   expression                          | returns                 | semantics
//   Storage{}                           |                         | an empty storage
//   cs.hard_state()                     | const hard_state&       | the persisted hard state
//   cs.raw_log()                        | an entry_sequence       | [0] is the entry before the
//                                       |                         | first (snapshot point), then
//                                       |                         | the log, as memory_storage's
//                                       |                         | (a view, or a vector's const&:
//                                       |                         | read after every write, so
//                                       |                         | never a copy)
//   s.create_snapshot(i, &conf, data)   | result<snapshot>        | records a snapshot at i
//   s.compact(i)                        | result<void>            | drops the entries before i
//   s.on_crash()      (optional)        | void                    | the node crashed: forget what
//                                       |                         | a real disk would lose
template <class S>
concept cluster_storage =
    storage<S> && std::default_initializable<S> &&
    requires(S& s, const S& cs, index_t i, const conf_state* conf, buffer data) {
        { cs.hard_state() } -> std::convertible_to<const hard_state&>;
        { cs.raw_log() } -> entry_sequence;
        { s.create_snapshot(i, conf, data) } -> std::same_as<result<snapshot>>;
        { s.compact(i) } -> std::same_as<result<void>>;
    };

template <class Storage = memory_storage>
struct basic_cluster_options {
    std::vector<node_id> voters;
    // Bootstrapped as learners (add_learner_node).
    std::vector<node_id> learners;
    // Seeds the network and, through derive_seed(), each node's election timer.
    std::uint64_t seed = 1;
    // Every node starts from this config; id and seed are filled in by the cluster.
    config base = {};
    // Called last on each node's config (cfg.id says which node), e.g. to set pre_vote,
    // check_quorum or disable_proposal_forwarding, or to override the seed.
    std::function<void(config&)> configure;
    // Async storage writes only. true: process() completes each write as soon as it is handed
    // out (raw_node::process_ready's order). false: writes wait in a queue until
    // complete_writes(), so persistence lags the raft loop, and crash() loses them.
    bool auto_complete_writes = true;
    // Log compaction: once a node's state machine is snapshot_interval entries past its
    // storage's snapshot, or it applied a conf change since, it takes a snapshot (state
    // machine + configuration) and compacts the log, keeping compaction_retain entries before
    // the snapshot point. 0: never by itself, but a storage that snapshot_now() compacted
    // still takes a snapshot after each conf change. That snapshot matters: a member added
    // after the leader's last snapshot, once the log is compacted, can only catch up from a
    // snapshot whose configuration includes it (raft refuses any other), and if the leader
    // needs that member for a quorum, no entry commits to trigger a new one.
    index_t snapshot_interval = 0;
    index_t compaction_retain = 0;
    // A member that a committed configuration change removed entirely is shut down for good,
    // as etcd stops removed members: crashed, never restarted, out of leader().
    bool retire_removed = false;
    // Fault injection for testing the checks themselves: runs on id's storage right before
    // restart() builds the new raw_node over it (e.g. to forget the vote).
    std::function<void(node_id, Storage&)> on_restart;
};
using cluster_options = basic_cluster_options<>;

// Counters since construction, for tests and simulator reports.
struct cluster_stats {
    std::uint64_t ready_cycles = 0;        // ready/persist/apply/advance rounds, all nodes
    std::uint64_t steps = 0;               // messages stepped into a live node
    std::uint64_t step_errors = 0;         // of which step() refused (e.g. step_peer_not_found)
    std::uint64_t lost_to_crashed = 0;     // delivered to a crashed (or unknown) node: lost
    std::uint64_t crashes = 0;
    std::uint64_t restarts = 0;
    std::uint64_t writes_completed = 0;    // async writes made durable
    std::uint64_t writes_lost = 0;         // async writes lost to a crash
    std::uint64_t snapshots_created = 0;   // by the compaction policy or snapshot_now()
    std::uint64_t snapshots_restored = 0;  // state machines restored from a leader's snapshot
    std::uint64_t snapshot_reports = 0;    // report_snapshot calls (finish or failure)
    std::uint64_t retired = 0;
};

}  // namespace raftpp::testing
