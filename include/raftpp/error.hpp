// Errors: raftpp::errc values in the "raftpp" std::error_category, and result<T>, a small
// std::expected-shaped return type. Expected outcomes (a compacted index, a dropped proposal,
// bad input) are error codes; broken invariants go through RAFTPP_ASSERT.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace raftpp {

enum class errc {
    // Storage / log (etcd: ErrCompacted, ErrUnavailable, ErrSnapOutOfDate, ...)
    compacted = 1,
    unavailable,
    snap_out_of_date,
    snapshot_temporarily_unavailable,
    index_out_of_range,
    // Node / step
    proposal_dropped,
    step_local_msg,
    step_peer_not_found,
    invalid_config,
    invalid_argument,
    // Durable storage and wire input
    corrupt_record,
    malformed_message,
    io_error,
    // Durable storage (WAL and snapshot files)
    wal_exists,
    wal_not_found,
    wal_locked,
    snapshot_not_found,
    metadata_mismatch,
    // The running node (node.hpp): why a pending operation completed without success
    stopped,
    timed_out,
    not_leader,
    too_many_requests,
    member_removed,
    leader_transfer_failed,
    unknown_member,
    learner_not_ready,
    // A proposal waited for a leader until its deadline: it never entered the log (etcd's
    // "etcdserver: no leader"), so unlike timed_out it is certain not to be applied.
    no_leader,
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "raftpp"; }
    std::string message(int c) const override {
        switch (static_cast<errc>(c)) {
        case errc::compacted: return "requested index is unavailable due to compaction";
        case errc::unavailable: return "requested entry at index is unavailable";
        case errc::snap_out_of_date: return "requested index is older than the existing snapshot";
        case errc::snapshot_temporarily_unavailable: return "snapshot is temporarily unavailable";
        case errc::index_out_of_range: return "index out of range";
        case errc::proposal_dropped: return "raft proposal dropped";
        case errc::step_local_msg: return "raft: cannot step raft local message";
        case errc::step_peer_not_found: return "raft: cannot step as peer not found";
        case errc::invalid_config: return "invalid raft configuration";
        case errc::invalid_argument: return "invalid argument";
        case errc::corrupt_record: return "corrupt record";
        case errc::malformed_message: return "malformed message";
        case errc::io_error: return "i/o error";
        case errc::wal_exists: return "a WAL already exists in the directory";
        case errc::wal_not_found: return "no WAL found in the directory";
        case errc::wal_locked: return "the WAL is locked by another process";
        case errc::snapshot_not_found: return "snapshot not found in the WAL";
        case errc::metadata_mismatch: return "WAL metadata does not match";
        case errc::stopped: return "the node is stopped";
        case errc::timed_out: return "the request timed out";
        case errc::not_leader: return "this node is not the leader";
        case errc::too_many_requests: return "too many requests pending";
        case errc::member_removed: return "this member was removed from the cluster";
        case errc::leader_transfer_failed: return "leadership transfer failed";
        case errc::unknown_member: return "no such member in the cluster";
        case errc::learner_not_ready: return "the learner is not in sync with the leader yet";
        case errc::no_leader: return "no leader: the request was not proposed";
        }
        return "unknown raftpp error";
    }
};
}  // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl c;
    return c;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void value_of_error(std::error_code ec) {
    std::fprintf(stderr, "raftpp: value() on error result: %s\n", ec.message().c_str());
    std::abort();
}
}  // namespace detail

// result<T>: either a T or a std::error_code (never an empty error code).
template <class T>
class [[nodiscard]] result {
public:
    using value_type = T;
    result(const T& v) : ok_(true) { ::new (&value_) T(v); }
    result(T&& v) : ok_(true) { ::new (&value_) T(std::move(v)); }
    result(std::error_code ec) : ok_(false) { ::new (&error_) std::error_code(ec); }
    result(errc e) : result(make_error_code(e)) {}
    result(const result& o) : ok_(o.ok_) {
        if (ok_) ::new (&value_) T(o.value_);
        else ::new (&error_) std::error_code(o.error_);
    }
    result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_) {
        if (ok_) ::new (&value_) T(std::move(o.value_));
        else ::new (&error_) std::error_code(o.error_);
    }
    result& operator=(result o) {
        this->~result();
        ::new (this) result(std::move(o));
        return *this;
    }
    ~result() {
        if (ok_) value_.~T();
    }

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    std::error_code error() const noexcept { return ok_ ? std::error_code{} : error_; }

    // Accessing the value of an error result is a programming error: it aborts with the error.
    T& value() & { check(); return value_; }
    const T& value() const& { check(); return value_; }
    T&& value() && { check(); return std::move(value_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    template <class U>
    T value_or(U&& d) const& { return ok_ ? value_ : static_cast<T>(std::forward<U>(d)); }

private:
    void check() const {
        if (!ok_) [[unlikely]] detail::value_of_error(error_);
    }
    bool ok_;
    union {
        T value_;
        std::error_code error_;
    };
};

// Keeps the code and category apart rather than a std::error_code: a default error_code
// asks libstdc++ for system_category() out of line, and result<void>{} is on every hot path.
template <>
class [[nodiscard]] result<void> {
public:
    result() noexcept = default;
    result(std::error_code ec) noexcept : code_(ec.value()), cat_(&ec.category()) {}
    result(errc e) noexcept : code_(static_cast<int>(e)), cat_(&error_category()) {}
    bool has_value() const noexcept { return code_ == 0; }
    explicit operator bool() const noexcept { return code_ == 0; }
    std::error_code error() const noexcept {
        return code_ == 0 ? std::error_code() : std::error_code(code_, *cat_);
    }
    void value() const {
        if (code_ != 0) [[unlikely]] detail::value_of_error(error());
    }

private:
    int code_ = 0;
    const std::error_category* cat_ = nullptr;
};

}  // namespace raftpp

template <>
struct std::is_error_code_enum<raftpp::errc> : std::true_type {};

// Broken invariants (etcd panics) abort with a message; they are never user input errors.
// The failure path is a cold, out-of-line lambda: messages are often built with
// detail::concat, and that code inline would keep the hot functions around it from inlining.
#define RAFTPP_ASSERT(cond, msg)                                                              \
    do {                                                                                      \
        if (!(cond)) [[unlikely]] {                                                           \
            [&]() __attribute__((cold, noinline, noreturn)) {                                 \
                std::fprintf(stderr, "raftpp: assertion failed at %s:%d: %s (%s)\n", __FILE__, \
                             __LINE__, #cond, msg);                                           \
                std::abort();                                                                 \
            }();                                                                              \
        }                                                                                     \
    } while (0)
