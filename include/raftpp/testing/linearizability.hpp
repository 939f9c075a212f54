// raftpp::testing linearizability checker: decides whether a concurrent history of operations
// on an object could have come from some sequential execution that respects real time
// (Herlihy & Wing). The search is Wing & Gong's, with Lowe's just-in-time linearization and
// Porcupine's memoization: a configuration (set of operations linearized, model state) is
// explored at most once, so the cost is bounded by the reachable configurations, not by the
// orderings. Histories are split by partition key first (linearizability is local: a history
// is linearizable iff each per-object sub-history is), which keeps every search small.
// Operations that timed out (indeterminate) get more pruning, all of it exact: a
// configuration is skipped when one visited before had used fewer of them (dominance), equal
// ones are used in one order only, and a cheap first pass leaves out those nobody observed.
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
//   M::may_observe(e, in, out)  | bool             | optional: whether an operation (in, out)
//                               |                  | may have seen the effect of input e
//   M::anonymize(e)             | input_type       | optional, with may_observe: e with its
//                               |                  | effect made one nobody observes
//
// Indeterminate operations are what makes a search expensive: each may or may not have taken
// effect, anywhere after its invocation. When M has may_observe, a partition is first checked
// without the indeterminate operations nobody may have observed. That pass is sound whatever
// may_observe answers (if the rest is linearizable, so is the whole: the left-out operations
// can all take effect last, after everything else); only when it fails does the full search
// run. There, M::anonymize rewrites those operations (e.g. put(k, 17) -> put(k, anonymous)) so that
// equal ones are interchangeable and tried in one order only. That is exact only if
// may_observe is: it must say true whenever (in, out) could tell e's effect apart from
// anonymize(e)'s.
template <class M>
concept lin_model = requires(typename M::state_type& s, const typename M::state_type& cs,
                             const typename M::input_type& in, const typename M::output_type& out) {
    { M::init() } -> std::same_as<typename M::state_type>;
    { M::apply(s, in) } -> std::same_as<typename M::output_type>;
    { M::hash(cs) } -> std::convertible_to<std::size_t>;
    { cs == cs } -> std::convertible_to<bool>;
    { out == out } -> std::convertible_to<bool>;
};

template <class M>
concept partitioned_lin_model = lin_model<M> && requires(const typename M::input_type& in) {
    M::partition_key(in);
};

template <class M>
concept observing_lin_model = lin_model<M> &&
    requires(const typename M::input_type& in, const typename M::output_type& out) {
    { M::may_observe(in, in, out) } -> std::convertible_to<bool>;
};

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
    // failed, by invocation time; the longest legal linearization of some of them the search
    // found (positions in linearization order); and `stuck`: the operations left out of it
    // that were invoked before the first of them returned — none of them could come next.
    std::vector<std::size_t> failing_partition;
    std::vector<std::size_t> longest_linearization;
    std::vector<std::size_t> stuck;

    bool ok() const noexcept { return verdict == lin_verdict::linearizable; }
};

namespace lin_detail {

// A fixed-size bitset with an incremental (Zobrist) hash: a set of linearized operations.
class bitset {
public:
    explicit bitset(std::size_t n) : words_((n + 63) / 64, 0) {}
    void set(std::size_t i) noexcept {
        words_[i / 64] |= std::uint64_t{1} << (i % 64);
        hash_ ^= mix(i);
    }
    void reset(std::size_t i) noexcept {
        words_[i / 64] &= ~(std::uint64_t{1} << (i % 64));
        hash_ ^= mix(i);
    }
    bool test(std::size_t i) const noexcept { return (words_[i / 64] >> (i % 64)) & 1; }
    std::size_t size_words() const noexcept { return words_.size(); }
    std::uint64_t word(std::size_t w) const noexcept { return words_[w]; }
    std::size_t hash() const noexcept { return static_cast<std::size_t>(hash_); }

private:
    static std::uint64_t mix(std::uint64_t i) noexcept {
        std::uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        return z ^ (z >> 31);
    }
    std::vector<std::uint64_t> words_;
    std::uint64_t hash_ = 0;
};

// A bitset as stored in the memo: the search moves through the history, so a configuration's
// set is runs of all-ones or all-zeros words at both ends and a short window between them;
// only the window is kept, which makes a visited configuration cost O(window), not O(n).
class packed_bitset {
public:
    explicit packed_bitset(const bitset& b) {
        const std::size_t n = b.size_words();
        lead_ = n != 0 && b.word(0) == ~std::uint64_t{0} ? ~std::uint64_t{0} : 0;
        while (lo_ < n && b.word(lo_) == lead_) ++lo_;
        std::size_t hi = n;
        while (hi > lo_ && b.word(hi - 1) == 0) --hi;
        mid_.assign(hi - lo_, 0);
        for (std::size_t w = lo_; w < hi; ++w) mid_[w - lo_] = b.word(w);
    }
    std::uint64_t word(std::size_t w) const noexcept {
        if (w < lo_) return lead_;
        return w - lo_ < mid_.size() ? mid_[w - lo_] : 0;
    }
    bool equals(const bitset& b) const noexcept {
        for (std::size_t w = 0; w < b.size_words(); ++w)
            if (word(w) != b.word(w)) return false;
        return true;
    }
    bool subset_of(const bitset& b) const noexcept {
        for (std::size_t w = 0; w < b.size_words(); ++w)
            if (word(w) & ~b.word(w)) return false;
        return true;
    }

private:
    std::size_t lo_ = 0;  // words [0, lo_) are all lead_
    std::uint64_t lead_ = 0;
    std::vector<std::uint64_t> mid_;  // words [lo_, lo_ + size); the rest are 0
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
    explicit entry_list(std::span<const Op> ops) {
        struct event {
            std::uint64_t time;
            bool is_return;
            std::size_t op;
        };
        std::vector<event> events;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            events.push_back({ops[i].invoked_at, false, i});
            if (!ops[i].indeterminate()) {
                RAFTPP_ASSERT(ops[i].returned_at >= ops[i].invoked_at,
                              "linearizability: an operation returned before it was invoked");
                events.push_back({ops[i].returned_at, true, i});
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
            n = {events[i].op, !events[i].is_return, none, i,
                 i + 2 <= events.size() ? i + 2 : none};
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

// Checks one partition, ops sorted by invocation. Returns the verdict; on not_linearizable
// fills `longest` with positions in `ops`.
//
// The candidates at a configuration are the calls ahead of the first return entry (Lowe).
// They are tried in two passes, determinate operations first: an indeterminate one is taken
// only when no determinate one fits, which finds a witness fast when timeouts rarely took
// effect, and changes nothing when refuting (every candidate is still tried). Symmetry: of
// indeterminate operations with equal inputs, the earlier-invoked is linearized first — it
// may go wherever the later one may, so no linearization is lost.
template <lin_model M, class Op>
lin_verdict check_partition(std::span<const Op> ops, std::uint64_t& steps, std::uint64_t max_steps,
                            std::vector<std::size_t>& longest) {
    using state_type = typename M::state_type;
    entry_list list(ops);
    auto& nodes = list.nodes;
    std::size_t pending = 0;  // determinate operations not yet linearized
    for (const Op& op : ops) pending += op.indeterminate() ? 0 : 1;
    // twin[i]: the last indeterminate operation before i with i's input, if i is indeterminate.
    std::vector<std::size_t> twin(ops.size(), entry_list::none);
    if constexpr (std::equality_comparable<typename M::input_type>) {
        for (std::size_t i = 0; i < ops.size(); ++i)
            for (std::size_t j = i; ops[i].indeterminate() && j-- > 0;)
                if (ops[j].indeterminate() && ops[j].input == ops[i].input) {
                    twin[i] = j;
                    break;
                }
    }

    // The configuration: determinate and indeterminate operations linearized, and the state.
    bitset det(ops.size()), ind(ops.size());
    struct visited {
        packed_bitset det, ind;
        state_type state;
    };
    std::unordered_map<std::size_t, std::vector<visited>> seen;
    struct frame {
        std::size_t call;
        bool indeterminate_pass;
        state_type before;
    };
    std::vector<frame> stack;
    state_type state = M::init();
    std::size_t cur = nodes[0].next;
    bool indeterminate_pass = false;
    while (pending != 0) {
        if (++steps > max_steps) return lin_verdict::unknown;
        if (cur == entry_list::none || !nodes[cur].is_call) {
            if (!indeterminate_pass) {
                indeterminate_pass = true;
                cur = nodes[0].next;
                continue;
            }
            // Every candidate failed: undo the last choice and try the one after it.
            if (stack.empty()) return lin_verdict::not_linearizable;
            frame f = std::move(stack.back());
            stack.pop_back();
            const std::size_t op = nodes[f.call].op;
            state = std::move(f.before);
            (f.indeterminate_pass ? ind : det).reset(op);
            pending += f.indeterminate_pass ? 0 : 1;
            list.unlift(f.call);
            cur = nodes[f.call].next;
            indeterminate_pass = f.indeterminate_pass;
            continue;
        }
        const std::size_t op = nodes[cur].op;
        if (ops[op].indeterminate() != indeterminate_pass ||
            (twin[op] != entry_list::none && !ind.test(twin[op]))) {
            cur = nodes[cur].next;
            continue;
        }
        state_type next = state;
        const auto out = M::apply(next, ops[op].input);
        if (indeterminate_pass || out == ops[op].output) {
            bitset& mine = indeterminate_pass ? ind : det;
            mine.set(op);
            // Dominance: a configuration with the same determinate operations and state but
            // fewer indeterminate ones used up can do all this one can (the unused ones may
            // still take effect, or never). So this one is new only if no visited one has a
            // subset of its indeterminate operations.
            auto& bucket = seen[det.hash() ^ (M::hash(next) * 0x9e3779b97f4a7c15ULL)];
            const bool fresh = std::none_of(bucket.begin(), bucket.end(), [&](const visited& v) {
                return v.det.equals(det) && v.ind.subset_of(ind) && v.state == next;
            });
            if (fresh) {
                bucket.push_back({packed_bitset(det), packed_bitset(ind), next});
                stack.push_back({cur, indeterminate_pass, std::move(state)});
                state = std::move(next);
                pending -= indeterminate_pass ? 0 : 1;
                list.lift(cur);
                if (stack.size() > longest.size()) {
                    longest.clear();
                    for (const frame& f : stack) longest.push_back(nodes[f.call].op);
                }
                cur = nodes[0].next;
                indeterminate_pass = false;
                continue;
            }
            mine.reset(op);
        }
        cur = nodes[cur].next;
    }
    return lin_verdict::linearizable;
}

// What an observing model allows before the full search: `reduced` leaves out the
// indeterminate operations nobody may have observed (empty when none is); in `ops` those take
// M::anonymize's input when the model has it and nobody may observe that either.
template <lin_model M, class Op>
void prepare_partition(std::vector<Op>& ops, std::vector<Op>& reduced) {
    if constexpr (observing_lin_model<M>) {
        auto observed = [&](std::size_t i, const typename M::input_type& effect) {
            for (std::size_t j = 0; j < ops.size(); ++j)
                if (j != i && M::may_observe(effect, ops[j].input, ops[j].output)) return true;
            return false;
        };
        std::vector<std::size_t> unobserved;
        for (std::size_t i = 0; i < ops.size(); ++i)
            if (ops[i].indeterminate() && !observed(i, ops[i].input)) unobserved.push_back(i);
        if (unobserved.empty()) return;
        for (std::size_t i = 0, u = 0; i < ops.size(); ++i) {
            if (u < unobserved.size() && unobserved[u] == i) ++u;
            else reduced.push_back(ops[i]);
        }
        if constexpr (requires { M::anonymize(ops[0].input); }) {
            for (std::size_t i : unobserved) {
                typename M::input_type anon = M::anonymize(ops[i].input);
                if (!observed(i, anon)) ops[i].input = std::move(anon);
            }
        }
    }
}

template <class Op>
void find_stuck(std::span<const Op> history, lin_result& res) {
    std::vector<bool> placed(history.size(), false);
    for (std::size_t i : res.longest_linearization) placed[i] = true;
    std::uint64_t first_return = never_returned;
    for (std::size_t i : res.failing_partition)
        if (!placed[i]) first_return = std::min(first_return, history[i].returned_at);
    for (std::size_t i : res.failing_partition)
        if (!placed[i] && history[i].invoked_at <= first_return) res.stuck.push_back(i);
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
        std::vector<op_type> ops, reduced;
        for (std::size_t i : part) ops.push_back(history[i]);
        lin_detail::prepare_partition<M>(ops, reduced);
        std::vector<std::size_t> longest;
        if (!reduced.empty()) {
            // Sound either way (see lin_model): only "not linearizable" needs the full search.
            const auto v = lin_detail::check_partition<M, op_type>(reduced, res.steps,
                                                                   opts.max_steps, longest);
            if (v == lin_verdict::linearizable) continue;
            if (v == lin_verdict::unknown) {
                res.verdict = v;
                return res;
            }
            longest.clear();
        }
        const auto v =
            lin_detail::check_partition<M, op_type>(ops, res.steps, opts.max_steps, longest);
        if (v == lin_verdict::not_linearizable) {
            res.verdict = v;
            res.failing_partition = part;
            for (std::size_t i : longest) res.longest_linearization.push_back(part[i]);
            lin_detail::find_stuck(history, res);
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

inline kv_input kv_put(std::uint32_t key, std::uint64_t value) {
    return {kv_op::put, key, value, 0};
}
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
    // A value written can be seen only by a get returning it or a cas comparing against it;
    // a write nobody sees may as well have written anonymous, a value nobody uses. (Pruning
    // thus works best when written values are distinct.)
    static constexpr std::uint64_t anonymous = ~std::uint64_t{0};
    static bool may_observe(const kv_input& effect, const kv_input& in, const kv_output& out) {
        if (effect.op == kv_op::get) return false;
        if (in.op == kv_op::get) return out.value == effect.value;
        return in.op == kv_op::cas && in.expected == effect.value;
    }
    static kv_input anonymize(kv_input in) {
        if (in.op != kv_op::get) in.value = anonymous;
        return in;
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

// "c2 [17, 25] cas(k1, 5 -> 9) -> ok", "c0 [3, inf] put(k0, 4) -> ?".
inline std::string to_string(const kv_operation& op) {
    auto num = [](std::uint64_t v) {
        return v == never_returned ? std::string("inf") : std::to_string(v);
    };
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
