// Archetypes: the least a type can provide and still model one raftpp policy concept. Each
// models exactly one concept (tests/concepts_test.cpp checks that), and offers nothing the
// concept does not promise: no default constructor, no copies, const where the concept says
// const. A library template instantiated with them therefore cannot quietly rely on more
// than its concept states — if it does, the test stops compiling.
//
// The storage archetypes forward to a memory_storage they do not own, so they behave like a
// real storage while exposing only the concept's members. Transport and logger are
// move-only: raft holds them by value (see docs/concepts.md).
//
// Return types are exactly result<T>: the concepts refuse a storage returning a bare T (raft_log
// keeps storage's answers in `auto` variables and calls has_value() on them), and
// check_storage_reader<S>() names the member at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/concepts.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/transport.hpp>
#include <raftpp/types.hpp>

namespace archetypes {

// Models storage_reader only: the six const reads of etcd's Storage interface.
class storage_reader {
public:
    explicit storage_reader(const raftpp::memory_storage& backing) noexcept : s_(&backing) {}
    storage_reader(const storage_reader&) = delete;
    storage_reader& operator=(const storage_reader&) = delete;

    raftpp::result<raftpp::initial_state_t> initial_state() const { return s_->initial_state(); }
    raftpp::result<std::vector<raftpp::entry>> entries(raftpp::index_t lo, raftpp::index_t hi,
                                                       std::uint64_t max_size) const {
        return s_->entries(lo, hi, max_size);
    }
    raftpp::result<raftpp::term_t> term(raftpp::index_t i) const { return s_->term(i); }
    raftpp::result<raftpp::index_t> first_index() const { return s_->first_index(); }
    raftpp::result<raftpp::index_t> last_index() const { return s_->last_index(); }
    raftpp::result<raftpp::snapshot> snapshot() const { return s_->snapshot(); }

private:
    const raftpp::memory_storage* s_;
};

// Models storage_writer only: the three writes the ready cycle persists through.
class storage_writer {
public:
    explicit storage_writer(raftpp::memory_storage& backing) noexcept : s_(&backing) {}
    storage_writer(const storage_writer&) = delete;
    storage_writer& operator=(const storage_writer&) = delete;

    raftpp::result<void> append(std::span<const raftpp::entry> es) { return s_->append(es); }
    raftpp::result<void> set_hard_state(const raftpp::hard_state& hs) {
        return s_->set_hard_state(hs);
    }
    raftpp::result<void> apply_snapshot(const raftpp::snapshot& snap) {
        return s_->apply_snapshot(snap);
    }

private:
    raftpp::memory_storage* s_;
};

// Models storage (reader + writer) and nothing else: the two archetypes over one backing
// store. No optional abilities (entries_into), so the library's fallbacks are exercised.
class storage : public storage_reader, public storage_writer {
public:
    explicit storage(raftpp::memory_storage& backing) noexcept
        : storage_reader(backing), storage_writer(backing) {}
};

// Models transport only: send(message&&), nothing else. The messages land in a vector the
// test owns, so it can look at them.
class transport {
public:
    explicit transport(std::vector<raftpp::message>& sink) noexcept : sink_(&sink) {}
    transport(transport&&) noexcept = default;
    transport& operator=(transport&&) = delete;

    void send(raftpp::message&& m) { sink_->push_back(std::move(m)); }

private:
    std::vector<raftpp::message>* sink_;
};

// Models logger only: a run-time enabled() (not constexpr, not static) and write(). Lines go
// to a vector the test owns.
class logger {
public:
    logger(std::vector<std::string>& lines, raftpp::log_level min) noexcept
        : lines_(&lines), min_(min) {}
    logger(logger&&) noexcept = default;
    logger& operator=(logger&&) = delete;

    bool enabled(raftpp::log_level lv) const noexcept { return lv >= min_; }
    void write(raftpp::log_level, std::string_view text) { lines_->emplace_back(text); }

private:
    std::vector<std::string>* lines_;
    raftpp::log_level min_;
};

}  // namespace archetypes
