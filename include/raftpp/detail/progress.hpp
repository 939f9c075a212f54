// raftpp::detail::progress — the leader's view of one follower (etcd 3.4's tracker.Progress):
// what it has (match), what to send next (next), and how to send it (progress_state).
// Invariant while leading: match < next. State transitions are driven from the raft core;
// this type only keeps them consistent (each become_* resets the per-state fields).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <raftpp/detail/inflights.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

// etcd's default MaxInflightMsgs in most deployments; used when a progress is made without
// the tracker's limits (tests, placeholders).
inline constexpr std::size_t default_max_inflight_msgs = 256;

enum class progress_state : std::uint8_t {
    // The follower's last index is unknown: send one append per heartbeat interval and
    // narrow next down from its rejections (Raft §5.3).
    probe,
    // Steady state: send appends eagerly, next runs ahead of match, bounded by inflights.
    replicate,
    // The follower needs entries the leader compacted away: a snapshot is in flight and no
    // appends are sent until it is reported.
    snapshot,
};

inline constexpr std::string_view to_string(progress_state s) noexcept {
    switch (s) {
    case progress_state::probe: return "probe";
    case progress_state::replicate: return "replicate";
    case progress_state::snapshot: return "snapshot";
    }
    return "unknown";
}

// An aggregate so tests and the tracker can write
// `progress{.match = 1, .next = 5, .state = progress_state::replicate}`.
struct progress {
    index_t match = 0;  // highest index known to be in the follower's log
    index_t next = 0;   // index of the next entry to send
    progress_state state = progress_state::probe;
    // In snapshot state: the index of the snapshot being sent; 0 otherwise.
    index_t pending_snapshot = 0;
    // Heard from since the last check-quorum round (etcd's RecentActive).
    bool recent_active = false;
    // In probe state: an append was sent and we wait for its answer (or the next heartbeat)
    // before sending another (etcd 3.4's ProbeSent, main's MsgAppFlowPaused).
    bool probe_sent = false;
    bool is_learner = false;
    // Lease-based reads: 1 + the leader's tick count when it sent the newest heartbeat this
    // follower acknowledged; 0 when none was (docs/design.md, "Leader leases").
    std::uint64_t lease_ack = 0;
    // Appends sent and not yet acked; only consulted in replicate state. Indexes added must
    // not decrease; freed with free_le(acked index).
    raftpp::detail::inflights inflights{default_max_inflight_msgs};

    // Moves to state `s`, clearing probe_sent, pending_snapshot and inflights.
    void reset_state(progress_state s) noexcept {
        probe_sent = false;
        pending_snapshot = 0;
        state = s;
        inflights.reset();
    }

    // A fresh start when a node becomes leader (etcd's raft.reset): probe from `next_index`,
    // nothing known to match, inactive; keeps is_learner and the inflight limits.
    void reset(index_t next_index) noexcept {
        reset_state(progress_state::probe);
        match = 0;
        next = next_index;
        recent_active = false;
        lease_ack = 0;
    }

    // Probe from match + 1 or, after a snapshot was applied, from past the snapshot.
    void become_probe() noexcept {
        if (state == progress_state::snapshot) {
            const index_t snap = pending_snapshot;
            reset_state(progress_state::probe);
            next = std::max(match + 1, snap + 1);
        } else {
            reset_state(progress_state::probe);
            next = match + 1;
        }
    }

    void become_replicate() noexcept {
        reset_state(progress_state::replicate);
        next = match + 1;
    }

    void become_snapshot(index_t snapshot_index) noexcept {
        reset_state(progress_state::snapshot);
        pending_snapshot = snapshot_index;
    }

    // An append response acked index n. False if it is stale (n <= match); next never moves
    // backwards. A new match also ends the wait in probe state.
    bool maybe_update(index_t n) noexcept {
        bool updated = false;
        if (match < n) {
            match = n;
            updated = true;
            resume();
        }
        next = std::max(next, n + 1);
        return updated;
    }

    // Appends up to and including n are on their way (replicate state pipelining).
    void optimistic_update(index_t n) noexcept { next = n + 1; }

    // The follower rejected an append at index `rejected`; `match_hint` is its last index
    // (its reject hint). False if the rejection is stale. Otherwise next moves back and, in
    // probe state, the wait ends so the next probe goes out now.
    bool maybe_decr_to(index_t rejected, index_t match_hint) noexcept {
        if (state == progress_state::replicate) {
            // Stale if it rejects something already matched.
            if (rejected <= match) return false;
            // Pipelined appends past match are void: resend from match + 1.
            next = match + 1;
            return true;
        }
        // In probe state one append is in flight, at next - 1: any other rejection is stale.
        if (next - 1 != rejected) return false;
        // etcd 3.4 clamps to at least 1; etcd main to match + 1, which keeps match < next
        // even if a follower's hint lies below its own acked match (it lost its log).
        // A rejection at match itself: the follower lost entries it acked. next would not
        // move, and probing the same index again would be rejected again, endlessly; wait for
        // the heartbeat response (which carries the follower's real last index) instead.
        if (rejected == match && match > 0) return false;
        next = std::max(std::min(rejected, match_hint + 1), match + 1);
        resume();
        return true;
    }

    // No appends should be sent now: waiting on a probe, the inflight window is full, or a
    // snapshot is pending.
    bool is_paused() const noexcept {
        switch (state) {
        case progress_state::probe: return probe_sent;
        case progress_state::replicate: return inflights.full();
        case progress_state::snapshot: return true;
        }
        return true;
    }

    // probe_sent on/off (etcd 3.4: `ProbeSent = true` after a probe, ProbeAcked()).
    void pause() noexcept { probe_sent = true; }
    void resume() noexcept { probe_sent = false; }

    // e.g. "replicate match=5 next=9 learner paused pending_snap=3 inactive inflight=4[full]"
    std::string to_string() const {
        std::string s(detail::to_string(state));
        s += " match=" + std::to_string(match) + " next=" + std::to_string(next);
        if (is_learner) s += " learner";
        if (is_paused()) s += " paused";
        if (pending_snapshot > 0) s += " pending_snap=" + std::to_string(pending_snapshot);
        if (!recent_active) s += " inactive";
        if (const std::size_t n = inflights.count(); n > 0) {
            s += " inflight=" + std::to_string(n);
            if (inflights.full()) s += "[full]";
        }
        return s;
    }
};

}  // namespace raftpp::detail
