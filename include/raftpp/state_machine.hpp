// The state machine policy of raftpp::node: what the replicated log is applied to.
//
//   struct counter {
//       std::uint64_t n = 0;
//       std::uint64_t apply(const raftpp::entry& e) { return n += e.data.size(); }
//       raftpp::buffer snapshot() const { /* n, serialized */ }
//       void restore(std::span<const std::byte> bytes) { /* n, deserialized */ }
//   };
//
// apply() sees each committed normal entry once, in log order, with the payload that was
// proposed (the node's own framing removed); what it returns completes the async_propose that
// proposed the entry. snapshot() captures everything applied so far; restore() replaces the
// state with a snapshot's (on restart and when the leader sends one), and may return
// result<void> to report bytes it cannot use. All three run on the node's strand.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

namespace detail {
template <class SM>
concept has_apply = requires(SM& sm, const entry& e) { sm.apply(e); };
template <class SM>
concept has_state_snapshot = requires(SM& sm) {
    { sm.snapshot() } -> std::convertible_to<buffer>;
};
template <class SM>
concept has_restore = requires(SM& sm, std::span<const std::byte> bytes) {
    sm.restore(bytes);
};
template <class R>
concept apply_result =
    std::is_void_v<R> || (std::default_initializable<R> && std::move_constructible<R>);
}  // namespace detail

// What apply() returns for SM: the value an async_propose completes with.
template <class SM>
using apply_result_t = decltype(std::declval<SM&>().apply(std::declval<const entry&>()));

// Requirements (docs/node.md#state-machine):
//   sm.apply(const entry&)                 -> R (void, or default-constructible and movable)
//   sm.snapshot()                          -> convertible to buffer
//   sm.restore(std::span<const std::byte>) -> void or result<void>
template <class SM>
concept state_machine = detail::has_apply<SM> && detail::has_state_snapshot<SM> &&
                        detail::has_restore<SM> && detail::apply_result<apply_result_t<SM>>;

// Checks a state machine type member by member, so one that does not fit fails with a
// message naming what is missing. Use in templates: `static_assert(check_state_machine<SM>());`.
template <class SM>
consteval bool check_state_machine() {
    static_assert(detail::has_apply<SM>,
                  "raftpp: StateMachine must provide `R apply(const raftpp::entry&)`; "
                  "see docs/node.md#state-machine");
    static_assert(detail::has_state_snapshot<SM>,
                  "raftpp: StateMachine must provide `raftpp::buffer snapshot()`; "
                  "see docs/node.md#state-machine");
    static_assert(detail::has_restore<SM>,
                  "raftpp: StateMachine must provide `void restore(std::span<const std::byte>)` "
                  "(or returning result<void>); see docs/node.md#state-machine");
    if constexpr (detail::has_apply<SM>)
        static_assert(detail::apply_result<apply_result_t<SM>>,
                      "raftpp: StateMachine::apply must return void or a default-constructible, "
                      "movable value; see docs/node.md#state-machine");
    return true;
}

namespace detail {
// restore() may return void or result<void>; either way the node sees a result.
template <class SM>
result<void> restore_state(SM& sm, std::span<const std::byte> bytes) {
    if constexpr (std::is_void_v<decltype(sm.restore(bytes))>) {
        sm.restore(bytes);
        return {};
    } else {
        return sm.restore(bytes);
    }
}
}  // namespace detail

}  // namespace raftpp
