// raftpp::detail::progress_tracker — the active configuration and what the leader knows of
// each member (etcd's tracker.ProgressTracker): progress per node, votes of the current
// election, and the commit index and quorum checks derived from them.
// Invariants (kept by the conf-change logic, not checked here): voters and learners are
// disjoint; every voter and learner has a progress entry and nothing else does.
// Lookups, visits, committed(), quorum_active() and tally_votes() do not allocate.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <raftpp/detail/progress.hpp>
#include <raftpp/detail/quorum.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

// The membership part of the tracker (etcd's tracker.Config).
struct tracker_config {
    joint_config voters;
    node_set learners;
    // Voters of the outgoing configuration that become learners when the joint configuration
    // is left: they cannot be learners yet, since voters and learners must stay disjoint.
    node_set learners_next;
    // Leave the joint configuration automatically once it is committed.
    bool auto_leave = false;

    // e.g. "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave"
    std::string to_string() const {
        std::string s = "voters=" + voters.to_string();
        if (!learners.empty()) s += " learners=" + learners.to_string();
        if (!learners_next.empty()) s += " learners_next=" + learners_next.to_string();
        if (auto_leave) s += " autoleave";
        return s;
    }

    friend bool operator==(const tracker_config&, const tracker_config&) = default;
};

// node_id -> progress, kept sorted by id in one vector: lookups are a binary search and
// iteration is in id order. Inserting or erasing (a membership change) moves entries, so
// pointers into the map are invalidated by insert_or_assign and erase only.
class progress_map {
public:
    using value_type = std::pair<node_id, progress>;

    [[gnu::always_inline]] progress* find(node_id id) noexcept {
        // Most clusters have a handful of members: a scan of the packed ids beats the binary
        // search's branches (and a scan of the pairs, a progress apart).
        const std::size_t n = ids_.size();
        if (n <= 8) {
            const node_id* ids = ids_.data();
            for (std::size_t i = 0; i < n; ++i)
                if (ids[i] == id) return &entries_[i].second;
            return nullptr;
        }
        auto it = lower_bound(id);
        return it != entries_.end() && it->first == id ? &it->second : nullptr;
    }
    const progress* find(node_id id) const noexcept {
        return const_cast<progress_map*>(this)->find(id);
    }
    bool contains(node_id id) const noexcept { return find(id) != nullptr; }

    progress& insert_or_assign(node_id id, progress pr) {
        auto it = lower_bound(id);
        if (it != entries_.end() && it->first == id) {
            it->second = std::move(pr);
        } else {
            ids_.insert(ids_.begin() + (it - entries_.begin()), id);
            it = entries_.emplace(it, id, std::move(pr));
        }
        return it->second;
    }
    // True if id was present.
    bool erase(node_id id) noexcept {
        auto it = lower_bound(id);
        if (it == entries_.end() || it->first != id) return false;
        ids_.erase(ids_.begin() + (it - entries_.begin()));
        entries_.erase(it);
        return true;
    }
    void clear() noexcept {
        entries_.clear();
        ids_.clear();
    }

    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    auto begin() noexcept { return entries_.begin(); }
    auto end() noexcept { return entries_.end(); }
    auto begin() const noexcept { return entries_.begin(); }
    auto end() const noexcept { return entries_.end(); }

    // One "id: progress" line per node, ascending.
    std::string to_string() const {
        std::string s;
        for (const auto& [id, pr] : entries_) s += std::to_string(id) + ": " + pr.to_string() + "\n";
        return s;
    }

private:
    std::vector<value_type>::iterator lower_bound(node_id id) noexcept {
        return std::lower_bound(entries_.begin(), entries_.end(), id,
                                [](const value_type& e, node_id k) { return e.first < k; });
    }

    std::vector<value_type> entries_;
    std::vector<node_id> ids_;  // entries_[i].first, packed for find()
};

// Votes counted in an election (etcd's TallyVotes results).
struct vote_tally {
    std::size_t granted = 0;
    std::size_t rejected = 0;
    vote_result result = vote_result::pending;
};

class progress_tracker {
public:
    explicit progress_tracker(std::size_t max_inflight, std::uint64_t max_inflight_bytes = 0)
        : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

    // --- configuration -------------------------------------------------------------------
    const tracker_config& config() const noexcept { return config_; }
    tracker_config& config() noexcept { return config_; }
    const joint_config& voters() const noexcept { return config_.voters; }
    const node_set& learners() const noexcept { return config_.learners; }
    const node_set& learners_next() const noexcept { return config_.learners_next; }
    bool auto_leave() const noexcept { return config_.auto_leave; }
    bool is_joint() const noexcept { return config_.voters.is_joint(); }

    std::size_t max_inflight() const noexcept { return max_inflight_; }
    std::uint64_t max_inflight_bytes() const noexcept { return max_inflight_bytes_; }

    // Switches to a configuration and progress set computed elsewhere (etcd's
    // switchToConfig assigning Config and Progress). Votes are kept.
    void apply_conf(tracker_config cfg, progress_map prs) {
        config_ = std::move(cfg);
        progress_ = std::move(prs);
    }

    // The configuration as raftpp::conf_state, ids ascending.
    raftpp::conf_state conf_state() const {
        raftpp::conf_state cs;
        cs.voters = config_.voters.incoming.ids();
        cs.voters_outgoing = config_.voters.outgoing.ids();
        cs.learners = config_.learners.ids();
        cs.learners_next = config_.learners_next.ids();
        cs.auto_leave = config_.auto_leave;
        return cs;
    }

    // Exactly one voter (the leader decides alone) and no joint configuration.
    bool is_singleton() const noexcept {
        return config_.voters.incoming.size() == 1 && config_.voters.outgoing.empty();
    }

    // Voters of either half, ascending.
    std::vector<node_id> voter_nodes() const { return config_.voters.ids().ids(); }
    std::vector<node_id> learner_nodes() const { return config_.learners.ids(); }

    // --- progress ------------------------------------------------------------------------
    // The progress of node id, or nullptr if it is not tracked.
    // Inlined: every step of a leader looks one up, and the call cost more than the scan.
    [[gnu::always_inline]] detail::progress* progress(node_id id) noexcept {
        return progress_.find(id);
    }
    [[gnu::always_inline]] const detail::progress* progress(node_id id) const noexcept {
        return progress_.find(id);
    }
    const progress_map& progresses() const noexcept { return progress_; }
    progress_map& progresses() noexcept { return progress_; }

    // A progress with this tracker's inflight limits, probing from `next` (etcd's
    // confchange initProgress uses next = last index, match = 0).
    detail::progress make_progress(index_t next, bool is_learner = false) const {
        detail::progress pr{.match = 0, .next = next, .is_learner = is_learner,
                            .inflights = inflights(max_inflight_, max_inflight_bytes_)};
        return pr;
    }
    // Starts tracking id (or replaces its progress) with make_progress(next, is_learner).
    // A new node counts as recently active so check-quorum does not demote the leader
    // before it had a chance to hear from it (etcd).
    detail::progress& insert_progress(node_id id, index_t next, bool is_learner = false) {
        detail::progress pr = make_progress(next, is_learner);
        pr.recent_active = true;
        return progress_.insert_or_assign(id, std::move(pr));
    }
    // Stops tracking id; true if it was tracked.
    bool remove_progress(node_id id) noexcept { return progress_.erase(id); }

    // Calls f(id, progress&) for every tracked node, ascending by id. f must not add or
    // remove nodes.
    template <class F>
    void visit(F&& f) {
        for (auto& [id, pr] : progress_) f(id, pr);
    }
    template <class F>
    void visit(F&& f) const {
        for (const auto& [id, pr] : progress_) f(id, pr);
    }

    // The highest index acked (match) by a quorum of the voters; see committed_index.
    index_t committed() const {
        // Outside joint consensus with a handful of voters (every commit of a steady cluster):
        // both the voters and the progress map are sorted by id, so one merge walk finds every
        // voter's match without a lookup each.
        const majority_config& in = config_.voters.incoming;
        if (config_.voters.outgoing.empty() && !in.empty() && in.size() <= 7) {
            std::array<index_t, 7> acked;  // the first n are written below
            std::size_t n = 0;
            auto p = progress_.begin();
            const auto end = progress_.end();
            for (node_id id : in) {
                while (p != end && p->first < id) ++p;
                acked[n++] = p != end && p->first == id ? p->second.match : 0;
            }
            if (n == 3) {
                // The median of three, the most common cluster, without sorting.
                const index_t lo = std::min(acked[0], acked[1]), hi = std::max(acked[0], acked[1]);
                return std::max(lo, std::min(hi, acked[2]));
            }
            quorum_impl::insertion_sort(acked.data(), n);
            return acked[n - (n / 2 + 1)];
        }
        return committed_index(config_.voters, [this](node_id id) -> std::optional<index_t> {
            const detail::progress* pr = progress_.find(id);
            if (pr == nullptr) return std::nullopt;
            return pr->match;
        });
    }

    // The highest value a quorum of the voters has reached, f(id, progress) -> index_t giving
    // each voter's value (0 for a voter without progress); the leader lease uses it.
    template <class F>
    index_t quorum_value(F&& f) const {
        return committed_index(config_.voters, [&](node_id id) -> std::optional<index_t> {
            const detail::progress* pr = progress_.find(id);
            if (pr == nullptr) return std::nullopt;
            return f(id, *pr);
        });
    }

    // A quorum of voters was heard from recently (check-quorum, Raft thesis §6.2); reads
    // recent_active and resets nothing.
    bool quorum_active() const {
        return vote_result_of(config_.voters, [this](node_id id) -> std::optional<bool> {
                   const detail::progress* pr = progress_.find(id);
                   if (pr == nullptr || pr->is_learner) return std::nullopt;
                   return pr->recent_active;
               }) == vote_result::won;
    }

    // The nodes in `ids` (any range of node_id, e.g. the heartbeat acks of a read_index
    // request) form a quorum of the voters, joint if need be.
    template <class Range>
    bool vote_won_by(const Range& ids) const {
        return vote_result_of(config_.voters, [&ids](node_id id) -> std::optional<bool> {
                   if (std::find(std::begin(ids), std::end(ids), id) == std::end(ids))
                       return std::nullopt;
                   return true;
               }) == vote_result::won;
    }

    // --- votes ---------------------------------------------------------------------------
    // Records id's vote for this node; a node's first vote in an election is the one counted.
    void record_vote(node_id id, bool granted) {
        auto it = std::lower_bound(votes_.begin(), votes_.end(), id,
                                   [](const auto& v, node_id k) { return v.first < k; });
        if (it != votes_.end() && it->first == id) return;
        votes_.emplace(it, id, granted);
    }
    // id's vote in the current election, if it cast one.
    std::optional<bool> vote(node_id id) const noexcept {
        auto it = std::lower_bound(votes_.begin(), votes_.end(), id,
                                   [](const auto& v, node_id k) { return v.first < k; });
        if (it == votes_.end() || it->first != id) return std::nullopt;
        return it->second;
    }
    // Granted and rejected votes among tracked non-learners (informational) and the outcome.
    vote_tally tally_votes() const {
        vote_tally t;
        for (const auto& [id, pr] : progress_) {
            if (pr.is_learner) continue;
            if (const std::optional<bool> v = vote(id)) ++(*v ? t.granted : t.rejected);
        }
        t.result = vote_result_of(config_.voters, [this](node_id id) { return vote(id); });
        return t;
    }
    // Starts a new election; keeps the storage so later elections do not allocate.
    void reset_votes() noexcept { votes_.clear(); }

    std::string to_string() const { return config_.to_string() + "\n" + progress_.to_string(); }

private:
    tracker_config config_;
    progress_map progress_;
    std::vector<std::pair<node_id, bool>> votes_;  // sorted by id
    std::size_t max_inflight_;
    std::uint64_t max_inflight_bytes_;
};

}  // namespace raftpp::detail
