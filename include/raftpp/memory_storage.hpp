// raftpp::memory_storage — an in-memory storage (etcd's MemoryStorage), for tests and for
// applications that keep their own durable copy of the log.
// Invariant: ents_[0] is a dummy entry holding the index and term of the last compacted entry
// (the snapshot point, 0/0 when fresh), so term() can answer for first_index() - 1; ents_[i]
// has log position i + ents_[0].index.
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
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

class memory_storage {
public:
    // Starts with the dummy entry {term 0, index 0}: an empty log whose first index is 1.
    memory_storage() { ents_.emplace_back(); }

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
        const index_t off = offset();
        if (lo <= off) return errc::compacted;
        if (hi > last() + 1 || lo > hi) return errc::index_out_of_range;
        if (ents_.size() == 1) return errc::unavailable;
        auto first = ents_.begin() + static_cast<std::ptrdiff_t>(lo - off);
        auto end = ents_.begin() + static_cast<std::ptrdiff_t>(hi - off);
        out.insert(out.end(), first, limit_size(first, end, max_size));
        return {};
    }

    // The dummy entry keeps the term of first_index() - 1 for the log matching check
    // (Raft §5.3), so i == offset is answerable even though its entry is gone.
    result<term_t> term(index_t i) const {
        const index_t off = offset();
        if (i < off) return errc::compacted;
        if (i - off >= ents_.size()) return errc::unavailable;
        return ents_[i - off].term;
    }

    result<index_t> first_index() const { return offset() + 1; }
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
        ents_.clear();  // keeps the capacity for the entries that follow
        ents_.push_back(entry{snap.metadata.term, snap.metadata.index, entry_type::normal, {}});
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
        const index_t first = offset() + 1;
        if (es.back().index < first) return {};  // all of it is compacted already
        if (first > es.front().index) es = es.subspan(first - es.front().index);

        const index_t at = es.front().index - offset();  // position in ents_ of es[0]
        if (at > ents_.size()) return errc::index_out_of_range;
        ents_.erase(ents_.begin() + static_cast<std::ptrdiff_t>(at), ents_.end());
        const std::size_t need = ents_.size() + es.size();
        // Grow geometrically ourselves: a range insert may reserve exactly what it needs.
        if (need > ents_.capacity()) ents_.reserve(std::max(need, 2 * ents_.capacity()));
        ents_.insert(ents_.end(), es.begin(), es.end());
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
        if (i < offset()) return errc::compacted;  // etcd indexes out of bounds here
        snapshot_.metadata.index = i;
        snapshot_.metadata.term = ents_[i - offset()].term;
        if (cs != nullptr) snapshot_.metadata.conf_state = *cs;
        snapshot_.data = std::move(data);
        return snapshot_;
    }

    // Discards the entries before compact_index; compact_index becomes the dummy entry. The
    // application must not compact past what it has applied. Erases in place: no allocation.
    result<void> compact(index_t compact_index) {
        const index_t off = offset();
        if (compact_index <= off) return errc::compacted;
        if (compact_index > last()) return errc::index_out_of_range;
        const auto dummy = static_cast<std::ptrdiff_t>(compact_index - off);
        ents_.erase(ents_.begin(), ents_.begin() + dummy);
        // Only index and term of the dummy are meaningful; drop the payload's reference.
        ents_.front().type = entry_type::normal;
        ents_.front().data = buffer();
        return {};
    }

    // Introspection for tests and applications.
    const raftpp::hard_state& hard_state() const noexcept { return hard_state_; }
    // The log including the dummy entry at ents_[0].
    const std::vector<entry>& raw_entries() const noexcept { return ents_; }

private:
    index_t offset() const noexcept { return ents_.front().index; }
    index_t last() const noexcept { return ents_.front().index + ents_.size() - 1; }

    // etcd's limitSize: the end of the longest prefix of [first, end) within max_size bytes,
    // but never fewer than one entry so a large entry cannot stall replication.
    static std::vector<entry>::const_iterator limit_size(std::vector<entry>::const_iterator first,
                                                         std::vector<entry>::const_iterator end,
                                                         std::uint64_t max_size) noexcept {
        if (first == end) return end;
        std::uint64_t size = entry_size(*first);
        auto it = first + 1;
        for (; it != end; ++it) {
            size += entry_size(*it);
            if (size > max_size) break;
        }
        return it;
    }

    raftpp::hard_state hard_state_;
    raftpp::snapshot snapshot_;
    std::vector<entry> ents_;  // never empty: ents_[0] is the dummy entry
};

static_assert(storage<memory_storage>);

}  // namespace raftpp
