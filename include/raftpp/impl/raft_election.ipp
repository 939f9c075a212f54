// raft<...>::step — the term checks every role shares — and elections: campaigns, PreVote,
// vote requests and tallying (Raft §5.2, §5.4.1; thesis §9.6 for PreVote and leases).
#pragma once

namespace raftpp {

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::step_message(message& m) {
    if (m.from != id_) {
        if (auto ec = detail::validate_message(m)) {
            trace(log_level::warning, id_, " dropped malformed ", to_string(m.type), " from ", m.from);
            return ec;
        }
    } else if (!from_self_ok(m)) {
        // A peer message claiming to come from us: answering it would address a request to
        // ourselves (a heartbeat_resp, an append), which send() asserts never happens.
        // raw_node::step refuses it the same way.
        trace(log_level::warning, id_, " dropped ", to_string(m.type), " claiming to be from ",
              m.from, " (itself)");
        return errc::malformed_message;
    }
    // Anything but another proposal sees the appends of the batched ones sent first; a message
    // refused above changes nothing, not even that.
    if (m.type != message_type::prop) flush_proposals();
    if (!step_term_checks(m)) return {};
    switch (m.type) {
    case message_type::hup:
        return hup(cfg_.pre_vote ? campaign_type::pre_election : campaign_type::election);
    case message_type::vote:
    case message_type::pre_vote: handle_vote_request(m); return {};
    default: break;
    }
    switch (role_) {
    case role::leader: return step_leader(m);
    case role::candidate:
    case role::pre_candidate: return step_candidate(m);
    case role::follower: return step_follower(m);
    }
    return {};
}

// What a node may step with its own id in `from`: local messages and requests (raw_node's
// hup, prop, read_index, transfer_leader, ...), and the responses the ready cycle delivers
// back to it (a candidate's own vote, a leader's acknowledgement of its own appends), which
// the core only ever sends to itself, granted. Anything else with from == id_ is forged.
RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::from_self_ok(const message& m) const noexcept {
    switch (m.type) {
    case message_type::prop:
    case message_type::read_index:
    case message_type::transfer_leader: return true;
    case message_type::app_resp:
    case message_type::vote_resp:
    case message_type::pre_vote_resp: return m.to == id_ && !m.reject;
    default: return is_local_message(m.type);
    }
}

// Returns false when the message is dealt with (ignored or answered) by the term rules alone.
RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::step_term_checks(const message& m) {
    if (m.term == 0) return true;  // local message
    if (m.term > term_) {
        if (m.type == message_type::vote || m.type == message_type::pre_vote) {
            const bool force = m.context.view() == campaign_transfer_ctx;
            // Leader lease (thesis §6.4, with check_quorum): a node that heard from a live
            // leader within the election timeout does not help depose it. With lease-based
            // reads a node that just started keeps the same promise: it may have acked a
            // leader's heartbeat right before it crashed, and that leader counts on it.
            const bool heard = lead_ != none ||
                               (cfg_.read_only == read_only_option::lease_based &&
                                ticks_ < static_cast<std::uint64_t>(cfg_.election_tick));
            const bool in_lease =
                cfg_.check_quorum && heard && election_elapsed_ < cfg_.election_tick;
            if (!force && in_lease) {
                trace(log_level::info, id_, " [term: ", term_, "] ignored ", to_string(m.type),
                     " from ", m.from, " at term ", m.term, ": lease is not expired");
                return false;
            }
        }
        if (m.type == message_type::pre_vote) {
            // A pre-vote never changes our term.
        } else if (m.type == message_type::pre_vote_resp && !m.reject) {
            // A granted pre-vote carries the term we will campaign at; it is not a newer
            // leader's term. A rejection carries the voter's real term and is handled below.
        } else {
            trace(log_level::info, id_, " [term: ", term_, "] received a ", to_string(m.type),
                 " message with higher term from ", m.from, " [term: ", m.term, "]");
            const bool from_leader = m.type == message_type::app ||
                                     m.type == message_type::heartbeat ||
                                     m.type == message_type::snap;
            become_follower(m.term, from_leader ? m.from : none);
        }
        return true;
    }
    if (m.term < term_) {
        if (m.type == message_type::heartbeat || m.type == message_type::app) {
            // A stale leader (e.g. partitioned, or whose term we passed through pre-vote-less
            // campaigning) learns our term from this response and steps down; without it a
            // cluster with check_quorum could wedge (etcd#5451). etcd answers only with
            // check_quorum or pre_vote, counting on our own vote requests to reach the stale
            // leader otherwise; they do not when our lagging configuration leaves it out
            // (docs/reliability.md, bug 3). Raft's Figure 2: every reply carries currentTerm.
            message r;
            r.type = message_type::app_resp;
            r.to = m.from;
            send(std::move(r));
        } else if (m.type == message_type::pre_vote || m.type == message_type::vote) {
            // Tell a lagging (pre-)candidate our term so it catches up instead of retrying.
            // Nobody else may ever tell it: a node whose configuration lags may not count the
            // candidate as a peer, and so never sends it a vote request of its own.
            message r;
            r.type = vote_response_type(m.type);
            r.to = m.from;
            r.term = term_;
            r.reject = true;
            send(std::move(r));
        } else {
            trace(log_level::info, id_, " [term: ", term_, "] ignored a ", to_string(m.type),
                 " message with lower term from ", m.from, " [term: ", m.term, "]");
        }
        return false;
    }
    return true;
}

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::hup(campaign_type t) {
    if (role_ == role::leader) return {};
    if (!promotable()) {
        trace(log_level::warning, id_, " is unpromotable and can not campaign");
        return {};
    }
    // A peer may have pushed us to the largest term: campaigning would wrap it to 0.
    if (term_ == std::numeric_limits<term_t>::max()) {
        trace(log_level::error, id_, " cannot campaign at term ", term_, ": the term would overflow");
        return {};
    }
    // A node with an unapplied conf change must not lead: it could act on a configuration it
    // has not applied yet.
    if (log_.committed() > log_.applied()) {
        // After a snapshot restore the unapplied range may start before the log does.
        const index_t from = std::max(log_.applied() + 1, log_.first_index());
        auto ents = log_.slice(from, log_.committed() + 1, no_limit);
        RAFTPP_ASSERT(ents.has_value(), "unexpected error getting unapplied entries");
        for (const auto& e : *ents) {
            if (e.type == entry_type::conf_change || e.type == entry_type::conf_change_v2) {
                trace(log_level::warning, id_, " cannot campaign at term ", term_,
                     " since there are still pending configuration changes to apply");
                return {};
            }
        }
    }
    trace(log_level::info, id_, " is starting a new election at term ", term_);
    campaign(t);
    return {};
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::campaign(campaign_type t) {
    message_type vote_msg;
    term_t term;
    if (t == campaign_type::pre_election) {
        become_pre_candidate();
        vote_msg = message_type::pre_vote;
        term = term_ + 1;  // the term we would campaign at; ours stays as it is
    } else {
        become_candidate();
        vote_msg = message_type::vote;
        term = term_;
    }
    for (node_id to : prs_.voter_nodes()) {
        message m;
        m.to = to;
        m.term = term;
        if (to == id_) {
            // Our own vote counts once it is durable: the ready cycle delivers this response
            // back to us after persisting the hard state that records it.
            m.type = vote_response_type(vote_msg);
            send(std::move(m));
            continue;
        }
        m.type = vote_msg;
        m.index = log_.last_index();
        m.log_term = log_.last_term();
        if (t == campaign_type::transfer) m.context = buffer(campaign_transfer_ctx);
        trace(log_level::info, id_, " [logterm: ", m.log_term, ", index: ", m.index, "] sent ",
             to_string(vote_msg), " request to ", to, " at term ", term_);
        send(std::move(m));
    }
}

RAFTPP_RAFT_TEMPLATE
detail::vote_tally RAFTPP_RAFT::poll(node_id from, message_type t, bool granted) {
    trace(log_level::info, id_, " received ", to_string(t), granted ? "" : " rejection", " from ",
         from, " at term ", term_);
    prs_.record_vote(from, granted);
    return prs_.tally_votes();
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::handle_vote_request(const message& m) {
    // Raft §5.2/§5.4.1: vote once per term, only for a log at least as up to date as ours.
    // A repeated request from the node we voted for is answered again (its response may have
    // been lost); a pre-vote for a future term may be granted even though we voted this term.
    const bool can_vote = vote_ == m.from || (vote_ == none && lead_ == none) ||
                          (m.type == message_type::pre_vote && m.term > term_);
    message r;
    r.to = m.from;
    r.type = vote_response_type(m.type);
    if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
        trace(log_level::info, id_, " [logterm: ", log_.last_term(), ", index: ",
             log_.last_index(), ", vote: ", vote_, "] cast ", to_string(m.type), " for ", m.from,
             " [logterm: ", m.log_term, ", index: ", m.index, "] at term ", term_);
        // The response carries the request's term: for a pre-vote that is the future term the
        // pre-candidate will campaign at, so it counts the grant.
        r.term = m.term;
        send(std::move(r));
        if (m.type == message_type::vote) {
            election_elapsed_ = 0;
            vote_ = m.from;
        }
    } else {
        trace(log_level::info, id_, " [logterm: ", log_.last_term(), ", index: ",
             log_.last_index(), ", vote: ", vote_, "] rejected ", to_string(m.type), " from ",
             m.from, " [logterm: ", m.log_term, ", index: ", m.index, "] at term ", term_);
        r.term = term_;
        r.reject = true;
        send(std::move(r));
    }
}

}  // namespace raftpp
