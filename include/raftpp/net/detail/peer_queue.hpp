// The bounded queue of messages waiting for one peer's connection, and that peer's counters.
// send() pushes from the raft node's thread; the writer, on the transport's strand, takes
// the whole queue at once. Memory is bounded: a push beyond max_messages or max_bytes is
// dropped and counted, and so is every push while the peer is down (Raft retries; etcd's
// peer drops the same way when its stream is not working).
//
// Wake-ups are coalesced: a push posts to the strand only when it has something to say
// (a write to start on an idle writer, an unreachable report, a failed snapshot) and no
// wake-up is pending yet, so a burst of sends costs one post.
// Invariant: bytes_ is the sum of the size estimates of items_; writer_busy_ is true from a
// take_batch() that returned messages until the next one that returns none (or a state
// change), so no message is left queued while the writer sleeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <raftpp/net/detail/transport_options.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net::detail {

// Bytes a message counts for against the queue's byte limit: its payloads plus a fixed
// allowance per message and entry, close to (never far below) its encoded size.
inline std::size_t queued_size(const message& m) noexcept {
    std::size_t n = 64 + m.context.size();
    for (const auto& e : m.entries) n += 24 + e.data.size();
    if (m.snapshot) {
        const auto& cs = m.snapshot->metadata.conf_state;
        n += m.snapshot->data.size() + 8 * (cs.voters.size() + cs.learners.size() +
                                            cs.voters_outgoing.size() + cs.learners_next.size());
    }
    return n;
}

class peer_queue {
public:
    // dialing: the first attempt to a new address is under way; messages wait for it.
    // up: connected. down: the last attempt failed or the connection was lost; messages are
    // dropped until a connection is up again. closed: removed or stopped, for good.
    enum class state : std::uint8_t { dialing, up, down, closed };
    enum class push_result : std::uint8_t { queued, dropped_full, dropped_down };

    peer_queue(std::size_t max_messages, std::size_t max_bytes) noexcept
        : max_messages_(max_messages > 0 ? max_messages : 1), max_bytes_(max_bytes) {}

    // Any thread. `wake` asks the caller to post take_signals() to the strand.
    struct push_outcome {
        push_result result;
        bool wake;
    };
    push_outcome push(message&& m) {
        const std::size_t size = queued_size(m);
        const bool snap = m.type == message_type::snap;
        std::lock_guard lock(mu_);
        if (state_ == state::down || state_ == state::closed) {
            ++stats_.dropped_down;
            return {push_result::dropped_down, note_drop(snap)};
        }
        // One message always fits an empty queue, so a snapshot above max_bytes still goes.
        if (items_.size() >= max_messages_ || (!items_.empty() && bytes_ + size > max_bytes_)) {
            ++stats_.dropped_full;
            return {push_result::dropped_full, note_drop(snap)};
        }
        items_.push_back(std::move(m));
        bytes_ += size;
        return {push_result::queued, state_ == state::up && !writer_busy_ && wake()};
    }

    // Strand: what the pending wake-up carries; clears it.
    struct signals {
        bool unreachable = false;        // messages were dropped since the last report
        std::uint32_t snap_failures = 0; // snap messages dropped since the last report
    };
    signals take_signals() {
        std::lock_guard lock(mu_);
        wake_pending_ = false;
        return std::exchange(signals_, signals{});
    }

    // Strand: moves every queued message into `out` (empty on entry) when the peer is up.
    // Returns false, and marks the writer idle, when there is nothing to write.
    bool take_batch(std::vector<message>& out) {
        std::lock_guard lock(mu_);
        if (state_ != state::up || items_.empty()) {
            writer_busy_ = false;
            return false;
        }
        items_.swap(out);  // items_ keeps out's capacity for the next burst
        bytes_ = 0;
        writer_busy_ = true;
        return true;
    }

    // State changes. Leaving dialing/up discards what is queued (counted as dropped_down).
    struct discarded {
        std::size_t messages = 0;
        std::size_t snaps = 0;  // snap messages among them
    };
    void set_dialing() { set(state::dialing); }
    void set_up() { set(state::up); }
    discarded set_down() { return set(state::down); }
    discarded close() { return set(state::closed); }
    state current() const {
        std::lock_guard lock(mu_);
        return state_;
    }

    // Strand: counters the connections move.
    template <class F>
    void update(F&& f) {
        std::lock_guard lock(mu_);
        f(stats_);
    }

    peer_stats stats() const {
        std::lock_guard lock(mu_);
        peer_stats s = stats_;
        s.connected = state_ == state::up;
        s.queued_messages = items_.size();
        s.queued_bytes = bytes_;
        return s;
    }

private:
    bool wake() noexcept {
        if (wake_pending_) return false;
        wake_pending_ = true;
        return true;
    }
    bool note_drop(bool snap) noexcept {
        signals_.unreachable = true;
        if (snap) ++signals_.snap_failures;
        return wake();
    }
    discarded set(state s) {
        std::lock_guard lock(mu_);
        if (state_ == state::closed) return {};
        state_ = s;
        writer_busy_ = false;
        if (s == state::dialing || s == state::up) return {};
        discarded d{items_.size(), 0};
        for (const auto& m : items_) d.snaps += m.type == message_type::snap;
        stats_.dropped_down += items_.size();
        items_.clear();
        bytes_ = 0;
        return d;
    }

    const std::size_t max_messages_;
    const std::size_t max_bytes_;
    mutable std::mutex mu_;
    // Guarded by mu_:
    state state_ = state::dialing;
    std::vector<message> items_;  // in send order
    std::size_t bytes_ = 0;       // sum of queued_size(items_[i])
    bool writer_busy_ = false;
    bool wake_pending_ = false;
    signals signals_;
    peer_stats stats_;            // connected and queued_* are filled in by stats()
};

}  // namespace raftpp::net::detail
