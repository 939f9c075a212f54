// raftpp::config — the parameters of one raft node (etcd's raft.Config), with validate() and
// normalized(). Fields keep etcd's names and meanings, including its special values: a 0 in a
// size limit means what it means in etcd (see each field), and normalized() rewrites those
// zeros into the explicit values the core works with, as etcd's Config.validate does.
// validate() rejects every combination etcd rejects; invalid_reason() says which rule failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

// How read_index requests are served (etcd's ReadOnlyOption).
enum class read_only_option : std::uint8_t {
    // Linearizable: the leader confirms it is still leader with a quorum of heartbeat acks.
    safe,
    // Relies on the leader lease (check_quorum): no round trip, but bounded clock drift is
    // assumed. Requires check_quorum.
    lease_based,
};

inline std::string_view to_string(read_only_option o) noexcept {
    return o == read_only_option::safe ? "safe" : "lease_based";
}

struct config {
    // This node's id; never `none`.
    node_id id = none;

    // Ticks a follower waits without hearing from a leader before it campaigns; must be
    // greater than heartbeat_tick (etcd suggests 10 * heartbeat_tick). The actual timeout is
    // randomized in [election_tick, 2 * election_tick) (Raft §5.2).
    int election_tick = 10;
    // Ticks between the heartbeats a leader sends; must be > 0.
    int heartbeat_tick = 1;

    // Upper bound on the entry bytes of one append message. no_limit for unlimited; 0 means at
    // most one entry per message (etcd semantics).
    std::uint64_t max_size_per_msg = std::uint64_t{1} << 20;
    // Upper bound on the committed entry bytes handed out in one ready; 0 means
    // max_size_per_msg (they were one parameter in older etcd).
    std::uint64_t max_committed_size_per_ready = 0;
    // Upper bound on the payload bytes of a leader's uncommitted tail; proposals beyond it are
    // dropped with errc::proposal_dropped. 0 means no limit.
    std::uint64_t max_uncommitted_entries_size = 0;
    // Upper bound on append messages in flight to one follower while replicating; must be > 0.
    std::size_t max_inflight_msgs = 256;
    // Upper bound on the entry bytes in flight to one follower; 0 means no limit. When set it
    // must be at least max_size_per_msg, or a single full message could never be sent.
    std::uint64_t max_inflight_bytes = 0;

    // The leader steps down when it has not heard from a quorum for an election timeout.
    bool check_quorum = false;
    // Pre-vote phase before an election (Raft thesis §9.6): a partitioned node that rejoins
    // does not disrupt the cluster by bumping the term.
    bool pre_vote = false;
    read_only_option read_only = read_only_option::safe;
    // Lease-based reads only. The leader's lease lasts election_tick - max_clock_drift of its
    // ticks, counted from when it sent the heartbeat round a quorum acknowledged; a follower
    // refuses votes for election_tick of its own ticks after hearing from the leader. The
    // lease is safe while, over that span, a follower's clock runs ahead of the leader's by
    // at most max_clock_drift ticks, including the up to one tick by which their tick
    // boundaries differ (docs/design.md, "Leader leases"). Must leave a positive lease.
    int max_clock_drift = 2;
    // Followers drop proposals instead of forwarding them to the leader.
    bool disable_proposal_forwarding = false;
    // The leader refuses (appends as an empty entry, like the other refused conf changes) a
    // membership change that keeps fewer than a majority of the current voters as voters:
    // removing or demoting one of two voters, replacing two of three in one joint change.
    // Such a change can leave the cluster without a leader for good, since voters that have
    // not learned it committed still need the votes of those it took out (docs/reliability.md,
    // bug 2). Off by default, as etcd accepts them; change membership in smaller steps instead.
    bool keep_voter_majority = false;
    // A leader that applies a configuration without itself as a voter (removed, or demoted
    // to learner) becomes a follower at once, so the others elect a leader without waiting
    // for the application to stop it (etcd main's StepDownOnRemoval). Off by default, as in
    // etcd; raftpp::node turns it on.
    bool step_down_on_removal = false;

    // The last index the application applied; set it only when restarting. Entries at or
    // below it are never handed out again.
    index_t applied = 0;
    // Storage writes leave the ready cycle (etcd's AsyncStorageWrites, without its storage
    // messages): ready().write hands out a storage_write (entries, hard state, snapshot, and
    // the responses that must wait for them); the application persists it off the raft loop
    // and gives it back with raw_node::on_write_complete(), in order. advance() is then called
    // right after ready(), and committed entries are handed out only once durable here.
    bool async_storage_writes = false;

    // Seed of the generator for randomized election timeouts. 0 derives one from the id, so
    // nodes of a cluster differ but every run with the same ids replays the same timeouts.
    std::uint64_t seed = 0;

    // Why this config is invalid, in etcd's wording; empty when it is valid. Rules are checked
    // in etcd's order, so the first failing one is reported.
    constexpr std::string_view invalid_reason() const noexcept {
        if (id == none) return "cannot use none as id";
        if (heartbeat_tick <= 0) return "heartbeat tick must be greater than 0";
        if (election_tick <= heartbeat_tick)
            return "election tick must be greater than heartbeat tick";
        if (max_inflight_msgs == 0) return "max inflight messages must be greater than 0";
        if (max_inflight_bytes != 0 && max_inflight_bytes < max_size_per_msg)
            return "max inflight bytes must be >= max message size";
        if (read_only == read_only_option::lease_based && !check_quorum)
            return "check_quorum must be enabled when read_only is lease_based";
        if (read_only == read_only_option::lease_based &&
            (max_clock_drift < 0 || max_clock_drift >= election_tick))
            return "max clock drift must be at least 0 and below election tick when read_only "
                   "is lease_based (the lease is election_tick - max_clock_drift ticks)";
        return {};
    }

    // errc::invalid_config when invalid_reason() is not empty.
    result<void> validate() const noexcept {
        if (!invalid_reason().empty()) return errc::invalid_config;
        return {};
    }

    // The seed the election timer actually uses (see `seed`). Never 0.
    constexpr std::uint64_t effective_seed() const noexcept {
        if (seed != 0) return seed;
        // splitmix64 finalizer: nearby ids give unrelated seeds.
        std::uint64_t z = id + 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return z != 0 ? z : 1;
    }

    // A copy with etcd's special zeros made explicit: max_uncommitted_entries_size 0 ->
    // no_limit, max_committed_size_per_ready 0 -> max_size_per_msg, max_inflight_bytes 0 ->
    // no_limit, seed 0 -> effective_seed(). Idempotent. Does not validate.
    constexpr config normalized() const noexcept {
        config c = *this;
        if (c.max_uncommitted_entries_size == 0) c.max_uncommitted_entries_size = no_limit;
        if (c.max_committed_size_per_ready == 0) c.max_committed_size_per_ready = c.max_size_per_msg;
        if (c.max_inflight_bytes == 0) c.max_inflight_bytes = no_limit;
        c.seed = effective_seed();
        return c;
    }

    friend bool operator==(const config&, const config&) = default;
};

}  // namespace raftpp
