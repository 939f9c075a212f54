// raftpp::testing::simulator — randomized fault schedules over the cluster harness, one seed
// each. A schedule has two phases:
//   faults   `steps` steps; each ticks the live nodes (unevenly: clock skew), runs their ready
//            cycles, delivers one network round and completes some async storage writes,
//            and with probability event_rate injects one event: a client proposal or
//            read_index, a conf change (add a brand-new voter or learner, promote, demote,
//            remove, joint with auto or explicit leave), a leader transfer, a campaign, a
//            snapshot + compaction, a crash (losing unpersisted state) or restart, or a
//            network fault (drop, duplicate, delay, reorder, partition, one-way cut,
//            isolation, heal).
//   liveness the faults stop (network healed, every node restarted, even ticks); within
//            liveness_rounds a leader must be elected and liveness_proposals fresh proposals
//            applied by every member of the configuration.
// Every input is followed by the cluster's checks (sim_checker.hpp); the simulator adds read
// linearizability (a read_index answer is at least the commit index known when the read was
// issued), no acknowledged proposal lost (everything applied somewhere ends up in every
// member's state machine) and liveness. A run stops at the first violation; the report then
// holds the seed and the last steps. Everything is a function of sim_options, and
// sim_options::from_seed() of the seed, so RAFTPP_SIM_SEED=<seed> replays a failure exactly.
#pragma once

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <unistd.h>

#include <raftpp/conf_change.hpp>
#include <raftpp/testing/cluster.hpp>
#include <raftpp/testing/network.hpp>
#include <raftpp/testing/sim_report.hpp>

namespace raftpp::testing {

inline sim_options sim_options::from_seed(std::uint64_t seed, std::size_t steps) {
    sim_options o;
    o.seed = seed;
    o.steps = steps;
    constexpr std::size_t sizes[] = {3, 5, 7};
    o.nodes = sizes[seed % 3];
    const std::uint64_t combo = (seed / 3) % 8;
    o.pre_vote = (combo & 1) != 0;
    o.check_quorum = (combo & 2) != 0;
    o.async_writes = (combo & 4) != 0;
    o.lease_reads = sim_options::lease_reads_for(seed);  // no draw from rng below
    detail::xoshiro256ss rng(detail::mix64(seed ^ 0x0f7e5eedULL));
    o.event_rate = 0.1 + 0.3 * rng.uniform01();
    o.max_drop = 0.05 + 0.35 * rng.uniform01();
    o.max_duplicate = 0.2 * rng.uniform01();
    o.max_delay = rng.below(9);
    o.snapshot_interval = rng.below(4) == 0 ? 0 : 4 + rng.below(21);
    o.compaction_retain = rng.below(11);
    o.max_size_per_msg = std::uint64_t{256} << rng.below(4);
    o.max_inflight_msgs = 2 + static_cast<std::size_t>(rng.below(15));
    // Each weight scaled by 0.25..1.75, or dropped (1 in 8) so that some schedules lack a
    // kind altogether; proposals, restarts and heals always stay.
    for (std::size_t i = 0; i < sim_drawn_event_count; ++i) {
        const auto r = static_cast<unsigned>(rng.below(8));
        o.weights[i] = o.weights[i] * r / 4;
    }
    for (sim_event e : {sim_event::propose, sim_event::restart, sim_event::heal}) {
        unsigned& w = o.weights[static_cast<std::size_t>(e)];
        w = std::max(w, 4u);
    }
    return o;
}

namespace detail {
// The schedule running on this thread, for the abort reporter: its simulator and a function
// that describes it (seed, step, step log).
inline thread_local const void* running_sim = nullptr;
inline thread_local std::string (*describe_running_sim)(const void*) = nullptr;

inline struct sigaction& previous_abort_handler() {
    static struct sigaction previous {};
    return previous;
}
inline void on_sim_abort(int sig) {
    if (running_sim != nullptr && describe_running_sim != nullptr) {
        const std::string text = describe_running_sim(running_sim);
        (void)!::write(2, text.data(), text.size());
    }
    sigaction(SIGABRT, &previous_abort_handler(), nullptr);
    std::raise(sig);
}
}  // namespace detail

// Makes a core RAFTPP_ASSERT (which aborts) print the seed and the step log of the schedule
// running on the aborting thread, then hands over to the previous SIGABRT handler.
inline void install_sim_abort_reporter() {
    struct sigaction sa {};
    sa.sa_handler = &detail::on_sim_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, &detail::previous_abort_handler());
}

// Storage: the nodes' storage policy (a cluster_storage; memory_storage by default, which is
// what sim_options::on_restart applies to).
template <class Storage = memory_storage>
class basic_simulator {
public:
    using cluster_type = cluster<null_logger, Storage>;

    explicit basic_simulator(sim_options opts)
        : opts_(std::move(opts)),
          rng_(detail::mix64(opts_.seed) ^ 0x51a5eedULL),
          phase_rng_(detail::mix64(opts_.seed ^ 0x9a5e5eedULL)) {}
    basic_simulator(const basic_simulator&) = delete;
    basic_simulator& operator=(const basic_simulator&) = delete;

    // Runs the schedule once (a simulator is single-use).
    sim_report run() {
        detail::running_sim = this;
        detail::describe_running_sim = [](const void* s) {
            return static_cast<const basic_simulator*>(s)->abort_text();
        };
        try {
            setup();
            for (; step_ < opts_.steps && ok(); ++step_) one_step();
            report_.steps = step_;
            if (ok()) liveness();
            if (ok()) final_checks();
        } catch (const std::exception& e) {
            fail("exception: ", e.what());
        }
        detail::running_sim = nullptr;
        return finish();
    }
    const sim_options& options() const noexcept { return opts_; }
    std::uint64_t step() const noexcept { return step_; }
    const sim_step_log& step_log() const noexcept { return log_; }
    // The cluster as run() left it (null before run()), for inspection after a failure.
    const cluster_type* harness() const noexcept { return c_.get(); }

    static void install_abort_reporter() { install_sim_abort_reporter(); }

private:
    // --- phases ---------------------------------------------------------------------------

    void setup() {
        basic_cluster_options<Storage> co;
        for (node_id id = 1; id <= opts_.nodes; ++id) co.voters.push_back(id);
        co.seed = opts_.seed;
        co.base.election_tick = sim_options::election_tick;
        co.base.heartbeat_tick = 1;
        co.base.max_size_per_msg = opts_.max_size_per_msg;
        co.base.max_inflight_msgs = opts_.max_inflight_msgs;
        co.base.pre_vote = opts_.pre_vote;
        co.base.check_quorum = opts_.check_quorum || opts_.lease_reads;
        if (opts_.lease_reads) {
            co.base.read_only = read_only_option::lease_based;
            co.base.max_clock_drift = sim_options::max_clock_drift;
        }
        co.base.async_storage_writes = opts_.async_writes;
        co.base.keep_voter_majority = opts_.keep_voter_majority;
        co.auto_complete_writes = false;
        co.snapshot_interval = opts_.snapshot_interval;
        co.compaction_retain = opts_.compaction_retain;
        co.retire_removed = true;
        if constexpr (std::is_same_v<Storage, memory_storage>) co.on_restart = opts_.on_restart;
        c_ = std::make_unique<cluster_type>(std::move(co));
        c_->checker().set_on_violation([this](const std::string& v) {
            if (failed_step_ == 0) failed_step_ = step_ + 1;
            log_.push({step_, sim_event::violation, 0, 0, 0, v});
        });
        ids_ = c_->ids();
        for (node_id id : ids_) add_clock(id);
        next_id_ = opts_.nodes + 1;
        if (auto r = c_->bootstrap(); !r) fail("bootstrap failed: ", r.error());
    }

    void one_step() {
        const auto phase = rng_.below(4);
        const bool inject = rng_.uniform01() < opts_.event_rate;
        for (std::uint64_t ph = 0; ph < 4 && ok(); ++ph) {
            if (inject && ph == phase) inject_event();
            if (ph == 0) tick_skewed();
            if (ph == 1 || ph == 3) c_->process_all();
            if (ph == 2) c_->deliver();
            if (ph == 3 && opts_.async_writes) {
                complete_some_writes();
                c_->process_all();
            }
        }
        after_step();
    }

    // Faults stop; a leader must emerge and fresh proposals reach every member.
    void liveness() {
        log_.push({step_, sim_event::liveness, 0, 0, 0, {}});
        c_->net().heal();
        for (auto& cl : clocks_) cl = {1000, 0};
        for (node_id id : ids_)
            if (!c_->alive(id) && !c_->retired(id)) c_->restart(id);
        if (opts_.after_heal) opts_.after_heal(c_->net());
        std::vector<std::string> want;
        for (std::size_t i = 0; i < opts_.liveness_proposals; ++i)
            want.push_back("l" + std::to_string(i));
        std::vector<std::size_t> tried(want.size(), 0);
        for (std::size_t round = 1; round <= opts_.liveness_rounds && ok(); ++round, ++step_) {
            c_->tick_all();
            c_->process_all();
            c_->deliver();
            c_->process_all();
            for (node_id id : ids_) c_->complete_writes(id);
            c_->process_all();
            after_step();
            const auto l = c_->leader();
            if (!l) continue;
            const conf_state& cs = c_->conf(*l);
            if (!cs.voters_outgoing.empty() && !cs.auto_leave && round % 10 == 0)
                (void)c_->node(*l).propose_conf_change(conf_change_v2{});
            for (std::size_t i = 0; i < want.size(); ++i) {
                if (acked_.count(want[i]) || (tried[i] != 0 && round - tried[i] < 100)) continue;
                tried[i] = round;
                if (c_->propose(*l, want[i])) {
                    ++report_.proposals;
                    pending_.emplace(want[i], step_);
                }
            }
            if (converged(want)) {
                report_.liveness_rounds = round;
                return;
            }
        }
        if (ok()) fail("liveness: no leader with every proposal applied everywhere after ",
                       opts_.liveness_rounds, " rounds without faults; ", cluster_state());
    }

    // Every fresh proposal acked, and every member's state machine past everything acked.
    bool converged(const std::vector<std::string>& want) {
        for (const auto& w : want)
            if (!acked_.count(w)) return false;
        const index_t need = max_acked_;
        const auto l = c_->leader();
        if (!l) return false;
        for (node_id id : members(c_->conf(*l)))
            if (!c_->retired(id) && (!c_->alive(id) || c_->state(id).index < need)) return false;
        return true;
    }

    // No acknowledged proposal lost: each is in every member's state machine, at its index.
    void final_checks() {
        const auto l = c_->leader();
        if (!l) return;
        const auto& h = c_->checker().history();
        for (node_id id : members(c_->conf(*l))) {
            if (c_->retired(id)) continue;
            const auto& payloads = c_->state(id).payloads;
            const std::unordered_set<std::string_view> have(payloads.begin(), payloads.end());
            for (const auto& [p, index] : acked_) {
                if (!have.count(p) || h[index - 1].data.view() != p) {
                    fail("acknowledged proposal lost: ", p, " (applied at index ", index,
                         ") is not in node ", id, "'s state machine");
                    return;
                }
            }
        }
    }

    // --- per step -------------------------------------------------------------------------

    void tick_skewed() {
        for (node_id id : ids_) {
            if (!c_->alive(id)) continue;
            clock& cl = clocks_[id];
            for (cl.acc += cl.rate; cl.acc >= 1000; cl.acc -= 1000) c_->tick(id);
        }
    }

    // A clock_skew on one node: which node (rec.a) and its new rate (rec.b, in thousandths of
    // a tick per step). Schedules without lease reads: any node, 0.5x .. 1.5x in quarters.
    // Lease schedules: any node, within what the lease tolerates (sim_options::lease_reads),
    // with the same draws. Unsafe lease skew (sim_options::lease_unsafe_skew), half of the
    // time when there is a leader: the leader's clock slows to 0.5x, every other clock speeds
    // to 1.5x and the leader is isolated, so that the others elect a new leader while its
    // lease still runs (rec.c = 1); otherwise any node at 0.5x .. 1.5x.
    void skew_one_clock(sim_step& rec) {
        if (unsafe_lease_skew()) {
            if (const auto l = c_->leader(); l && rng_.below(2) == 0) {
                rec.a = *l;
                rec.b = 500;
                rec.c = 1;
                for (node_id id : ids_) clocks_[id].rate = id == *l ? 500 : 1500;
                c_->net().isolate(*l);
                return;
            }
            rec.a = pick_from(ids_);
            rec.b = 500 + rng_.below(1001);
        } else {
            rec.a = pick_from(ids_);
            rec.b = opts_.lease_reads
                        ? 1000 + rng_.below(sim_options::lease_max_rate - 1000 + 1)
                        : 250 * (2 + rng_.below(5));
        }
        clocks_[rec.a].rate = rec.b;
    }

    void complete_some_writes() {
        for (node_id id : ids_) {
            if (!c_->alive(id) || c_->pending_writes(id) == 0) continue;
            const auto r = rng_.below(4);
            if (r != 0) c_->complete_writes(id, r == 1 ? 1 : c_->pending_writes(id));
        }
    }

    // Acknowledgements (a proposal is acked once some node applied it), read answers, and
    // leader changes for the step log.
    void after_step() {
        const auto& h = c_->checker().history();
        for (; history_seen_ < h.size(); ++history_seen_) {
            const entry& e = h[history_seen_];
            if (e.type != entry_type::normal) {
                ++report_.conf_changes;
                continue;
            }
            if (e.data.empty()) continue;
            auto it = pending_.find(std::string(e.data.view()));
            if (it == pending_.end()) continue;
            acked_.emplace(it->first, e.index);
            max_acked_ = std::max(max_acked_, e.index);
            pending_.erase(it);
            ++report_.acked;
        }
        for (node_id id : ids_) {
            if (!c_->alive(id)) continue;
            for (const read_state& rs : c_->take_read_states(id)) check_read(id, rs);
        }
        if (const auto l = c_->leader()) {
            const auto& r = c_->node(*l).raft();
            if (*l != last_leader_ || r.term() != last_term_) {
                last_leader_ = *l;
                last_term_ = r.term();
                log_.push({step_, sim_event::leader, *l, r.term(), r.log().committed(), {}});
            }
        }
    }

    // ReadIndex is linearizable (Raft §8, thesis §6.4): its answer covers every entry known to
    // be committed when the request was made.
    void check_read(node_id id, const read_state& rs) {
        auto it = reads_.find(std::string(rs.request_ctx.view()));
        if (it == reads_.end()) return;
        ++report_.reads_served;
        if (rs.index < it->second)
            fail("linearizable read: node ", id, " answered read ", it->first, " with index ",
                 rs.index, ", but ", it->second, " was committed when it was issued");
    }

    // --- events ---------------------------------------------------------------------------

    void inject_event() {
        unsigned total = 0;
        for (std::size_t i = 0; i < sim_drawn_event_count; ++i) total += opts_.weights[i];
        if (total == 0) return;
        auto r = static_cast<unsigned>(rng_.below(total));
        std::size_t k = 0;
        while (r >= opts_.weights[k]) r -= opts_.weights[k++];
        sim_step rec{step_, static_cast<sim_event>(k), 0, 0, 0, {}};
        if (!apply_event(rec)) return;
        ++report_.events[k];
        log_.push(std::move(rec));
    }

    bool apply_event(sim_step& rec);  // defined in sim_events.hpp
    bool propose_event(sim_step& rec);
    bool read_event(sim_step& rec);
    bool conf_change_event(sim_step& rec);
    std::optional<conf_change_single> random_change(const conf_state& cs,
                                                    std::set<node_id>& touched,
                                                    std::size_t& members);
    bool link_event(sim_step& rec);
    bool partition_event(sim_step& rec);

    // --- helpers --------------------------------------------------------------------------

    bool unsafe_lease_skew() const { return opts_.lease_reads && opts_.lease_unsafe_skew; }
    // The live node that believes it leads at the lowest term.
    std::optional<node_id> oldest_leader() const {
        std::optional<node_id> best;
        for (node_id id : ids_) {
            if (!c_->alive(id) || c_->node(id).raft().role() != role::leader) continue;
            if (!best || c_->node(id).raft().term() < c_->node(*best).raft().term()) best = id;
        }
        return best;
    }

    struct clock {
        std::uint64_t rate = 1000;  // thousandths of a tick per step
        std::uint64_t acc = 0;      // thousandths of a tick since the last one
    };
    // In lease schedules a node's ticks start at a random phase, so that tick boundaries
    // differ between nodes (drawn from phase_rng_: rng_'s draws stay those of the schedule
    // without leases).
    void add_clock(node_id id) {
        if (clocks_.size() <= id) clocks_.resize(id + 1);
        if (opts_.lease_reads) clocks_[id].acc = phase_rng_.below(1000);
    }

    // A uniformly drawn member for which pred holds.
    template <class Pred>
    std::optional<node_id> pick(Pred&& pred) {
        std::vector<node_id> c;
        for (node_id id : ids_)
            if (pred(id)) c.push_back(id);
        if (c.empty()) return std::nullopt;
        return c[rng_.below(c.size())];
    }
    std::optional<node_id> pick_live() {
        return pick([&](node_id id) { return c_->alive(id); });
    }
    node_id pick_from(const std::vector<node_id>& v) { return v[rng_.below(v.size())]; }

    static std::vector<node_id> members(const conf_state& cs) {
        std::set<node_id> s(cs.voters.begin(), cs.voters.end());
        s.insert(cs.voters_outgoing.begin(), cs.voters_outgoing.end());
        s.insert(cs.learners.begin(), cs.learners.end());
        return {s.begin(), s.end()};
    }

    std::string cluster_state() const {
        std::string s;
        for (node_id id : ids_) {
            s += raftpp::detail::concat(" n", id, "[");
            if (c_->retired(id)) s += "retired";
            else if (!c_->alive(id)) s += "down";
            else {
                const auto& r = c_->node(id).raft();
                s += raftpp::detail::concat(to_string(r.role()), " t", r.term(), " lead ", r.lead(),
                                            " commit ", r.log().committed(), " last ",
                                            r.log().last_index(), " applied ", c_->state(id).index,
                                            " voters ", c_->conf(id).voters.size());
            }
            s += "]";
        }
        return s;
    }

    bool ok() const { return (!c_ || c_->violations().empty()) && early_failure_.empty(); }

    template <class... A>
    void fail(const A&... parts) {
        if (c_) c_->checker().violation(parts...);
        else early_failure_ = raftpp::detail::concat(parts...);
    }

    sim_report finish() {
        report_.options = opts_;
        if (report_.steps == 0) report_.steps = step_;
        if (c_) {
            report_.violations = c_->violations();
            report_.elections = c_->leaders_by_term().size();
            report_.committed = c_->checker().max_committed();
            report_.cluster = c_->stats();
            report_.net = c_->net().stats();
        }
        if (!early_failure_.empty()) report_.violations.push_back(early_failure_);
        if (!report_.ok()) {
            report_.failed_step = failed_step_ != 0 ? failed_step_ - 1 : step_;
            report_.step_log = log_.lines();
        }
        return std::move(report_);
    }

    std::string abort_text() const {
        std::string text = raftpp::detail::concat(
            "\nraftpp simulator: abort in schedule seed ", opts_.seed, " at step ", step_,
            " (replay: ", opts_.replay(), ")\n  options: ", opts_.describe(), "\n  last steps:\n");
        for (const auto& l : log_.lines()) text += "    " + l + "\n";
        return text;
    }

    sim_options opts_;
    detail::xoshiro256ss rng_;
    detail::xoshiro256ss phase_rng_;  // lease schedules' clock phases only
    std::unique_ptr<cluster_type> c_;
    std::vector<node_id> ids_;        // every member ever, ascending
    std::vector<clock> clocks_;       // by node id
    node_id next_id_ = 0;
    std::uint64_t step_ = 0;
    std::uint64_t failed_step_ = 0;   // step + 1 of the first violation, 0 if none
    std::uint64_t next_payload_ = 0;
    std::size_t history_seen_ = 0;
    std::unordered_map<std::string, std::uint64_t> pending_;  // proposed, not yet applied
    std::unordered_map<std::string, index_t> acked_;          // applied somewhere, at index
    index_t max_acked_ = 0;
    std::unordered_map<std::string, index_t> reads_;          // ctx -> commit when issued
    node_id last_leader_ = none;
    term_t last_term_ = 0;
    sim_step_log log_;
    sim_report report_;
    std::string early_failure_;
};

// Runs a schedule and, if it fails, its shortest failing prefix: schedules are prefix-stable
// (the first n steps of a seed are the same whatever `steps` is), so a violation found at
// step k fails again with steps = k + 1, and a liveness failure is bisected over the number of
// fault steps. Returns the report of the shortest failing run (replay() names its steps).
template <class Storage = memory_storage>
sim_report minimize(sim_options o) {
    sim_report r = basic_simulator<Storage>(o).run();
    if (r.ok()) return r;
    if (r.failed_step < o.steps) {
        o.steps = r.failed_step + 1;
        return basic_simulator<Storage>(std::move(o)).run();
    }
    std::size_t lo = 0, hi = o.steps;  // prefix lo passes (assumed for 0), hi fails
    sim_report best = std::move(r);
    while (hi - lo > 1) {
        sim_options mid = o;
        mid.steps = lo + (hi - lo) / 2;
        sim_report m = basic_simulator<Storage>(mid).run();
        if (m.ok()) {
            lo = mid.steps;
        } else {
            hi = mid.steps;
            best = std::move(m);
        }
    }
    return best;
}

using simulator = basic_simulator<>;

}  // namespace raftpp::testing

#include <raftpp/testing/sim_events.hpp>
