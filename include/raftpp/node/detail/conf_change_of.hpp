// The raft conf change a node's member_change asks for, checked against the member table:
// what raftpp::node proposes for async_propose_conf_change, or why it refuses the request.
#pragma once

#include <system_error>

#include <raftpp/cluster_members.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/error.hpp>
#include <raftpp/node/detail/node_requests.hpp>
#include <raftpp/raft.hpp>

namespace raftpp::detail {

// etcd's isLearnerReady: on the leader, a learner may become a voter once it has 90 % of the
// leader's log; a voter far behind would weaken the quorum. Elsewhere the leader's progress
// is unknown and the change goes through.
template <class Raft>
bool learner_ready(const Raft& r, node_id learner_id) {
    if (r.role() != role::leader) return true;
    const auto* learner = r.tracker().progress(learner_id);
    const auto* self = r.tracker().progress(r.id());
    if (learner == nullptr || self == nullptr) return true;
    return static_cast<double>(learner->match) >= 0.9 * static_cast<double>(self->match);
}

// Sets cc's type and node and completes ch.m (the whole member for promote and remove), or
// returns why the change is refused. check_learner: whether a promote must pass
// learner_ready (not for one that waited for a leader: a leader elected this very cycle knows
// nobody's progress yet, and would refuse every promote).
template <class Raft>
std::error_code conf_change_of(member_change& ch, const cluster_members& members,
                               const Raft& r, conf_change& cc, bool check_learner = true) {
    cc.node = ch.m.id;
    const member* known = members.find(ch.m.id);
    switch (ch.type) {
    case member_change_type::add_voter:
    case member_change_type::add_learner:
        cc.type = ch.type == member_change_type::add_voter ? conf_change_type::add_node
                                                          : conf_change_type::add_learner_node;
        if (ch.m.id == none || ch.m.peer_urls.empty() || known != nullptr)
            return make_error_code(errc::invalid_argument);
        ch.m.is_learner = ch.type == member_change_type::add_learner;
        return {};
    case member_change_type::promote:
        cc.type = conf_change_type::add_node;
        if (known == nullptr) return make_error_code(errc::unknown_member);
        if (!known->is_learner) return make_error_code(errc::invalid_argument);
        if (check_learner && !learner_ready(r, ch.m.id))
            return make_error_code(errc::learner_not_ready);
        ch.m = *known;
        ch.m.is_learner = false;
        return {};
    case member_change_type::remove:
        cc.type = conf_change_type::remove_node;
        if (known == nullptr) return make_error_code(errc::unknown_member);
        ch.m = *known;
        return {};
    }
    return make_error_code(errc::invalid_argument);
}

}  // namespace raftpp::detail
