// raftpp::raw_node — the ready cycle around raft<...> (etcd's RawNode).
//
//   auto& rd = node.ready();        // what changed since the last cycle
//   persist rd.snapshot, rd.hard_state, rd.entries (node.persist(rd) does it through Storage)
//   apply rd.committed_entries       (conf changes through node.apply_conf_change)
//   node.advance();                  // sends rd.messages through the Transport, then steps
//                                    // the responses that waited for durability
//
// The durability contract: nothing in rd.messages is sent before advance(), which the
// application calls only after persisting, so no vote or append response ever leaves this
// node ahead of the state it vouches for. The ready object is reused from cycle to cycle (its
// vectors keep their capacity), so a steady-state cycle allocates nothing for bookkeeping.
//
// The legal sequences (etcd's Ready/Advance contract):
//   sync (the default):  ready() -> persist rd -> apply -> advance()
//   async storage writes: ready() -> apply -> advance() at once; later, once rd.write is
//                         durable, persist it and on_write_complete(std::move(write)), in the
//                         order the writes were handed out.
// Stepping, proposing and ticking between ready() and advance() are legal too, as in etcd's
// node loop, which goes on stepping while the application persists: what they change comes
// with the next ready, and rd stays as it was handed out until advance().
// Misuse that would corrupt the log is an assertion (RAFTPP_ASSERT, like every broken
// precondition of the core; bad input from peers is an error code instead): advance() after
// a ready whose entries or snapshot the storage does not hold, and on_write_complete() for a
// write the storage does not hold, abort with a message naming the call that was missed. The
// check reads one term from the storage per cycle that persisted something.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/raft.hpp>

namespace raftpp {

// Async storage writes (config::async_storage_writes): one write for the application's storage
// thread. Persist the snapshot, hard state and entries (in that order, writes in the order
// they were handed out), then give the write back with raw_node::on_write_complete(), which
// marks the entries durable and releases the responses that vouched for them.
struct storage_write {
    std::vector<entry> entries;
    raftpp::hard_state hard_state;  // empty when unchanged
    raftpp::snapshot snapshot;      // empty when none
    // Sent (or, when addressed to this node, stepped) only once the write is durable.
    std::vector<message> responses;
    // Whether the write must be synced (entries, a snapshot, or a new term or vote).
    bool must_sync = false;
    // Set by ready(): the snapshots the log had restored when the write was made, which
    // on_write_complete() compares (the entries of a write made before a restore are gone).
    std::uint64_t log_restores = 0;

    bool empty() const noexcept {
        return entries.empty() && is_empty(hard_state) && is_empty(snapshot) && responses.empty();
    }
};

struct ready {
    // Set when the leader or role changed since the last cycle.
    std::optional<raftpp::soft_state> soft_state;
    // Set (non-empty) when term, vote or commit changed: persist it.
    raftpp::hard_state hard_state;
    std::vector<read_state> read_states;
    // Entries to append to stable storage; valid until advance(), whatever is stepped
    // meanwhile.
    std::span<const entry> entries;
    // A snapshot to apply to storage before the entries (empty when none).
    raftpp::snapshot snapshot;
    // Committed entries to apply to the state machine, in order.
    std::vector<entry> committed_entries;
    // Sent by advance() through the transport, after the state above is durable.
    std::vector<message> messages;
    // Whether the write must be synced (term, vote or entries changed).
    bool must_sync = false;
    // Async storage writes only: what to persist off the raft loop. entries, hard_state and
    // snapshot above stay empty in that mode; messages holds only what may be sent at once.
    std::optional<storage_write> write;

    bool contains_updates() const noexcept {
        return soft_state.has_value() || !is_empty(hard_state) || !read_states.empty() ||
               !entries.empty() || !is_empty(snapshot) || !committed_entries.empty() ||
               !messages.empty() || write.has_value();
    }
};

struct progress_status {
    node_id id = none;
    index_t match = 0;
    index_t next = 0;
    detail::progress_state state = detail::progress_state::probe;
    bool is_learner = false;
    bool recent_active = false;
    index_t pending_snapshot = 0;
    std::size_t inflight = 0;
};

// What etcd's Status() reports: role, term, leader, commit, applied, and (on the leader)
// every peer's progress.
struct status {
    node_id id = none;
    raftpp::hard_state hard_state;
    raftpp::soft_state soft_state;
    index_t applied = 0;
    node_id lead_transferee = none;
    std::vector<progress_status> progress;
};

enum class snapshot_status : std::uint8_t { finish, failure };

template <class Storage, class Transport = vector_transport, class Logger = null_logger>
class raw_node {
public:
    using raft_type = raftpp::raft<Storage, Transport, Logger>;

    // Throws std::system_error(errc::invalid_config) on an invalid config (see raft).
    raw_node(const config& cfg, Storage& storage, Transport transport = Transport{},
             Logger logger = Logger{})
        : raft_(cfg, storage, std::move(transport), std::move(logger)),
          prev_soft_(raft_.soft_state_now()),
          prev_hard_(raft_.hard_state_now()) {
        // The ready cycle tells the core when its messages left: reads can share rounds.
        raft_.set_read_batching(true);
        // Proposals between two ready cycles share their appends (raft::set_proposal_batching).
        raft_.set_proposal_batching(true);
    }

    // Starts a brand-new cluster member (etcd's Bootstrap). Fails with errc::invalid_config
    // when there are no peers, a peer id is 0 or repeated, or the storage already holds a
    // log or a configuration (restart instead: construct without bootstrapping).
    result<void> bootstrap(std::span<const peer> peers) {
        auto r = raft_.bootstrap(peers);
        // The bootstrap hard state must be persisted like any other.
        if (r) prev_hard_ = hard_state{};
        return r;
    }
    result<void> bootstrap(std::initializer_list<peer> peers) {
        return bootstrap(std::span<const peer>(peers.begin(), peers.size()));
    }

    void tick() { raft_.tick(); }
    result<void> campaign() { return raft_.step(local(message_type::hup)); }

    result<void> propose(buffer data) { return propose_entry(entry_type::normal, std::move(data)); }
    // Proposes every payload of the batch as one message (etcd: one MsgProp carrying several
    // entries, as a follower forwards them): the entries take consecutive indexes and are
    // accepted or refused together. An empty batch is a no-op.
    result<void> propose(std::span<const buffer> batch) {
        if (batch.empty()) return {};
        prepare_prop();
        for (const buffer& b : batch) prop_.entries.push_back({0, 0, entry_type::normal, b});
        auto r = raft_.step_message(prop_);
        prop_.entries.clear();
        return r;
    }
    result<void> propose_conf_change(const conf_change& cc) {
        return propose_entry(entry_type::conf_change, encode(cc));
    }
    result<void> propose_conf_change(const conf_change_v2& cc) {
        return propose_entry(entry_type::conf_change_v2, encode(cc));
    }
    result<conf_state> apply_conf_change(const conf_change_v2& cc) {
        return raft_.apply_conf_change(cc);
    }
    result<conf_state> apply_conf_change(const conf_change& cc) {
        return raft_.apply_conf_change(cc.as_v2());
    }

    // Steps a message received from a peer. Local message types are refused
    // (errc::step_local_msg), and so are responses from nodes we do not track
    // (errc::step_peer_not_found) and structurally broken messages (errc::malformed_message),
    // which include a message addressed to another node or claiming to come from this one, a
    // term at or above 2^63, and a type no message_type has. raft::step refuses the last
    // three the same way.
    result<void> step(message&& m) {
        if (is_local_message(m.type)) return errc::step_local_msg;
        // Every message a peer sends carries its term but the proposals and read requests a
        // follower forwards. The core takes a term-0 message for a local one and skips the
        // term checks: a vote would be granted with a term-0 response, an append would move a
        // candidate back to term 0.
        if (m.term == 0 && m.type != message_type::prop && m.type != message_type::read_index)
            return errc::malformed_message;
        // A peer message claiming to come from us (or from nobody) would make the node answer
        // itself; only the ready cycle may deliver a node's own responses.
        if (m.from == none || m.from == raft_.id()) return errc::malformed_message;
        // A message for another node is not ours to step (a misrouted or forged frame).
        if (m.to != raft_.id()) return errc::malformed_message;
        // A term at or above 2^63 could only be forged, and it would stick: every node adopts
        // it, and no election can go past the largest term.
        if (m.term > detail::max_peer_index) return errc::malformed_message;
        // The const tracker: a refused message must not send what batched proposals owe.
        if (is_response_message(m.type) &&
            std::as_const(raft_).tracker().progress(m.from) == nullptr)
            return errc::step_peer_not_found;
        return raft_.step(std::move(m));
    }
    result<void> step(const message& m) { return step(message(m)); }

    void transfer_leader(node_id transferee) {
        message m = local(message_type::transfer_leader);
        m.from = transferee;
        (void)raft_.step(std::move(m));
    }
    void read_index(buffer ctx) {
        // As proposals, through one reused message: a read that joins a round leaves the
        // vector here, one that starts a round takes it (and the next comes from the pool).
        read_.type = message_type::read_index;
        read_.from = raft_.id();
        read_.to = none;
        read_.term = 0;
        if (read_.entries.capacity() == 0) read_.entries = detail::entry_vector_pool::acquire();
        read_.entries.clear();
        read_.entries.push_back({0, 0, entry_type::normal, std::move(ctx)});
        (void)raft_.step_message(read_);
        read_.entries.clear();
    }
    void report_unreachable(node_id id) {
        message m = local(message_type::unreachable);
        m.from = id;
        (void)raft_.step(std::move(m));
    }
    void report_snapshot(node_id id, snapshot_status st) {
        message m = local(message_type::snap_status);
        m.from = id;
        m.reject = st == snapshot_status::failure;
        (void)raft_.step(std::move(m));
    }

    bool has_ready() const {
        const auto& r = raft_;
        // Cheapest first: messages waiting is the common reason while a cluster is busy.
        if (!r.messages().empty() || !r.messages_after_append().empty()) return true;
        if (r.soft_state_now() != prev_soft_) return true;
        if (auto hs = r.hard_state_now(); !is_empty(hs) && hs != prev_hard_) return true;
        const auto& log = r.log();
        if (async()) {
            if (log.unstable().snapshot && log.unstable().snapshot->metadata.index != snap_in_progress_)
                return true;
            if (next_unwritten() < log.unstable_entries().size()) return true;
            if (log.has_next_committed_entries(false)) return true;
        } else {
            if (log.unstable().snapshot.has_value()) return true;
            if (!log.unstable_entries().empty() || log.has_next_committed_entries()) return true;
        }
        return !r.read_states().empty();
    }

    // Collects what changed. The returned reference stays valid until advance().
    raftpp::ready& ready() {
        auto& rd = rd_;
        auto& log = raft_.log();
        // advance() left it empty; clear() is an out-of-line call even then.
        if (!rd.committed_entries.empty()) rd.committed_entries.clear();
        // Async: apply only what is durable here; a crash cannot take back what was applied.
        log.next_committed_entries_into(rd.committed_entries, !async());
        if (auto ss = raft_.soft_state_now(); ss != prev_soft_) {
            rd.soft_state = ss;
            prev_soft_ = ss;
        } else {
            rd.soft_state.reset();
        }
        const auto hs = raft_.hard_state_now();
        const bool hs_changed = hs != prev_hard_;
        rd.must_sync = !log.unstable_entries().empty() || hs.term != prev_hard_.term ||
                       hs.vote != prev_hard_.vote;
        prev_hard_ = hs;
        std::swap(rd.read_states, raft_.read_states());
        std::swap(rd.messages, raft_.messages());
        raft_.seal_reads();
        if (async()) {
            fill_write(rd, hs_changed ? hs : hard_state{});
            if (rd.write) rd.write->must_sync = rd.must_sync || !is_empty(rd.write->snapshot);
            return rd;
        }
        rd.entries = log.unstable_entries();
        log.pin_unstable(rd.entries.size());
        ready_restores_ = log.unstable().restores;
        // advance() leaves rd.snapshot empty; assigning only when there is one keeps a
        // steady-state cycle from touching the conf_state vectors.
        if (log.unstable().snapshot) rd.snapshot = *log.unstable().snapshot;
        rd.hard_state = hs_changed ? hs : hard_state{};
        // Messages that may go now, then those that had to wait for this cycle's persist.
        // Responses a node owes itself are stepped in advance() instead of being sent.
        auto& after = raft_.messages_after_append();
        if (after.size() == 1) {
            // The steady state: a follower's one response (and nothing else to send), or the
            // leader's ack of its own append. Take the vector whole.
            if (after[0].to != raft_.id()) {
                if (rd.messages.empty()) {
                    std::swap(rd.messages, after);
                    return rd;
                }
            } else if (steps_on_advance_.empty()) {
                std::swap(steps_on_advance_, after);
                return rd;
            }
        }
        for (auto& m : after) {
            if (m.to == raft_.id()) steps_on_advance_.push_back(std::move(m));
            else rd.messages.push_back(std::move(m));
        }
        after.clear();
        return rd;
    }

    // Async storage writes: the write handed out in ready().write is durable. Writes must be
    // completed in the order they were handed out.
    // Aborts when the storage does not hold the write (see the top of this file).
    void on_write_complete(storage_write&& w) {
        if (!is_empty(w.snapshot))
            require_in_storage(w.snapshot.metadata.index, w.snapshot.metadata.term,
                               "raw_node::on_write_complete(): called before the snapshot of "
                               "this write was persisted (call persist(w), or "
                               "storage.apply_snapshot(w.snapshot), first)");
        if (!w.entries.empty())
            require_in_storage(w.entries.back().index, w.entries.back().term,
                               "raw_node::on_write_complete(): called before the entries of "
                               "this write were persisted (call persist(w), or append them to "
                               "the storage, first)");
        if (!is_empty(w.snapshot)) {
            // The application restored its state machine from the snapshot with the write.
            raft_.on_snapshot_persisted(w.snapshot.metadata.index);
            if (w.snapshot.metadata.index > raft_.log().applied())
                raft_.on_applied(w.snapshot.metadata.index, {});
        }
        if (!w.entries.empty() && w.log_restores == raft_.log().unstable().restores) {
            // A stale write (its entries were replaced meanwhile) is ignored by stable_to's term
            // check, exactly as etcd's; one handed out before a snapshot was restored, by the
            // restore count (the snapshot will wipe what it wrote).
            raft_.on_persisted(w.entries.back().index, w.entries.back().term);
        }
        for (auto& m : w.responses) {
            if (m.to == raft_.id()) (void)raft_.step(std::move(m));
            else raft_.transport().send(std::move(m));
        }
    }

    // Persists a ready through the storage policy (snapshot, entries, hard state), then
    // syncs it when rd.must_sync and the storage has sync().
    result<void> persist(const raftpp::ready& rd)
        requires storage_writer<Storage>
    {
        if (auto r = persist_parts(rd.snapshot, rd.hard_state, rd.entries); !r) return r;
        return rd.must_sync ? sync_storage() : result<void>{};
    }

    // Persists an async write through the storage policy. Group commit: pass sync = false for
    // each of a batch of writes, call the storage's sync() once, then complete them all.
    result<void> persist(const storage_write& w, bool sync = true)
        requires storage_writer<Storage>
    {
        if (auto r = persist_parts(w.snapshot, w.hard_state, w.entries); !r) return r;
        return sync && w.must_sync ? sync_storage() : result<void>{};
    }

    // Call after persisting the last ready and applying its committed entries. With async
    // storage writes, call it right after ready() has been handed off: it sends the messages
    // that need no durability and records what was applied. Aborts when the storage does not
    // hold the ready's snapshot or entries (see the top of this file).
    void advance() {
        auto& rd = rd_;
        // The snapshot first, as it was persisted (it replaces the log the entries follow).
        if (!is_empty(rd.snapshot))
            require_in_storage(rd.snapshot.metadata.index, rd.snapshot.metadata.term,
                               "raw_node::advance(): called before the snapshot of this ready "
                               "was persisted (call persist(rd), or "
                               "storage.apply_snapshot(rd.snapshot), first)");
        if (!rd.entries.empty()) {
            const index_t last = rd.entries.back().index;
            const term_t last_term = rd.entries.back().term;
            require_in_storage(last, last_term,
                               "raw_node::advance(): called before the entries of this ready "
                               "were persisted (call persist(rd), or append them to the "
                               "storage, first)");
            raft_.log().unpin_unstable();
            // A snapshot stepped in since ready() replaced these entries; the next ready
            // persists it with whatever follows it.
            if (raft_.log().unstable().restores == ready_restores_)
                raft_.on_persisted(last, last_term);
        }
        if (!is_empty(rd.snapshot)) raft_.on_snapshot_persisted(rd.snapshot.metadata.index);
        if constexpr (requires(Transport& t, std::vector<message>& v) { t.send_all(v); }) {
            // The optional batch ability: the transport takes the cycle's messages at once
            // (it may swap vectors with us), instead of one move and one destruction each.
            if (!rd.messages.empty()) raft_.transport().send_all(rd.messages);
        } else {
            for (auto& m : rd.messages) raft_.transport().send(std::move(m));
        }
        rd.messages.clear();
        // Responses to itself carry no entries: nothing to give back to the vector pool.
        for (auto& m : steps_on_advance_) (void)raft_.step_message(m);
        steps_on_advance_.clear();
        index_t applied = 0;
        if (!rd.committed_entries.empty()) applied = rd.committed_entries.back().index;
        else if (!is_empty(rd.snapshot)) applied = rd.snapshot.metadata.index;
        raft_.on_applied(applied, rd.committed_entries);
        rd.entries = {};
        if (!rd.committed_entries.empty()) rd.committed_entries.clear();
        rd.read_states.clear();
        rd.write.reset();
        if (!is_empty(rd.snapshot)) rd.snapshot = raftpp::snapshot{};
    }

    // One whole cycle through the storage policy: persist, apply (conf changes are applied to
    // the node before `apply` sees them), advance. Returns false when there was nothing to do.
    template <class Apply>
    result<bool> process_ready(Apply&& apply)
        requires storage_writer<Storage>
    {
        if (!has_ready()) return false;
        auto& rd = ready();
        std::optional<storage_write> write = std::move(rd.write);
        if (write) {
            if (auto r = persist(*write); !r) return r.error();
        } else if (auto r = persist(rd); !r) {
            return r.error();
        }
        for (const auto& e : rd.committed_entries) {
            if (e.type != entry_type::normal) {
                auto cc = decode_conf_change_entry(e);
                if (cc) (void)apply_conf_change(*cc);
            }
            apply(e);
        }
        advance();
        if (write) on_write_complete(std::move(*write));
        return true;
    }

    raftpp::status status() const {
        raft_.flush_proposals();
        raftpp::status s;
        s.id = raft_.id();
        s.hard_state = raft_.hard_state_now();
        s.soft_state = raft_.soft_state_now();
        s.applied = raft_.log().applied();
        s.lead_transferee = raft_.lead_transferee();
        if (raft_.role() == role::leader) {
            raft_.tracker().visit([&](node_id id, const detail::progress& pr) {
                s.progress.push_back({id, pr.match, pr.next, pr.state, pr.is_learner,
                                      pr.recent_active, pr.pending_snapshot,
                                      pr.inflights.count()});
            });
        }
        return s;
    }

    // The core, to read its state. Reading it does not send what batched proposals owe (see
    // raft::set_proposal_batching): the non-const raft::tracker() and messages() do, so what
    // a const raft shows of the followers' progress and the queued messages may lag the
    // proposals made since the node was last stepped, ticked or readied; status() does not.
    raft_type& raft() noexcept { return raft_; }
    const raft_type& raft() const noexcept { return raft_; }
    Transport& transport() noexcept { return raft_.transport(); }

private:
    // Snapshot first (it replaces the log), then the entries after it, then the hard state:
    // etcd's order (wal.Save), so a storage that writes as it is called never has a commit
    // index on disk that points past the entries on disk.
    result<void> persist_parts(const raftpp::snapshot& snap, const hard_state& hs,
                               std::span<const entry> ents)
        requires storage_writer<Storage>
    {
        auto& st = raft_.log().storage();
        if (!is_empty(snap))
            if (auto r = st.apply_snapshot(snap); !r) return r;
        if (!ents.empty())
            if (auto r = st.append(ents); !r) return r;
        if (!is_empty(hs))
            if (auto r = st.set_hard_state(hs); !r) return r;
        return {};
    }

    result<void> sync_storage() {
        if constexpr (detail::has_sync<Storage>) return raft_.log().storage().sync();
        else return {};
    }

    bool async() const noexcept { return raft_.cfg().async_storage_writes; }

    // The ready cycle's precondition: (i, t), the last entry or the snapshot point the caller
    // says is durable, can be read back from the storage. From here on the log reads that
    // position from the storage only, so without this check a missed persist shows up cycles
    // later as an unrelated assertion deep in raft_log ("after(0) is out of range ..."). Only
    // positions the log is about to take as stable are checked: a stale write, whose entries
    // a newer leader replaced meanwhile, is ignored by the log and may be overwritten in the
    // storage too. errc::compacted passes: the application may compact up to what it applied.
    void require_in_storage(index_t i, term_t t, const char* missed) const {
        const auto& u = raft_.log().unstable();
        const bool pending = (u.snapshot && u.snapshot->metadata.index == i &&
                              u.snapshot->metadata.term == t) ||
                             (i >= u.offset && u.maybe_term(i) == t);
        if (!pending) return;
        const auto stored = raft_.log().storage().term(i);
        RAFTPP_ASSERT(stored.has_value() ? *stored == t : stored.error() == errc::compacted,
                      detail::concat(missed, "; the storage does not hold index ", i, " at term ",
                                     t)
                          .c_str());
    }

    // Position in unstable_entries() of the first entry not yet handed to a write. A log
    // truncation below what was handed out means those entries must be written again.
    std::size_t next_unwritten() const {
        const auto& log = raft_.log();
        const index_t offset = log.unstable().offset;
        if (written_restores_ != log.unstable().restores) return 0;  // a snapshot came since
        if (written_index_ < offset || !log.match_term(written_index_, written_term_)) return 0;
        return static_cast<std::size_t>(written_index_ - offset + 1);
    }

    void fill_write(raftpp::ready& rd, const hard_state& hs) {
        const auto& log = raft_.log();
        storage_write w;
        const auto ents = log.unstable_entries();
        const std::size_t from = next_unwritten();
        w.entries.assign(ents.begin() + static_cast<std::ptrdiff_t>(from), ents.end());
        w.log_restores = log.unstable().restores;
        if (!w.entries.empty()) {
            written_index_ = w.entries.back().index;
            written_term_ = w.entries.back().term;
            written_restores_ = w.log_restores;
        }
        if (log.unstable().snapshot && log.unstable().snapshot->metadata.index != snap_in_progress_) {
            w.snapshot = *log.unstable().snapshot;
            snap_in_progress_ = w.snapshot.metadata.index;
        }
        w.hard_state = hs;
        w.responses = std::move(raft_.messages_after_append());
        raft_.messages_after_append().clear();
        if (w.empty()) rd.write.reset();
        else rd.write = std::move(w);
    }

    message local(message_type t) const {
        message m;
        m.type = t;
        m.from = raft_.id();
        return m;
    }
    // Proposals go through one reused message, so proposing allocates nothing of its own.
    result<void> propose_entry(entry_type t, buffer data) {
        prepare_prop();
        prop_.entries.push_back({0, 0, t, std::move(data)});
        auto r = raft_.step_message(prop_);
        prop_.entries.clear();
        return r;
    }

    void prepare_prop() {
        // Only these fields are ever set on prop_; stepping may move from it (forwarding),
        // which leaves the rest at their defaults.
        prop_.type = message_type::prop;
        prop_.from = raft_.id();
        prop_.to = none;
        prop_.term = 0;
        if (!prop_.entries.empty()) prop_.entries.clear();
    }

    // mutable: status() (const) first sends what batched proposals owe, so it shows what a
    // broadcast per proposal would have left. (raw_node is not thread-safe; status() neither.)
    mutable raft_type raft_;
    raftpp::soft_state prev_soft_;
    hard_state prev_hard_;
    raftpp::ready rd_;
    std::vector<message> steps_on_advance_;
    message prop_;
    message read_;
    // Async storage writes: the last entry and snapshot handed to a write.
    index_t written_index_ = 0;
    term_t written_term_ = 0;
    std::uint64_t written_restores_ = 0;
    // The log's restore count when the sync ready was handed out.
    std::uint64_t ready_restores_ = 0;
    index_t snap_in_progress_ = 0;
};

}  // namespace raftpp
