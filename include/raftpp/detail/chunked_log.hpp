// The container behind memory_storage: a log of entries kept in fixed-size chunks.
// A vector that doubles copies the whole log and touches fresh memory twice its size, and
// where a first touch costs a page fault (microseconds under a hypervisor) that dominates an
// in-memory Raft loop. Chunks never move what they hold: appending fills the last chunk,
// truncating and compacting free whole chunks, and one freed chunk is kept to serve the next
// append, so a log that is compacted as it grows stops allocating.
// Fresh bytes per entry are kept low too: a chunk holds 9 bytes per entry (payload reference
// and type, column-wise; the index is implied by the position), against entry's 32. Terms are
// kept apart as runs (a term and the position it starts at): a log's terms change only with
// leaders, so steady appends add nothing there.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

// Positions 0 .. size() - 1; the caller maps them to log indices. ChunkShift is a parameter
// only so that tests can cross chunk boundaries every few entries.
template <unsigned ChunkShift>
class basic_chunked_log {
public:
    static constexpr std::size_t chunk_entries = std::size_t{1} << ChunkShift;

    basic_chunked_log() noexcept = default;
    basic_chunked_log(const basic_chunked_log& o) {
        reserve(o.size_, o.runs_.size());
        for (std::size_t p = 0; p < o.size_; ++p) construct(p, o.term(p), o.type(p), o.data(p));
        size_ = o.size_;
    }
    basic_chunked_log(basic_chunked_log&& o) noexcept { swap(o); }
    basic_chunked_log& operator=(const basic_chunked_log& o) {
        if (this != &o) basic_chunked_log(o).swap(*this);
        return *this;
    }
    basic_chunked_log& operator=(basic_chunked_log&& o) noexcept {
        basic_chunked_log(std::move(o)).swap(*this);
        return *this;
    }
    ~basic_chunked_log() { destroy(0, size_); }

    void swap(basic_chunked_log& o) noexcept {
        chunks_.swap(o.chunks_);
        spare_.swap(o.spare_);
        runs_.swap(o.runs_);
        std::swap(head_, o.head_);
        std::swap(size_, o.size_);
        std::swap(base_, o.base_);
    }

    std::size_t size() const noexcept { return size_; }
    term_t term(std::size_t p) const noexcept {
        const std::uint64_t a = base_ + p;
        if (a >= runs_.back().start) return runs_.back().term;  // mostly: the current leader's
        const auto it = std::upper_bound(runs_.begin(), runs_.end(), a,
                                         [](std::uint64_t x, const run& r) { return x < r.start; });
        return std::prev(it)->term;
    }
    entry_type type(std::size_t p) const noexcept {
        const auto [c, k] = at(p);
        return c->types[k];
    }
    const buffer& data(std::size_t p) const noexcept {
        const auto [c, k] = at(p);
        return *c->payload(k);
    }
    entry get(std::size_t p, index_t index) const {
        const auto [c, k] = at(p);
        return entry{term(p), index, c->types[k], *c->payload(k)};
    }

    // Replaces positions [p, size()) with es (their indices are not kept). Either allocates
    // what it needs first and then cannot fail, or throws having changed nothing.
    void assign_from(std::size_t p, std::span<const entry> es) {
        RAFTPP_ASSERT(p <= size_, "chunked_log: assign past the end");
        if (p == size_ && es.size() == 1) [[likely]] {
            // One entry at the end, the steady state of a replicating log: nothing to drop.
            const term_t t = es[0].term;
            const bool new_run = runs_.empty() || runs_.back().term != t;
            reserve(p + 1, runs_.size() + (new_run ? 1 : 0));
            construct(p, t, es[0].type, es[0].data);
            size_ = p + 1;
            return;
        }
        std::size_t new_runs = 0;  // at most: truncation may remove some
        for (std::size_t k = 0; k < es.size(); ++k) {
            const term_t before = k > 0 ? es[k - 1].term : p > 0 ? term(p - 1) : es[0].term + 1;
            if (es[k].term != before) ++new_runs;
        }
        reserve(p + es.size(), runs_.size() + new_runs);
        destroy(p, size_);
        drop_runs_from(p);
        for (std::size_t k = 0; k < es.size(); ++k)
            construct(p + k, es[k].term, es[k].type, es[k].data);
        size_ = p + es.size();
        trim();
    }

    // Keeps positions [0, n).
    void truncate(std::size_t n) noexcept {
        if (n >= size_) return;
        destroy(n, size_);
        drop_runs_from(n);
        size_ = n;
        trim();
    }

    // Drops positions [0, n); position n becomes 0.
    void drop_front(std::size_t n) noexcept {
        RAFTPP_ASSERT(n <= size_, "chunked_log: dropping past the end");
        if (n == 0) return;
        if (n == size_) return truncate(0);
        destroy(0, n);
        head_ += n;
        size_ -= n;
        base_ += n;
        const std::size_t freed = head_ >> ChunkShift;
        for (std::size_t k = 0; k < freed; ++k) release(std::move(chunks_[k]));
        chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(freed));
        head_ &= chunk_entries - 1;
        // Keeps the run that covers the new position 0 and those after it.
        const auto live = std::upper_bound(runs_.begin(), runs_.end(), base_,
                                           [](std::uint64_t x, const run& r) { return x < r.start; });
        runs_.erase(runs_.begin(), std::prev(live));
    }

    // Keeps the term of position p and makes it a normal entry without payload (the dummy
    // entry of memory_storage, whose payload was compacted).
    void clear_payload(std::size_t p) noexcept {
        const auto [c, k] = at(p);
        c->types[k] = entry_type::normal;
        *c->payload(k) = buffer();
    }

    // Chunks allocated, including the spare, and term runs: for tests of the allocation
    // behaviour and of the bookkeeping.
    std::size_t chunks_held() const noexcept { return chunks_.size() + (spare_ ? 1 : 0); }
    std::size_t term_runs() const noexcept { return runs_.size(); }

private:
    // Raw storage: nothing is written when a chunk is allocated, so pages are first touched
    // by the entries that land on them; payload slots are constructed and destroyed one by one.
    struct chunk {
        alignas(buffer) std::byte payloads[chunk_entries * sizeof(buffer)];
        entry_type types[chunk_entries];

        buffer* payload(std::size_t k) noexcept {
            return std::launder(reinterpret_cast<buffer*>(payloads + k * sizeof(buffer)));
        }
    };
    // Entries from `start` (counted from the first position the log ever had, so that
    // dropping the front does not renumber runs) up to the next run's start have `term`.
    struct run {
        std::uint64_t start;
        term_t term;
    };

    std::pair<chunk*, std::size_t> at(std::size_t p) const noexcept {
        const std::size_t slot = head_ + p;
        return {chunks_[slot >> ChunkShift].get(), slot & (chunk_entries - 1)};
    }

    // Writes the entry at position p, the end of the log: reserve() made room for it.
    void construct(std::size_t p, term_t t, entry_type ty, const buffer& d) noexcept {
        const auto [c, k] = at(p);
        c->types[k] = ty;
        ::new (static_cast<void*>(c->payloads + k * sizeof(buffer))) buffer(d);
        if (runs_.empty() || runs_.back().term != t) runs_.push_back(run{base_ + p, t});
    }
    void destroy(std::size_t from, std::size_t to) noexcept {
        for (std::size_t p = from; p < to; ++p) {
            const auto [c, k] = at(p);
            std::destroy_at(c->payload(k));
        }
    }
    // Forgets the runs that start at position p or later; all of them for 0 (the first may
    // start before position 0, in what was dropped from the front).
    void drop_runs_from(std::size_t p) noexcept {
        if (p == 0) return runs_.clear();
        while (runs_.back().start >= base_ + p) runs_.pop_back();
    }

    // Makes room for positions [0, n) and for `runs` term runs without touching the entries.
    void reserve(std::size_t n, std::size_t runs) {
        // Grown geometrically, as push_back would, but up front so that nothing can throw once
        // entries are being written.
        if (runs > runs_.capacity()) runs_.reserve(std::max(runs, 2 * runs_.capacity()));
        const std::size_t need = chunks_for(n);
        if (need <= chunks_.size()) return;
        if (need > chunks_.capacity()) chunks_.reserve(std::max(need, 2 * chunks_.capacity()));
        while (chunks_.size() < need) {
            chunks_.push_back(spare_ ? std::move(spare_) : std::make_unique_for_overwrite<chunk>());
        }
    }
    // Frees the chunks past the last position (all of them when the log is empty).
    void trim() noexcept {
        const std::size_t need = chunks_for(size_);
        while (chunks_.size() > need) {
            release(std::move(chunks_.back()));
            chunks_.pop_back();
        }
        if (size_ == 0) head_ = base_ = 0;
    }
    std::size_t chunks_for(std::size_t n) const noexcept {
        return n == 0 ? 0 : ((head_ + n - 1) >> ChunkShift) + 1;
    }
    void release(std::unique_ptr<chunk> c) noexcept {
        if (!spare_) spare_ = std::move(c);
    }

    std::vector<std::unique_ptr<chunk>> chunks_;  // holds positions [0, size_) from slot head_
    std::unique_ptr<chunk> spare_;                // a freed chunk kept for the next append
    std::vector<run> runs_;                       // ascending; the first covers position 0
    std::size_t head_ = 0;                        // slot of position 0 in chunks_[0]
    std::size_t size_ = 0;
    std::uint64_t base_ = 0;                      // run numbering of position 0
};

// A read-only view of a chunked log as entries, the first at index `first`: built on access
// (the payload is shared, not copied). Valid until the log changes.
template <class Log>
class entry_log_view {
public:
    class iterator {
    public:
        using iterator_concept = std::random_access_iterator_tag;
        // Dereferencing yields a value, so to the pre-C++20 traits this is an input iterator.
        using iterator_category = std::input_iterator_tag;
        using value_type = entry;
        using difference_type = std::ptrdiff_t;
        using reference = entry;

        iterator() = default;
        entry operator*() const { return log_->get(pos_, first_ + pos_); }
        entry operator[](difference_type d) const { return *(*this + d); }
        iterator& operator++() noexcept { return *this += 1; }
        iterator operator++(int) noexcept { return std::exchange(*this, *this + 1); }
        iterator& operator--() noexcept { return *this -= 1; }
        iterator operator--(int) noexcept { return std::exchange(*this, *this - 1); }
        iterator& operator+=(difference_type d) noexcept {
            pos_ = static_cast<std::size_t>(static_cast<difference_type>(pos_) + d);
            return *this;
        }
        iterator& operator-=(difference_type d) noexcept { return *this += -d; }
        friend iterator operator+(iterator it, difference_type d) noexcept { return it += d; }
        friend iterator operator+(difference_type d, iterator it) noexcept { return it += d; }
        friend iterator operator-(iterator it, difference_type d) noexcept { return it -= d; }
        friend difference_type operator-(const iterator& a, const iterator& b) noexcept {
            return static_cast<difference_type>(a.pos_) - static_cast<difference_type>(b.pos_);
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.pos_ == b.pos_;
        }
        friend auto operator<=>(const iterator& a, const iterator& b) noexcept {
            return a.pos_ <=> b.pos_;
        }

    private:
        friend class entry_log_view;
        iterator(const Log* log, index_t first, std::size_t pos) noexcept
            : log_(log), first_(first), pos_(pos) {}
        const Log* log_ = nullptr;
        index_t first_ = 0;
        std::size_t pos_ = 0;
    };

    entry_log_view(const Log& log, index_t first) noexcept : log_(&log), first_(first) {}

    std::size_t size() const noexcept { return log_->size(); }
    bool empty() const noexcept { return size() == 0; }
    entry operator[](std::size_t k) const { return log_->get(k, first_ + k); }
    entry front() const { return (*this)[0]; }
    entry back() const { return (*this)[size() - 1]; }
    iterator begin() const noexcept { return {log_, first_, 0}; }
    iterator end() const noexcept { return {log_, first_, size()}; }
    std::vector<entry> to_vector() const {
        std::vector<entry> out;
        out.reserve(size());
        for (std::size_t k = 0; k < size(); ++k) out.push_back((*this)[k]);
        return out;
    }

    friend bool operator==(const entry_log_view& a, const std::vector<entry>& b) {
        return a.equals(b);
    }
    friend bool operator==(const entry_log_view& a, const entry_log_view& b) { return a.equals(b); }

private:
    // Compares without building this side's entries (no reference count traffic).
    template <class Entries>  // std::vector<entry> or entry_log_view
    bool equals(const Entries& b) const {
        if (size() != b.size()) return false;
        for (std::size_t k = 0; k < b.size(); ++k) {
            decltype(auto) e = b[k];  // a reference into a vector, a value from a view
            if (e.index != first_ + k || e.term != log_->term(k) || e.type != log_->type(k) ||
                e.data != log_->data(k))
                return false;
        }
        return true;
    }

    const Log* log_;
    index_t first_;
};

// memory_storage's chunks: 4096 entries, 36 KiB, so chunk allocations are one in thousands of
// entries while a small log (a test's) pins little.
using chunked_log = basic_chunked_log<12>;

}  // namespace raftpp::detail
