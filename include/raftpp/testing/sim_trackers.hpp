// Two pieces of application behaviour the cluster harness (cluster.hpp) plays, kept apart:
//   snapshot_tracker  the transport's side of etcd's ReportSnapshot: a snapshot sent is
//                     reported finished once delivered, failed once it is overdue;
//   removal_tracker   when a member removed by a committed conf change may shut down: only
//                     once every remaining member has persisted a commit index covering its
//                     removal (see removal_tracker::due()).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

class snapshot_tracker {
public:
    // A snapshot message: sender, recipient, and the snapshot it carries (duplicates of the
    // message share it).
    struct key {
        node_id from = none, to = none;
        const snapshot* snap = nullptr;
        friend bool operator==(const key&, const key&) = default;
    };
    struct in_flight {
        key k;
        std::uint64_t incarnation = 0;  // the sender's, when it sent it
        std::uint64_t deadline = 0;     // network round after which it counts as lost
    };

    void sent(key k, std::uint64_t incarnation, std::uint64_t deadline) {
        pending_.push_back({k, incarnation, deadline});
    }
    // The record of a snapshot just delivered (nullopt for a duplicate already reported).
    std::optional<in_flight> delivered(const key& k) {
        auto it = std::find_if(pending_.begin(), pending_.end(),
                               [&](const in_flight& s) { return s.k == k; });
        if (it == pending_.end()) return std::nullopt;
        in_flight s = *it;
        pending_.erase(it);
        return s;
    }
    // Removes and returns the snapshots overdue at network round `now`.
    std::vector<in_flight> overdue(std::uint64_t now) {
        std::vector<in_flight> out;
        auto late = [&](const in_flight& s) { return s.deadline < now; };
        std::copy_if(pending_.begin(), pending_.end(), std::back_inserter(out), late);
        pending_.erase(std::remove_if(pending_.begin(), pending_.end(), late), pending_.end());
        return out;
    }

private:
    std::vector<in_flight> pending_;
};

class removal_tracker {
public:
    // A conf change at `index` turned configuration `before` into `after`. Records the
    // members it took out altogether: those it removes (still voting in the outgoing half of a
    // joint configuration until that is left) and, when it leaves a joint configuration, the
    // outgoing voters not in the new one.
    void applied(const conf_state& before, const conf_change_v2& cc, const conf_state& after,
                 index_t index) {
        std::vector<node_id> gone;
        for (const auto& ch : cc.changes)
            if (ch.type == conf_change_type::remove_node) gone.push_back(ch.node);
        if (cc.leave_joint())
            gone.insert(gone.end(), before.voters_outgoing.begin(), before.voters_outgoing.end());
        for (node_id x : gone) {
            const bool known = std::any_of(pending_.begin(), pending_.end(),
                                           [&](const removal& r) { return r.id == x; });
            if (known || in(after.voters, x) || in(after.voters_outgoing, x) ||
                in(after.learners, x))
                continue;
            removal r{x, index, after.voters};
            const auto& out = after.voters_outgoing;
            r.remaining.insert(r.remaining.end(), out.begin(), out.end());
            r.remaining.insert(r.remaining.end(), after.learners.begin(), after.learners.end());
            pending_.push_back(std::move(r));
        }
    }

    // Removes and returns the members that may shut down now: `persisted_commit(id)` is the
    // commit index in id's storage (no_limit for a member that is gone). Configurations take
    // effect when applied (etcd), so a removed leader that stopped at once could take with it
    // the only knowledge that its removal committed: the others would still count it in their
    // quorum, e.g. as the outgoing half of a joint configuration (etcd stops a removed member
    // after a delay for the same reason).
    template <class PersistedCommit>
    std::vector<node_id> due(PersistedCommit&& persisted_commit) {
        std::vector<node_id> out;
        std::erase_if(pending_, [&](const removal& r) {
            const bool known = std::all_of(r.remaining.begin(), r.remaining.end(), [&](node_id id) {
                return persisted_commit(id) >= r.index;
            });
            if (known) out.push_back(r.id);
            return known;
        });
        return out;
    }

private:
    struct removal {
        node_id id;
        index_t index;                   // of the conf change that removed it
        std::vector<node_id> remaining;  // the members after it
    };
    static bool in(const std::vector<node_id>& v, node_id x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    }
    std::vector<removal> pending_;
};

}  // namespace raftpp::testing
