// The leader's step function and replication: proposals, append/heartbeat responses,
// flow control through each peer's progress, snapshots, linearizable reads and leadership
// transfer (Raft §5.3, §5.4; thesis §3.10, §6.4).
#pragma once

namespace raftpp {

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::step_leader(message& m) {
    switch (m.type) {
    case message_type::beat: broadcast_heartbeat(); return {};
    case message_type::check_quorum:
        if (auto* self = prs_.progress(id_)) self->recent_active = true;
        if (!prs_.quorum_active()) {
            trace(log_level::warning, id_, " stepped down to follower since quorum is not active");
            become_follower(term_, none);
        }
        // Everyone must prove liveness again before the next check.
        prs_.visit([&](node_id pid, detail::progress& pr) {
            if (pid != id_) pr.recent_active = false;
        });
        return {};
    case message_type::prop: return leader_propose(m);
    case message_type::read_index: leader_read_index(m); return {};
    default: break;
    }

    detail::progress* pr = prs_.progress(m.from);
    if (pr == nullptr) {
        trace(log_level::debug, id_, " no progress available for ", m.from);
        return {};
    }
    switch (m.type) {
    case message_type::app_resp: leader_append_response(m, *pr); break;
    case message_type::heartbeat_resp: leader_heartbeat_response(m, *pr); break;
    case message_type::snap_status:
        if (pr->state != detail::progress_state::snapshot) break;
        // On failure forget the pending snapshot, so the next probe may send a new one.
        if (m.reject) pr->pending_snapshot = 0;
        pr->become_probe();
        // Wait for a heartbeat response before probing: the follower may still be applying.
        pr->probe_sent = true;
        break;
    case message_type::unreachable:
        // Optimistic pipelining would only pile messages onto a dead link.
        if (pr->state == detail::progress_state::replicate) pr->become_probe();
        trace(log_level::debug, id_, " failed to send message to ", m.from,
             " because it is unreachable");
        break;
    case message_type::transfer_leader: leader_transfer(m, *pr); break;
    default: break;
    }
    return {};
}

RAFTPP_RAFT_TEMPLATE
result<void> RAFTPP_RAFT::leader_propose(message& m) {
    if (m.entries.empty()) return errc::invalid_argument;
    // A leader removed from the configuration keeps running until it steps down; it must not
    // append entries it cannot replicate to itself.
    if (prs_.progress(id_) == nullptr) return errc::proposal_dropped;
    if (lead_transferee_ != none) {
        trace(log_level::debug, id_, " [term ", term_, "] transfer leadership to ",
             lead_transferee_, " is in progress; dropping proposal");
        return errc::proposal_dropped;
    }
    for (std::size_t i = 0; i < m.entries.size(); ++i) {
        auto& e = m.entries[i];
        if (e.type == entry_type::normal) continue;
        auto cc = decode_conf_change_entry(e);
        std::string_view refused;
        const bool already_joint = prs_.is_joint();
        if (!cc) {
            refused = "malformed conf change";
        } else if (pending_conf_index_ > log_.applied()) {
            refused = "possible unapplied conf change";
        } else if (already_joint && !cc->leave_joint()) {
            refused = "must transition out of joint config first";
        } else if (!already_joint && cc->leave_joint()) {
            refused = "not in joint state; refusing empty conf change";
        } else if (cfg_.keep_voter_majority && !cc->leave_joint() &&
                   !detail::keeps_voter_majority(prs_.voter_nodes(), *cc)) {
            refused = "the change would keep fewer than a majority of the voters";
        }
        if (!refused.empty()) {
            // Keep the slot (the caller's indices stay valid) but make it a no-op entry.
            trace(log_level::info, id_, " ignoring conf change at index ",
                 log_.last_index() + i + 1, ": ", refused);
            e = entry{};
        } else {
            pending_conf_index_ = log_.last_index() + i + 1;
        }
    }
    if (!append_entry(m.entries)) return errc::proposal_dropped;
    if (batch_proposals_) broadcast_pending_ = true;
    else broadcast_append();
    return {};
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::leader_append_response(const message& m, detail::progress& pr) {
    pr.recent_active = true;
    if (m.reject) {
        // The follower's hint is the last (index, term) its log may share with ours; jump to
        // our own last entry at or below that term instead of stepping back one by one.
        index_t next_probe = m.reject_hint;
        if (m.log_term > 0) next_probe = log_.find_conflict_by_term(m.reject_hint, m.log_term).first;
        if (pr.maybe_decr_to(m.index, next_probe)) {
            trace(log_level::debug, id_, " decreased progress of ", m.from, " to next ", pr.next);
            if (pr.state == detail::progress_state::replicate) pr.become_probe();
            send_append(m.from);
        }
        return;
    }
    // An ack past our log cannot be genuine (a confused or malicious peer); counting it
    // could commit entries nobody has.
    if (m.index > log_.last_index()) {
        trace(log_level::warning, id_, " ignored app_resp from ", m.from, " for index ", m.index,
              " past last index ", log_.last_index());
        return;
    }
    const bool old_paused = pr.is_paused();
    if (!pr.maybe_update(m.index)) return;
    switch (pr.state) {
    case detail::progress_state::probe: pr.become_replicate(); break;
    case detail::progress_state::snapshot:
        // The follower caught up past the snapshot (e.g. it applied one from elsewhere):
        // resume ordinary replication once our log covers what it needs next.
        if (pr.match + 1 >= log_.first_index()) {
            pr.become_probe();
            pr.become_replicate();
        }
        break;
    case detail::progress_state::replicate: pr.inflights.free_le(m.index); break;
    }
    // The commit index is the highest index a quorum has matched: raising one match to at
    // most the commit index (the second ack of an entry a first ack committed) cannot move it.
    // Unless a configuration change already moved the quorum without a commit: a leader that
    // removed or demoted itself applies it without committing (as etcd), and leaves that to
    // the next ack.
    const auto self_voter = [this] {
        const detail::progress* self = prs_.progress(id_);
        return self != nullptr && !self->is_learner;
    };
    if ((pr.match > log_.committed() || !self_voter()) && maybe_commit()) {
        release_pending_read_index_messages();
        broadcast_append();
    } else if (old_paused && m.from != id_) {
        send_append(m.from);
    }
    if (m.from != id_) {
        // Acks may have freed several inflight slots: fill them (without empty appends).
        while (maybe_send_append(m.from, pr, false)) {
        }
    }
    if (m.from == lead_transferee_ && pr.match == log_.last_index()) {
        trace(log_level::info, id_, " sent timeout_now to ", m.from, " after it caught up");
        send_timeout_now(m.from);
    }
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::leader_heartbeat_response(const message& m, detail::progress& pr) {
    pr.recent_active = true;
    pr.probe_sent = false;
    if (m.reject && m.reject_hint < pr.match) {
        // The follower lost entries it acked (its disk was lost or truncated, etcd-io/raft#197):
        // its log ends at reject_hint. Probe from there instead of trusting match.
        trace(log_level::warning, id_, " ", m.from, " lost its log past ", m.reject_hint,
              " (match was ", pr.match, ")");
        pr.match = m.reject_hint;
        pr.become_probe();
        pr.next = pr.match + 1;
    }
    // If every append filling the window was lost, nothing would ever free it: a heartbeat
    // response proves the link works, so free one slot to send again.
    if (pr.state == detail::progress_state::replicate && pr.inflights.full())
        pr.inflights.free_first_one();
    if (pr.match < log_.last_index()) send_append(m.from);

    // The echo of the tick a lease-based leader stamped on its heartbeat (never a future one).
    if (m.index > pr.lease_ack && m.index <= ticks_ + 1) {
        pr.lease_ack = m.index;
        update_lease();
    }

    if (m.context.empty()) return;
    const auto* acks = read_only_.recv_ack(m.from, m.context);
    if (acks == nullptr || !prs_.vote_won_by(*acks)) return;
    read_only_.advance(m.context,
                       [this](detail::read_request& req, index_t index) { answer_read(req, index); });
    // Reads that waited for that round get theirs now.
    if (detail::read_round* next = read_only_.newest();
        next != nullptr && !next->launched && !read_only_.any_launched())
        launch_read_round(*next);
}

// The lease starts at the newest heartbeat send tick a quorum of the voters acknowledged (the
// leader counts as acknowledging now). Thesis §6.4: measured from the send, not the ack, as a
// follower's promise not to vote starts when it received the heartbeat.
RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::update_lease() {
    if (cfg_.read_only != read_only_option::lease_based || role_ != role::leader) return;
    const index_t q = prs_.quorum_value([this](node_id id, const detail::progress& pr) {
        return id == id_ ? ticks_ + 1 : pr.lease_ack;
    });
    lease_start_ = q == detail::max_index ? 0 : q;
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::lease_valid() const noexcept {
    if (role_ != role::leader || cfg_.read_only != read_only_option::lease_based) return false;
    // A transfer lets the transferee campaign past every lease (thesis §3.10, etcd-io/raft#99).
    if (lease_start_ == 0 || lead_transferee_ != none || timeout_now_sent_) return false;
    const auto lease = static_cast<std::uint64_t>(cfg_.election_tick - cfg_.max_clock_drift);
    return ticks_ + 1 < lease_start_ + lease;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::leader_transfer(const message& m, detail::progress& pr) {
    if (pr.is_learner) {
        trace(log_level::debug, id_, " ignored transferring leadership to learner ", m.from);
        return;
    }
    const node_id transferee = m.from;
    if (lead_transferee_ != none) {
        if (lead_transferee_ == transferee) {
            trace(log_level::info, id_, " [term ", term_, "] transfer leadership to ", transferee,
                 " is in progress, ignores request to same node");
            return;
        }
        abort_leader_transfer();
    }
    if (transferee == id_) {
        trace(log_level::debug, id_, " is already leader; ignored transferring leadership to self");
        return;
    }
    trace(log_level::info, id_, " [term ", term_, "] starts to transfer leadership to ", transferee);
    // The transfer must finish within an election timeout (tick_heartbeat aborts it).
    election_elapsed_ = 0;
    lead_transferee_ = transferee;
    if (pr.match == log_.last_index()) send_timeout_now(transferee);
    else send_append(transferee);
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::maybe_send_append(node_id to, detail::progress& peer, bool send_if_empty) {
    detail::progress* pr = &peer;
    if (pr->is_paused()) return false;
    // Nothing new to send (the common case after an ack): skip the reads below.
    if (!send_if_empty && pr->next > log_.last_index()) return false;
    if (pr->state == detail::progress_state::replicate && join_pending_append(to, *pr)) return true;
    auto prev_term = log_.term(pr->next - 1);
    // The term before the entries is compacted away: only a snapshot helps.
    if (!prev_term) return send_snapshot(to, *pr);
    const bool nothing_new = pr->next > log_.last_index();
    if (nothing_new) {
        if (!send_if_empty) return false;
        // A commit-only append: raise the commit of one still queued, or queue one that
        // carries no entry vector at all.
        if (raise_pending_commit(to)) return true;
    }
    // The entries go straight into the queued message's vector (one from the pool).
    message& m = queue_message(message_type::app, to);
    if (!nothing_new) {
        m.entries = detail::entry_vector_pool::acquire();
        if (log_.entries_into(pr->next, cfg_.max_size_per_msg, m.entries)) {
            // Compacted between the term read and here: take the message back.
            detail::entry_vector_pool::release(std::move(m.entries));
            msgs_.pop_back();
            return send_snapshot(to, *pr);
        }
    }
    m.index = pr->next - 1;
    m.log_term = *prev_term;
    m.commit = log_.committed();
    if (const std::size_t n = m.entries.size(); n != 0) {
        switch (pr->state) {
        case detail::progress_state::replicate: {
            // Pipelining (optimistic): assume delivery; a rejection moves us back to probe.
            const index_t last = m.entries[n - 1].index;
            pr->optimistic_update(last);
            pr->inflights.add(last, payload_size(m.entries));
            break;
        }
        case detail::progress_state::probe: pr->probe_sent = true; break;
        case detail::progress_state::snapshot:
            RAFTPP_ASSERT(false, "sending append in snapshot state");
        }
    }
    return true;
}

// The last message queued for `to` (nothing leaves before the ready cycle), looking only as
// far back as one message per peer and a few more, which is where it would be.
RAFTPP_RAFT_TEMPLATE
message* RAFTPP_RAFT::last_queued_to(node_id to) {
    const std::size_t window = prs_.progresses().size() + 4;
    std::size_t looked = 0;
    for (auto it = msgs_.rbegin(); it != msgs_.rend() && looked < window; ++it, ++looked) {
        if (it->to == to) return &*it;
    }
    return nullptr;
}

// A commit-only append to `to` adds nothing when an append to it is still queued: raise that
// message's commit instead. A batch of acks that advances the commit index many times then
// costs one message per follower, not one per advance.
RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::raise_pending_commit(node_id to) {
    message* q = last_queued_to(to);
    if (q == nullptr || q->type != message_type::app || q->term != term_) return false;
    q->commit = std::max(q->commit, log_.committed());
    return true;
}

// In the same way, new entries for a follower in replicate state join the append to it that
// is still queued, up to max_size_per_msg (etcd's limitSize rule applied to the joined
// message): a burst of proposals between two ready cycles costs one append per follower, not
// one per proposal. The inflight slot of that append grows with it.
RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::join_pending_append(node_id to, detail::progress& pr) {
    message* q = last_queued_to(to);
    if (q == nullptr || q->type != message_type::app || q->term != term_ || q->entries.empty() ||
        q->entries.back().index + 1 != pr.next || pr.inflights.count() == 0)
        return false;
    const auto [newest, payload] = pr.inflights.newest_append();
    if (newest != q->entries.back().index) return false;
    // The message's size by entry_size(): 16 bytes an entry plus the payload the slot counts.
    const std::uint64_t used = 16 * q->entries.size() + payload;
    if (used >= cfg_.max_size_per_msg) return false;
    const std::size_t before = q->entries.size();
    // On error entries_into leaves the message alone; the caller then takes the normal path.
    if (log_.entries_into(pr.next, cfg_.max_size_per_msg - used, q->entries)) return false;
    if (q->entries.size() == before) return false;
    // entries_into always takes one entry; joined, that one must fit too.
    if (used + entry_size(q->entries[before]) > cfg_.max_size_per_msg) {
        q->entries.resize(before);
        return false;
    }
    const index_t last = q->entries.back().index;
    q->commit = log_.committed();
    pr.optimistic_update(last);
    const auto joined = std::span<const entry>(q->entries).subspan(before);
    pr.inflights.extend_newest(last, payload_size(joined));
    return true;
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::send_snapshot(node_id to, detail::progress& pr) {
    if (!pr.recent_active) {
        trace(log_level::debug, id_, " ignore sending snapshot to ", to,
             " since it is not recently active");
        return false;
    }
    auto snap = log_.snapshot();
    if (!snap) {
        RAFTPP_ASSERT(snap.error() == errc::snapshot_temporarily_unavailable,
                      "unexpected error fetching the snapshot");
        trace(log_level::debug, id_, " failed to send snapshot to ", to,
             " because snapshot is temporarily unavailable");
        return false;
    }
    RAFTPP_ASSERT(!is_empty(*snap), "need non-empty snapshot");
    const index_t sindex = snap->metadata.index;
    trace(log_level::debug, id_, " [firstindex: ", log_.first_index(), ", commit: ",
         log_.committed(), "] sent snapshot [index: ", sindex, ", term: ", snap->metadata.term,
         "] to ", to);
    pr.become_snapshot(sindex);
    message m;
    m.type = message_type::snap;
    m.to = to;
    m.snapshot = std::make_shared<const snapshot>(std::move(*snap));
    send(std::move(m));
    return true;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::send_heartbeat(node_id to, const buffer& ctx) {
    // Never advertise a commit index the follower may not have: it could lack those entries
    // and would have to commit past its log.
    const auto* pr = prs_.progress(to);
    message m;
    m.type = message_type::heartbeat;
    m.to = to;
    m.commit = std::min(pr ? pr->match : 0, log_.committed());
    m.context = ctx;
    // Lease-based reads: the follower echoes our tick, so its ack dates the lease from here.
    if (cfg_.read_only == read_only_option::lease_based) m.index = ticks_ + 1;
    send(std::move(m));
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::broadcast_append() {
    prs_.visit([&](node_id pid, detail::progress& pr) {
        if (pid != id_) maybe_send_append(pid, pr, true);
    });
}

// The flush of batched proposals, in place of a broadcast_append() after each. One call per
// follower takes the new entries that fit one append; in replicate state more appends follow
// while entries are left and the inflight window allows (proposals one at a time would each
// have sent theirs, joined to the queued append where it had room).
RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::broadcast_new_entries() {
    if (role_ != role::leader) return;
    prs_.visit([&](node_id pid, detail::progress& pr) {
        if (pid == id_ || !maybe_send_append(pid, pr, true)) return;
        while (pr.state == detail::progress_state::replicate && pr.next <= log_.last_index() &&
               maybe_send_append(pid, pr, false)) {
        }
    });
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::broadcast_heartbeat() {
    // Reads waiting for a round in flight go now: the round's acks may have been lost.
    if (detail::read_round* next = read_only_.newest(); next != nullptr && !next->launched) {
        launch_read_round(*next);
        return;
    }
    // Otherwise the newest round's key again, so a lost ack is made up for (etcd).
    broadcast_heartbeat_with_ctx(read_only_.last_launched_key());
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::broadcast_heartbeat_with_ctx(const buffer& ctx) {
    prs_.visit([&](node_id pid, detail::progress&) {
        if (pid != id_) send_heartbeat(pid, ctx);
    });
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::send_timeout_now(node_id to) {
    message m;
    m.type = message_type::timeout_now;
    m.to = to;
    timeout_now_sent_ = true;
    send(std::move(m));
}

RAFTPP_RAFT_TEMPLATE
bool RAFTPP_RAFT::committed_entry_in_current_term() const {
    return log_.zero_term_on_err_compacted(log_.term(log_.committed())) == term_;
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::leader_read_index(message& m) {
    if (m.entries.empty()) return;  // a read_index carries its contexts, one per entry
    // A new leader does not know the commit index until it commits an entry of its own term
    // (Raft §8, etcd#7331): hold reads until then. A single voter too: after a restart its
    // commit index may be behind what it told others before the crash.
    if (!committed_entry_in_current_term()) {
        pending_read_index_messages_.push_back(std::move(m));
        return;
    }
    send_read_index_response(m);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::release_pending_read_index_messages() {
    if (pending_read_index_messages_.empty()) return;
    if (!committed_entry_in_current_term()) return;
    auto msgs = std::move(pending_read_index_messages_);
    pending_read_index_messages_.clear();
    for (auto& m : msgs) send_read_index_response(m);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::send_read_index_response(message& m) {
    // The only voter, and the leader: its commit index is linearizable. (A leader that was
    // demoted or removed is not; the single voter may be another node.) Within a valid lease
    // no other leader can exist yet (docs/design.md, "Leader leases").
    if ((prs_.is_singleton() && promotable()) || lease_valid()) {
        answer_read_now(m);
        return;
    }
    // Confirm we are still leader with a heartbeat round (lease-based reads outside the lease
    // too). A read joins the newest round unless that round's heartbeats already left.
    detail::read_round* newest = read_only_.newest();
    if (batch_reads_ && newest != nullptr && !newest->sealed) {
        read_only_.join_newest(m);
        // Its heartbeats leave after this read arrived: they vouch for today's commit index.
        if (newest->launched) newest->index = log_.committed();
        return;
    }
    if (read_only_.has_round(detail::read_only::context_of(m))) return;  // a repeat (etcd)
    // With batching, a round in flight makes this one wait for it (or for the next beat).
    const bool launch = !batch_reads_ || !read_only_.any_launched();
    detail::read_round& r = read_only_.add_round(m, log_.committed());
    if (launch) launch_read_round(r);
}

RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::launch_read_round(detail::read_round& r) {
    r.launched = true;
    r.index = log_.committed();
    if (std::find(r.acks.begin(), r.acks.end(), id_) == r.acks.end()) r.acks.push_back(id_);
    broadcast_heartbeat_with_ctx(r.key);
}

// Answers a read at once with the commit index.
RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::answer_read_now(message& m) {
    if (m.from == none || m.from == id_) {
        // The message keeps its vector for the caller to reuse.
        for (auto& e : m.entries) read_states_.push_back({log_.committed(), std::move(e.data)});
        m.entries.clear();
        return;
    }
    detail::read_request req{m.from, std::move(m.entries)};
    answer_read(req, log_.committed());
}

// A local read yields one read_state per context; a forwarded one goes back in one message
// that carries the contexts it came with.
RAFTPP_RAFT_TEMPLATE
void RAFTPP_RAFT::answer_read(detail::read_request& req, index_t read_index) {
    if (req.from == none || req.from == id_) {
        for (auto& e : req.ctxs) read_states_.push_back({read_index, std::move(e.data)});
        detail::entry_vector_pool::release(std::move(req.ctxs));
        return;
    }
    message m;
    m.type = message_type::read_index_resp;
    m.to = req.from;
    m.index = read_index;
    m.entries = std::move(req.ctxs);
    send(std::move(m));
}

}  // namespace raftpp
