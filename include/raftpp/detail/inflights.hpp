// raftpp::detail::inflights — flow control for appends sent to one follower (etcd's
// tracker.Inflights, with the byte budget of etcd-io/raft's MaxInflightBytes).
// A ring buffer of (last index, bytes) per append that is sent but not yet acknowledged.
// Invariants: count_ <= size_; bytes_ is exactly the sum of the bytes of the count_ live slots
// buffer_[(start_ + i) % size_], i in [0, count_); live indexes never decrease from the oldest.
// The buffer grows by doubling on demand up to size_ slots and never beyond, so thousands of
// idle groups stay cheap and a busy one stops allocating once it has warmed up.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

class inflights {
public:
    // At most `size` appends and (when max_bytes != 0) at most about `max_bytes` bytes in
    // flight: the append that crosses the byte budget is still admitted, the next is not.
    explicit inflights(std::size_t size, std::uint64_t max_bytes = 0) noexcept
        : size_(size), max_bytes_(max_bytes) {}

    // Records an append whose last entry is `index`, carrying `bytes` of entries. The caller
    // checks full() first; indexes must not decrease between calls (free_le relies on it).
    void add(index_t index, std::uint64_t bytes) {
        RAFTPP_ASSERT(!full(), "cannot add into a full inflights");
        RAFTPP_ASSERT(count_ == 0 || index >= newest(), "inflight indexes must not decrease");
        std::size_t next = start_ + count_;
        if (next >= size_) next -= size_;
        if (next >= buffer_.size()) grow();
        buffer_[next] = {index, bytes};
        ++count_;
        bytes_ += bytes;
    }

    // The newest append grows to end at `index` with `bytes` more: entries joined to an append
    // that has not left yet. Requires count() > 0 and index >= the newest index.
    void extend_newest(index_t index, std::uint64_t bytes) noexcept {
        RAFTPP_ASSERT(count_ != 0, "no append in flight to extend");
        slot& s = buffer_[newest_slot()];
        RAFTPP_ASSERT(index >= s.index, "inflight indexes must not decrease");
        s.index = index;
        s.bytes += bytes;
        bytes_ += bytes;
    }
    // The last index and the bytes of the newest append; requires count() > 0.
    std::pair<index_t, std::uint64_t> newest_append() const noexcept {
        const slot& s = buffer_[newest_slot()];
        return {s.index, s.bytes};
    }
    // Releases every append with index <= to (the follower acked `to`), and exactly the bytes
    // they were added with.
    void free_le(index_t to) noexcept {
        if (count_ == 0 || to < buffer_[start_].index) return;  // left of the window
        std::size_t idx = start_;
        std::size_t freed = 0;
        std::uint64_t freed_bytes = 0;
        for (; freed < count_; ++freed) {
            if (to < buffer_[idx].index) break;  // the first append not acked yet
            freed_bytes += buffer_[idx].bytes;
            if (++idx >= size_) idx -= size_;
        }
        count_ -= freed;
        bytes_ -= freed_bytes;
        // Restart at slot 0 when empty so the buffer does not grow needlessly.
        start_ = count_ == 0 ? 0 : idx;
    }

    // Releases the oldest append; nothing when empty.
    void free_first_one() noexcept {
        if (count_ != 0) free_le(buffer_[start_].index);
    }

    // No more appends may be sent: the count or the byte budget is used up.
    bool full() const noexcept {
        return count_ == size_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
    }
    std::size_t count() const noexcept { return count_; }
    std::uint64_t bytes() const noexcept { return bytes_; }
    std::size_t size() const noexcept { return size_; }
    std::uint64_t max_bytes() const noexcept { return max_bytes_; }
    // Slots allocated so far (grows lazily up to size()).
    std::size_t capacity() const noexcept { return buffer_.size(); }

    // Forgets every append, count and bytes alike (etcd-io/raft#54: a reset that kept the
    // byte count leaked budget across state changes and stalled replication).
    void reset() noexcept {
        count_ = 0;
        start_ = 0;
        bytes_ = 0;
    }

    // Calls f(index, bytes) for each append in flight, oldest first.
    template <class F>
    void for_each(F&& f) const {
        std::size_t idx = start_;
        for (std::size_t i = 0; i < count_; ++i) {
            f(buffer_[idx].index, buffer_[idx].bytes);
            if (++idx >= size_) idx -= size_;
        }
    }

private:
    struct slot {
        index_t index = 0;
        std::uint64_t bytes = 0;
    };

    // The buffer position of the newest append; requires count_ > 0.
    std::size_t newest_slot() const noexcept {
        std::size_t last = start_ + count_ - 1;
        if (last >= size_) last -= size_;
        return last;
    }
    index_t newest() const noexcept { return buffer_[newest_slot()].index; }

    // Doubles the buffer, capped at size_. Live slots keep their positions: a wrapped window
    // only exists once the buffer has reached size_ slots, so it never needs to grow then.
    void grow() {
        const std::size_t n = buffer_.empty() ? 1 : std::min(buffer_.size() * 2, size_);
        std::vector<slot> grown;
        grown.reserve(n);  // exactly n: never more slots than size_
        grown.assign(buffer_.begin(), buffer_.end());
        grown.resize(n);
        buffer_ = std::move(grown);
    }

    std::size_t start_ = 0;  // buffer_ slot of the oldest append
    std::size_t count_ = 0;  // appends in flight
    std::uint64_t bytes_ = 0;  // bytes in flight: the sum over the live slots
    std::size_t size_;  // max appends in flight
    std::uint64_t max_bytes_;  // max bytes in flight; 0 = unlimited
    std::vector<slot> buffer_;
};

}  // namespace raftpp::detail
