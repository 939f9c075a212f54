// The follower and (pre-)candidate step functions, and what a follower does with the
// leader's appends, heartbeats and snapshots (Raft §5.3, §7).
#pragma once

namespace raftpp {

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::step_candidate(message& m) {
    // Only responses of our own kind count: a pre-candidate ignores stale vote responses.
    const message_type my_vote_resp =
        role_ == role::pre_candidate ? message_type::pre_vote_resp : message_type::vote_resp;
    switch (m.type) {
    case message_type::prop:
        trace(log_level::info, id_, " no leader at term ", term_, "; dropping proposal");
        return errc::proposal_dropped;
    case message_type::app:
        become_follower(m.term, m.from);  // m.term == term_: a leader won this term
        handle_append_entries(m);
        return {};
    case message_type::heartbeat:
        become_follower(m.term, m.from);
        handle_heartbeat(m);
        return {};
    case message_type::snap:
        become_follower(m.term, m.from);
        handle_snapshot(m);
        return {};
    case message_type::timeout_now:
        trace(log_level::debug, id_, " [term ", term_, " state ", to_string(role_),
             "] ignored timeout_now from ", m.from);
        return {};
    default: break;
    }
    if (m.type != my_vote_resp) return {};
    const auto tally = poll(m.from, m.type, !m.reject);
    trace(log_level::info, id_, " has received ", tally.granted, " ", to_string(m.type),
         " votes and ", tally.rejected, " vote rejections");
    if (tally.result == detail::vote_result::won) {
        if (role_ == role::pre_candidate) {
            campaign(campaign_type::election);
        } else {
            become_leader();
            broadcast_append();
        }
    } else if (tally.result == detail::vote_result::lost) {
        // A rejected pre-vote leaves the term alone; a lost election keeps the new term.
        become_follower(term_, none);
    }
    return {};
}

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::step_follower(message& m) {
    switch (m.type) {
    case message_type::prop:
        if (lead_ == none) {
            trace(log_level::info, id_, " no leader at term ", term_, "; dropping proposal");
            return errc::proposal_dropped;
        }
        if (cfg_.disable_proposal_forwarding) {
            trace(log_level::info, id_, " not forwarding to leader ", lead_, " at term ", term_,
                 "; dropping proposal");
            return errc::proposal_dropped;
        }
        m.to = lead_;
        m.term = 0;  // forwarded without a term, as etcd sends proposals
        send(std::move(m));
        return {};
    case message_type::app:
        election_elapsed_ = 0;
        lead_ = m.from;
        handle_append_entries(m);
        return {};
    case message_type::heartbeat:
        election_elapsed_ = 0;
        lead_ = m.from;
        handle_heartbeat(m);
        return {};
    case message_type::snap:
        election_elapsed_ = 0;
        lead_ = m.from;
        handle_snapshot(m);
        return {};
    case message_type::transfer_leader:
        if (m.from == lead_) {
            trace(log_level::debug, id_, " ignored transferring leadership to the leader ", lead_);
            return {};
        }
        if (lead_ == none) {
            trace(log_level::info, id_, " no leader at term ", term_,
                 "; dropping leader transfer msg");
            return {};
        }
        m.to = lead_;
        m.term = 0;  // send() stamps our term: the one we know lead_ leads
        send(std::move(m));
        return {};
    case message_type::timeout_now:
        // The leader asked us to take over (thesis §3.10): campaign at once, skipping
        // PreVote, and with a context that overrides other nodes' leader leases.
        trace(log_level::info, id_, " [term ", term_, "] received timeout_now from ", m.from,
             " and starts an election to get leadership");
        return hup(campaign_type::transfer);
    case message_type::read_index:
        if (lead_ == none) {
            trace(log_level::info, id_, " no leader at term ", term_,
                 "; dropping index reading msg");
            return {};
        }
        // The reads of one ready cycle go to the leader in one message, one entry each.
        if (batch_reads_ && join_forwarded_read(m)) return {};
        m.to = lead_;
        m.term = 0;  // forwarded without a term, as etcd sends read requests
        send(std::move(m));
        if (batch_reads_) open_forward_ = msgs_.size() - 1;
        return {};
    case message_type::read_index_resp:
        if (m.entries.empty()) {
            trace(log_level::error, id_, " invalid format of read_index_resp from ", m.from,
                 ", entries count: ", m.entries.size());
            return {};
        }
        for (auto& e : m.entries) read_states_.push_back({m.index, std::move(e.data)});
        return {};
    default: return {};
    }
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::handle_append_entries(message& m) {
    if (m.index < log_.committed()) {
        // Everything up to our commit index already matches (Log Matching): tell the leader.
        queue_message(message_type::app_resp, m.from).index = log_.committed();
        return;
    }
    if (auto last = log_.maybe_append_moved(m.index, m.log_term, m.commit, m.entries)) {
        queue_message(message_type::app_resp, m.from).index = *last;
        return;
    }
    // Our log does not match at m.index. Hint the largest (index, term) at which it could:
    // the leader can then skip every index in our tail whose term is above m.log_term,
    // instead of probing one index per round trip.
    const index_t hint_index = std::min(m.index, log_.last_index());
    const auto [idx, term] = log_.find_conflict_by_term(hint_index, m.log_term);
    trace(log_level::debug, id_, " [logterm: ", log_.zero_term_on_err_compacted(log_.term(m.index)),
         ", index: ", m.index, "] rejected app [logterm: ", m.log_term, ", index: ", m.index,
         "] from ", m.from);
    message& r = queue_message(message_type::app_resp, m.from);
    r.index = m.index;
    r.reject = true;
    r.reject_hint = idx;
    r.log_term = term;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::handle_heartbeat(const message& m) {
    // The leader never sends a commit above our match, so a commit past our last index means
    // we lost durable state (etcd-io/raft#197): keep running and let the leader's probe repair
    // the log instead of crashing.
    message r;
    r.type = message_type::heartbeat_resp;
    r.to = m.from;
    r.context = m.context;
    // The leader's send tick, for its lease (0 unless it serves lease-based reads).
    r.index = m.index;
    if (m.commit > log_.last_index()) {
        trace(log_level::error, id_, " heartbeat commit ", m.commit, " is past last index ",
             log_.last_index(), "; was the log lost or truncated?");
        // Tell the leader where our log really ends, so it probes from there.
        r.reject = true;
        r.reject_hint = log_.last_index();
    } else {
        (void)log_.commit_to(m.commit);
    }
    send(std::move(r));
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::handle_snapshot(const message& m) {
    message r;
    if (!m.snapshot) {
        trace(log_level::error, id_, " ignored snap message without a snapshot from ", m.from);
        return;
    }
    const auto& meta = m.snapshot->metadata;
    r.type = message_type::app_resp;
    r.to = m.from;
    if (restore(*m.snapshot)) {
        trace(log_level::info, id_, " [commit: ", log_.committed(), "] restored snapshot [index: ",
             meta.index, ", term: ", meta.term, "]");
        r.index = log_.last_index();
    } else {
        trace(log_level::info, id_, " [commit: ", log_.committed(), "] ignored snapshot [index: ",
             meta.index, ", term: ", meta.term, "]");
        r.index = log_.committed();
    }
    send(std::move(r));
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::restore(const snapshot& s) {
    const auto& meta = s.metadata;
    if (meta.index <= log_.committed()) return false;
    if (role_ != role::follower) {
        // Only a leader of this term sends snapshots, and it would have made us a follower.
        trace(log_level::warning, id_, " attempted to restore snapshot as ", to_string(role_),
             "; should never happen");
        become_follower(term_ == std::numeric_limits<term_t>::max() ? term_ : term_ + 1, none);
        return false;
    }
    // Defense in depth: a snapshot whose configuration does not include us is not ours.
    const auto& cs = meta.conf_state;
    const auto contains = [&](const std::vector<node_id>& v) {
        return std::find(v.begin(), v.end(), id_) != v.end();
    };
    if (!contains(cs.voters) && !contains(cs.learners) && !contains(cs.voters_outgoing)) {
        trace(log_level::warning, id_, " attempted to restore snapshot but it is not in the "
                                      "conf_state; should never happen");
        return false;
    }
    // Our log already has the snapshot's last entry: everything before it matches, so only
    // move the commit index (etcd's fast-forward).
    if (log_.match_term(meta.index, meta.term)) {
        (void)log_.commit_to(meta.index);
        return false;
    }
    // The configuration comes off the wire: check it before touching the log.
    detail::progress_tracker fresh(cfg_.max_inflight_msgs, cfg_.max_inflight_bytes);
    auto restored = detail::restore_config(fresh, meta.index, cs);
    if (!restored) {
        trace(log_level::error, id_, " ignored snapshot [index: ", meta.index,
              "] with an invalid configuration");
        return false;
    }
    // Otherwise the snapshot replaces our whole log, conflicting suffix included
    // (hashicorp/raft#697).
    log_.restore(s);
    switch_to_config(std::move(*restored));
    return true;
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::join_forwarded_read(message& m) {
    if (open_forward_ >= msgs_.size()) return false;
    message& q = msgs_[open_forward_];
    if (q.type != message_type::read_index || q.to != lead_) return false;
    q.entries.insert(q.entries.end(), std::make_move_iterator(m.entries.begin()),
                     std::make_move_iterator(m.entries.end()));
    return true;
}

}  // namespace raftpp
