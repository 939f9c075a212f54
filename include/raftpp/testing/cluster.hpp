// raftpp::testing::cluster — a deterministic, single-threaded cluster of raw_nodes over a
// storage policy (memory_storage by default; see cluster_storage) and the in-memory network:
// the harness for scenario tests and the base of the randomized fault simulator
// (simulator.hpp). One seed drives everything random (the network's faults and every node's
// election timeouts), so a seed and a sequence of calls replay a run exactly.
//
// Each member owns a Storage (the durable part: it survives crash() / restart()), a
// raw_node (the volatile part: dropped by crash(), with every async write not yet completed)
// and a state machine (sim_state_machine.hpp), rebuilt on restart from the storage's snapshot
// and the committed log. The harness drives the ready cycle the way an application must:
// persist, apply, then advance() — or, with config::async_storage_writes, hands each write to
// a queue that complete_writes() drains — so nothing leaves a node before the state it vouches
// for is in its storage. It also plays the application's other parts: snapshots and log
// compaction, snapshot status reports, brand-new members, and retiring removed members.
//
// Invariants checked on the fly and reported by violations() (see sim_checker.hpp): election
// safety, log matching, leader completeness, state machine safety, committed entries final,
// commit index never decreasing within an incarnation, applied <= committed, durable hard
// state; and the ready cycle's contract: granted votes and append acks leave only once storage
// backs them, and (synchronous writes) a leader commits only what it persisted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <raftpp/config.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/testing/network.hpp>
#include <raftpp/testing/sim_cluster_options.hpp>
#include <raftpp/testing/sim_checker.hpp>
#include <raftpp/testing/sim_state_machine.hpp>
#include <raftpp/testing/sim_trackers.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

template <class Logger = null_logger, class Storage = memory_storage>
class cluster {
    static_assert(cluster_storage<Storage>,
                  "cluster: Storage must be a raftpp::storage with memory_storage's application "
                  "side (hard_state(), raw_log(), create_snapshot(), compact()); see "
                  "raftpp/testing/sim_cluster_options.hpp");

public:
    using node_type = raw_node<Storage, network_endpoint, Logger>;
    using options_type = basic_cluster_options<Storage>;

    // Builds the members and the network; nodes are constructed but not bootstrapped.
    explicit cluster(options_type opts, Logger logger = Logger{})
        : opts_(std::move(opts)), logger_(std::move(logger)),
          net_(std::make_unique<network>(opts_.seed)) {
        for (node_id id : opts_.voters) add_member(id);
        for (node_id id : opts_.learners) add_member(id);
    }
    cluster(std::vector<node_id> voters, std::uint64_t seed,
            std::function<void(config&)> configure = {}, Logger logger = Logger{})
        : cluster(make_options(std::move(voters), seed, std::move(configure)), std::move(logger)) {}

    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;
    cluster(cluster&&) noexcept = default;
    cluster& operator=(cluster&&) noexcept = default;

    // The election-timer seed of node id in incarnation n (0 at construction, +1 per
    // restart): distinct per node and per incarnation, fixed by the cluster seed.
    static std::uint64_t derive_seed(std::uint64_t seed, node_id id, std::uint64_t n) noexcept {
        std::uint64_t z = seed ^ (id * 0x9e3779b97f4a7c15ULL) ^ (n * 0xd1b54a32d192ed03ULL);
        z = detail::mix64(z);
        return z != 0 ? z : 1;
    }

    // --- lifecycle ------------------------------------------------------------------------

    // Bootstraps every initial member with the same peer list (etcd's StartNode) and runs a
    // ready cycle on each, so the bootstrap entries are persisted and applied.
    result<void> bootstrap() {
        std::vector<peer> peers;
        for (node_id id : opts_.voters) peers.push_back({id, false, {}});
        for (node_id id : opts_.learners) peers.push_back({id, true, {}});
        for (node_id id : opts_.voters) {
            if (auto r = node(id).bootstrap(peers); !r) return r;
        }
        for (node_id id : opts_.learners) {
            if (auto r = node(id).bootstrap(peers); !r) return r;
        }
        process_all();
        return {};
    }

    // A brand-new member with empty storage, not bootstrapped (etcd's node joining an existing
    // cluster): it waits for a leader to send it the log, or a snapshot, once a conf change
    // naming it is applied. Propose that conf change yourself.
    void add_node(node_id id) { add_member(id); }

    // Drops id's raw_node: its volatile state (role, votes received, progress, unstable
    // entries, messages not yet sent, async writes not yet completed) is lost; its storage is
    // kept. Messages later delivered to id are lost. No-op on a crashed node.
    void crash(node_id id) {
        member_type& m = at(id);
        if (!m.node) return;
        m.node.reset();
        if constexpr (requires { m.storage->on_crash(); }) m.storage->on_crash();
        stats_.writes_lost += m.writes.size();
        m.writes.clear();
        m.reads.clear();
        ++stats_.crashes;
    }

    // Builds a new raw_node over id's storage (hard state, log, and the configuration of its
    // snapshot if it has one). The state machine is restored from the storage's snapshot
    // (config.applied is its index; 0 without one) and the ready cycle run here re-applies the
    // committed entries after it, conf changes included, which rebuilds the configuration.
    // Throws what raw_node's constructor throws on a storage it cannot load.
    void restart(node_id id) {
        member_type& m = at(id);
        RAFTPP_ASSERT(!m.node, "cluster: restart of a running node; crash it first");
        RAFTPP_ASSERT(!m.retired, "cluster: restart of a retired node");
        if (opts_.on_restart) opts_.on_restart(id, *m.storage);
        m.applied.clear();
        m.sm = state_machine{};
        m.conf = conf_state{};
        if (auto snap = m.storage->snapshot(); snap && !is_empty(*snap)) {
            restore_state(id, m, *snap);
            m.snap_index = snap->metadata.index;
        }
        m.applied_at_start = m.sm.index;
        rebuild_prefixes(id, m);
        ++m.incarnation;
        m.node = make_node(id, m);
        m.commit_seen = m.node->raft().log().committed();
        ++stats_.restarts;
        process(id);
    }

    // --- driving --------------------------------------------------------------------------

    void tick(node_id id) {
        if (member_type& m = at(id); m.node) {
            m.node->tick();
            observe(id, m);
        }
    }
    // Every node ticks once, or as its clock rate says (set_clock).
    void tick_all() {
        for (auto& [id, m] : members_) {
            if (m.clock_rate == 1000) {
                tick(id);
                continue;
            }
            for (m.clock_acc += m.clock_rate; m.clock_acc >= 1000; m.clock_acc -= 1000) tick(id);
        }
    }
    // Clock skew for tick_all(): id ticks per_mille / 1000 times per call on average, its first
    // tick after (1000 - phase) / per_mille calls. The clock survives crashes.
    void set_clock(node_id id, std::uint32_t per_mille, std::uint32_t phase = 0) {
        member_type& m = at(id);
        m.clock_rate = per_mille;
        m.clock_acc = phase % 1000;
    }

    // Runs ready cycles on id until it has nothing ready: persist (or queue the async write),
    // apply committed entries (conf changes through apply_conf_change), advance (which sends
    // and steps self-addressed responses, possibly readying more). Returns the cycles run.
    std::size_t process(node_id id) {
        member_type& m = at(id);
        std::size_t cycles = 0;
        while (m.node && m.node->has_ready()) {
            cycle(id, m);
            ++stats_.ready_cycles;
            RAFTPP_ASSERT(++cycles < 100000, "cluster: ready cycles do not settle");
        }
        retire_removed_members();
        return cycles;
    }
    std::size_t process_all() {
        std::size_t n = 0;
        for (auto& [id, m] : members_) n += process(id);
        return n;
    }

    // Async storage writes: makes up to max of id's queued writes durable, in order (persist,
    // then raw_node::on_write_complete, which sends the responses they held back). Returns
    // how many. Run process(id) afterwards: completions usually ready more.
    std::size_t complete_writes(node_id id,
                                std::size_t max = std::numeric_limits<std::size_t>::max()) {
        member_type& m = at(id);
        std::size_t done = 0;
        for (; m.node && done < max && !m.writes.empty(); ++done) {
            storage_write w = std::move(m.writes.front());
            m.writes.pop_front();
            auto persisted = m.node->persist(w);
            RAFTPP_ASSERT(persisted.has_value(), "cluster: storage refused a write");
            after_persist(id, m, w.snapshot, w.hard_state, w.entries);
            check_durable(id, m, w.responses);
            m.node->on_write_complete(std::move(w));
            observe(id, m);
            ++stats_.writes_completed;
        }
        return done;
    }
    std::size_t pending_writes(node_id id) const { return at(id).writes.size(); }

    // One network round: steps every message due now into its (live) node, and reports the
    // fate of snapshots to their senders (finish once delivered, failure when not delivered
    // within snapshot_timeout rounds). Does not run ready cycles. Returns the messages
    // delivered.
    std::size_t deliver() {
        auto msgs = net_->deliver();
        for (auto& msg : msgs) {
            const bool snap = msg.type == message_type::snap;
            const snapshot_tracker::key key{msg.from, msg.to, msg.snapshot.get()};
            auto it = members_.find(msg.to);
            const bool live = it != members_.end() && it->second.node;
            if (!live) {
                ++stats_.lost_to_crashed;
            } else {
                ++stats_.steps;
                if (!it->second.node->step(std::move(msg))) ++stats_.step_errors;
                observe(it->first, it->second);
            }
            if (snap)
                if (auto sent = snaps_.delivered(key)) report_snapshot(*sent, live);
        }
        for (const auto& sent : snaps_.overdue(net_->now())) report_snapshot(sent, false);
        return msgs.size();
    }

    // Whether some live node has a ready or a queued write, or a message is in flight.
    bool busy() const {
        for (const auto& [id, m] : members_)
            if (m.node && (m.node->has_ready() || !m.writes.empty())) return true;
        return !net_->idle();
    }

    // Alternates process_all(), complete_writes() and deliver() without ticking until nothing
    // is ready and the network is idle. False if that did not happen within max_rounds.
    bool step_until_quiet(std::size_t max_rounds = 10000) {
        for (std::size_t i = 0;; ++i) {
            process_all();
            for (auto& [id, m] : members_) complete_writes(id);
            process_all();
            if (!busy()) return true;
            if (i == max_rounds) return false;
            deliver();
        }
    }

    // n rounds of: tick every live node, process, deliver, process. A message thus takes one
    // tick per hop, and an election timeout is election_tick rounds.
    void run_ticks(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            tick_all();
            process_all();
            deliver();
            process_all();
        }
    }

    // --- client and application operations ------------------------------------------------

    // A live node that is leader, with the highest term among such nodes (a deposed leader
    // that has not heard of the new term yet still believes it leads at its old term).
    std::optional<node_id> leader() const {
        std::optional<node_id> best;
        term_t best_term = 0;
        for (const auto& [id, m] : members_) {
            if (!m.node || m.node->raft().role() != role::leader) continue;
            if (!best || m.node->raft().term() > best_term) {
                best = id;
                best_term = m.node->raft().term();
            }
        }
        return best;
    }

    // id campaigns and the cluster settles without ticks. True if id then leads at the
    // highest term (it may lose, e.g. to leases under check_quorum or a shorter log).
    bool elect(node_id id, std::size_t max_rounds = 10000) {
        (void)node(id).campaign();
        observe(id, at(id));
        step_until_quiet(max_rounds);
        return leader() == id;
    }

    // Ticks (run_ticks(1) at a time) until leader() has a value; at most max_ticks rounds.
    std::optional<node_id> wait_for_leader(std::size_t max_ticks = 1000) {
        for (std::size_t i = 0; i <= max_ticks; ++i) {
            if (auto l = leader()) return l;
            if (i < max_ticks) run_ticks(1);
        }
        return std::nullopt;
    }

    // Proposes a normal entry on id; errc::proposal_dropped when id is crashed, or when raft
    // drops it (no leader, forwarding disabled, transfer in progress, size limit).
    result<void> propose(node_id id, std::string_view data) { return propose(id, buffer(data)); }
    result<void> propose(node_id id, buffer data) {
        member_type& m = at(id);
        if (!m.node) return errc::proposal_dropped;
        auto r = m.node->propose(std::move(data));
        observe(id, m);
        return r;
    }

    // Takes a snapshot of id's state machine at its applied index (with the configuration in
    // force there) and compacts its log, keeping compaction_retain entries before it. False
    // when there is nothing new to snapshot, or the applied index is past the persisted
    // commit index (async writes: a restart could not load that storage).
    bool snapshot_now(node_id id) {
        member_type& m = at(id);
        const index_t i = m.sm.index;
        if (!m.node || i == 0 || i > m.storage->hard_state().commit) return false;
        if (!m.storage->create_snapshot(i, &m.conf, m.sm.encode())) return false;
        m.snap_index = i;
        m.conf_changed = false;
        ++stats_.snapshots_created;
        const index_t offset = m.storage->raw_log().front().index;
        if (i > opts_.compaction_retain && i - opts_.compaction_retain > offset) {
            const index_t upto = i - opts_.compaction_retain;
            if (m.storage->compact(upto))
                m.prefixes.erase(m.prefixes.begin(),
                                 m.prefixes.begin() + static_cast<std::ptrdiff_t>(upto - offset));
        }
        return true;
    }

    // The read states id's ready cycles returned since the last call (read_index answers).
    std::vector<read_state> take_read_states(node_id id) { return std::exchange(at(id).reads, {}); }

    // --- accessors ------------------------------------------------------------------------

    const std::vector<node_id>& voters() const noexcept { return opts_.voters; }
    const std::vector<node_id>& learners() const noexcept { return opts_.learners; }
    // All member ids (retired ones included), ascending.
    std::vector<node_id> ids() const {
        std::vector<node_id> out;
        for (const auto& [id, m] : members_) out.push_back(id);
        return out;
    }
    bool has_member(node_id id) const { return members_.count(id) != 0; }
    std::uint64_t seed() const noexcept { return opts_.seed; }
    const options_type& options() const noexcept { return opts_; }
    bool alive(node_id id) const { return at(id).node != nullptr; }
    bool retired(node_id id) const { return at(id).retired; }
    std::uint64_t incarnation(node_id id) const { return at(id).incarnation; }
    // id's raw_node; id must be alive.
    node_type& node(node_id id) {
        member_type& m = at(id);
        RAFTPP_ASSERT(m.node != nullptr, "cluster: node() of a crashed node");
        return *m.node;
    }
    const node_type& node(node_id id) const {
        const member_type& m = at(id);
        RAFTPP_ASSERT(m.node != nullptr, "cluster: node() of a crashed node");
        return *m.node;
    }
    Storage& storage(node_id id) { return *at(id).storage; }
    const Storage& storage(node_id id) const { return *at(id).storage; }
    // The entries id's ready cycles applied since its last (re)start, in order; kept across a
    // crash until the restart. A state restored from a snapshot is not listed here.
    const std::vector<entry>& applied(node_id id) const { return at(id).applied; }
    // id's state machine: applied index, digest, and the client payloads.
    const state_machine& state(node_id id) const { return at(id).sm; }
    // The payloads of the non-empty normal entries in id's state machine: the client's view.
    const std::vector<std::string>& applied_data(node_id id) const { return at(id).sm.payloads; }
    // The configuration in force at id's applied index.
    const conf_state& conf(node_id id) const { return at(id).conf; }
    // The config id's current raw_node was constructed with.
    config config_of(node_id id) const { return make_config(id, at(id)); }
    network& net() noexcept { return *net_; }
    const network& net() const noexcept { return *net_; }
    const cluster_stats& stats() const noexcept { return stats_; }

    // Invariant violations seen so far (empty when all is well), one line each.
    const std::vector<std::string>& violations() const noexcept { return checker_.violations(); }
    // The leader seen for each term: the node observed in the leader role at that term.
    const std::map<term_t, node_id>& leaders_by_term() const noexcept {
        return checker_.leaders_by_term();
    }
    invariant_checker& checker() noexcept { return checker_; }
    const invariant_checker& checker() const noexcept { return checker_; }

    // Rounds a snapshot may take to be delivered before its sender is told it failed.
    static constexpr std::uint64_t snapshot_timeout = 50;

private:
    struct member_type {
        std::unique_ptr<Storage> storage;
        std::unique_ptr<node_type> node;  // null while crashed
        std::vector<entry> applied;
        state_machine sm;
        conf_state conf;
        std::deque<storage_write> writes;  // async: handed out, not yet durable
        std::vector<read_state> reads;
        // prefixes[k]: digest of the persisted log up to storage.raw_log()[k].
        std::vector<std::uint64_t> prefixes{0};
        index_t applied_at_start = 0;  // config.applied of the current raw_node
        index_t snap_index = 0;        // index of storage's snapshot
        bool conf_changed = false;     // a conf change was applied since that snapshot
        index_t commit_seen = 0;       // commit index last observed in this incarnation
        std::uint64_t incarnation = 0;
        bool retired = false;
        std::uint32_t clock_rate = 1000;  // per mille of a tick per tick_all()
        std::uint32_t clock_acc = 0;
    };
    static options_type make_options(std::vector<node_id> voters, std::uint64_t seed,
                                     std::function<void(config&)> configure) {
        options_type o;
        o.voters = std::move(voters);
        o.seed = seed;
        o.configure = std::move(configure);
        return o;
    }

    void add_member(node_id id) {
        auto [it, fresh] = members_.try_emplace(id);
        RAFTPP_ASSERT(fresh, "cluster: duplicate node id");
        it->second.storage = std::make_unique<Storage>();
        it->second.node = make_node(id, it->second);
    }

    config make_config(node_id id, const member_type& m) const {
        config c = opts_.base;
        c.id = id;
        c.seed = derive_seed(opts_.seed, id, m.incarnation);
        if (opts_.configure) opts_.configure(c);
        c.applied = m.applied_at_start;
        return c;
    }

    std::unique_ptr<node_type> make_node(node_id id, const member_type& m) {
        return std::make_unique<node_type>(make_config(id, m), *m.storage, net_->endpoint(id),
                                           logger_);
    }

    member_type& at(node_id id) {
        auto it = members_.find(id);
        RAFTPP_ASSERT(it != members_.end(), "cluster: unknown node id");
        return it->second;
    }
    const member_type& at(node_id id) const {
        auto it = members_.find(id);
        RAFTPP_ASSERT(it != members_.end(), "cluster: unknown node id");
        return it->second;
    }

    // One ready cycle.
    void cycle(node_id id, member_type& m) {
        auto& rd = m.node->ready();
        if (rd.write) {
            m.writes.push_back(std::move(*rd.write));
            rd.write.reset();
        } else {
            auto persisted = m.node->persist(rd);
            RAFTPP_ASSERT(persisted.has_value(), "cluster: storage refused a ready");
            after_persist(id, m, rd.snapshot, rd.hard_state, rd.entries);
        }
        check_durable(id, m, rd.messages);
        for (const message& msg : rd.messages)
            if (msg.type == message_type::snap)
                snaps_.sent({id, msg.to, msg.snapshot.get()}, m.incarnation,
                            net_->now() + snapshot_timeout);
        m.reads.insert(m.reads.end(), rd.read_states.begin(), rd.read_states.end());
        for (const entry& e : rd.committed_entries) apply(id, m, e);
        m.node->advance();
        observe(id, m);
        if (opts_.auto_complete_writes) complete_writes(id);
        // A snapshot after a conf change once the log may be compacted (see cluster_options).
        const bool policy = opts_.snapshot_interval != 0;
        if (m.node && ((policy && m.sm.index >= m.snap_index + opts_.snapshot_interval) ||
                       (m.conf_changed && (policy || m.snap_index != 0))))
            snapshot_now(id);
    }

    // Storage now holds snap, hs and ents: restore the state machine from a snapshot (the
    // application does it with the write), and mirror the log's prefix digests.
    void after_persist(node_id id, member_type& m, const snapshot& snap, const hard_state& hs,
                       std::span<const entry> ents) {
        if (!is_empty(snap)) {
            if (snap.metadata.index <= m.sm.index)
                checker_.violation("node ", id, " was sent snapshot ", snap.metadata.index,
                                   " behind its state machine at ", m.sm.index);
            restore_state(id, m, snap);
            m.snap_index = snap.metadata.index;
            m.prefixes.assign(1, m.sm.digest);
            checker_.on_persisted_entry(id, snap.metadata.index, snap.metadata.term, m.sm.digest);
            ++stats_.snapshots_restored;
        }
        if (!is_empty(hs)) checker_.on_persisted_hard_state(id, hs);
        if (!ents.empty()) update_prefixes(id, m, ents.front().index);
    }

    void restore_state(node_id id, member_type& m, const snapshot& snap) {
        auto sm = state_machine::decode(snap.data);
        if (!sm || sm->index != snap.metadata.index) {
            checker_.violation("node ", id, " got a snapshot at ", snap.metadata.index,
                               " whose state machine does not decode");
            return;
        }
        checker_.on_restore(id, sm->index, sm->digest);
        m.sm = std::move(*sm);
        m.conf = snap.metadata.conf_state;
    }

    // Recomputes the prefix digests of storage's log from index `from` to its end.
    void update_prefixes(node_id id, member_type& m, index_t from) {
        auto&& ents = m.storage->raw_log();  // a view or a reference: never a copy
        const index_t offset = ents.front().index;
        std::size_t k = static_cast<std::size_t>(std::max(from, offset + 1) - offset);
        RAFTPP_ASSERT(k <= m.prefixes.size(), "cluster: prefix digests out of step with storage");
        m.prefixes.resize(k);
        for (; k < ents.size(); ++k) {
            const auto& e = ents[k];
            m.prefixes.push_back(chain(m.prefixes.back(), e));
            checker_.on_persisted_entry(id, e.index, e.term, m.prefixes.back());
        }
    }
    // After a restart hook may have rewritten the storage: the prefixes up to the dummy entry
    // stay (storage's snapshot point did not move), the rest is recomputed and checked.
    void rebuild_prefixes(node_id id, member_type& m) {
        auto&& ents = m.storage->raw_log();
        if (m.prefixes.size() > ents.size()) m.prefixes.resize(ents.size());
        update_prefixes(id, m, ents.front().index + 1);
    }

    // Applies one committed entry to id's state machine (State Machine Safety is checked by
    // the checker against what every node applied at that index).
    void apply(node_id id, member_type& m, const entry& e) {
        if (e.type != entry_type::normal) {
            auto cc = decode_conf_change_entry(e);
            RAFTPP_ASSERT(cc.has_value(), "cluster: committed conf change does not decode");
            if (auto cs = m.node->apply_conf_change(*cc)) {
                if (opts_.retire_removed) removals_.applied(m.conf, *cc, *cs, e.index);
                m.conf = std::move(*cs);
                m.conf_changed = true;
            }
        }
        if (e.index != m.sm.index + 1)
            checker_.violation("node ", id, " applied index ", e.index, " after ", m.sm.index);
        checker_.on_apply(id, e);
        m.sm.apply(e);
        m.applied.push_back(e);
    }

    // Shuts down, for good, the removed members removal_tracker says may go.
    void retire_removed_members() {
        const auto due = removals_.due([&](node_id id) {
            auto it = members_.find(id);
            if (it == members_.end() || it->second.retired) return no_limit;
            return it->second.storage->hard_state().commit;
        });
        for (node_id id : due) {
            member_type& m = at(id);
            if (m.retired) continue;
            crash(id);
            m.retired = true;
            ++stats_.retired;
        }
    }

    // Before msgs leave id: the votes and acks among them are backed by its storage.
    void check_durable(node_id id, const member_type& m, const std::vector<message>& msgs) {
        checker_.check_durable(id, m.storage->hard_state(), m.storage->raw_log().back().index,
                               msgs);
    }

    // Called after every input to a node (see invariant_checker::observe).
    void observe(node_id id, member_type& m) {
        if (!m.node) return;
        const bool sync = !m.node->raft().cfg().async_storage_writes;
        checker_.observe(id, m.node->raft(), m.commit_seen, m.sm.index,
                         sync ? m.storage->raw_log().back().index : no_limit,
                         [&](auto&& visit) {
                             for (auto& [lid, l] : members_)
                                 if (l.node && l.node->raft().role() == role::leader)
                                     visit(lid, l.node->raft());
                         });
    }

    // Snapshot status reports (etcd's ReportSnapshot), as the transport would make them.
    void report_snapshot(const snapshot_tracker::in_flight& s, bool delivered) {
        auto from = members_.find(s.k.from);
        if (from == members_.end() || !from->second.node ||
            from->second.incarnation != s.incarnation)
            return;
        from->second.node->report_snapshot(
            s.k.to, delivered ? snapshot_status::finish : snapshot_status::failure);
        ++stats_.snapshot_reports;
        observe(s.k.from, from->second);
    }

    options_type opts_;
    Logger logger_;
    std::unique_ptr<network> net_;  // stable address: endpoints point at it
    std::map<node_id, member_type> members_;
    invariant_checker checker_;
    snapshot_tracker snaps_;
    removal_tracker removals_;
    cluster_stats stats_;
};

}  // namespace raftpp::testing
