// The body of raftpp::node: everything runs on one strand, fed by a locked inbox (messages
// from the transport, proposals and reads from any thread) that is drained whole, so the
// proposals that arrive while a cycle persists go into the next cycle together.
//
// A cycle: ready → persist (synced when it must be) → restore a snapshot → note read states →
// apply committed entries → advance (sends) → complete reads → maybe snapshot. The order is
// the durability contract's: nothing leaves before what it vouches for is on disk.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <raftpp/cluster_members.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/node/detail/conf_change_of.hpp>
#include <raftpp/node/detail/envelope.hpp>
#include <raftpp/node/detail/node_counters.hpp>
#include <raftpp/node/detail/node_requests.hpp>
#include <raftpp/node/detail/peer_table.hpp>
#include <raftpp/node/detail/snapshot_saver.hpp>
#include <raftpp/node/member_boot.hpp>
#include <raftpp/node/options.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/state_machine.hpp>

namespace raftpp::detail {

template <class SM, class Storage, class Transport, class Logger>
class node_impl : public std::enable_shared_from_this<node_impl<SM, Storage, Transport, Logger>>,
                  public node_requests<apply_result_t<SM>> {
    using requests = node_requests<apply_result_t<SM>>;
    using R = apply_result_t<SM>;
    using sender = typename Transport::sender;
    using raw_type = raw_node<Storage, sender, Logger>;
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    using clock = std::chrono::steady_clock;
    // A storage that can hand out its fdatasync (wal_storage) is written in the cycle and
    // synced on a thread of its own, overlapping the next cycles (async storage writes).
    static constexpr bool overlapped = requires(Storage& st) { st.prepare_sync(); };
    // Its snapshot files are then written on a thread of their own too (snapshot_saver.hpp).
    static constexpr bool saved_aside = overlapped && split_snapshots<Storage>;

public:
    using typename requests::propose_handler;
    using typename requests::read_handler;
    using typename requests::members_handler;
    using typename requests::done_handler;
    using typename requests::stop_handler;

    node_impl(const boost::asio::any_io_executor& ex, member_boot<Storage>&& boot,
              Transport&& transport, SM& sm, const node_options& opts, Logger logger)
        : requests(ex, boot.id), strand_(boost::asio::make_strand(ex)), opts_(opts),
          logger_(std::move(logger)), id_(boot.id), cluster_id_(boot.cluster_id),
          transport_(std::move(transport)), sm_(sm), members_(std::move(boot.members)),
          peers_(transport_, id_, logger_),
          ticker_(strand_) {
        if (id_ == none) throw std::system_error(make_error_code(errc::invalid_config),
                                                 "raftpp::node: the member id is none");
        std::uint64_t seed = opts.seed;
        if (seed == 0) seed = (std::uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
        // Requests are numbered from a random point, so a restarted member never takes an entry
        // of an earlier run for one of its own.
        this->next_seq_ = seed & ~(std::uint64_t{0xffff} << 48);
        storage_.emplace(std::move(boot.storage));
        config cfg = opts.raft;
        cfg.id = id_;
        cfg.async_storage_writes = overlapped;
        if constexpr (overlapped) sync_pool_.emplace(1);
        if constexpr (saved_aside) saver_.emplace();
        auto snap = storage_->snapshot();
        if (!snap) throw std::system_error(snap.error(), "raftpp::node: cannot read the snapshot");
        if (snap->metadata.index > 0) {
            if (auto r = restore_from(*snap); !r)
                throw std::system_error(r.error(), "raftpp::node: cannot restore the snapshot at " +
                                                       std::to_string(snap->metadata.index));
            cfg.applied = snap->metadata.index;
        }
        raw_.emplace(cfg, *storage_, transport_.get_sender(), logger_);
        if (!boot.bootstrap.empty())
            if (auto r = raw_->bootstrap(boot.bootstrap); !r)
                throw std::system_error(r.error(), "raftpp::node: cannot bootstrap (the storage "
                                                   "already holds a log: restart instead)");
        publish_status();
    }

    // --- any thread ----------------------------------------------------------------------

    template <class... Listen>
    result<void> start(Listen&&... listen) {
        std::weak_ptr<node_impl> w = this->weak_from_this();
        transport_.on_message([w](message&& m) {
            if (auto s = w.lock()) s->enqueue_message(std::move(m));
        });
        transport_.on_unreachable([w](node_id peer) {
            if (auto s = w.lock())
                boost::asio::post(s->strand_, [s, peer] {
                    if (s->running()) s->raw_->report_unreachable(peer);
                });
        });
        transport_.on_snapshot_status([w](node_id peer, snapshot_status st) {
            if (auto s = w.lock())
                boost::asio::post(s->strand_, [s, peer, st] {
                    if (!s->running()) return;
                    s->raw_->report_snapshot(peer, st);
                    s->run_cycles();
                });
        });
        if (auto r = transport_.start(std::forward<Listen>(listen)...); !r) return r;
        boost::asio::post(strand_, [s = this->shared_from_this()] { s->do_start(); });
        return {};
    }

    void submit_proposal(buffer data, propose_handler h) {
        std::lock_guard lock(inbox_mu_);
        inbox_.proposals.push_back({std::move(data), std::move(h)});
        wake_locked();
    }
    void submit_read(read_handler h) {
        std::lock_guard lock(inbox_mu_);
        inbox_.reads.push_back(std::move(h));
        wake_locked();
    }
    void submit_conf_change(member_change ch, members_handler h) {
        boost::asio::post(strand_, [s = this->shared_from_this(), ch = std::move(ch),
                                    h = std::move(h)]() mutable {
            s->do_conf_change(std::move(ch), std::move(h), s->deadline());
            if (s->running()) s->run_cycles();
        });
    }
    void submit_transfer(node_id target, done_handler h) {
        boost::asio::post(strand_, [s = this->shared_from_this(), target,
                                    h = std::move(h)]() mutable {
            s->do_transfer(target, std::move(h));
        });
    }
    void campaign() {
        boost::asio::post(strand_, [s = this->shared_from_this()] {
            if (!s->running()) return;
            (void)s->raw_->campaign();
            s->run_cycles();
        });
    }
    void stop(stop_handler h = {}) {
        boost::asio::post(strand_, [s = this->shared_from_this(), h = std::move(h)]() mutable {
            s->do_stop(errc::stopped, std::move(h));
        });
    }

    node_status status() const {
        std::lock_guard lock(status_mu_);
        return status_;
    }
    cluster_members members() const {
        std::lock_guard lock(status_mu_);
        return published_members_;
    }
    const strand_type& strand() const noexcept { return strand_; }
    node_id id() const noexcept { return id_; }
    std::uint64_t cluster_id() const noexcept { return cluster_id_; }
    // The node's strand only (or before start).
    Storage& storage() { return *storage_; }
    raw_type& raw() { return *raw_; }

private:
    enum class state { created, running, stopped };
    struct inbox_type {
        std::vector<message> messages;
        std::vector<typename requests::proposal_request> proposals;
        std::vector<read_handler> reads;
    };

    bool running() const noexcept { return state_ == state::running; }

    // inbox_mu_ held: one drain per burst.
    void wake_locked() {
        if (drain_posted_) return;
        drain_posted_ = true;
        boost::asio::post(strand_, [s = this->shared_from_this()] { s->drain(); });
    }
    void enqueue_message(message&& m) {
        std::lock_guard lock(inbox_mu_);
        inbox_.messages.push_back(std::move(m));
        wake_locked();
    }

    // --- the strand ----------------------------------------------------------------------

    void do_start() {
        if (state_ != state::created) return;
        state_ = state::running;
        peers_.dial_all(members_);
        next_tick_ = clock::now();
        arm_ticker();
        {
            std::lock_guard lock(inbox_mu_);
            drain_posted_ = false;
            wake_locked();  // whatever was submitted before start
        }
        run_cycles();
    }

    void drain() {
        {
            std::lock_guard lock(inbox_mu_);
            drain_posted_ = false;
            if (state_ == state::created) return;  // do_start drains it
            std::swap(inbox_, taken_);
        }
        if (!running()) {
            fail_taken(stop_reason_);
            return;
        }
        for (auto& m : taken_.messages) (void)raw_->step(std::move(m));  // stale ones fail
        taken_.messages.clear();
        for (auto& p : taken_.proposals) propose(std::move(p));
        taken_.proposals.clear();
        if (removed_) {
            for (auto& h : taken_.reads)
                this->complete(std::move(h), make_error_code(errc::member_removed), index_t{0});
            taken_.reads.clear();
        }
        if (!taken_.reads.empty()) {
            this->add_read_batch(std::move(taken_.reads), *raw_, deadline(),
                                 clock::now() + opts_.read_retry);
            taken_.reads.clear();
        }
        run_cycles();
    }

    void fail_taken(std::error_code ec) {
        taken_.messages.clear();
        for (auto& p : taken_.proposals) this->complete_proposal_error(std::move(p.handler), ec);
        taken_.proposals.clear();
        for (auto& h : taken_.reads) this->complete(std::move(h), ec, index_t{0});
        taken_.reads.clear();
    }

    clock::time_point deadline() const { return clock::now() + opts_.request_timeout; }

    void propose(typename requests::proposal_request&& p) { propose(std::move(p), deadline()); }

    // `until`: the request's deadline, counted from when it was submitted.
    void propose(typename requests::proposal_request&& p, clock::time_point until) {
        if (removed_)
            return this->complete_proposal_error(std::move(p.handler), errc::member_removed);
        if (this->live_proposals() >= opts_.max_pending_proposals)
            return this->complete_proposal_error(std::move(p.handler), errc::too_many_requests);
        const bool leader = raw_->raft().role() == role::leader;
        if (!leader && !opts_.forward_proposals)
            return this->complete_proposal_error(std::move(p.handler), errc::not_leader);
        // No leader known (an election): the proposal waits for one until its deadline, as
        // etcd's Node.Propose blocks, instead of being dropped by raft at once. Those waiting
        // go first once one is known, in the order they came.
        if (raw_->raft().lead() == none) return this->wait_for_leader(std::move(p), until);
        if (this->waiting_for_leader()) release_leaderless();
        const std::uint64_t seq = this->next_seq_;
        if (auto r = raw_->propose(wrap_request(request_tag_proposal, id_, seq, p.data.bytes())); !r)
            return this->complete_proposal_error(std::move(p.handler), r.error());
        ++this->next_seq_;
        const index_t at = leader ? raw_->raft().log().last_index() : 0;
        this->add_proposal(seq, std::move(p.handler), until, at);
    }

    // A leader is known again: propose what waited for one.
    void release_leaderless() {
        this->drain_leaderless(
            [this](auto&& p, clock::time_point until) { propose(std::move(p), until); },
            [this](member_change&& ch, members_handler&& h, clock::time_point until) {
                do_conf_change(std::move(ch), std::move(h), until, true);
            });
    }

    // `until`: the request's deadline, counted from when it was submitted; waited: released
    // after waiting for a leader (no learner check then, see conf_change_of).
    void do_conf_change(member_change ch, members_handler h, clock::time_point until,
                        bool waited = false) {
        if (!running()) return this->complete(std::move(h), stop_reason_, cluster_members{});
        conf_change cc;
        const std::error_code bad = conf_change_of(ch, members_, raw_->raft(), cc, !waited);
        if (bad) return this->complete(std::move(h), bad, cluster_members{});
        // No leader known: it waits for one, as a proposal does (propose() above).
        if (raw_->raft().lead() == none)
            return this->wait_for_leader(std::move(ch), std::move(h), until);
        const std::uint64_t seq = this->next_conf_seq_++;
        const buffer m = cluster_members::encode_member(ch.m);
        cc.context = wrap_request(request_tag_conf_change, id_, seq, m.bytes());
        if (auto r = raw_->propose_conf_change(cc); !r)
            return this->complete(std::move(h), r.error(), cluster_members{});
        const index_t at =
            raw_->raft().role() == role::leader ? raw_->raft().log().last_index() : 0;
        this->add_conf_op(seq, std::move(h), until, at);
    }

    void do_transfer(node_id target, done_handler h) {
        if (!running()) return this->complete(std::move(h), stop_reason_);
        if (members_.find(target) == nullptr || target == none)
            return this->complete(std::move(h), make_error_code(errc::unknown_member));
        if (raw_->raft().lead() == target) return this->complete(std::move(h), std::error_code{});
        raw_->transfer_leader(target);
        this->add_transfer(target, std::move(h), deadline());
        run_cycles();
    }

    // Ticks follow a fixed grid, not the end of the last tick's work: a late timer (a busy
    // strand, a stopped process) is made up for with the ticks it missed. The leader lease is
    // counted in ticks; ticks that lagged behind real time would stretch it past the
    // followers' election timeout.
    void arm_ticker() {
        next_tick_ += opts_.tick_interval;
        ticker_.expires_at(next_tick_);
        ticker_.async_wait([s = this->shared_from_this()](boost::system::error_code ec) {
            if (!ec) s->on_tick();
        });
    }

    void on_tick() {
        if (!running()) return;
        const auto now = clock::now();
        auto due = std::max<std::int64_t>((now - next_tick_) / opts_.tick_interval, 0) + 1;
        // More than an election timeout behind: every timer has run out anyway.
        const std::int64_t cap = opts_.raft.election_tick + 1;
        if (due > cap) {
            due = cap;
            next_tick_ = now;
        } else {
            next_tick_ += (due - 1) * opts_.tick_interval;
        }
        for (std::int64_t i = 0; i < due; ++i) {
            raw_->tick();
            ++ticks_;
        }
        peers_.retire_due(ticks_, members_);
        count_drops();
        this->expire(now);
        this->retry_reads(*raw_, now, opts_.read_retry);
        if (removed_ && ++ticks_since_removed_ > 2 * opts_.raft.election_tick) {
            do_stop(errc::member_removed, {});
            return;
        }
        run_cycles();
        arm_ticker();
    }

    void run_cycles() {
        for (;;) {
            while (running() && raw_->has_ready()) {
                if (!one_cycle()) return;
                // The cycle may have made a leader known (its soft state).
                if (this->waiting_for_leader() && raw_->raft().lead() != none)
                    release_leaderless();
            }
            // Overlapped writes: what the cycles wrote is synced on the sync thread, one
            // fdatasync for all of it, while the next cycles go on; writes that need no
            // sync complete here, in order, once nothing is in flight.
            if constexpr (overlapped) {
                if (!running() || sync_in_flight_) break;
                if (pending_writes_.empty()) {
                    // A snapshot's WAL marker waits for a sync before older files go.
                    if constexpr (saved_aside)
                        if (saver_->needs_sync(syncs_begun_)) start_sync();
                    break;
                }
                const bool must = std::any_of(pending_writes_.begin(), pending_writes_.end(),
                                              [](const storage_write& w) { return w.must_sync; });
                if (must) {
                    start_sync();
                    break;
                }
                complete_writes(pending_writes_);
                continue;
            }
            break;
        }
        // Reads and applied requests complete after the status is published, so whoever
        // looks at status() then sees at least the index they were given applied.
        publish_status();
        if (raw_) this->complete_reads(raw_->raft().log().applied());
        this->flush_applied();
    }

    // One ready cycle; false when the node failed and stopped.
    bool one_cycle() {
        auto& rd = raw_->ready();
        if (rd.soft_state) {
            // etcd's leader_changes_seen: a leader named after none or another, the first
            // election and a leader re-elected after a gap included.
            const node_id lead = rd.soft_state->lead;
            if (lead != none && lead != seen_leader_) ++counters_.leader_changes;
            seen_leader_ = lead;
            this->on_leader(lead);
        }
        const raftpp::snapshot* snap = &rd.snapshot;
        if constexpr (overlapped) {
            if (rd.write) {
                storage_write& w = *rd.write;
                counters_.entries_persisted += w.entries.size();
                if constexpr (saved_aside)
                    if (!is_empty(w.snapshot))
                        if (auto r = saver_->finish_write(*storage_, syncs_begun_); !r)
                            return fail(r.error(), "writing a snapshot file"), false;
                if (auto r = raw_->persist(w, false); !r)
                    return fail(r.error(), "persisting a ready"), false;
                snap = &w.snapshot;
            }
        } else {
            counters_.entries_persisted += rd.entries.size();
            const auto t0 = clock::now();
            if (auto r = raw_->persist(rd); !r) return fail(r.error(), "persisting a ready"), false;
            if (rd.must_sync) counters_.record_sync(clock::now() - t0);
        }
        ++counters_.cycles;
        if (!is_empty(*snap)) {
            if (auto r = restore_from(*snap); !r)
                return fail(r.error(), "restoring the snapshot the leader sent"), false;
            this->forget_below(snap->metadata.index);
        }
        for (const auto& rs : rd.read_states) this->on_read_state(rs);
        for (const auto& e : rd.committed_entries) apply(e);
        if (this->has_applied() && !rd.committed_entries.empty()) {
            // What was applied completes now, once status() shows it (see node_requests.hpp),
            // and before this cycle's messages go out: its callers move on sooner. raft's
            // applied index moves in advance(); the state machine's is already here.
            publish_status(rd.committed_entries.back().index);
            this->flush_applied();
        }
        std::optional<storage_write> w = std::move(rd.write);
        raw_->advance();
        if (w) pending_writes_.push_back(std::move(*w));
        if (auto r = maybe_snapshot(); !r) return fail(r.error(), "taking a snapshot"), false;
        return running();
    }

    void start_sync() {
        auto t = storage_->prepare_sync();
        if (!t) return fail(t.error(), "writing the WAL");
        std::swap(in_flight_, pending_writes_);
        sync_in_flight_ = true;
        const std::uint64_t n = ++syncs_begun_;
        boost::asio::post(*sync_pool_, [s = this->shared_from_this(), t = std::move(*t), n]() mutable {
            const auto t0 = clock::now();
            const result<void> r = t.run();
            const auto took = clock::now() - t0;
            // The strand's handler takes the reference: this thread must never hold the last.
            auto& strand = s->strand_;
            boost::asio::post(strand, [s = std::move(s), r, took, n] { s->on_synced(r, took, n); });
        });
    }

    void count_drops() {
        if constexpr (requires(Transport& t) { t.stats(node_id{}); }) {
            std::uint64_t dropped = 0;
            for (const member& m : members_.members()) {
                if (m.id == id_) continue;
                if (auto st = transport_.stats(m.id)) dropped += st->dropped_full + st->dropped_down;
            }
            // Peers removed take their counts with them: the total never goes back.
            counters_.messages_dropped = std::max(counters_.messages_dropped, dropped);
        }
    }

    void on_synced(result<void> r, clock::duration took, std::uint64_t n) {
        counters_.record_sync(took);
        sync_in_flight_ = false;
        if (!running()) return;
        if (!r) return fail(r.error(), "syncing the WAL");
        complete_writes(in_flight_);
        if constexpr (saved_aside)
            if (auto rel = saver_->on_synced(*storage_, n); !rel)
                return fail(rel.error(), "releasing older snapshots");
        run_cycles();
    }

    // The writes are durable: their responses go out and their entries count as persisted.
    void complete_writes(std::vector<storage_write>& ws) {
        for (auto& w : ws) raw_->on_write_complete(std::move(w));
        ws.clear();
    }

    void apply(const entry& e) {
        if (e.type == entry_type::normal) return apply_normal(e);
        auto cc = decode_conf_change_entry(e);
        if (!cc) {
            RAFTPP_LOG(logger_, log_level::error, "node ", id_, ": undecodable conf change at ",
                       e.index, ": ", cc.error().message());
            return;
        }
        for (const auto& ch : cc->changes)
            if (ch.type == conf_change_type::remove_node) tell_removed(ch.node, e.index);
        auto cs = raw_->apply_conf_change(*cc);
        const auto req = unwrap_request(request_tag_conf_change, cc->context.bytes());
        const auto info = cluster_members::decode_member(req ? req->payload : cc->context.bytes());
        if (cs) {
            for (const auto& ch : cc->changes) change_member(ch.type, ch.node, info);
        } else {
            RAFTPP_LOG(logger_, log_level::warning, "node ", id_, ": conf change at ", e.index,
                       " refused: ", cs.error().message());
        }
        own_request mine;
        if (req && req->proposer == id_) mine = {true, req->seq};
        this->on_conf_applied(e.index, mine,
                              cs ? std::error_code{} : cs.error(), members_);
    }

    void apply_normal(const entry& e) {
        const auto req = unwrap_request(request_tag_proposal, e.data.bytes());
        if (!req) {
            // The leader's empty entry of a new term, or data this node did not frame.
            if (!e.data.empty()) (void)sm_.apply(e);
            this->on_applied(e.index, own_request{});
            return;
        }
        entry user{e.term, e.index, entry_type::normal, buffer(req->payload)};
        own_request mine;
        if (req->proposer == id_) mine = {true, req->seq};
        if constexpr (std::is_void_v<R>) {
            sm_.apply(user);
            this->on_applied(e.index, mine);
        } else {
            this->on_applied(e.index, mine, sm_.apply(user));
        }
    }

    void change_member(conf_change_type t, node_id id, const result<member>& info) {
        switch (t) {
        case conf_change_type::add_node:
        case conf_change_type::add_learner_node: {
            member m;
            if (info && info->id == id) m = *info;
            else if (const member* k = members_.find(id)) m = *k;
            m.id = id;
            m.is_learner = t == conf_change_type::add_learner_node;
            if (!members_.update(m)) members_.add(m);
            peers_.dial(m);
            break;
        }
        case conf_change_type::remove_node:
            members_.remove(id);
            if (id == id_) {
                if (!removed_)
                    RAFTPP_LOG(logger_, log_level::warning, "node ", id_,
                               ": removed from the cluster; stopping");
                removed_ = true;
                this->fail_all(make_error_code(errc::member_removed));
            } else {
                // Not at once: the last heartbeat (tell_removed) is still queued for it.
                peers_.retire(id, ticks_ + 2 * opts_.raft.election_tick);
            }
            break;
        case conf_change_type::update_node:
            if (info && info->id == id) {
                members_.update(*info);
                peers_.dial(*info);
            }
            break;
        }
    }

    // Once the leader drops a member's progress it sends that member nothing more, so the
    // member would never learn that its removal committed (etcd's transport answers a removed
    // member's requests with 410 Gone for this). The leader tells it with a last heartbeat
    // carrying the removal's index as commit, when the member holds that entry.
    void tell_removed(node_id who, index_t at) {
        const auto& r = raw_->raft();
        if (who == id_ || r.role() != role::leader) return;
        const auto* pr = r.tracker().progress(who);
        if (pr == nullptr || pr->match < at) return;
        message m;
        m.type = message_type::heartbeat;
        m.from = id_;
        m.to = who;
        m.term = r.term();
        m.commit = at;
        raw_->transport().send(std::move(m));
    }

    // The member table and the state machine from a snapshot this node wrote (on this member
    // or on the leader that sent it).
    result<void> restore_from(const snapshot& snap) {
        auto v = unwrap_snapshot(snap.data.bytes());
        if (!v) return v.error();
        if (auto r = restore_state(sm_, v->user); !r) return r;
        members_ = std::move(v->members);
        if (state_ == state::running) peers_.reset_to(members_);
        snap_index_ = snap.metadata.index;
        ++counters_.snapshots_restored;
        return {};
    }

    result<void> maybe_snapshot() {
        if (opts_.snapshot_count == 0) return {};
        const index_t applied = raw_->raft().log().applied();
        if (applied < snap_index_ + opts_.snapshot_count) return {};
        // Until the last one's file is written and released, the log keeps growing.
        if constexpr (saved_aside)
            if (!saver_->idle()) return {};
        const auto started = std::chrono::steady_clock::now();
        const buffer user = sm_.snapshot();
        const conf_state cs = raw_->raft().tracker().conf_state();
        if constexpr (saved_aside) {
            auto s = storage_->begin_snapshot(applied, &cs, wrap_snapshot(members_, user.bytes()));
            if (!s) return s.error();
            saver_->start(*storage_, std::move(*s), [w = this->weak_from_this()] {
                auto s = w.lock();
                if (!s) return;
                // The strand's handler takes the reference: this thread must never hold the last.
                auto& strand = s->strand_;
                boost::asio::post(strand, [s = std::move(s)] { s->on_snapshot_written(); });
            });
        } else {
            auto s = storage_->create_snapshot(applied, &cs, wrap_snapshot(members_, user.bytes()));
            if (!s) return s.error();
        }
        snap_index_ = applied;
        if (applied > opts_.snapshot_catchup_entries) {
            const index_t to = applied - opts_.snapshot_catchup_entries;
            auto first = storage_->first_index();
            if (first && to > *first)
                if (auto r = storage_->compact(to); !r) return r;
        }
        counters_.record_snapshot(std::chrono::steady_clock::now() - started);
        RAFTPP_LOG(logger_, log_level::info, "node ", id_, ": snapshot at ", applied);
        return {};
    }

    void on_snapshot_written() {
        if (!running()) return;
        if (auto r = saver_->finish_write(*storage_, syncs_begun_); !r)
            return fail(r.error(), "writing a snapshot file");
        run_cycles();
    }

    void fail(std::error_code ec, const char* what) {
        RAFTPP_LOG(logger_, log_level::error, "node ", id_, ": stopping after a failure ", what,
                   ": ", ec.message());
        failure_ = ec;
        do_stop(ec, {});
    }

    void do_stop(std::error_code why, stop_handler h) {
        if (state_ != state::stopped) {
            state_ = state::stopped;
            stop_reason_ = why;
            ticker_.cancel();
            // A sync still running on the sync thread ends before the stop completes: nothing
            // of this node may run after its io_context could be gone.
            if constexpr (overlapped) sync_pool_->join();
            if constexpr (saved_aside) {
                // A file written in time gets its marker, which the final sync makes durable.
                saver_->join();
                if (raw_ && !failure_)
                    if (auto r = saver_->finish_write(*storage_, syncs_begun_); !r)
                        RAFTPP_LOG(logger_, log_level::error, "node ", id_,
                                   ": the last snapshot file failed: ", r.error().message());
            }
            if (raw_ && !failure_) {
                if constexpr (has_sync<Storage>)
                    if (auto r = storage_->sync(); !r)
                        RAFTPP_LOG(logger_, log_level::error, "node ", id_,
                                   ": final sync failed: ", r.error().message());
            }
            this->fail_all(why);
            {
                std::lock_guard lock(inbox_mu_);
                std::swap(inbox_, taken_);
            }
            fail_taken(why);
            publish_status();
            // The storage is closed here (a WAL releases its lock), not when the last handler
            // lets go of this object.
            raw_.reset();
            storage_.reset();
        }
        if (h) {
            transport_.async_stop([ex = this->executor(), h = std::move(h)]() mutable {
                boost::asio::post(ex, std::move(h));
            });
        } else {
            transport_.stop();
        }
    }

    // applied_through: the last entry the state machine applied, when it is ahead of raft's
    // own applied index (between the apply and advance()).
    void publish_status(index_t applied_through = 0) {
        std::lock_guard lock(status_mu_);
        node_status& s = status_;
        s.id = id_;
        s.cluster_id = cluster_id_;
        s.started = state_ != state::created;
        s.stopped = state_ == state::stopped;
        s.removed = removed_;
        s.failure = failure_;
        if (raw_) {
            const auto& r = raw_->raft();
            s.role = r.role();
            s.leader = r.lead();
            s.term = r.term();
            s.commit = r.log().committed();
            s.applied = std::max(r.log().applied(), applied_through);
        }
        s.snapshot_index = snap_index_;
        s.members = members_.size();
        const member* self = members_.find(id_);
        s.learner = self != nullptr && self->is_learner;
        counters_.copy_to(s);
        s.proposals_applied = this->counters().proposals_applied;
        s.proposals_failed = this->counters().proposals_failed;
        s.reads_completed = this->counters().reads_completed;
        if (published_members_ != members_) published_members_ = members_;
    }

    node_id seen_leader_ = none;  // as of the last soft state (none during an election)

    strand_type strand_;
    node_options opts_;
    Logger logger_;
    node_id id_;
    std::uint64_t cluster_id_;
    Transport transport_;
    SM& sm_;
    cluster_members members_;
    peer_table<Transport, Logger> peers_;
    std::optional<Storage> storage_;
    std::optional<raw_type> raw_;
    boost::asio::steady_timer ticker_;
    clock::time_point next_tick_{};  // when the tick last handled was due
    state state_ = state::created;
    std::error_code stop_reason_ = make_error_code(errc::stopped);
    std::error_code failure_;
    bool removed_ = false;
    int ticks_since_removed_ = 0;
    std::uint64_t ticks_ = 0;
    index_t snap_index_ = 0;
    detail::node_counters counters_;
    // Overlapped writes: persisted, waiting for a sync; being synced.
    std::vector<storage_write> pending_writes_;
    std::vector<storage_write> in_flight_;
    bool sync_in_flight_ = false;
    std::uint64_t syncs_begun_ = 0;
    std::optional<boost::asio::thread_pool> sync_pool_;
    std::optional<snapshot_saver<Storage>> saver_;

    std::mutex inbox_mu_;
    inbox_type inbox_;
    inbox_type taken_;  // the strand's: what the last drain took
    bool drain_posted_ = false;

    mutable std::mutex status_mu_;
    node_status status_;
    cluster_members published_members_;
};

}  // namespace raftpp::detail
