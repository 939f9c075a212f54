// The policies a user plugs into raftpp, as C++20 concepts. Requirements tables with the
// semantics of each expression live in docs/concepts.md.
//   storage_reader — what raft_log reads (etcd's Storage interface)
//   storage_writer — what the ready cycle persists through (append, set_hard_state, ...)
// The transport and logger concepts live beside their default implementations.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

// What initial_state() returns: the durable hard state and the configuration.
struct initial_state_t {
    raftpp::hard_state hard_state;
    raftpp::conf_state conf_state;
};

namespace detail {
template <class S>
concept has_initial_state = requires(const S& s) {
    { s.initial_state() } -> std::same_as<result<initial_state_t>>;
};
template <class S>
concept has_entries = requires(const S& s, index_t i, std::uint64_t n) {
    { s.entries(i, i, n) } -> std::same_as<result<std::vector<entry>>>;
};
template <class S>
concept has_term = requires(const S& s, index_t i) {
    { s.term(i) } -> std::same_as<result<term_t>>;
};
template <class S>
concept has_first_index = requires(const S& s) {
    { s.first_index() } -> std::same_as<result<index_t>>;
};
template <class S>
concept has_last_index = requires(const S& s) {
    { s.last_index() } -> std::same_as<result<index_t>>;
};
template <class S>
concept has_snapshot = requires(const S& s) {
    { s.snapshot() } -> std::same_as<result<raftpp::snapshot>>;
};
template <class S>
concept has_append = requires(S& s, std::span<const entry> es) {
    { s.append(es) } -> std::same_as<result<void>>;
};
template <class S>
concept has_set_hard_state = requires(S& s, const hard_state& hs) {
    { s.set_hard_state(hs) } -> std::same_as<result<void>>;
};
template <class S>
concept has_apply_snapshot = requires(S& s, const raftpp::snapshot& snap) {
    { s.apply_snapshot(snap) } -> std::same_as<result<void>>;
};
// Optional: a storage that buffers writes makes them durable in sync() (wal_storage). The
// ready cycle calls it after persisting a ready that must_sync; without it, every write is
// taken to be durable when append()/set_hard_state() return (memory_storage).
template <class S>
concept has_sync = requires(S& s) {
    { s.sync() } -> std::same_as<result<void>>;
};
}  // namespace detail

// Read side of the log's durable storage (etcd's Storage interface).
//   initial_state()           -> result<initial_state_t>
//   entries(lo, hi, max_size) -> result<std::vector<entry>>   [lo, hi), at least one entry
//   term(i)                   -> result<term_t>               i in [first_index()-1, last_index()]
//   first_index()/last_index()-> result<index_t>
//   snapshot()                -> result<snapshot>
template <class S>
concept storage_reader = detail::has_initial_state<S> && detail::has_entries<S> &&
                         detail::has_term<S> && detail::has_first_index<S> &&
                         detail::has_last_index<S> && detail::has_snapshot<S>;

// Write side used by the ready cycle: append(span<const entry>), set_hard_state(hard_state),
// apply_snapshot(snapshot).
template <class S>
concept storage_writer = detail::has_append<S> && detail::has_set_hard_state<S> &&
                         detail::has_apply_snapshot<S>;

template <class S>
concept storage = storage_reader<S> && storage_writer<S>;

// Checks a storage type member by member so a type that does not fit fails with a message
// naming what is missing. Use in templates: `static_assert(check_storage_reader<S>());`.
template <class S>
consteval bool check_storage_reader() {
    static_assert(detail::has_initial_state<S>,
                  "raftpp: Storage must provide `result<initial_state_t> initial_state() const`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_entries<S>,
                  "raftpp: Storage must provide `result<std::vector<entry>> entries(index_t lo, "
                  "index_t hi, std::uint64_t max_size) const`; see docs/concepts.md#storage");
    static_assert(detail::has_term<S>,
                  "raftpp: Storage must provide `result<term_t> term(index_t i) const`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_first_index<S>,
                  "raftpp: Storage must provide `result<index_t> first_index() const`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_last_index<S>,
                  "raftpp: Storage must provide `result<index_t> last_index() const`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_snapshot<S>,
                  "raftpp: Storage must provide `result<snapshot> snapshot() const`; "
                  "see docs/concepts.md#storage");
    return true;
}

template <class S>
consteval bool check_storage_writer() {
    static_assert(detail::has_append<S>,
                  "raftpp: Storage must provide `result<void> append(std::span<const entry>)`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_set_hard_state<S>,
                  "raftpp: Storage must provide `result<void> set_hard_state(const hard_state&)`; "
                  "see docs/concepts.md#storage");
    static_assert(detail::has_apply_snapshot<S>,
                  "raftpp: Storage must provide `result<void> apply_snapshot(const snapshot&)`; "
                  "see docs/concepts.md#storage");
    return true;
}

}  // namespace raftpp
