// raftpp::testing linearizability checker: decides whether a concurrent history of operations
// on an object could have come from some sequential execution that respects real time
// (Herlihy & Wing). The search is Wing & Gong's, with Lowe's just-in-time linearization and
// Porcupine's memoization: a configuration (set of operations linearized, model state) is
// explored at most once, so the cost is bounded by the reachable configurations, not by the
// orderings. Histories are split by partition key first (linearizability is local: a history
// is linearizable iff each per-object sub-history is), which keeps every search small.
//
// Invariant of the search: the operations on the stack, in order, form a legal sequential
// execution from M::init(), and each one was linearized only after every operation that
// returned before it was invoked had been linearized.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <raftpp/error.hpp>

namespace raftpp::testing {

// Return time of an operation whose outcome the client never learned (a timeout): it may
// have taken effect at any point after its invocation, or never.
inline constexpr std::uint64_t never_returned = ~std::uint64_t{0};

// One operation of a history. Times are any monotone logical clock; an operation that returned
// before another was invoked (returned_at < invoked_at) must be linearized before it, while
// equal times count as concurrent. The output of an indeterminate operation is ignored.
template <class Input, class Output>
struct operation {
    std::uint64_t client = 0;
    Input input{};
    Output output{};
    std::uint64_t invoked_at = 0;
    std::uint64_t returned_at = never_returned;

    bool indeterminate() const noexcept { return returned_at == never_returned; }
};

// A sequential specification (deterministic):
//   expression                  | returns          | semantics
//   M::state_type               |                  | copyable, equality comparable
//   M::input_type, output_type  |                  | output_type equality comparable
//   M::init()                   | state_type       | the initial state
//   M::apply(s, in)             | output_type      | applies in to s, returns its output
//   M::hash(s)                  | std::size_t      | consistent with ==
//   M::partition_key(in)        | ordered key      | optional: operations with different keys
//                               |                  | touch disjoint state and are checked apart
template <class M>
concept lin_model = requires(typename M::state_type& s, const typename M::state_type& cs,
                             const typename M::input_type& in,
                             const typename M::output_type& out) {
    { M::init() } -> std::same_as<typename M::state_type>;
    { M::apply(s, in) } -> std::same_as<typename M::output_type>;
    { M::hash(cs) } -> std::convertible_to<std::size_t>;
    { cs == cs } -> std::convertible_to<bool>;
    { out == out } -> std::convertible_to<bool>;
};

template <class M>
concept partitioned_lin_model =
    lin_model<M> && requires(const typename M::input_type& in) { M::partition_key(in); };

template <lin_model M>
using history_of = std::vector<operation<typename M::input_type, typename M::output_type>>;

enum class lin_verdict : std::uint8_t { linearizable, not_linearizable, unknown };

inline std::string_view to_string(lin_verdict v) noexcept {
    switch (v) {
    case lin_verdict::linearizable: return "linearizable";
    case lin_verdict::not_linearizable: return "not linearizable";
    case lin_verdict::unknown: return "unknown (search budget exceeded)";
    }
    return "?";
}

struct lin_options {
    // Search steps (one per call entry tried or backtrack) over all partitions; past it the
    // verdict is unknown rather than a guess.
    std::uint64_t max_steps = 20'000'000;
};

struct lin_result {
    lin_verdict verdict = lin_verdict::linearizable;
    std::uint64_t steps = 0;
    std::size_t partitions = 0;
    // not_linearizable: positions in the history of the operations of the partition that
    // failed, by invocation time, and the longest legal linearization of some of them found
    // (positions in linearization order) — where the search got stuck.
    std::vector<std::size_t> failing_partition;
    std::vector<std::size_t> longest_linearization;

    bool ok() const noexcept { return verdict == lin_verdict::linearizable; }
};

namespace lin_detail {

// A fixed-size bitset that hashes and compares: the set of linearized operations.
class bitset {
public:
    explicit bitset(std::size_t n) : words_((n + 63) / 64, 0) {}
    void set(std::size_t i) noexcept { words_[i / 64] |= std::uint64_t{1} << (i % 64); }
    void reset(std::size_t i) noexcept { words_[i / 64] &= ~(std::uint64_t{1} << (i % 64)); }
    std::size_t hash() const noexcept {
        std::uint64_t h = 0x9e3779b97f4a7c15ULL;
        for (std::uint64_t w : words_) h = (h ^ w) * 0xff51afd7ed558ccdULL, h ^= h >> 32;
        return static_cast<std::size_t>(h);
    }
    friend bool operator==(const bitset&, const bitset&) = default;

private:
    std::vector<std::uint64_t> words_;
};

// The history as a doubly linked list of call and return entries sorted by time (Lowe); a
// linearized operation is lifted out of the list, and put back when the search backtracks.
// Node 0 is the head sentinel; `none` ends the list. Indeterminate operations have no return
// entry: nothing forces them to be linearized.
struct entry_list {
    static constexpr std::size_t none = ~std::size_t{0};
    struct node {
        std::size_t op = 0;  // position in the partition
        bool is_call = false;
        std::size_t match = none;  // a call's return entry
        std::size_t prev = none, next = none;
    };
    std::vector<node> nodes;

    template <class Op>
    explicit entry_list(std::span<const Op* const> ops) {
        struct event {
            std::uint64_t time;
            bool is_return;
            std::size_t op;
        };
        std::vector<event> events;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            events.push_back({ops[i]->invoked_at, false, i});
            if (!ops[i]->indeterminate()) {
                RAFTPP_ASSERT(ops[i]->returned_at >= ops[i]->invoked_at,
                              "linearizability: an operation returned before it was invoked");
                events.push_back({ops[i]->returned_at, true, i});
            }
        }
        // At equal times calls come first: such operations overlap.
        std::sort(events.begin(), events.end(), [](const event& a, const event& b) {
            return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
        });
        nodes.resize(events.size() + 1);
        std::vector<std::size_t> call_of(ops.size(), none);
        for (std::size_t i = 0; i < events.size(); ++i) {
            node& n = nodes[i + 1];
            n = {events[i].op, !events[i].is_return, none, i, i + 2 <= events.size() ? i + 2 : none};
            if (n.is_call) call_of[n.op] = i + 1;
            else nodes[call_of[n.op]].match = i + 1;
        }
        nodes[0].next = events.empty() ? none : 1;
    }

    void lift(std::size_t c) {
        node& n = nodes[c];
        nodes[n.prev].next = n.next;
        if (n.next != none) nodes[n.next].prev = n.prev;
        if (n.match == none) return;
        node& r = nodes[n.match];
        nodes[r.prev].next = r.next;
        if (r.next != none) nodes[r.next].prev = r.prev;
    }
    // Exactly undoes lift(c), lifts being undone in reverse order.
    void unlift(std::size_t c) {
        node& n = nodes[c];
        if (n.match != none) {
            node& r = nodes[n.match];
            nodes[r.prev].next = n.match;
            if (r.next != none) nodes[r.next].prev = n.match;
        }
        nodes[n.prev].next = c;
        if (n.next != none) nodes[n.next].prev = c;
    }
};

// Checks one partition (ops point into the caller's history). Returns the verdict; on
// not_linearizable fills `longest` with positions in `ops`.
template <lin_model M, class Op>
lin_verdict check_partition(std::span<const Op* const> ops, std::uint64_t& steps,
                            std::uint64_t max_steps, std::vector<std::size_t>& longest) {
    using state_type = typename M::state_type;
    entry_list list(ops);
    auto& nodes = list.nodes;
    std::size_t pending = 0;  // determinate operations not yet linearized
    for (const Op* op : ops) pending += op->indeterminate() ? 0 : 1;

    bitset linearized(ops.size());
    std::unordered_map<std::size_t, std::vector<std::pair<bitset, state_type>>> seen;
    struct frame {
        std::size_t call;
        state_type before;
    };
    std::vector<frame> stack;
    state_type state = M::init();
    std::size_t cur = nodes[0].next;
    while (pending != 0) {
        if (++steps > max_steps) return lin_verdict::unknown;
        if (cur == entry_list::none || !nodes[cur].is_call) {
            // A return entry reached: that operation cannot be linearized any later. Undo the
            // last choice and try the next call after it.
            if (stack.empty()) return lin_verdict::not_linearizable;
            frame f = std::move(stack.back());
            stack.pop_back();
            const std::size_t op = nodes[f.call].op;
            state = std::move(f.before);
            linearized.reset(op);
            pending += ops[op]->indeterminate() ? 0 : 1;
            list.unlift(f.call);
            cur = nodes[f.call].next;
            continue;
        }
        const std::size_t op = nodes[cur].op;
        state_type next = state;
        const auto out = M::apply(next, ops[op]->input);
        if (ops[op]->indeterminate() || out == ops[op]->output) {
            linearized.set(op);
            auto& bucket = seen[linearized.hash() ^ (M::hash(next) * 0x9e3779b97f4a7c15ULL)];
            const bool fresh = std::none_of(bucket.begin(), bucket.end(), [&](const auto& c) {
                return c.first == linearized && c.second == next;
            });
            if (fresh) {
                bucket.emplace_back(linearized, next);
                stack.push_back({cur, std::move(state)});
                state = std::move(next);
                pending -= ops[op]->indeterminate() ? 0 : 1;
                list.lift(cur);
                if (stack.size() > longest.size()) {
                    longest.clear();
                    for (const frame& f : stack) longest.push_back(nodes[f.call].op);
                }
                cur = nodes[0].next;
                continue;
            }
            linearized.reset(op);
        }
        cur = nodes[cur].next;
    }
    return lin_verdict::linearizable;
}

}  // namespace lin_detail

// Whether `history` is linearizable with respect to M. Partitions (by M::partition_key when
// M has one) are checked one by one; the first non-linearizable one is reported.
template <lin_model M>
lin_result check_linearizable(
    std::span<const operation<typename M::input_type, typename M::output_type>> history,
    const lin_options& opts = {}) {
    using op_type = operation<typename M::input_type, typename M::output_type>;
    std::vector<std::vector<std::size_t>> parts;
    if constexpr (partitioned_lin_model<M>) {
        using key_type = std::decay_t<decltype(M::partition_key(history[0].input))>;
        std::map<key_type, std::size_t> slot;
        for (std::size_t i = 0; i < history.size(); ++i) {
            auto [it, fresh] = slot.try_emplace(M::partition_key(history[i].input), parts.size());
            if (fresh) parts.emplace_back();
            parts[it->second].push_back(i);
        }
    } else if (!history.empty()) {
        parts.emplace_back(history.size());
        for (std::size_t i = 0; i < history.size(); ++i) parts[0][i] = i;
    }

    lin_result res;
    res.partitions = parts.size();
    for (auto& part : parts) {
        std::stable_sort(part.begin(), part.end(), [&](std::size_t a, std::size_t b) {
            return history[a].invoked_at < history[b].invoked_at;
        });
        std::vector<const op_type*> ops;
        for (std::size_t i : part) ops.push_back(&history[i]);
        std::vector<std::size_t> longest;
        const auto v = lin_detail::check_partition<M, op_type>(
            std::span<const op_type* const>(ops), res.steps, opts.max_steps, longest);
        if (v == lin_verdict::not_linearizable) {
            res.verdict = v;
            res.failing_partition = part;
            for (std::size_t i : longest) res.longest_linearization.push_back(part[i]);
            return res;
        }
        if (v == lin_verdict::unknown) {
            res.verdict = v;
            return res;
        }
    }
    return res;
}

template <lin_model M>
lin_result check_linearizable(const history_of<M>& history, const lin_options& opts = {}) {
    using op_type = operation<typename M::input_type, typename M::output_type>;
    return check_linearizable<M>(std::span<const op_type>(history), opts);
}

// --- A key-value store: put / get / compare-and-swap over 64-bit values. A key never written
// holds 0, so clients should write non-zero values (a read of 0 then means "never written").

enum class kv_op : std::uint8_t { put, get, cas };

struct kv_input {
    kv_op op = kv_op::get;
    std::uint32_t key = 0;
    std::uint64_t value = 0;     // put: the value; cas: the new value
    std::uint64_t expected = 0;  // cas: the value compared against
    friend bool operator==(const kv_input&, const kv_input&) = default;
};

struct kv_output {
    bool ok = true;           // cas: whether it swapped; true for put and get
    std::uint64_t value = 0;  // get: the value read
    friend bool operator==(const kv_output&, const kv_output&) = default;
};

inline kv_input kv_put(std::uint32_t key, std::uint64_t value) { return {kv_op::put, key, value, 0}; }
inline kv_input kv_get(std::uint32_t key) { return {kv_op::get, key, 0, 0}; }
inline kv_input kv_cas(std::uint32_t key, std::uint64_t expected, std::uint64_t value) {
    return {kv_op::cas, key, value, expected};
}

// The sequential specification. Partitioned by key, so a state holds the few keys one
// partition touches (one, in practice): a sorted vector beats a map at that size.
struct kv_model {
    using input_type = kv_input;
    using output_type = kv_output;
    using state_type = std::vector<std::pair<std::uint32_t, std::uint64_t>>;

    static state_type init() { return {}; }
    static std::uint32_t partition_key(const kv_input& in) noexcept { return in.key; }
    static std::size_t hash(const state_type& s) noexcept {
        std::uint64_t h = 0;
        for (const auto& [k, v] : s) h = (h ^ k) * 0x100000001b3ULL ^ (v * 0x9e3779b97f4a7c15ULL);
        return static_cast<std::size_t>(h);
    }
    static kv_output apply(state_type& s, const kv_input& in) {
        auto it = std::lower_bound(s.begin(), s.end(), in.key,
                                   [](const auto& kv, std::uint32_t k) { return kv.first < k; });
        const bool present = it != s.end() && it->first == in.key;
        const std::uint64_t current = present ? it->second : 0;
        auto store = [&](std::uint64_t v) {
            if (present) it->second = v;
            else s.insert(it, {in.key, v});
        };
        switch (in.op) {
        case kv_op::put: store(in.value); return {true, 0};
        case kv_op::get: return {true, current};
        case kv_op::cas:
            if (current != in.expected) return {false, 0};
            store(in.value);
            return {true, 0};
        }
        return {};
    }
};

using kv_operation = operation<kv_input, kv_output>;
using kv_history = std::vector<kv_operation>;

// "c2 [17, 25] cas(k1, 5 -> 9) -> ok", "c0 [3, ∞] put(k0, 4) -> ?".
inline std::string to_string(const kv_operation& op) {
    auto num = [](std::uint64_t v) { return v == never_returned ? std::string("inf") : std::to_string(v); };
    std::string s = "c" + std::to_string(op.client) + " [" + num(op.invoked_at) + ", " +
                    num(op.returned_at) + "] ";
    const std::string key = "k" + std::to_string(op.input.key);
    switch (op.input.op) {
    case kv_op::put: s += "put(" + key + ", " + std::to_string(op.input.value) + ")"; break;
    case kv_op::get: s += "get(" + key + ")"; break;
    case kv_op::cas:
        s += "cas(" + key + ", " + std::to_string(op.input.expected) + " -> " +
             std::to_string(op.input.value) + ")";
        break;
    }
    if (op.indeterminate()) return s + " -> ?";
    if (op.input.op == kv_op::get) return s + " -> " + std::to_string(op.output.value);
    return s + (op.output.ok ? " -> ok" : " -> fail");
}

// The operations at `positions`, one per line (e.g. a lin_result's failing partition).
inline std::string describe(const kv_history& h, std::span<const std::size_t> positions) {
    std::string out;
    for (std::size_t i : positions) out += to_string(h[i]) + "\n";
    return out;
}

}  // namespace raftpp::testing
