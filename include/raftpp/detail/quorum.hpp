// Quorum arithmetic (etcd's quorum package) as pure functions over small sorted id sets:
// the commit index and the vote outcome of a majority configuration, and of a joint one
// (Raft thesis §4.3: during joint consensus a decision needs a majority of both the incoming
// and the outgoing voters). Lookups are template callables, so nothing here allocates for
// configurations of up to 7 voters.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <raftpp/types.hpp>

namespace raftpp::detail {

// A set of node ids kept as a sorted vector without duplicates: lookups are a binary search,
// iteration is in id order, and membership changes (rare) pay for the insertion.
class node_set {
public:
    node_set() = default;
    node_set(std::initializer_list<node_id> ids) : node_set(std::span<const node_id>(ids)) {}
    explicit node_set(std::span<const node_id> ids) : ids_(ids.begin(), ids.end()) {
        std::sort(ids_.begin(), ids_.end());
        ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    }

    // True if id was not present.
    bool insert(node_id id) {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
        if (it != ids_.end() && *it == id) return false;
        ids_.insert(it, id);
        return true;
    }
    // True if id was present.
    bool erase(node_id id) noexcept {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
        if (it == ids_.end() || *it != id) return false;
        ids_.erase(it);
        return true;
    }
    bool contains(node_id id) const noexcept {
        return std::binary_search(ids_.begin(), ids_.end(), id);
    }
    void clear() noexcept { ids_.clear(); }

    std::size_t size() const noexcept { return ids_.size(); }
    bool empty() const noexcept { return ids_.empty(); }
    auto begin() const noexcept { return ids_.begin(); }
    auto end() const noexcept { return ids_.end(); }
    // The ids, ascending (etcd's Slice()).
    const std::vector<node_id>& ids() const noexcept { return ids_; }

    // "(1 2 3)", as etcd prints a MajorityConfig.
    std::string to_string() const {
        std::string s = "(";
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            if (i > 0) s += ' ';
            s += std::to_string(ids_[i]);
        }
        return s + ")";
    }

    friend bool operator==(const node_set&, const node_set&) = default;

private:
    std::vector<node_id> ids_;
};

// A set of voters deciding by simple majority (etcd's MajorityConfig).
using majority_config = node_set;

// Two majority configurations that must both agree (etcd's JointConfig). Outside a joint
// configuration `outgoing` is empty, and an empty half agrees with everything, so a
// joint_config serves both cases.
struct joint_config {
    majority_config incoming;
    majority_config outgoing;

    bool is_joint() const noexcept { return !outgoing.empty(); }
    bool contains(node_id id) const noexcept {
        return incoming.contains(id) || outgoing.contains(id);
    }
    // Calls f(id) once for each voter of either half, ascending; no allocation.
    template <class F>
    void visit(F&& f) const {
        auto a = incoming.begin(), ae = incoming.end();
        auto b = outgoing.begin(), be = outgoing.end();
        while (a != ae || b != be) {
            node_id id;
            if (b == be || (a != ae && *a < *b)) id = *a++;
            else if (a == ae || *b < *a) id = *b++;
            else { id = *a++; ++b; }
            f(id);
        }
    }
    // The union of both halves (etcd's IDs()).
    node_set ids() const {
        std::vector<node_id> v;
        v.reserve(incoming.size() + outgoing.size());
        visit([&](node_id id) { v.push_back(id); });
        return node_set(v);
    }
    // "(1 2 3)" or "(1 2 3)&&(1 2)".
    std::string to_string() const {
        return is_joint() ? incoming.to_string() + "&&" + outgoing.to_string()
                          : incoming.to_string();
    }

    friend bool operator==(const joint_config&, const joint_config&) = default;
};

enum class vote_result : std::uint8_t {
    pending,  // neither a quorum of yes nor of no yet
    lost,     // a quorum voted no
    won,      // a quorum voted yes
};

inline constexpr std::string_view to_string(vote_result r) noexcept {
    switch (r) {
    case vote_result::pending: return "pending";
    case vote_result::lost: return "lost";
    case vote_result::won: return "won";
    }
    return "unknown";
}

// What committed_index needs: f(id) -> std::optional<index_t>, the index a voter has acked,
// or nullopt if it has not reported (which counts as 0 but keeps the result open).
template <class F>
concept acked_indexer = std::invocable<F&, node_id> &&
                        std::convertible_to<std::invoke_result_t<F&, node_id>, std::optional<index_t>>;

// What vote_result_of needs: f(id) -> std::optional<bool>, the vote a voter cast, if any.
template <class F>
concept vote_lookup = std::invocable<F&, node_id> &&
                      std::convertible_to<std::invoke_result_t<F&, node_id>, std::optional<bool>>;

// What an empty configuration commits: everything, so a joint_config with an empty half
// behaves like its other half.
inline constexpr index_t max_index = std::numeric_limits<index_t>::max();

namespace quorum_impl {
// Insertion sort: the inputs have at most a handful of elements and live on the stack.
inline void insertion_sort(index_t* first, std::size_t n) noexcept {
    for (std::size_t i = 1; i < n; ++i) {
        const index_t v = first[i];
        std::size_t j = i;
        for (; j > 0 && v < first[j - 1]; --j) first[j] = first[j - 1];
        first[j] = v;
    }
}

template <class L>
index_t majority_index(const majority_config& c, L& acked, index_t* srt) {
    const std::size_t n = c.size();
    // Voters that have not reported count as 0; they sort to the front anyway.
    std::size_t i = 0;
    for (node_id id : c) {
        const std::optional<index_t> idx = acked(id);
        srt[i++] = idx ? *idx : 0;
    }
    // Sorted ascending, the (n/2+1)-th largest index is the highest one a majority has
    // acked (Raft §5.3). Larger configurations only need that one element in place.
    const std::size_t pos = n - (n / 2 + 1);
    if (n <= 7) {
        insertion_sort(srt, n);
    } else {
        std::nth_element(srt, srt + pos, srt + n);
    }
    return srt[pos];
}
}  // namespace quorum_impl

// The highest index acked by a majority of c (etcd's MajorityConfig.CommittedIndex);
// max_index for an empty configuration. Allocates only for more than 7 voters.
template <acked_indexer L>
index_t committed_index(const majority_config& c, L&& acked) {
    const std::size_t n = c.size();
    if (n == 0) return max_index;
    if (n <= 7) {
        std::array<index_t, 7> stack{};
        return quorum_impl::majority_index(c, acked, stack.data());
    }
    std::vector<index_t> heap(n);
    return quorum_impl::majority_index(c, acked, heap.data());
}

// An index is committed in a joint configuration once both halves commit it.
template <acked_indexer L>
index_t committed_index(const joint_config& c, L&& acked) {
    return std::min(committed_index(c.incoming, acked), committed_index(c.outgoing, acked));
}

// The outcome of an election in c given the votes so far (etcd's VoteResult). An empty
// configuration wins, so an empty half of a joint configuration defers to the other half.
template <vote_lookup V>
vote_result vote_result_of(const majority_config& c, V&& votes) {
    if (c.empty()) return vote_result::won;
    std::size_t yes = 0;
    std::size_t missing = 0;
    for (node_id id : c) {
        const std::optional<bool> v = votes(id);
        if (!v) ++missing;
        else if (*v) ++yes;
    }
    const std::size_t quorum = c.size() / 2 + 1;
    if (yes >= quorum) return vote_result::won;
    if (yes + missing >= quorum) return vote_result::pending;
    return vote_result::lost;
}

// Won if both halves won; lost if either lost; pending otherwise.
template <vote_lookup V>
vote_result vote_result_of(const joint_config& c, V&& votes) {
    const vote_result r1 = vote_result_of(c.incoming, votes);
    const vote_result r2 = vote_result_of(c.outgoing, votes);
    if (r1 == r2) return r1;
    if (r1 == vote_result::lost || r2 == vote_result::lost) return vote_result::lost;
    return vote_result::pending;
}

}  // namespace raftpp::detail
