// raft<...> bodies shared by every role: construction, bootstrap, role transitions, ticks,
// sending, appending, committing and configuration switches.
#pragma once

namespace raftpp {

#define RAFTPP_RAFT_TEMPLATE template <class Storage, class Transport, class Logger>
#define RAFTPP_RAFT raft<Storage, Transport, Logger>

RAFTPP_RAFT_TEMPLATE
RAFTPP_RAFT::raft(const config& cfg, Storage& storage, Transport transport, Logger logger)
    : cfg_(cfg.normalized()),
      id_(cfg.id),
      log_(storage, cfg_.max_committed_size_per_ready),
      prs_(cfg_.max_inflight_msgs, cfg_.max_inflight_bytes),
      rand_(cfg_.seed),
      transport_(std::move(transport)),
      logger_(std::move(logger)) {
    if (auto v = cfg.validate(); !v)
        throw std::system_error(v.error(), std::string(cfg.invalid_reason()));
    auto st = storage.initial_state();
    if (!st) throw std::system_error(st.error(), "raftpp: cannot load the initial state");
    const auto& cs = st->conf_state;
    if (!cs.voters.empty() || !cs.learners.empty()) {
        auto restored = detail::restore_config(prs_, log_.last_index(), cs);
        if (!restored)
            throw std::system_error(restored.error(), "raftpp: stored conf_state is invalid");
        switch_to_config(std::move(*restored));
    }
    if (!is_empty(st->hard_state)) load_state(st->hard_state);
    if (cfg_.applied > 0) {
        if (auto r = log_.applied_to(cfg_.applied); !r)
            throw std::system_error(r.error(), "raftpp: config.applied is out of range");
    }
    become_follower(term_, none);
    trace(log_level::info, "newRaft ", id_, " [term: ", term_, ", commit: ", log_.committed(),
         ", applied: ", log_.applied(), ", lastindex: ", log_.last_index(),
         ", lastterm: ", log_.last_term(), "]");
}

RAFTPP_RAFT_TEMPLATE
template <class... A>
void RAFTPP_RAFT::trace(log_level lv, const A&... a) {
    if (logger_.enabled(lv)) logger_.write(lv, detail::concat(a...));
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::load_state(const hard_state& hs) {
    if (hs.commit < log_.committed() || hs.commit > log_.last_index())
        throw std::system_error(make_error_code(errc::index_out_of_range),
                                detail::concat("raftpp: stored commit ", hs.commit,
                                               " is out of range [", log_.committed(), ", ",
                                               log_.last_index(), "]"));
    (void)log_.commit_to(hs.commit);
    term_ = hs.term;
    vote_ = hs.vote;
}

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::bootstrap(std::span<const peer> peers) {
    if (peers.empty()) return errc::invalid_config;
    auto st = log_.storage().initial_state();
    if (!st) return st.error();
    // A stored configuration means this node has started before: restart, don't bootstrap.
    if (!st->conf_state.voters.empty() || !st->conf_state.learners.empty() ||
        log_.last_index() != 0)
        return errc::invalid_config;
    for (std::size_t i = 0; i < peers.size(); ++i) {
        if (peers[i].id == none) return errc::invalid_config;
        for (std::size_t j = 0; j < i; ++j)
            if (peers[j].id == peers[i].id) return errc::invalid_config;
    }
    become_follower(1, none);
    std::vector<entry> ents;
    ents.reserve(peers.size());
    for (const auto& p : peers) {
        conf_change cc{p.learner ? conf_change_type::add_learner_node : conf_change_type::add_node,
                       p.id, p.context};
        ents.push_back({1, ents.size() + 1, entry_type::conf_change, encode(cc)});
    }
    log_.append(ents);
    // etcd marks the bootstrap entries committed right away: every member starts from the same
    // configuration, so there is nothing to agree on.
    if (auto r = log_.commit_to(ents.size()); !r) return r.error();
    for (const auto& p : peers) {
        conf_change cc{p.learner ? conf_change_type::add_learner_node : conf_change_type::add_node,
                       p.id, {}};
        if (auto r = apply_conf_change(cc.as_v2()); !r) return r.error();
    }
    return {};
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::reset(term_t term) {
    // A leader stepping down first sends what its batched proposals owe, as it would have.
    flush_proposals();
    if (term_ != term) {
        term_ = term;
        vote_ = none;
    }
    lead_ = none;
    election_elapsed_ = 0;
    heartbeat_elapsed_ = 0;
    reset_randomized_election_timeout();
    abort_leader_transfer();
    prs_.reset_votes();
    const index_t last = log_.last_index();
    prs_.visit([&](node_id pid, detail::progress& pr) {
        pr.reset(last + 1);
        if (pid == id_) pr.match = last;
    });
    pending_conf_index_ = 0;
    uncommitted_size_ = 0;
    read_only_.clear();
    lease_start_ = 0;
    timeout_now_sent_ = false;
    open_forward_ = npos;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::reset_randomized_election_timeout() {
    // Raft §5.2: a timeout drawn from [election_tick, 2 * election_tick).
    randomized_election_timeout_ =
        cfg_.election_tick + static_cast<int>(rand_.below(static_cast<std::uint64_t>(cfg_.election_tick)));
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::promotable() const {
    const auto* pr = prs_.progress(id_);
    return pr != nullptr && !pr->is_learner;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::send(message&& m) {
    // A forwarded transfer_leader keeps its `from`: it names the transferee, not the sender
    // (etcd main sets From only when unset).
    if (m.from == none || m.type != message_type::transfer_leader) m.from = id_;
    const bool vote_like = m.type == message_type::vote || m.type == message_type::vote_resp ||
                           m.type == message_type::pre_vote ||
                           m.type == message_type::pre_vote_resp;
    if (vote_like) {
        RAFTPP_ASSERT(m.term != 0, "term must be set when sending a vote message");
    } else {
        RAFTPP_ASSERT(m.term == 0, "term must not be set when sending this message");
        // Proposals and read_index requests are forwarded as local messages: no term.
        if (m.type != message_type::prop && m.type != message_type::read_index) m.term = term_;
    }
    queue_for(m.type, m.to).push_back(std::move(m));
}

// Responses vouch for state (log entries, a vote) that must be durable before anyone may rely
// on it, so they wait for the ready cycle to persist (etcd's msgsAfterAppend).
RAFTPP_RAFT_TEMPLATE
std::vector<message>& RAFTPP_RAFT::queue_for(message_type t, node_id to) {
    if (t == message_type::app_resp || t == message_type::vote_resp ||
        t == message_type::pre_vote_resp)
        return msgs_after_append_;
    RAFTPP_ASSERT(to != id_, "only responses may be addressed to self");
    return msgs_;
}

RAFTPP_RAFT_TEMPLATE
message& RAFTPP_RAFT::queue_message(message_type t, node_id to) {
    // send()'s rules for these two types: from and term are ours.
    RAFTPP_ASSERT(t == message_type::app || t == message_type::app_resp,
                  "queue_message is for appends and their responses");
    message& m = queue_for(t, to).emplace_back();
    m.type = t;
    m.to = to;
    m.from = id_;
    m.term = term_;
    return m;
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::append_entry(std::vector<entry>& es) {
    index_t li = log_.last_index();
    for (std::size_t i = 0; i < es.size(); ++i) {
        es[i].term = term_;
        es[i].index = li + 1 + i;
    }
    if (!increase_uncommitted_size(es)) {
        trace(log_level::debug, id_, " appending new entries would exceed the uncommitted size "
                                    "limit; dropping proposal");
        return false;
    }
    li = log_.append_moved(es);
    // The leader acks its own entries only once they are durable: this response is delivered
    // back to it by the ready cycle after the append is persisted. One ack covers every
    // append of a cycle, so a batch of proposals queues one self-ack, not one each.
    if (!msgs_after_append_.empty()) {
        message& last = msgs_after_append_.back();
        if (last.type == message_type::app_resp && last.to == id_ && last.term == term_ &&
            !last.reject) {
            last.index = li;
            return true;
        }
    }
    queue_message(message_type::app_resp, id_).index = li;
    return true;
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::maybe_commit() {
    return log_.maybe_commit(prs_.committed(), term_);
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::increase_uncommitted_size(std::span<const entry> es) {
    const std::uint64_t s = payload_size(es);
    // Always admit a proposal when nothing is uncommitted, so one large entry cannot wedge
    // the leader (etcd does the same).
    if (uncommitted_size_ > 0 && s > 0 && uncommitted_size_ + s > cfg_.max_uncommitted_entries_size)
        return false;
    uncommitted_size_ += s;
    return true;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::reduce_uncommitted_size(std::span<const entry> es) {
    if (uncommitted_size_ == 0) return;  // followers don't track it; don't underflow
    const std::uint64_t s = payload_size(es);
    uncommitted_size_ = s > uncommitted_size_ ? 0 : uncommitted_size_ - s;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::tick() {
    flush_proposals();
    ++ticks_;
    if (role_ == role::leader) tick_heartbeat();
    else tick_election();
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::tick_election() {
    ++election_elapsed_;
    if (promotable() && past_election_timeout()) {
        election_elapsed_ = 0;
        message m;
        m.type = message_type::hup;
        m.from = id_;
        (void)step(std::move(m));
    }
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::tick_heartbeat() {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (election_elapsed_ >= cfg_.election_tick) {
        election_elapsed_ = 0;
        if (cfg_.check_quorum) {
            message m;
            m.type = message_type::check_quorum;
            m.from = id_;
            (void)step(std::move(m));
        }
        // A transfer that has not finished within an election timeout is abandoned.
        if (role_ == role::leader && lead_transferee_ != none) abort_leader_transfer();
    }
    if (role_ != role::leader) return;
    if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
        heartbeat_elapsed_ = 0;
        message m;
        m.type = message_type::beat;
        m.from = id_;
        (void)step(std::move(m));
    }
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::become_follower(term_t term, node_id lead) {
    reset(term);
    lead_ = lead;
    role_ = role::follower;
    trace(log_level::info, id_, " became follower at term ", term_);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::become_candidate() {
    RAFTPP_ASSERT(role_ != role::leader, "invalid transition [leader -> candidate]");
    reset(term_ + 1);
    vote_ = id_;
    role_ = role::candidate;
    trace(log_level::info, id_, " became candidate at term ", term_);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::become_pre_candidate() {
    RAFTPP_ASSERT(role_ != role::leader, "invalid transition [leader -> pre-candidate]");
    // PreVote does not touch the term or the vote: a partitioned node that keeps pre-voting
    // cannot inflate its term and disrupt the cluster when it returns (thesis §9.6).
    prs_.reset_votes();
    lead_ = none;
    role_ = role::pre_candidate;
    trace(log_level::info, id_, " became pre-candidate at term ", term_);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::become_leader() {
    RAFTPP_ASSERT(role_ != role::follower, "invalid transition [follower -> leader]");
    reset(term_);
    lead_ = id_;
    role_ = role::leader;
    if (auto* pr = prs_.progress(id_)) {
        pr->become_replicate();
        pr->recent_active = true;
    }
    // Conservatively treat every uncommitted entry as a possible conf change: no new conf
    // change is proposed until everything this leader inherited is applied.
    pending_conf_index_ = log_.last_index();
    // Raft §5.4.2: commit an entry of the new term to learn what is committed.
    std::vector<entry> empty(1);
    RAFTPP_ASSERT(append_entry(empty), "empty entry was dropped");
    // The empty entry must not count against the uncommitted size limit.
    reduce_uncommitted_size(empty);
    trace(log_level::info, id_, " became leader at term ", term_);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::on_persisted(index_t index, term_t term) {
    log_.stable_to(index, term);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::on_snapshot_persisted(index_t index) {
    log_.stable_snap_to(index);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::on_applied(index_t index, std::span<const entry> applied) {
    if (index > 0) {
        auto r = log_.applied_to(index);
        RAFTPP_ASSERT(r.has_value(), "applied index out of range");
        // Leave a joint configuration entered with auto_leave once it is applied (etcd).
        if (prs_.auto_leave() && index >= pending_conf_index_ && role_ == role::leader) {
            flush_proposals();  // their appends before the leave entry's, as they were made
            std::vector<entry> leave(1);
            leave[0].type = entry_type::conf_change_v2;
            leave[0].data = encode(conf_change_v2{});
            // etcd's leave entry has no payload, so its uncommitted limit never refuses it;
            // ours has one. Admit it regardless (refused at the last apply, it would leave the
            // group joint with nothing left to retry on), but count it, so its apply releases it.
            const std::uint64_t others = std::exchange(uncommitted_size_, 0);
            const bool appended = append_entry(leave);
            RAFTPP_ASSERT(appended, "the leave entry was dropped");
            uncommitted_size_ += others;
            pending_conf_index_ = log_.last_index();
            broadcast_append();
            trace(log_level::info, id_, " initiating automatic transition out of joint configuration");
        }
    }
    reduce_uncommitted_size(applied);
}

RAFTPP_RAFT_TEMPLATE
result<conf_state> RAFTPP_RAFT::apply_conf_change(const conf_change_v2& cc) {
    flush_proposals();
    auto next = detail::apply_conf_change(prs_, log_.last_index(), cc);
    if (!next) return next.error();
    return switch_to_config(std::move(*next));
}

RAFTPP_RAFT_TEMPLATE
conf_state RAFTPP_RAFT::switch_to_config(detail::progress_tracker&& next) {
    prs_ = std::move(next);
    conf_state cs = prs_.conf_state();
    const auto* pr = prs_.progress(id_);
    is_learner_ = pr != nullptr && pr->is_learner;
    // The lease rests on a quorum of the configuration in force: voters added without an
    // ack yet may shorten it.
    if (role_ == role::leader) update_lease();
    // A leader removed or demoted by this change stops acting on the cluster's behalf: at
    // once with step_down_on_removal, otherwise at the next check-quorum round or when a new
    // leader appears (etcd).
    if ((pr == nullptr || is_learner_) && role_ == role::leader) {
        if (cfg_.step_down_on_removal) {
            trace(log_level::info, id_, " is no longer a voter; stepping down at term ", term_);
            become_follower(term_, none);
        }
        return cs;
    }
    if (role_ != role::leader || cs.voters.empty()) return cs;
    // The quorum may have shrunk: entries may be committed now.
    if (maybe_commit()) {
        broadcast_append();
    } else {
        prs_.visit([&](node_id pid, detail::progress& pr) {
            if (pid != id_) maybe_send_append(pid, pr, false);
        });
    }
    // A transferee that was removed or demoted to a learner can no longer take over (etcd).
    if (lead_transferee_ != none && !prs_.voters().contains(lead_transferee_))
        abort_leader_transfer();
    return cs;
}

}  // namespace raftpp
