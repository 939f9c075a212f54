// raftpp::raft<Storage, Transport, Logger> — the Raft consensus state machine (etcd's `raft`).
// It does no I/O and keeps time as logical ticks: inputs are tick() and step(message); outputs
// are log changes (in raft_log), a hard state, and messages queued for the ready cycle
// (raw_node). Roles are split as etcd splits them: step() runs the term checks every role
// shares, then dispatches to step_leader / step_candidate / step_follower.
//
// Durability rule (etcd's msgsAfterAppend): a message that depends on state not yet durable
// (append and vote responses, including the ones a node addresses to itself) waits in
// msgs_after_append_ until the ready cycle has persisted that state. The leader counts its own
// log toward a quorum only when its self-addressed append response is delivered in advance().
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <raftpp/concepts.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/config.hpp>
#include <raftpp/detail/confchange.hpp>
#include <raftpp/detail/entry_pool.hpp>
#include <raftpp/detail/progress_tracker.hpp>
#include <raftpp/detail/random.hpp>
#include <raftpp/detail/read_only.hpp>
#include <raftpp/detail/validate.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/raft_log.hpp>
#include <raftpp/transport.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

enum class role : std::uint8_t { follower, pre_candidate, candidate, leader };

inline std::string_view to_string(role r) noexcept {
    switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre-candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
    }
    return "unknown";
}

// Volatile state the application may want to observe (etcd's SoftState).
struct soft_state {
    node_id lead = none;
    raftpp::role role = role::follower;
    friend bool operator==(const soft_state&, const soft_state&) = default;
};

// The answer to a read_index request: reads of state applied up to `index` are linearizable.
struct read_state {
    index_t index = 0;
    buffer request_ctx;
    friend bool operator==(const read_state&, const read_state&) = default;
};

// A member given to bootstrap (etcd's Peer, plus the learner flag etcd expresses as a
// separate list).
struct peer {
    node_id id = none;
    bool learner = false;
    buffer context;
};

template <class Storage, class Transport = vector_transport, class Logger = null_logger>
class raft {
    static_assert(check_storage_reader<Storage>());
    static_assert(check_transport<Transport>());
    static_assert(check_logger<Logger>());

public:
    using storage_type = Storage;
    using transport_type = Transport;
    using logger_type = Logger;

    // Throws std::system_error(errc::invalid_config) when the config is invalid or the
    // storage's initial state cannot be loaded (an API-boundary error, never on a hot path).
    raft(const config& cfg, Storage& storage, Transport transport = Transport{},
         Logger logger = Logger{});

    // --- inputs -------------------------------------------------------------------------
    void tick();
    // Steps any message, local or remote (etcd's raft.Step). A peer message that fails the
    // structural checks (detail::validate_message) or claims to come from this node (other
    // than the local requests and the responses the ready cycle delivers back to it) is
    // refused with errc::malformed_message before anything changes.
    result<void> step(message&& m) {
        auto r = step_message(m);
        // The receiver is done with the entries: give their vector back for reuse.
        detail::entry_vector_pool::release(std::move(m.entries));
        return r;
    }
    result<void> step(const message& m) { return step(message(m)); }
    // step() for a message the caller keeps; it may be moved from (e.g. when forwarded).
    result<void> step_message(message& m);

    // Fresh-cluster start (etcd's RawNode.Bootstrap / startNode): term 1, one conf change
    // entry per peer, all committed, peers added to the tracker.
    result<void> bootstrap(std::span<const peer> peers);

    // Applies a committed conf change; returns the configuration now in force.
    result<conf_state> apply_conf_change(const conf_change_v2& cc);

    // --- observers ----------------------------------------------------------------------
    node_id id() const noexcept { return id_; }
    term_t term() const noexcept { return term_; }
    node_id vote() const noexcept { return vote_; }
    node_id lead() const noexcept { return lead_; }
    raftpp::role role() const noexcept { return role_; }
    bool is_learner() const noexcept { return is_learner_; }
    node_id lead_transferee() const noexcept { return lead_transferee_; }
    int randomized_election_timeout() const noexcept { return randomized_election_timeout_; }
    int election_elapsed() const noexcept { return election_elapsed_; }
    index_t pending_conf_index() const noexcept { return pending_conf_index_; }
    std::uint64_t uncommitted_size() const noexcept { return uncommitted_size_; }
    hard_state hard_state_now() const noexcept { return {term_, vote_, log_.committed()}; }
    soft_state soft_state_now() const noexcept { return {lead_, role_}; }
    const config& cfg() const noexcept { return cfg_; }

    raft_log<Storage>& log() noexcept { return log_; }
    const raft_log<Storage>& log() const noexcept { return log_; }
    // The non-const observers of progress and messages first send what batched proposals owe
    // (see set_proposal_batching); the const ones show the state as of that last flush.
    detail::progress_tracker& tracker() {
        flush_proposals();
        return prs_;
    }
    const detail::progress_tracker& tracker() const noexcept { return prs_; }
    Transport& transport() noexcept { return transport_; }
    Logger& logger() noexcept { return logger_; }

    // Messages that may be sent now / only after the pending state is durable.
    std::vector<message>& messages() {
        flush_proposals();
        return msgs_;
    }
    std::vector<message>& messages_after_append() noexcept { return msgs_after_append_; }
    std::vector<read_state>& read_states() noexcept { return read_states_; }
    const std::vector<message>& messages() const noexcept { return msgs_; }
    const std::vector<message>& messages_after_append() const noexcept { return msgs_after_append_; }
    const std::vector<read_state>& read_states() const noexcept { return read_states_; }

    // Ready-cycle hooks (used by raw_node): everything up to (index, term) is durable.
    void on_persisted(index_t index, term_t term);
    void on_snapshot_persisted(index_t index);
    void on_applied(index_t index, std::span<const entry> applied);

    // Test and simulation hooks mirroring etcd's test helpers.
    void become_follower(term_t term, node_id lead);
    void become_candidate();
    void become_pre_candidate();
    void become_leader();
    void reset_randomized_election_timeout();
    void set_randomized_election_timeout(int t) noexcept { randomized_election_timeout_ = t; }
    bool promotable() const;
    bool past_election_timeout() const noexcept {
        return election_elapsed_ >= randomized_election_timeout_;
    }
    // Ticks since this node was constructed (its clock for leases).
    std::uint64_t ticks() const noexcept { return ticks_; }
    // This leader may answer a lease_based read without a heartbeat round: a quorum
    // acknowledged a heartbeat it sent fewer than election_tick - max_clock_drift ticks ago,
    // and no leader transfer is under way or was started in this term.
    bool lease_valid() const noexcept;

    // Read batching (raw_node turns it on; a bare raft answers each read with a heartbeat
    // round of its own, as etcd does): reads join the round whose heartbeats have not left
    // yet, or wait together for the next one. seal_reads() says the queued messages left.
    void set_read_batching(bool on) noexcept { batch_reads_ = on; }
    bool read_batching() const noexcept { return batch_reads_; }
    void seal_reads() noexcept {
        read_only_.seal();
        open_forward_ = npos;
    }
    // Proposal batching (raw_node turns it on; a bare raft broadcasts each proposal, as etcd
    // does). A proposal is still appended at once, so its index and any refusal are known on
    // return. The appends that replicate it wait for the next thing that drives the node
    // otherwise: a step of any other message, a tick, apply_conf_change(), a change of role,
    // or the non-const messages() or tracker() (raw_node::ready() and status() call them).
    // They then leave together with those of the proposals made meanwhile, one slice of the
    // log per follower: appends of at most max_size_per_msg (one entry at least), in replicate
    // state as many as the inflight window allows, in probe state one probe carrying as many
    // as fit. Each follower's appends keep their order; across followers a burst's appends go
    // follower by follower.
    void set_proposal_batching(bool on) {
        batch_proposals_ = on;
        if (!on) flush_proposals();
    }
    bool proposal_batching() const noexcept { return batch_proposals_; }
    // Sends the appends that proposals batched since the last flush owe; nothing when none.
    void flush_proposals() {
        if (broadcast_pending_) [[unlikely]] {
            broadcast_pending_ = false;
            broadcast_new_entries();
        }
    }
    // Read requests waiting for a heartbeat round (leader) and the rounds they are in.
    std::size_t pending_reads() const noexcept { return read_only_.pending_count(); }
    std::size_t pending_read_rounds() const noexcept { return read_only_.round_count(); }

private:
    enum class campaign_type : std::uint8_t { pre_election, election, transfer };
    static constexpr std::string_view campaign_transfer_ctx = "CampaignTransfer";

    // impl/raft_core.ipp
    void load_state(const hard_state& hs);
    void reset(term_t term);
    void send(message&& m);
    // send() for the appends and append responses the core sends most: the message is built
    // in its queue rather than on the stack and moved there. Fill it in before sending again.
    message& queue_message(message_type t, node_id to);
    std::vector<message>& queue_for(message_type t, node_id to);
    bool append_entry(std::vector<entry>& es);
    bool maybe_commit();
    void tick_election();
    void tick_heartbeat();
    bool increase_uncommitted_size(std::span<const entry> es);
    void reduce_uncommitted_size(std::span<const entry> es);
    conf_state switch_to_config(detail::progress_tracker&& next);
    template <class... A>
    void trace(log_level lv, const A&... a);

    // impl/raft_election.ipp
    void campaign(campaign_type t);
    detail::vote_tally poll(node_id id, message_type t, bool granted);
    bool step_term_checks(const message& m);
    bool from_self_ok(const message& m) const noexcept;
    void handle_vote_request(const message& m);
    result<void> hup(campaign_type t);

    // impl/raft_leader.ipp
    result<void> step_leader(message& m);
    result<void> leader_propose(message& m);
    void leader_read_index(message& m);
    void leader_append_response(const message& m, detail::progress& pr);
    void leader_heartbeat_response(const message& m, detail::progress& pr);
    void leader_transfer(const message& m, detail::progress& pr);
    void send_append(node_id to) { maybe_send_append(to, true); }
    bool maybe_send_append(node_id to, bool send_if_empty) {
        detail::progress* pr = prs_.progress(to);
        return pr != nullptr && maybe_send_append(to, *pr, send_if_empty);
    }
    // The same for a caller that holds the peer's progress already.
    bool maybe_send_append(node_id to, detail::progress& pr, bool send_if_empty);
    bool send_snapshot(node_id to, detail::progress& pr);
    bool raise_pending_commit(node_id to);
    bool join_pending_append(node_id to, detail::progress& pr);
    message* last_queued_to(node_id to);
    void send_heartbeat(node_id to, const buffer& ctx);
    void update_lease();
    void launch_read_round(detail::read_round& r);
    void answer_read(detail::read_request& req, index_t read_index);
    bool join_forwarded_read(message& m);
    void broadcast_append();
    // Out of line: inlined at each flush point it would weigh on the paths that find none.
    [[gnu::noinline]] void broadcast_new_entries();
    void broadcast_heartbeat();
    void broadcast_heartbeat_with_ctx(const buffer& ctx);
    void send_timeout_now(node_id to);
    void abort_leader_transfer() noexcept { lead_transferee_ = none; }
    bool committed_entry_in_current_term() const;
    void release_pending_read_index_messages();
    void send_read_index_response(message& m);
    void answer_read_now(message& m);

    // impl/raft_follower.ipp
    result<void> step_candidate(message& m);
    result<void> step_follower(message& m);
    void handle_append_entries(message& m);
    void handle_heartbeat(const message& m);
    void handle_snapshot(const message& m);
    bool restore(const snapshot& s);

    config cfg_;
    node_id id_;
    term_t term_ = 0;
    node_id vote_ = none;
    node_id lead_ = none;
    raftpp::role role_ = role::follower;
    bool is_learner_ = false;

    raft_log<Storage> log_;
    detail::progress_tracker prs_;
    detail::read_only read_only_;
    std::vector<read_state> read_states_;
    std::vector<message> pending_read_index_messages_;

    std::vector<message> msgs_;
    std::vector<message> msgs_after_append_;

    // Only the leader keeps heartbeat_elapsed_; election_elapsed_ counts ticks since the last
    // election timeout (followers/candidates) or check-quorum round (leader).
    int election_elapsed_ = 0;
    int heartbeat_elapsed_ = 0;
    int randomized_election_timeout_ = 0;
    // Every tick counts, in any role: the clock of the leader lease.
    std::uint64_t ticks_ = 0;
    // 1 + the tick at which the leader sent the newest heartbeat a quorum acknowledged; 0 when
    // none was in this term.
    std::uint64_t lease_start_ = 0;
    // A timeout_now went out in this term: its receiver may campaign past every follower's
    // lease at any time, so this leader's lease is over for the term.
    bool timeout_now_sent_ = false;
    bool batch_reads_ = false;
    bool batch_proposals_ = false;
    // A batched proposal was appended and not broadcast yet (see set_proposal_batching).
    bool broadcast_pending_ = false;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    // The position in msgs_ of the read_index forwarded to the leader in this ready cycle,
    // which later reads of the cycle join; npos when none.
    std::size_t open_forward_ = npos;

    node_id lead_transferee_ = none;
    // The leader may not propose a conf change while one at index > applied is pending.
    index_t pending_conf_index_ = 0;
    std::uint64_t uncommitted_size_ = 0;

    detail::splitmix64 rand_;
    Transport transport_;
    [[no_unique_address]] Logger logger_;
};

}  // namespace raftpp

#include <raftpp/impl/raft_core.ipp>
#include <raftpp/impl/raft_election.ipp>
#include <raftpp/impl/raft_follower.ipp>
#include <raftpp/impl/raft_leader.ipp>
