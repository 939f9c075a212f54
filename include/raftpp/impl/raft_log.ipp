// Template bodies of raftpp::raft_log (declared and documented in raft_log.hpp). Ported from
// etcd raft 3.4 log.go; find_conflict_by_term from etcd raft 3.5+.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <raftpp/logger.hpp>
#include <raftpp/raft_log.hpp>

namespace raftpp {

template <storage_reader Storage>
raft_log<Storage>::raft_log(Storage& storage, std::uint64_t max_next_entries_size)
    : storage_(&storage), max_next_entries_size_(max_next_entries_size) {
    auto first = storage_->first_index();
    RAFTPP_ASSERT(first.has_value(),
                  detail::concat("raft_log: storage.first_index(): ", first.error()).c_str());
    auto last = storage_->last_index();
    RAFTPP_ASSERT(last.has_value(),
                  detail::concat("raft_log: storage.last_index(): ", last.error()).c_str());
    unstable_.offset = *last + 1;
    // Everything up to the last compaction was committed and applied before it was compacted.
    committed_ = *first - 1;
    applied_ = *first - 1;
}

template <storage_reader Storage>
std::optional<index_t> raft_log<Storage>::maybe_append(index_t index, term_t log_term,
                                                       index_t committed,
                                                       std::span<const entry> ents) {
    return maybe_append_impl(index, log_term, committed, ents);
}

template <storage_reader Storage>
std::optional<index_t> raft_log<Storage>::maybe_append_moved(index_t index, term_t log_term,
                                                             index_t committed,
                                                             std::span<entry> ents) {
    return maybe_append_impl(index, log_term, committed, ents);
}

template <storage_reader Storage>
template <class Entry>
std::optional<index_t> raft_log<Storage>::maybe_append_impl(index_t index, term_t log_term,
                                                            index_t committed,
                                                            std::span<Entry> ents) {
    if (!match_term(index, log_term)) return std::nullopt;
    // The subspan arithmetic below relies on ents being index + 1 .. index + ents.size();
    // the raft core rejects malformed messages before they get here.
    RAFTPP_ASSERT(ents.empty() || (ents.front().index == index + 1 &&
                                   ents.back().index == index + ents.size()),
                  "maybe_append: entries must follow index contiguously");
    const index_t last_new = index + ents.size();
    const index_t ci = find_conflict(ents);
    if (ci != 0) {
        RAFTPP_ASSERT(ci > committed_,
                      detail::concat("entry ", ci, " conflict with committed entry [committed(",
                                     committed_, ")]")
                          .c_str());
        append_impl(ents.subspan(ci - (index + 1)));
    }
    // Only what this message proves we hold can be committed: the leader's commit index may
    // be past entries we have not received yet.
    auto r = commit_to(std::min(committed, last_new));
    RAFTPP_ASSERT(r.has_value(), "maybe_append: last new index is past last_index()");
    return last_new;
}

template <storage_reader Storage>
index_t raft_log<Storage>::append(std::span<const entry> ents) {
    return append_impl(ents);
}

template <storage_reader Storage>
index_t raft_log<Storage>::append_moved(std::span<entry> ents) {
    return append_impl(ents);
}

template <storage_reader Storage>
template <class Entry>
index_t raft_log<Storage>::append_impl(std::span<Entry> ents) {
    if (ents.empty()) return last_index();
    // Written as index > committed so that an index of 0 cannot wrap around.
    RAFTPP_ASSERT(ents.front().index > committed_,
                  detail::concat("after(", ents.front().index - 1,
                                 ") is out of range [committed(", committed_, ")]")
                      .c_str());
    if constexpr (std::is_const_v<Entry>) unstable_.truncate_and_append(ents);
    else unstable_.truncate_and_append_moved(ents);
    return last_index();
}

template <storage_reader Storage>
index_t raft_log<Storage>::find_conflict(std::span<const entry> ents) const {
    for (const entry& e : ents) {
        if (!match_term(e.index, e.term)) return e.index;
    }
    return 0;
}

template <storage_reader Storage>
std::pair<index_t, term_t> raft_log<Storage>::find_conflict_by_term(index_t index,
                                                                   term_t term) const {
    for (; index > 0; --index) {
        // An unknown term (compacted) may still match: assume it does and let the leader
        // probe from there.
        auto ours = this->term(index);
        if (!ours) return {index, 0};
        if (*ours <= term) return {index, *ours};
    }
    return {0, 0};
}

template <storage_reader Storage>
std::vector<entry> raft_log<Storage>::next_committed_entries(std::uint64_t max_size) const {
    const index_t off = std::max(applied_ + 1, first_index());
    if (committed_ + 1 <= off) return {};
    auto ents = slice(off, committed_ + 1, max_size);
    RAFTPP_ASSERT(ents.has_value(),
                  detail::concat("unexpected error when getting unapplied entries: ", ents.error())
                      .c_str());
    return std::move(ents).value();
}

template <storage_reader Storage>
void raft_log<Storage>::next_committed_entries_into(std::vector<entry>& out,
                                                    bool allow_unstable) const {
    const index_t off = std::max(applied_ + 1, first_index());
    const index_t hi = allow_unstable ? committed_ : std::min(committed_, unstable_.offset - 1);
    if (hi + 1 <= off) return;
    // [off, hi] lies within [first_index(), last_index()]: no need to ask storage again.
    auto ec = slice_in_bounds(off, hi + 1, max_next_entries_size_, out);
    RAFTPP_ASSERT(!ec, detail::concat("unexpected error when getting unapplied entries: ", ec)
                           .c_str());
}

template <storage_reader Storage>
bool raft_log<Storage>::has_next_committed_entries(bool allow_unstable) const {
    const index_t off = std::max(applied_ + 1, first_index());
    const index_t hi = allow_unstable ? committed_ : std::min(committed_, unstable_.offset - 1);
    return hi + 1 > off;
}

template <storage_reader Storage>
result<raftpp::snapshot> raft_log<Storage>::snapshot() const {
    if (unstable_.snapshot) return *unstable_.snapshot;
    return storage_->snapshot();
}

template <storage_reader Storage>
term_t raft_log<Storage>::last_term() const {
    auto t = term(last_index());
    RAFTPP_ASSERT(t.has_value(),
                  detail::concat("unexpected error when getting the last term: ", t.error())
                      .c_str());
    return *t;
}

template <storage_reader Storage>
result<term_t> raft_log<Storage>::term(index_t i) const {
    // The common reads first: an unstable entry, or, with no snapshot pending, one below the
    // unstable tail that the storage holds; both at or above first_index() - 1 (the storage
    // may have been compacted past unstable entries it holds too). Errors and edges take the
    // full path below.
    const index_t offset = unstable_.offset;
    if (i >= offset) {
        if (i - offset < unstable_.entries.size() && i + 1 >= first_index())
            return unstable_.entries[i - offset].term;
    } else if (!unstable_.snapshot) {
        auto t = storage_->term(i);
        if (t.has_value() && i + 1 >= first_index()) return t;
    }
    // first_index() - 1 is the snapshot point (storage's dummy entry or the unstable
    // snapshot); its term is known, the terms before it are not.
    const index_t dummy = first_index() - 1;
    if (i < dummy) return errc::compacted;
    if (i > last_index()) return term_t{0};
    if (auto t = unstable_.maybe_term(i)) return *t;
    auto t = storage_->term(i);
    if (t.has_value() || t.error() == errc::compacted || t.error() == errc::unavailable) return t;
    RAFTPP_ASSERT(false, detail::concat("raft_log: storage.term(", i, "): ", t.error()).c_str());
    return t.error();
}

template <storage_reader Storage>
result<std::vector<entry>> raft_log<Storage>::entries(index_t i, std::uint64_t max_size) const {
    const index_t last = last_index();
    if (i > last) return std::vector<entry>{};
    return slice(i, last + 1, max_size);
}

template <storage_reader Storage>
std::error_code raft_log<Storage>::entries_into(index_t i, std::uint64_t max_size,
                                                std::vector<entry>& out) const {
    const index_t last = last_index();
    if (i > last) return {};
    return slice_into(i, last + 1, max_size, out);
}

template <storage_reader Storage>
std::vector<entry> raft_log<Storage>::all_entries() const {
    for (;;) {
        auto ents = entries(first_index(), no_limit);
        if (ents.has_value()) return std::move(ents).value();
        // Storage was compacted between first_index() and the read: read again.
        RAFTPP_ASSERT(ents.error() == errc::compacted,
                      detail::concat("all_entries: ", ents.error()).c_str());
    }
}

template <storage_reader Storage>
result<std::vector<entry>> raft_log<Storage>::slice(index_t lo, index_t hi,
                                                    std::uint64_t max_size) const {
    std::vector<entry> ents;
    if (auto ec = slice_into(lo, hi, max_size, ents)) return ec;
    return ents;
}

template <storage_reader Storage>
std::error_code raft_log<Storage>::slice_into(index_t lo, index_t hi, std::uint64_t max_size,
                                              std::vector<entry>& out) const {
    const index_t offset = unstable_.offset;
    const std::size_t base = out.size();
    // The leader's hot path (new entries for a follower) reads the unstable tail only: no
    // storage bounds to ask for.
    if (lo >= offset && lo < hi && hi <= offset + unstable_.entries.size()) {
        // One entry (a new proposal for a follower) always fits: no size to add up.
        if (hi == lo + 1) out.push_back(unstable_.entries[lo - offset]);
        else append_unstable(lo, hi, max_size, out, base);
        return {};
    }
    if (auto ec = check_out_of_bounds(lo, hi)) return ec;
    if (lo == hi) return {};
    return slice_in_bounds(lo, hi, max_size, out);
}

template <storage_reader Storage>
std::error_code raft_log<Storage>::slice_in_bounds(index_t lo, index_t hi, std::uint64_t max_size,
                                                   std::vector<entry>& out) const {
    const index_t offset = unstable_.offset;
    const std::size_t base = out.size();
    if (lo < offset) {
        // [lo, min(hi, offset)) is stable.
        const index_t stored_hi = std::min(hi, offset);
        std::error_code ec;
        if constexpr (requires { storage_->entries_into(lo, stored_hi, max_size, out); }) {
            auto r = storage_->entries_into(lo, stored_hi, max_size, out);
            if (!r) ec = r.error();
        } else {
            auto stored = storage_->entries(lo, stored_hi, max_size);
            if (!stored) {
                ec = stored.error();
            } else if (out.empty() && out.capacity() < stored->size()) {
                out = std::move(stored).value();  // take storage's array: no second allocation
            } else {
                out.insert(out.end(), std::make_move_iterator(stored->begin()),
                           std::make_move_iterator(stored->end()));
            }
        }
        if (ec) {
            out.resize(base);
            if (ec == errc::compacted) return ec;
            // A range inside [first_index(), last_index()] that storage does not have means
            // storage lost entries the log was told are stable.
            RAFTPP_ASSERT(false, detail::concat("entries[", lo, ",", stored_hi,
                                                ") is unavailable from storage: ", ec)
                                     .c_str());
        }
        // Storage stopped early at the size limit: the unstable part cannot fit either.
        if (out.size() - base < stored_hi - lo) return {};
    }
    if (hi > offset) append_unstable(std::max(lo, offset), hi, max_size, out, base);
    return {};
}

// Copies only the prefix of the unstable [lo, hi) that fits, applying etcd's limitSize to the
// slice begun at out[base]: the first entry always, then while the total is <= max_size.
template <storage_reader Storage>
void raft_log<Storage>::append_unstable(index_t lo, index_t hi, std::uint64_t max_size,
                                        std::vector<entry>& out, std::size_t base) const {
    const auto tail = unstable_.slice(lo, hi);
    std::uint64_t size = 0;
    for (std::size_t i = base; i < out.size(); ++i) size += entry_size(out[i]);
    const bool none_yet = out.size() == base;
    std::size_t n = 0;
    for (; n < tail.size(); ++n) {
        size += entry_size(tail[n]);
        if (size > max_size && !(none_yet && n == 0)) break;
    }
    if (n == 1) out.push_back(tail[0]);  // one new proposal: most calls
    else out.insert(out.end(), tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(n));
}

template <storage_reader Storage>
std::error_code raft_log<Storage>::check_out_of_bounds(index_t lo, index_t hi) const {
    if (lo > hi) return errc::index_out_of_range;
    if (lo < first_index()) return errc::compacted;
    if (hi > last_index() + 1) return errc::index_out_of_range;
    return {};
}

template <storage_reader Storage>
bool raft_log<Storage>::is_up_to_date(index_t lasti, term_t term) const {
    const term_t our_term = last_term();
    return term > our_term || (term == our_term && lasti >= last_index());
}

template <storage_reader Storage>
bool raft_log<Storage>::match_term(index_t i, term_t t) const {
    // term() reports 0 past the last index (etcd 3.4): there is no entry there to match.
    if (i > last_index()) return false;
    auto ours = term(i);
    return ours.has_value() && *ours == t;
}

template <storage_reader Storage>
bool raft_log<Storage>::maybe_commit(index_t max_index, term_t term) {
    if (max_index > committed_ && zero_term_on_err_compacted(this->term(max_index)) == term) {
        auto r = commit_to(max_index);
        RAFTPP_ASSERT(r.has_value(),
                      detail::concat("maybe_commit: tocommit(", max_index,
                                     ") is out of range [lastIndex(", last_index(), ")]")
                          .c_str());
        return true;
    }
    return false;
}

template <storage_reader Storage>
result<void> raft_log<Storage>::commit_to(index_t to_commit) {
    if (committed_ < to_commit) {  // never decrease commit
        if (last_index() < to_commit) return errc::index_out_of_range;
        committed_ = to_commit;
    }
    return {};
}

template <storage_reader Storage>
result<void> raft_log<Storage>::applied_to(index_t i) {
    if (i == 0) return {};
    if (committed_ < i || i < applied_) return errc::index_out_of_range;
    applied_ = i;
    return {};
}

template <storage_reader Storage>
void raft_log<Storage>::restore(const raftpp::snapshot& s) {
    committed_ = s.metadata.index;
    unstable_.restore(s);
}

template <storage_reader Storage>
term_t raft_log<Storage>::zero_term_on_err_compacted(result<term_t> r) const {
    if (r.has_value()) return *r;
    RAFTPP_ASSERT(r.error() == errc::compacted,
                  detail::concat("unexpected error: ", r.error()).c_str());
    return 0;
}

}  // namespace raftpp
