// The transport policy: how the core hands an outgoing message to the network. send() must
// not block and may lose the message (Raft tolerates loss, duplication and reordering); the
// core never waits for delivery.
//   vector_transport — collects messages for the ready cycle and for tests.
// Other abilities a transport may offer are detected by the core with
// `if constexpr (requires { ... })` and are not part of the concept: today
// `t.send_all(std::vector<message>&)`, a cycle's messages at once (docs/concepts.md#transport).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <raftpp/types.hpp>

namespace raftpp {

namespace detail {
template <class T>
concept has_send = requires(T& t, message m) { t.send(std::move(m)); };
}  // namespace detail

// Requirements (docs/concepts.md#transport):
//   t.send(message&&)   queues the message for m.to; returns at once; may drop it
template <class T>
concept transport = detail::has_send<T>;

// Checks a transport type so one that does not fit fails with a message naming what is
// missing. Use in templates: `static_assert(check_transport<T>());`.
template <class T>
consteval bool check_transport() {
    static_assert(detail::has_send<T>,
                  "raftpp: Transport must provide `void send(message&&)` (non-blocking); "
                  "see docs/concepts.md#transport");
    return true;
}

// Collects sent messages in order; take() hands them over and leaves the transport empty.
class vector_transport {
public:
    void send(message&& m) { msgs_.push_back(std::move(m)); }

    // The messages sent since the last take(), in send order.
    [[nodiscard]] std::vector<message> take() noexcept { return std::exchange(msgs_, {}); }
    const std::vector<message>& pending() const noexcept { return msgs_; }
    std::size_t size() const noexcept { return msgs_.size(); }
    bool empty() const noexcept { return msgs_.empty(); }

private:
    std::vector<message> msgs_;
};

}  // namespace raftpp
