// The deadline of the operation in progress on a connection (a dial, a write, the rest of a
// frame), in the spirit of etcd's rwTimeoutListener but without a timer reset per read:
// moving the deadline later only stores a time point, and the one outstanding wait, when it
// fires early, waits again for the stored deadline. So a busy connection costs a clock read
// per operation, not a cancelled wait.
//
// The owner (one connection, on its strand) drives the wait with a member completion:
//   if (deadline_.arm(timeout)) deadline_.async_wait(std::bind_front(&conn::on_deadline, self));
//   void on_deadline(error_code) {
//       const auto o = deadline_.on_fired();  // always, even when closing
//       if (closed_) return;
//       expired: give up; rewait: deadline_.async_wait(...) again; idle, superseded: nothing
//   }
// The wait's error code does not matter: a cancelled wait is either superseded by a newer
// one or, when the deadline still lies ahead, simply waits again.
// Invariant: pending_ counts the waits started and not yet completed; when one is pending, the
// newest expires at or before when_ (arm() starts a new one when the deadline moves earlier).
#pragma once

#include <chrono>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace raftpp::net::detail {

class deadline {
public:
    using clock = std::chrono::steady_clock;

    explicit deadline(const boost::asio::any_io_executor& ex) : timer_(ex) {}

    // Sets the deadline to now + timeout. Returns true when the owner must start a wait: none
    // is pending, or the pending one would fire too late (it is cancelled).
    [[nodiscard]] bool arm(clock::duration timeout) {
        when_ = clock::now() + timeout;
        if (pending_ == 0) return true;
        if (timer_.expiry() <= when_) return false;
        timer_.cancel();
        return true;
    }
    // No operation is timed any more; a pending wait completes as idle.
    void clear() noexcept { when_ = clock::time_point::max(); }
    bool armed() const noexcept { return when_ != clock::time_point::max(); }

    template <class Handler>
    void async_wait(Handler&& h) {
        ++pending_;
        timer_.expires_at(when_);
        timer_.async_wait(std::forward<Handler>(h));
    }

    enum class outcome { expired, rewait, idle, superseded };
    // What a completed wait means: `superseded` when a newer wait is pending (this one was
    // cancelled by arm(), or fired just before it was), so there is nothing to do.
    outcome on_fired() noexcept {
        --pending_;
        if (pending_ > 0) return outcome::superseded;
        if (!armed()) return outcome::idle;
        return clock::now() >= when_ ? outcome::expired : outcome::rewait;
    }

    // Cancels the pending wait for good (the connection is closing); it completes as idle.
    void close() noexcept {
        when_ = clock::time_point::max();
        timer_.cancel();
    }

private:
    boost::asio::steady_timer timer_;
    clock::time_point when_ = clock::time_point::max();  // max: no operation is timed
    unsigned pending_ = 0;
};

}  // namespace raftpp::net::detail
