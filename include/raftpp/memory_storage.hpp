// raftpp::memory_storage — an in-memory storage (etcd's MemoryStorage), for tests and for
// applications that keep their own durable copy of the log.
// Invariant: log_[0] is a dummy entry holding the term of the last compacted entry, whose
// index is offset_ (the snapshot point, 0/0 when fresh), so term() can answer for
// first_index() - 1; log_[i] has index offset_ + i. The log lives in fixed-size chunks
// (detail/chunked_log.hpp): appends never move stored entries, which a growing vector would
// copy, touching twice the log's size in fresh pages.
// No mutex, unlike etcd: raftpp's core is single threaded and the application calls append()
// from the same thread that drives the node, so a lock would only cost.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/concepts.hpp>
#include <raftpp/detail/chunked_log.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

class memory_storage {
public:
    // raw_log(): the stored log as entries, built on access.
    using log_view = detail::entry_log_view<detail::chunked_log>;

    // Starts with the dummy entry {term 0, index 0}: an empty log whose first index is 1.
    memory_storage() { reset(0, 0); }

    // storage_reader ------------------------------------------------------------------------

    result<initial_state_t> initial_state() const {
        return initial_state_t{hard_state_, snapshot_.metadata.conf_state};
    }

    // Entries in [lo, hi), at most max_size bytes by entry_size() but always at least one.
    // errc::compacted when lo is at or before the dummy entry; errc::index_out_of_range when
    // hi is past last_index() + 1 or lo > hi (etcd panics on both); errc::unavailable when
    // only the dummy entry is left.
    result<std::vector<entry>> entries(index_t lo, index_t hi, std::uint64_t max_size) const {
        std::vector<entry> out;
        if (auto r = entries_into(lo, hi, max_size, out); !r) return r.error();
        return out;
    }

    // entries(), appended to `out` without allocating when `out` has the capacity (the
    // optional storage ability raft_log uses on its replication path).
    result<void> entries_into(index_t lo, index_t hi, std::uint64_t max_size,
                              std::vector<entry>& out) const {
        if (lo <= offset_) return errc::compacted;
        if (hi > last() + 1 || lo > hi) return errc::index_out_of_range;
        if (log_.size() == 1) return errc::unavailable;
        if (hi == lo + 1) {
            // One entry (a committed proposal, the usual read): it fits whatever the limit.
            out.push_back(log_.get(lo - offset_, lo));
            return {};
        }
        const std::size_t from = lo - offset_;
        const std::size_t to = limit_size(from, hi - offset_, max_size);
        // Grow as a range insert would: once, geometrically.
        const std::size_t n = to - from;
        if (out.capacity() - out.size() < n) out.reserve(out.size() + std::max(out.size(), n));
        for (std::size_t p = from; p < to; ++p) out.push_back(log_.get(p, offset_ + p));
        return {};
    }

    // The dummy entry keeps the term of first_index() - 1 for the log matching check
    // (Raft §5.3), so i == offset is answerable even though its entry is gone.
    result<term_t> term(index_t i) const {
        if (i < offset_) return errc::compacted;
        if (i - offset_ >= log_.size()) return errc::unavailable;
        return log_.term(i - offset_);
    }

    result<index_t> first_index() const { return offset_ + 1; }
    result<index_t> last_index() const { return last(); }
    result<raftpp::snapshot> snapshot() const { return snapshot_; }

    // storage_writer ------------------------------------------------------------------------

    result<void> set_hard_state(const raftpp::hard_state& hs) {
        hard_state_ = hs;
        return {};
    }

    // Replaces the whole log with the snapshot. Applying a snapshot at or before the current
    // one is errc::snap_out_of_date: it would roll the state machine back.
    result<void> apply_snapshot(const raftpp::snapshot& snap) {
        if (snapshot_.metadata.index >= snap.metadata.index) return errc::snap_out_of_date;
        snapshot_ = snap;
        reset(snap.metadata.index, snap.metadata.term);
        return {};
    }

    // Appends, dropping the prefix already compacted and truncating any existing suffix that
    // the new entries overwrite (a new leader's entries win, Raft §5.3). The entries must be
    // contiguous (errc::invalid_argument) and must not leave a gap after last_index()
    // (errc::index_out_of_range, etcd's "missing log entry" panic).
    result<void> append(std::span<const entry> es) {
        if (es.empty()) return {};
        for (std::size_t k = 1; k < es.size(); ++k) {
            // The `== 0` catches an index that wrapped past the largest index_t.
            if (es[k].index != es[k - 1].index + 1 || es[k].index == 0)
                return errc::invalid_argument;
        }
        const index_t first = offset_ + 1;
        if (es.back().index < first) return {};  // all of it is compacted already
        if (first > es.front().index) es = es.subspan(first - es.front().index);

        const index_t at = es.front().index - offset_;  // position in log_ of es[0], >= 1
        if (at > log_.size()) return errc::index_out_of_range;
        log_.assign_from(at, es);
        return {};
    }

    // Application side ----------------------------------------------------------------------

    // Records a snapshot of the state machine at i (applied up to i) so that a lagging
    // follower can be sent it; pass the configuration as of i if it changed since the last
    // snapshot. Does not compact: call compact() when the entries are no longer needed.
    // errc::snap_out_of_date if i <= the current snapshot index, errc::compacted if i was
    // compacted without a snapshot, errc::index_out_of_range if i > last_index().
    result<raftpp::snapshot> create_snapshot(index_t i, const conf_state* cs, buffer data) {
        if (i <= snapshot_.metadata.index) return errc::snap_out_of_date;
        if (i > last()) return errc::index_out_of_range;
        if (i < offset_) return errc::compacted;  // etcd indexes out of bounds here
        snapshot_.metadata.index = i;
        snapshot_.metadata.term = log_.term(i - offset_);
        if (cs != nullptr) snapshot_.metadata.conf_state = *cs;
        snapshot_.data = std::move(data);
        return snapshot_;
    }

    // Discards the entries before compact_index; compact_index becomes the dummy entry. The
    // application must not compact past what it has applied. Frees whole chunks only, and
    // keeps one for the appends to come: compacting as the log grows stops allocating.
    result<void> compact(index_t compact_index) {
        if (compact_index <= offset_) return errc::compacted;
        if (compact_index > last()) return errc::index_out_of_range;
        log_.drop_front(compact_index - offset_);
        offset_ = compact_index;
        // Only index and term of the dummy are meaningful; drop the payload's reference.
        log_.clear_payload(0);
        return {};
    }

    // Introspection for tests and applications.
    const raftpp::hard_state& hard_state() const noexcept { return hard_state_; }
    // The log including the dummy entry at [0], without copying it: each access builds the
    // entry (sharing its payload). Valid until the storage changes.
    log_view raw_log() const noexcept { return log_view(log_, offset_); }
    // The same, copied into a vector: for tests that compare or keep it.
    std::vector<entry> raw_entries() const { return raw_log().to_vector(); }

private:
    index_t last() const noexcept { return offset_ + log_.size() - 1; }

    // etcd's limitSize: the end of the longest prefix of positions [from, to) within max_size
    // bytes, but never fewer than one entry so a large entry cannot stall replication.
    std::size_t limit_size(std::size_t from, std::size_t to, std::uint64_t max_size) const {
        if (from == to) return to;
        // entry_size() is a fixed header plus the payload: sized without building entries.
        const std::uint64_t header = entry_size(entry{});
        std::uint64_t size = header + log_.data(from).size();
        std::size_t p = from + 1;
        for (; p < to; ++p) {
            size += header + log_.data(p).size();
            if (size > max_size) break;
        }
        return p;
    }

    // Makes the log the dummy entry alone, at index/term.
    void reset(index_t index, term_t term) {
        const entry dummy{term, index, entry_type::normal, {}};
        log_.assign_from(0, std::span(&dummy, 1));
        offset_ = index;
    }

    raftpp::hard_state hard_state_;
    raftpp::snapshot snapshot_;
    detail::chunked_log log_;  // never empty: log_[0] is the dummy entry
    index_t offset_ = 0;       // index of the dummy entry
};

static_assert(storage<memory_storage>);

}  // namespace raftpp
