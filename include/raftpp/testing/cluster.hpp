// raftpp::testing::cluster — a deterministic, single-threaded cluster of raw_nodes over
// memory_storage and the in-memory network: the harness for scenario tests and the base of
// the randomized fault simulator. One seed drives everything random (the network's faults and
// every node's election timeouts), so a seed and a sequence of calls replay a run exactly.
//
// Each member owns a memory_storage (the durable part: it survives crash() / restart()), a
// raw_node (the volatile part: dropped by crash()) and a state machine, which here is simply
// the list of committed entries it applied, in order. The harness drives the ready cycle the
// way an application must: persist, apply, then advance() — so nothing leaves a node before
// the state it vouches for is in its storage.
//
// Invariants checked on the fly and reported by violations(): at most one leader per term
// (Raft §5.2, Election Safety); every entry applied at index i is the same on every node
// (Raft §5.4.3, State Machine Safety); granted votes and append acks leave only once storage
// backs them, and a leader commits only what it persisted (the ready cycle's contract).
#pragma once

#include <cstdint>
#include <functional>
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
#include <raftpp/types.hpp>

namespace raftpp::testing {

struct cluster_options {
    std::vector<node_id> voters;
    // Bootstrapped as learners (add_learner_node).
    std::vector<node_id> learners;
    // Seeds the network and, through derive_seed(), each node's election timer.
    std::uint64_t seed = 1;
    // Every node starts from this config; id and seed are filled in by the cluster.
    config base = {};
    // Called last on each node's config (cfg.id says which node), e.g. to set pre_vote,
    // check_quorum or disable_proposal_forwarding, or to override the seed.
    std::function<void(config&)> configure;
};

// Counters since construction, for tests and simulator reports.
struct cluster_stats {
    std::uint64_t ready_cycles = 0;        // ready/persist/apply/advance rounds, all nodes
    std::uint64_t steps = 0;               // messages stepped into a live node
    std::uint64_t step_errors = 0;         // of which step() refused (e.g. step_peer_not_found)
    std::uint64_t lost_to_crashed = 0;     // delivered to a crashed (or unknown) node: lost
    std::uint64_t crashes = 0;
    std::uint64_t restarts = 0;
};

template <class Logger = null_logger>
class cluster {
public:
    using node_type = raw_node<memory_storage, network_endpoint, Logger>;

    // Builds the members and the network; nodes are constructed but not bootstrapped.
    explicit cluster(cluster_options opts, Logger logger = Logger{})
        : opts_(std::move(opts)), logger_(std::move(logger)),
          net_(std::make_unique<network>(opts_.seed)) {
        for (node_id id : opts_.voters) add_member(id);
        for (node_id id : opts_.learners) add_member(id);
    }
    cluster(std::vector<node_id> voters, std::uint64_t seed,
            std::function<void(config&)> configure = {}, Logger logger = Logger{})
        : cluster(cluster_options{std::move(voters), {}, seed, config{}, std::move(configure)},
                  std::move(logger)) {}

    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;
    cluster(cluster&&) noexcept = default;
    cluster& operator=(cluster&&) noexcept = default;

    // The election-timer seed of node id in incarnation n (0 at construction, +1 per
    // restart): distinct per node and per incarnation, fixed by the cluster seed.
    static std::uint64_t derive_seed(std::uint64_t seed, node_id id, std::uint64_t n) noexcept {
        std::uint64_t z = seed ^ (id * 0x9e3779b97f4a7c15ULL) ^ (n * 0xd1b54a32d192ed03ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return z != 0 ? z : 1;
    }

    // --- lifecycle ------------------------------------------------------------------------

    // Bootstraps every member with the same peer list (etcd's StartNode) and runs a ready
    // cycle on each, so the bootstrap entries are persisted and applied.
    result<void> bootstrap() {
        std::vector<peer> peers;
        for (node_id id : opts_.voters) peers.push_back({id, false, {}});
        for (node_id id : opts_.learners) peers.push_back({id, true, {}});
        for (auto& [id, m] : members_) {
            RAFTPP_ASSERT(m.node != nullptr, "cluster: bootstrap with a crashed node");
            if (auto r = m.node->bootstrap(peers); !r) return r;
        }
        process_all();
        return {};
    }

    // Drops id's raw_node: its volatile state (role, votes received, progress, messages not
    // yet sent) is lost; its storage is kept. process() always persists a whole ready before
    // advance(), so storage holds everything the node ever vouched for. Messages later
    // delivered to id are lost. No-op on a crashed node.
    void crash(node_id id) {
        member_type& m = at(id);
        if (!m.node) return;
        m.node.reset();
        ++stats_.crashes;
    }

    // Builds a new raw_node over id's storage (hard state and log are loaded; the conf_state
    // too when the storage holds a snapshot). The state machine is not durable here: it is
    // rebuilt by re-applying the committed log from the start, so config.applied stays 0 and
    // the committed entries (bootstrap conf changes included, which restore the configuration
    // of a storage without a snapshot) are applied again by the ready cycle run here.
    // The harness never compacts, so the whole log is there to re-apply.
    void restart(node_id id) {
        member_type& m = at(id);
        RAFTPP_ASSERT(!m.node, "cluster: restart of a running node; crash it first");
        m.applied.clear();
        m.conf = conf_state{};
        ++m.incarnation;
        m.node = make_node(id, m.incarnation, *m.storage);
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
    void tick_all() {
        for (auto& [id, m] : members_) tick(id);
    }

    // Runs ready cycles on id until it has nothing ready: persist through raw_node::persist,
    // apply committed entries (conf changes through apply_conf_change), advance (which sends
    // and steps self-addressed responses, possibly readying more). Returns the cycles run.
    std::size_t process(node_id id) {
        member_type& m = at(id);
        std::size_t cycles = 0;
        while (m.node && m.node->has_ready()) {
            auto& rd = m.node->ready();
            auto persisted = m.node->persist(rd);
            RAFTPP_ASSERT(persisted.has_value(), "cluster: memory_storage refused a ready");
            check_durable(id, m, rd.messages);
            for (const entry& e : rd.committed_entries) apply(id, m, e);
            m.node->advance();
            observe(id, m);
            ++stats_.ready_cycles;
            RAFTPP_ASSERT(++cycles < 100000, "cluster: ready cycles do not settle");
        }
        return cycles;
    }
    std::size_t process_all() {
        std::size_t n = 0;
        for (auto& [id, m] : members_) n += process(id);
        return n;
    }

    // One network round: steps every message due now into its (live) node. Does not run
    // ready cycles. Returns the number of messages delivered.
    std::size_t deliver() {
        auto msgs = net_->deliver();
        for (auto& msg : msgs) {
            auto it = members_.find(msg.to);
            if (it == members_.end() || !it->second.node) {
                ++stats_.lost_to_crashed;
                continue;
            }
            ++stats_.steps;
            if (!it->second.node->step(std::move(msg))) ++stats_.step_errors;
            observe(it->first, it->second);
        }
        return msgs.size();
    }

    // Whether some live node has a ready or a message is in flight.
    bool busy() const {
        for (const auto& [id, m] : members_)
            if (m.node && m.node->has_ready()) return true;
        return !net_->idle();
    }

    // Alternates process_all() and deliver() without ticking until nothing is ready and the
    // network is idle. Returns false if that did not happen within max_rounds deliveries.
    bool step_until_quiet(std::size_t max_rounds = 10000) {
        for (std::size_t i = 0;; ++i) {
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

    // --- client operations ----------------------------------------------------------------

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

    // --- accessors ------------------------------------------------------------------------

    const std::vector<node_id>& voters() const noexcept { return opts_.voters; }
    const std::vector<node_id>& learners() const noexcept { return opts_.learners; }
    // All member ids, ascending.
    std::vector<node_id> ids() const {
        std::vector<node_id> out;
        for (const auto& [id, m] : members_) out.push_back(id);
        return out;
    }
    std::uint64_t seed() const noexcept { return opts_.seed; }
    bool alive(node_id id) const { return at(id).node != nullptr; }
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
    memory_storage& storage(node_id id) { return *at(id).storage; }
    const memory_storage& storage(node_id id) const { return *at(id).storage; }
    // The entries id applied since its last (re)start, in order; kept across a crash until
    // the restart.
    const std::vector<entry>& applied(node_id id) const { return at(id).applied; }
    // The payloads of the non-empty normal entries id applied: the client's view.
    std::vector<std::string> applied_data(node_id id) const {
        std::vector<std::string> out;
        for (const entry& e : at(id).applied)
            if (e.type == entry_type::normal && !e.data.empty()) out.push_back(e.data.str());
        return out;
    }
    // The configuration returned by id's last applied conf change.
    const conf_state& conf(node_id id) const { return at(id).conf; }
    // The config id's current raw_node was constructed with.
    config config_of(node_id id) const { return make_config(id, at(id).incarnation); }
    network& net() noexcept { return *net_; }
    const network& net() const noexcept { return *net_; }
    const cluster_stats& stats() const noexcept { return stats_; }

    // Invariant violations seen so far (empty when all is well), one line each.
    const std::vector<std::string>& violations() const noexcept { return violations_; }
    // The leader seen for each term: the node observed in the leader role at that term.
    const std::map<term_t, node_id>& leaders_by_term() const noexcept { return leaders_; }

private:
    struct member_type {
        std::unique_ptr<memory_storage> storage;
        std::unique_ptr<node_type> node;  // null while crashed
        std::vector<entry> applied;
        conf_state conf;
        std::uint64_t incarnation = 0;
    };

    void add_member(node_id id) {
        auto [it, fresh] = members_.try_emplace(id);
        RAFTPP_ASSERT(fresh, "cluster: duplicate node id");
        it->second.storage = std::make_unique<memory_storage>();
        it->second.node = make_node(id, 0, *it->second.storage);
    }

    config make_config(node_id id, std::uint64_t incarnation) const {
        config c = opts_.base;
        c.id = id;
        c.seed = derive_seed(opts_.seed, id, incarnation);
        if (opts_.configure) opts_.configure(c);
        return c;
    }

    std::unique_ptr<node_type> make_node(node_id id, std::uint64_t incarnation,
                                         memory_storage& st) {
        return std::make_unique<node_type>(make_config(id, incarnation), st, net_->endpoint(id),
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

    // Applies one committed entry to id's state machine and checks it against what every
    // node applied at that index before (State Machine Safety).
    void apply(node_id id, member_type& m, const entry& e) {
        if (e.type != entry_type::normal) {
            auto cc = decode_conf_change_entry(e);
            RAFTPP_ASSERT(cc.has_value(), "cluster: committed conf change does not decode");
            if (auto cs = m.node->apply_conf_change(*cc)) m.conf = std::move(*cs);
        }
        const index_t expect = m.applied.empty() ? e.index : m.applied.back().index + 1;
        if (e.index != expect)
            violation("node ", id, " applied index ", e.index, " after ", expect - 1);
        if (e.index <= history_.size()) {
            if (history_[e.index - 1] != e)
                violation("node ", id, " applied a different entry at ", e.index, " (term ",
                          e.term, " vs ", history_[e.index - 1].term, ")");
        } else if (e.index == history_.size() + 1) {
            history_.push_back(e);
        }
        m.applied.push_back(e);
    }

    // Records who leads which term (Election Safety). Called after every input to a node:
    // a node becomes leader inside one step(), tick() or advance(), and is seen right after.
    // Also checks the ready cycle's promise that a leader commits only entries it persisted
    // itself: its appends leave only after its own write (stronger than Raft requires).
    void observe(node_id id, const member_type& m) {
        if (!m.node || m.node->raft().role() != role::leader) return;
        const auto& r = m.node->raft();
        auto [it, fresh] = leaders_.try_emplace(r.term(), id);
        if (!fresh && it->second != id)
            violation("two leaders at term ", r.term(), ": ", it->second, " and ", id);
        if (r.log().committed() > m.storage->raw_entries().back().index)
            violation("leader ", id, " committed ", r.log().committed(), " past its persisted log");
    }

    // The durability contract, checked after persist() and before advance() sends: a granted
    // vote and an append ack are backed by storage, unless storage has moved to a later term
    // since (the response is then stale, not unfounded: Raft §5.4 only needs it to have been
    // true at its own term).
    void check_durable(node_id id, const member_type& m, const std::vector<message>& msgs) {
        const hard_state& hs = m.storage->hard_state();
        const index_t last = m.storage->raw_entries().back().index;
        for (const message& msg : msgs) {
            if (msg.reject || hs.term > msg.term) continue;
            const bool vote_ok = msg.type != message_type::vote_resp || hs.vote == msg.to;
            const bool ack_ok = msg.type != message_type::app_resp || last >= msg.index;
            if (!vote_ok || !ack_ok)
                violation("node ", id, " sends ", to_string(msg.type), " to ", msg.to,
                          " ahead of its storage");
        }
    }

    template <class... A>
    void violation(const A&... parts) {
        violations_.push_back(raftpp::detail::concat(parts...));
    }

    cluster_options opts_;
    Logger logger_;
    std::unique_ptr<network> net_;  // stable address: endpoints point at it
    std::map<node_id, member_type> members_;
    std::vector<entry> history_;  // history_[i - 1]: the entry applied at index i
    std::map<term_t, node_id> leaders_;
    std::vector<std::string> violations_;
    cluster_stats stats_;
};

}  // namespace raftpp::testing
