// raftpp::detail::unstable — the tail of the log not yet handed to storage (etcd's `unstable`):
// entries a leader proposed or a follower received, and possibly an incoming snapshot.
// Invariant: entries[i] has log position i + offset. offset may be below storage's last index;
// the next storage append must then truncate storage's log before writing these entries.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

struct unstable {
    // The incoming snapshot, until storage reports it persisted (stable_snap_to).
    std::optional<raftpp::snapshot> snapshot;
    // Entries not yet written to storage; entries[i] has log position i + offset.
    std::vector<entry> entries;
    index_t offset = 0;
    // Bookkeeping for shrink_entries_array(): consecutive stable_to() rounds that used less
    // than a quarter of the array.
    std::uint32_t underused_rounds = 0;
    // The first `pinned` entries are viewed by a ready that was handed out (rd.entries, a span)
    // and not yet advanced. Steps between ready() and advance() are legal (etcd's node loop
    // steps while the application persists), so a change that would move or destroy those
    // entries first retires the array, keeping it intact until unpin(): Go's slices get this
    // from the garbage collector.
    std::size_t pinned = 0;
    std::vector<std::vector<entry>> retired{};  // one array, or more if ready() came twice
    // Snapshots restored so far. An acknowledgement of entries handed out before a restore
    // must not mark anything stable: the entries now at those positions may carry the same
    // (index, term), but the pending snapshot will wipe the storage's copies when it is
    // persisted (the ABA case etcd fixed by acknowledging with a log mark).
    std::uint64_t restores = 0;

    // Capacity that is never given back (32 bytes an entry, 8 KiB in all).
    static constexpr std::size_t retained_capacity = 256;
    // A larger array is given back after this many underused rounds in a row.
    static constexpr std::uint32_t shrink_after_rounds = 16;

    // The first index of the log if a snapshot is pending: the entry after it.
    std::optional<index_t> maybe_first_index() const noexcept {
        if (snapshot) return snapshot->metadata.index + 1;
        return std::nullopt;
    }

    // The last index if there is an unstable entry or snapshot.
    std::optional<index_t> maybe_last_index() const noexcept {
        if (!entries.empty()) return offset + entries.size() - 1;
        if (snapshot) return snapshot->metadata.index;
        return std::nullopt;
    }

    // The term of the entry at i, if this tail knows it (an entry, or the snapshot's last one).
    std::optional<term_t> maybe_term(index_t i) const noexcept {
        if (i < offset) {
            if (snapshot && snapshot->metadata.index == i) return snapshot->metadata.term;
            return std::nullopt;
        }
        auto last = maybe_last_index();
        if (!last || i > *last) return std::nullopt;
        return entries[i - offset].term;
    }

    // Storage has persisted everything up to (i, t): drop that prefix. Ignored unless (i, t)
    // names an unstable entry: a stale acknowledgement of entries a new leader has since
    // replaced must not drop their replacements. An (i, t) matching the snapshot is ignored
    // too; stable_snap_to handles that.
    void stable_to(index_t i, term_t t) {
        auto gt = maybe_term(i);
        if (!gt || *gt != t || i < offset) return;
        // Erase in place: the remaining (usually no) entries move to the front and the array's
        // capacity is reused by the next append. Erasing destroys the entries, so their
        // payloads are released now; only the array itself is kept.
        const std::size_t used = entries.size();
        const auto n = static_cast<std::ptrdiff_t>(i + 1 - offset);
        entries.erase(entries.begin(), entries.begin() + n);
        offset = i + 1;
        shrink_entries_array(used);
    }

    void pin(std::size_t n) noexcept { pinned = n; }
    // The ready is done: what it viewed may change again.
    void unpin() noexcept {
        pinned = 0;
        if (!retired.empty()) retired.clear();
    }

    void stable_snap_to(index_t i) noexcept {
        if (snapshot && snapshot->metadata.index == i) snapshot.reset();
    }

    // The log is replaced by the snapshot: nothing before or after it survives.
    void restore(const raftpp::snapshot& s) {
        if (pinned != 0) retire(false);
        ++restores;
        offset = s.metadata.index + 1;
        entries.clear();
        if (entries.capacity() > retained_capacity) entries = std::vector<entry>();
        underused_rounds = 0;
        snapshot = s;
    }

    // Appends ents (contiguous, non-empty), first truncating whatever they overwrite; entries
    // from a newer leader win (Raft §5.3). ents must not alias `entries`.
    void truncate_and_append(std::span<const entry> ents) {
        if (ents.empty()) return;
        guard_pinned(ents.front().index, ents.size());
        truncate_before(ents.front().index);
        entries.insert(entries.end(), ents.begin(), ents.end());
    }
    // The same, moving the entries (their payloads) out of ents instead of sharing them.
    void truncate_and_append_moved(std::span<entry> ents) {
        if (ents.empty()) return;
        guard_pinned(ents.front().index, ents.size());
        truncate_before(ents.front().index);
        entries.insert(entries.end(), std::make_move_iterator(ents.begin()),
                       std::make_move_iterator(ents.end()));
    }

    // The entries in [lo, hi); requires offset <= lo <= hi <= offset + entries.size(). The span
    // is invalidated by any change to this object.
    std::span<const entry> slice(index_t lo, index_t hi) const noexcept {
        check_out_of_bounds(lo, hi);
        return std::span<const entry>(entries).subspan(lo - offset, hi - lo);
    }

    // etcd's mustCheckOutOfBounds: only raft_log calls slice, after checking its own bounds,
    // so a violation is a bug in raftpp.
    void check_out_of_bounds(index_t lo, index_t hi) const noexcept {
        RAFTPP_ASSERT(lo <= hi, "unstable.slice: lo > hi");
        RAFTPP_ASSERT(lo >= offset && hi <= offset + entries.size(),
                      "unstable.slice: [lo, hi) out of bounds [offset, offset + size]");
    }

private:
    // Before appending n entries from index `after`: retire the array if that would drop a
    // pinned entry or reallocate under the pinned ones.
    void guard_pinned(index_t after, std::size_t n) {
        if (pinned == 0) [[likely]] return;
        const bool truncates = after < offset + pinned;
        const std::size_t kept = truncates ? (after > offset ? after - offset : 0) : entries.size();
        if (truncates || kept + n > entries.capacity()) retire(true);
    }
    // Moves the array aside, intact, for the ready that views it; the log goes on with a copy
    // (or nothing, when `keep` is false because everything is about to be replaced).
    void retire(bool keep) {
        std::vector<entry> copy;
        if (keep) copy = entries;
        retired.push_back(std::move(entries));
        entries = std::move(copy);
        pinned = 0;
    }

    // Drops the entries from index `after` on, so that an entry at `after` can be appended.
    void truncate_before(index_t after) {
        if (after == offset + entries.size()) {
            // The next index: a plain append.
        } else if (after <= offset) {
            // The log is truncated to before our whole tail: replace it.
            offset = after;
            entries.clear();
        } else {
            // Keep [offset, after), then append.
            RAFTPP_ASSERT(after < offset + entries.size(),
                          "unstable: appended entries leave a gap after the last entry");
            entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(after - offset),
                          entries.end());
        }
    }

    // etcd's shrinkEntriesArray, with hysteresis: etcd drops an empty array after every
    // stable_to, which would make every round of a steady stream of batches allocate. Here an
    // array up to retained_capacity is always kept, and a larger one is given back only after
    // shrink_after_rounds rounds in a row used (`used`: the size before stable_to) less than a
    // quarter of it, e.g. once a follower has caught up after a burst.
    void shrink_entries_array(std::size_t used) {
        if (entries.capacity() <= retained_capacity || used * 4 >= entries.capacity()) {
            underused_rounds = 0;
            return;
        }
        if (++underused_rounds < shrink_after_rounds) return;
        underused_rounds = 0;
        std::vector<entry> smaller;
        smaller.reserve(std::max(entries.size(), retained_capacity));
        std::move(entries.begin(), entries.end(), std::back_inserter(smaller));
        entries.swap(smaller);
    }
};

}  // namespace raftpp::detail
