// raftpp::raft_log<Storage> — the Raft log as the core sees it (etcd's raftLog): the stable
// part in Storage (entries since its last snapshot) followed by detail::unstable (entries and
// possibly a snapshot not yet persisted), plus the committed and applied cursors.
// Invariants: applied <= committed <= last_index(); first_index() - 1 is the snapshot point,
// whose term the log still knows (Raft §5.3 needs it for the consistency check).
// Ranges are half-open, [lo, hi). Template bodies live in impl/raft_log.ipp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/concepts.hpp>
#include <raftpp/detail/unstable.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

// Not thread safe; driven from the thread that drives the raft core. Spans returned by
// unstable_entries() are invalidated by the next call that changes the log.
//
// Errors follow etcd 3.4: expected outcomes (a compacted index, an out-of-range request) are
// errc values; a storage that fails where etcd panics (first_index(), last_index(), an
// unavailable entry below last_index()) breaks an invariant and RAFTPP_ASSERTs.
template <storage_reader Storage>
class raft_log {
public:
    // Storage is referenced, not owned, and must outlive the log. The log starts where
    // storage's last snapshot left it: committed = applied = storage.first_index() - 1, and
    // unstable entries start after storage.last_index() (etcd's newLogWithSize).
    // max_next_entries_size bounds next_committed_entries() in bytes (by entry_size()).
    explicit raft_log(Storage& storage, std::uint64_t max_next_entries_size = no_limit);

    Storage& storage() noexcept { return *storage_; }
    const Storage& storage() const noexcept { return *storage_; }

    // The highest index known to be stored on a quorum (Raft §5.3).
    index_t committed() const noexcept { return committed_; }
    // The highest index the application has been told to apply. applied <= committed.
    index_t applied() const noexcept { return applied_; }
    std::uint64_t max_next_entries_size() const noexcept { return max_next_entries_size_; }
    const detail::unstable& unstable() const noexcept { return unstable_; }
    // The first n unstable entries are viewed by a ready handed out (raw_node's rd.entries):
    // until unpin_unstable(), changes to the log leave them where they are (see unstable).
    void pin_unstable(std::size_t n) noexcept { unstable_.pin(n); }
    void unpin_unstable() noexcept { unstable_.unpin(); }

    // The follower side of AppendEntries (Raft §5.3, Figure 2 receiver steps 2-5): if the
    // entry at `index` has term `log_term`, appends `ents` (which must be index + 1, index + 2,
    // ...), truncating from the first conflicting entry, commits up to min(committed, last new
    // index), and returns the last new index. std::nullopt if the log does not match.
    // A conflict with a committed entry asserts (etcd panics): Raft guarantees it never happens.
    std::optional<index_t> maybe_append(index_t index, term_t log_term, index_t committed,
                                        std::span<const entry> ents);
    // The same, moving what it appends out of ents (a received message's entries, which
    // nobody needs afterwards) instead of sharing each payload.
    std::optional<index_t> maybe_append_moved(index_t index, term_t log_term, index_t committed,
                                              std::span<entry> ents);

    // Appends to the unstable tail, truncating any entries from ents[0].index on. Returns the
    // new last index. ents[0].index - 1 must be >= committed() (committed entries are final).
    index_t append(std::span<const entry> ents);
    // append(), moving the entries out of ents.
    index_t append_moved(std::span<entry> ents);

    // The index of the first entry of `ents` whose term differs from ours at that index, or
    // that we do not have; 0 if we already have them all. ents must be contiguous.
    index_t find_conflict(std::span<const entry> ents) const;

    // A follower's rejection hint (etcd raft 3.5+): the largest index <= `index` whose term is
    // <= `term`, with that term, so the leader can skip a whole term of mismatching entries
    // per round trip (Raft §5.3, "the leader can decrement nextIndex ... by a term"). If the
    // term at an index is unknown (compacted, or past our log) that index is returned with
    // term 0. (0, 0) if nothing matches.
    std::pair<index_t, term_t> find_conflict_by_term(index_t index, term_t term) const;

    // The entries not yet persisted, for the ready cycle to write to storage.
    std::span<const entry> unstable_entries() const noexcept { return unstable_.entries; }

    // The committed entries to apply next: [max(applied + 1, first_index()), committed + 1),
    // at most max_size bytes but at least one entry. Empty if there are none. Entries below
    // first_index() were folded into a snapshot the application restores instead.
    std::vector<entry> next_committed_entries() const {
        return next_committed_entries(max_next_entries_size_);
    }
    std::vector<entry> next_committed_entries(std::uint64_t max_size) const;
    // The same, appended to `out` (which keeps its capacity across ready cycles).
    // With allow_unstable == false only entries already durable locally are returned (async
    // storage writes apply nothing that could still be lost in a crash).
    void next_committed_entries_into(std::vector<entry>& out, bool allow_unstable = true) const;
    // Whether next_committed_entries() would return anything, without copying entries.
    bool has_next_committed_entries(bool allow_unstable = true) const;

    // The pending (unstable) snapshot if there is one, else storage's latest.
    result<raftpp::snapshot> snapshot() const;

    // Inline: the core asks for these many times per message.
    [[gnu::always_inline]] index_t first_index() const {
        if (unstable_.snapshot) return unstable_.snapshot->metadata.index + 1;
        auto r = storage_->first_index();
        if (!r.has_value()) [[unlikely]] storage_failed("first_index", r.error());
        return *r;
    }
    [[gnu::always_inline]] index_t last_index() const {
        if (!unstable_.entries.empty()) return unstable_.offset + unstable_.entries.size() - 1;
        return stable_last_index();
    }
    term_t last_term() const;
    // last_index() when nothing is unstable.
    [[gnu::always_inline]] index_t stable_last_index() const {
        if (unstable_.snapshot) return unstable_.snapshot->metadata.index;
        auto r = storage_->last_index();
        if (!r.has_value()) [[unlikely]] storage_failed("last_index", r.error());
        return *r;
    }

    // The term of the entry at i. The valid range is [first_index() - 1, last_index()]:
    //   i < first_index() - 1  -> errc::compacted (etcd 3.4 returns 0; etcd 3.5+ ErrCompacted)
    //   i > last_index()       -> 0, not an error (as etcd 3.4)
    //   storage reports errc::compacted or errc::unavailable -> that error (as etcd)
    result<term_t> term(index_t i) const;

    // Entries [i, last_index() + 1), at most max_size bytes but at least one entry. Empty if
    // i > last_index(); errc::compacted if i < first_index().
    result<std::vector<entry>> entries(index_t i, std::uint64_t max_size) const;
    // entries(), appended to `out`; on error `out` is left as it was.
    std::error_code entries_into(index_t i, std::uint64_t max_size, std::vector<entry>& out) const;

    // Every entry from first_index() on; retries if a compaction races (etcd allEntries).
    // For tests and debugging.
    std::vector<entry> all_entries() const;

    // Entries [lo, hi), read from storage below unstable().offset and from the unstable tail
    // from there on, at most max_size bytes by entry_size() but at least one entry so a large
    // entry cannot stall replication. errc::compacted if lo < first_index();
    // errc::index_out_of_range if lo > hi or hi > last_index() + 1 (etcd panics on those).
    result<std::vector<entry>> slice(index_t lo, index_t hi, std::uint64_t max_size) const;
    // slice(), appended to `out`; on error `out` is left as it was. Uses the storage's
    // optional entries_into(lo, hi, max_size, out) when it has one, so a steady-state read
    // allocates nothing.
    std::error_code slice_into(index_t lo, index_t hi, std::uint64_t max_size,
                               std::vector<entry>& out) const;

    // Raft §5.4.1 election restriction: a log ending in (lasti, term) is at least as
    // up-to-date as ours if its last term is higher, or equal with a last index >= ours.
    bool is_up_to_date(index_t lasti, term_t term) const;

    // Whether the entry at i has term t (Raft §5.3 log matching).
    bool match_term(index_t i, term_t t) const;

    // Leader side: commits up to max_index if the entry there is from `term`, the leader's
    // current term (Raft §5.4.2: entries from older terms are committed only indirectly).
    // Returns whether committed() advanced.
    bool maybe_commit(index_t max_index, term_t term);

    // Raises committed() to to_commit; never lowers it. errc::index_out_of_range (log
    // unchanged) if to_commit > last_index(): etcd panics with "tocommit(N) is out of range
    // [lastIndex(M)]. Was the raft log corrupted, truncated, or lost?".
    result<void> commit_to(index_t to_commit);

    // The application has applied up to i. errc::index_out_of_range (log unchanged) unless
    // applied() <= i <= committed(); i == 0 is a no-op.
    result<void> applied_to(index_t i);

    // Storage has persisted entries up to (i, t) / the snapshot at i; see detail::unstable.
    void stable_to(index_t i, term_t t) { unstable_.stable_to(i, t); }
    void stable_snap_to(index_t i) noexcept { unstable_.stable_snap_to(i); }

    // Replaces the log with a snapshot received from the leader (Raft §7): everything up to
    // s.metadata.index is committed; the entries follow once storage has applied it.
    void restore(const raftpp::snapshot& s);

    // A term for logging and comparisons where a compacted index simply matches nothing:
    // the value, or 0 for errc::compacted. Any other error asserts, as in etcd.
    term_t zero_term_on_err_compacted(result<term_t> r) const;

private:
    // etcd's mustCheckOutOfBounds with errors for etcd's panics: first_index() <= lo <= hi <=
    // last_index() + 1.
    std::error_code check_out_of_bounds(index_t lo, index_t hi) const;
    // slice_into() for a non-empty [lo, hi) already known to be within the bounds.
    std::error_code slice_in_bounds(index_t lo, index_t hi, std::uint64_t max_size,
                                    std::vector<entry>& out) const;
    void append_unstable(index_t lo, index_t hi, std::uint64_t max_size, std::vector<entry>& out,
                         std::size_t base) const;
    template <class Entry>
    std::optional<index_t> maybe_append_impl(index_t index, term_t log_term, index_t committed,
                                             std::span<Entry> ents);
    template <class Entry>
    index_t append_impl(std::span<Entry> ents);
    // A storage that cannot say where its log starts or ends breaks an invariant (etcd panics).
    [[noreturn, gnu::cold, gnu::noinline]] static void storage_failed(const char* what,
                                                                      std::error_code ec) {
        std::fprintf(stderr, "raftpp: raft_log: storage.%s(): %s\n", what, ec.message().c_str());
        std::abort();
    }

    Storage* storage_;
    detail::unstable unstable_;
    index_t committed_ = 0;
    index_t applied_ = 0;
    std::uint64_t max_next_entries_size_;
};

}  // namespace raftpp

#include <raftpp/impl/raft_log.ipp>
