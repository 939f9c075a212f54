// Whole-cluster behaviour on the deterministic harness (raftpp/testing/cluster.hpp): election
// safety under message loss, replication with loss and retries, a partitioned leader stepping
// down, a restarted follower catching up, and proposal forwarding. Every run is seeded; the
// seed is CAPTUREd. RAFTPP_CLUSTER_RUNS=n runs the randomized cases over n seeds.
#include <catch2/catch.hpp>

#include "core_instances.hpp"

#include <raftpp/testing/cluster.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace raftpp;
using raftpp::testing::any_node;
using raftpp::testing::cluster;

namespace {

// Seeds 1..n, n from RAFTPP_CLUSTER_RUNS (default `small`).
std::vector<std::uint64_t> seeds(std::uint64_t small) {
    std::uint64_t n = small;
    if (const char* env = std::getenv("RAFTPP_CLUSTER_RUNS"))
        n = std::max<std::uint64_t>(1, std::strtoull(env, nullptr, 10));
    std::vector<std::uint64_t> out;
    for (std::uint64_t s = 1; s <= n; ++s) out.push_back(s);
    return out;
}

std::vector<node_id> ids_of(std::size_t n) {
    std::vector<node_id> ids;
    for (node_id id = 1; id <= n; ++id) ids.push_back(id);
    return ids;
}

std::string payload(std::string prefix, int i) {
    // append(), not operator+: g++ 12 -O3 misreports -Wrestrict on `const char* + string`.
    prefix.append(std::to_string(i));
    return prefix;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// Every live node applied exactly what `ref` applied.
bool applied_everywhere(const cluster<>& c, node_id ref) {
    for (node_id id : c.ids())
        if (c.alive(id) && c.applied(id) != c.applied(ref)) return false;
    return true;
}

// The leader every node follows at the leader's term, with every log applied as far as the
// leader's; nullopt while that is not (yet) the case.
std::optional<node_id> agreed_leader(const cluster<>& c) {
    const auto l = c.leader();
    if (!l) return std::nullopt;
    for (node_id id : c.ids()) {
        const auto& r = c.node(id).raft();
        if (r.lead() != *l || r.term() != c.node(*l).raft().term()) return std::nullopt;
    }
    if (!applied_everywhere(c, *l)) return std::nullopt;
    return l;
}

// Runs ticks until pred() holds; false after max_ticks.
template <class Pred>
bool tick_until(cluster<>& c, Pred pred, std::size_t max_ticks) {
    for (std::size_t i = 0; i < max_ticks; ++i) {
        if (pred()) return true;
        c.run_ticks(1);
    }
    return pred();
}

struct variant {
    const char* name;
    bool pre_vote;
    bool check_quorum;
};
constexpr variant variants[] = {
    {"plain", false, false},
    {"pre_vote", true, false},
    {"check_quorum", false, true},
    {"pre_vote+check_quorum", true, true},
};

std::function<void(config&)> configure(const variant& v) {
    return [v](config& cfg) {
        cfg.pre_vote = v.pre_vote;
        cfg.check_quorum = v.check_quorum;
    };
}

}  // namespace

TEST_CASE("at most one leader per term over a long lossy run", "[cluster][paper][5.2]") {
    const std::size_t n = GENERATE(3, 5);
    for (const variant& v : variants) {
        for (std::uint64_t seed : seeds(4)) {
            CAPTURE(n, v.name, seed);
            cluster<> c(ids_of(n), seed, configure(v));
            REQUIRE(c.bootstrap());
            // Our own record, polled between rounds, next to the harness's per-step record.
            std::map<term_t, node_id> leader_of;
            // Every 40 rounds a new fault picture: a loss rate of 10-40% on every link, and
            // often the leader cut off or a random split, so that elections keep happening.
            std::mt19937_64 rng(seed);
            for (int round = 0; round < 2000; ++round) {
                if (round % 40 == 0) {
                    c.net().heal();
                    c.net().drop(any_node, any_node, 0.1 + 0.1 * static_cast<double>(rng() % 4));
                    const auto pick = rng() % 4;
                    if (auto l = c.leader(); l && pick < 2) {
                        c.net().isolate(*l);
                    } else if (pick == 2) {
                        std::vector<node_id> side;
                        for (node_id id : c.ids())
                            if (rng() % 2) side.push_back(id);
                        c.net().partition({side});
                    }
                }
                // Some load, so that logs differ and the election restriction matters.
                if (auto l = c.leader(); l && rng() % 4 == 0)
                    (void)c.propose(*l, payload("e", round));
                c.run_ticks(1);
                for (node_id id : c.ids()) {
                    const auto& r = c.node(id).raft();
                    if (r.role() != role::leader) continue;
                    auto [it, fresh] = leader_of.try_emplace(r.term(), id);
                    CHECK(it->second == id);
                }
            }
            CHECK(c.violations().empty());
            for (const auto& [term, id] : leader_of) {
                CAPTURE(term);
                CHECK(c.leaders_by_term().at(term) == id);
            }
            // The run exercised elections, and the cluster still elects once the faults go.
            CHECK(c.leaders_by_term().size() >= 10);
            // Without pre-vote a node that campaigned in isolation disrupts the cluster once
            // it is heard again, so allow a few more elections.
            c.net().heal();
            REQUIRE(tick_until(c, [&] { return agreed_leader(c).has_value(); }, 500));
            const node_id lead = *agreed_leader(c);
            c.run_ticks(30);
            CHECK(agreed_leader(c) == lead);
            CHECK(c.violations().empty());
        }
    }
}

TEST_CASE("1000 proposals replicate in the same order despite 10% message loss",
          "[cluster][paper][5.3]") {
    constexpr int total = 1000;
    const std::size_t n = GENERATE(3, 5);
    for (std::uint64_t seed : seeds(3)) {
        CAPTURE(n, seed);
        cluster<> c(ids_of(n), seed);
        REQUIRE(c.bootstrap());
        c.net().drop(any_node, any_node, 0.10);

        // A test client: proposes through the nodes in turn (a follower forwards to its
        // leader over the lossy network; any node drops the proposal while it knows no
        // leader), keeps a window of outstanding proposals, and re-proposes those that were
        // dropped or have not been applied after a while.
        std::set<std::string> done;
        std::map<std::string, std::size_t> outstanding;  // payload -> tick last proposed
        std::vector<std::size_t> cursor(n + 1, 0);       // per node: applied entries seen
        int next = 0;
        std::size_t dropped = 0, retried = 0, tick = 0;
        constexpr std::size_t window = 32, patience = 60;
        while (done.size() < total) {
            REQUIRE(tick < 20000);
            const node_id target = 1 + tick % n;
            auto propose = [&](const std::string& p) {
                outstanding[p] = tick;
                auto r = c.propose(target, p);
                if (!r) {
                    REQUIRE(r.error() == errc::proposal_dropped);
                    ++dropped;
                    outstanding[p] = tick - patience;  // retry on the next tick
                }
            };
            for (auto& [p, when] : outstanding) {
                if (tick - when < patience || done.count(p)) continue;
                ++retried;
                propose(p);
            }
            while (outstanding.size() < window && next < total) propose(payload("p", next++));
            c.run_ticks(1);
            ++tick;
            for (node_id id : c.ids()) {
                const auto& a = c.applied(id);
                for (; cursor[id] < a.size(); ++cursor[id]) {
                    const auto& e = a[cursor[id]];
                    if (e.type != entry_type::normal || e.data.empty()) continue;
                    done.insert(e.data.str());
                    outstanding.erase(e.data.str());
                }
            }
        }
        // Let every node catch up, still with the loss.
        REQUIRE(tick_until(c, [&] {
            const auto l = c.leader();
            return l && c.node(*l).raft().log().committed() == c.applied(*l).back().index &&
                   applied_everywhere(c, *l);
        }, 5000));
        CAPTURE(dropped, retried, tick);
        const auto data = c.applied_data(1);
        // A retried proposal may commit twice (the first copy was slow, not lost); a client
        // dedupes by id. Every payload is there, and every node has the same sequence.
        std::set<std::string> distinct(data.begin(), data.end());
        CHECK(distinct.size() == static_cast<std::size_t>(total));
        CHECK(data.size() >= static_cast<std::size_t>(total));
        for (node_id id : c.ids()) {
            CAPTURE(id);
            CHECK(c.applied(id) == c.applied(1));
            CHECK(c.storage(id).raw_log() == c.storage(1).raw_log());
        }
        CHECK(dropped > 0);  // the client did see and retry dropped proposals
        CHECK(c.violations().empty());
    }
}

TEST_CASE("a partitioned leader steps down when the partition heals", "[cluster][paper][5.4]") {
    for (const variant& v : variants) {
        for (std::uint64_t seed : seeds(4)) {
            CAPTURE(v.name, seed);
            cluster<> c(ids_of(5), seed, configure(v));
            REQUIRE(c.bootstrap());
            REQUIRE(c.elect(1));
            for (int i = 0; i < 5; ++i) REQUIRE(c.propose(1, payload("before", i)));
            REQUIRE(c.step_until_quiet());
            REQUIRE(applied_everywhere(c, 1));
            const term_t old_term = c.node(1).raft().term();
            const index_t committed_before = c.node(1).raft().log().committed();

            c.net().isolate(1);
            // Accepted by the isolated leader, never committed.
            for (int i = 0; i < 3; ++i) REQUIRE(c.propose(1, payload("lost", i)));
            c.process(1);
            CHECK(c.node(1).raft().log().last_index() == committed_before + 3);

            node_id new_leader = none;
            REQUIRE(tick_until(c, [&] {
                for (node_id id = 2; id <= 5; ++id)
                    if (c.node(id).raft().role() == role::leader) new_leader = id;
                return new_leader != none;
            }, 500));
            CHECK(c.node(new_leader).raft().term() > old_term);
            for (int i = 0; i < 5; ++i) REQUIRE(c.propose(new_leader, payload("after", i)));
            REQUIRE(tick_until(c, [&] { return contains(c.applied_data(2), "after4"); }, 200));
            // With check_quorum the old leader steps down within two election timeouts of
            // silence (Raft thesis §6.2); without it, it cannot tell it is cut off.
            if (v.check_quorum) {
                CHECK(tick_until(c, [&] { return c.node(1).raft().role() != role::leader; },
                                 2 * 10 + 1));
            } else {
                c.run_ticks(40);
                CHECK(c.node(1).raft().role() == role::leader);
            }
            // It keeps its term unless it campaigned without pre-vote after stepping down.
            if (!v.check_quorum || v.pre_vote) CHECK(c.node(1).raft().term() == old_term);

            c.net().restore(1);
            // Without pre-vote the inflated term of a campaigning node 1 deposes the new
            // leader once it is heard, and a third election follows; node 1 cannot win it
            // (a majority holds the "after" entries it lacks), so it follows someone else.
            node_id lead = none;
            REQUIRE(tick_until(c, [&] {
                lead = c.leader().value_or(none);
                return lead != none && c.node(1).raft().role() == role::follower &&
                       c.node(1).raft().lead() == lead &&
                       contains(c.applied_data(1), "after4");
            }, 300));
            CHECK(lead != 1);
            if (!v.check_quorum || v.pre_vote) CHECK(lead == new_leader);
            CHECK(c.node(1).raft().term() == c.node(lead).raft().term());
            c.run_ticks(5);
            REQUIRE(c.leader() == lead);
            for (node_id id : c.ids()) {
                CAPTURE(id);
                for (int i = 0; i < 3; ++i)
                    CHECK_FALSE(contains(c.applied_data(id), payload("lost", i)));
                CHECK(c.storage(id).raw_log() == c.storage(lead).raw_log());
                CHECK(c.applied(id) == c.applied(lead));
            }
            CHECK(c.violations().empty());
        }
    }
}

TEST_CASE("a restarted follower catches up with what was committed while it was down",
          "[cluster][restart]") {
    for (std::uint64_t seed : seeds(4)) {
        CAPTURE(seed);
        cluster<> c(ids_of(3), seed);
        REQUIRE(c.bootstrap());
        REQUIRE(c.elect(1));
        for (int i = 0; i < 10; ++i) REQUIRE(c.propose(1, payload("a", i)));
        REQUIRE(c.step_until_quiet());
        REQUIRE(applied_everywhere(c, 1));

        c.crash(3);
        CHECK_FALSE(c.alive(3));
        const index_t last_of_3 = c.storage(3).raw_log().back().index;
        for (int i = 0; i < 50; ++i) REQUIRE(c.propose(1, payload("b", i)));
        c.run_ticks(20);
        CHECK(contains(c.applied_data(1), "b49"));
        CHECK(contains(c.applied_data(2), "b49"));
        CHECK(c.storage(3).raw_log().back().index == last_of_3);  // it was down
        CHECK(c.stats().lost_to_crashed > 0);

        c.restart(3);
        REQUIRE(c.alive(3));
        // The state machine is rebuilt from the log up to the persisted commit index,
        // bootstrap conf changes included, so the configuration is back as well.
        CHECK(c.applied(3).size() == c.storage(3).hard_state().commit);
        CHECK(std::equal(c.applied(3).begin(), c.applied(3).end(), c.applied(1).begin()));
        CHECK(c.conf(3).voters == std::vector<node_id>{1, 2, 3});
        CHECK(c.node(3).raft().term() == c.node(1).raft().term());
        REQUIRE(tick_until(c, [&] { return applied_everywhere(c, 1); }, 100));
        CHECK(c.node(3).raft().lead() == 1);
        CHECK(c.storage(3).raw_log() == c.storage(1).raw_log());
        CHECK(c.violations().empty());
    }
}

TEST_CASE("rolling crashes and restarts under load lose no committed entry", "[cluster][restart]") {
    for (std::uint64_t seed : seeds(4)) {
        CAPTURE(seed);
        cluster<> c(ids_of(5), seed, [](config& cfg) { cfg.pre_vote = true; });
        REQUIRE(c.bootstrap());
        c.net().drop(any_node, any_node, 0.05);
        int next = 0;
        for (node_id victim = 1; victim <= 5; ++victim) {
            CAPTURE(victim);
            for (int t = 0; t < 40; ++t) {
                if (auto l = c.leader()) (void)c.propose(*l, payload("x", next++));
                c.run_ticks(1);
            }
            c.crash(victim);
            c.run_ticks(40);
            c.restart(victim);
        }
        c.net().heal();
        REQUIRE(c.wait_for_leader(500));
        REQUIRE(c.propose(*c.leader(), "final"));
        REQUIRE(tick_until(c, [&] {
            for (node_id id : c.ids())
                if (!contains(c.applied_data(id), "final")) return false;
            return applied_everywhere(c, *c.leader());
        }, 500));
        CHECK(c.stats().restarts == 5);
        CHECK(c.violations().empty());
    }
}

TEST_CASE("a proposal on a follower is forwarded to the leader and commits everywhere",
          "[cluster][forwarding]") {
    cluster<> c(ids_of(3), 7);
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));
    REQUIRE(c.node(3).raft().lead() == 1);
    REQUIRE(c.propose(3, "via-follower"));
    // Forwarded, not appended by the follower itself.
    CHECK(c.node(3).raft().log().unstable_entries().empty());
    REQUIRE(c.step_until_quiet());
    for (node_id id : c.ids()) {
        CAPTURE(id);
        CHECK(c.applied_data(id) == std::vector<std::string>{"via-follower"});
    }
    CHECK(c.violations().empty());
}

TEST_CASE("with disable_proposal_forwarding a follower drops proposals",
          "[cluster][forwarding]") {
    cluster<> c(ids_of(3), 7, [](config& cfg) { cfg.disable_proposal_forwarding = true; });
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));
    std::vector<index_t> last;
    for (node_id id : c.ids()) last.push_back(c.node(id).raft().log().last_index());
    const auto sent = c.net().stats().sent;

    auto r = c.propose(2, "refused");
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::proposal_dropped);
    CHECK_FALSE(c.node(2).has_ready());
    REQUIRE(c.step_until_quiet());
    CHECK(c.net().stats().sent == sent);
    for (node_id id : c.ids()) {
        CAPTURE(id);
        CHECK(c.node(id).raft().log().last_index() == last[id - 1]);
        CHECK(c.applied_data(id).empty());
    }
    // The leader itself still takes proposals.
    REQUIRE(c.propose(1, "accepted"));
    REQUIRE(c.step_until_quiet());
    CHECK(c.applied_data(2) == std::vector<std::string>{"accepted"});
}

TEST_CASE("a node that knows no leader drops proposals", "[cluster][forwarding]") {
    cluster<> c(ids_of(3), 11);
    REQUIRE(c.bootstrap());
    SECTION("fresh cluster, before any election") {
        for (node_id id : c.ids()) {
            CAPTURE(id);
            auto r = c.propose(id, "early");
            REQUIRE_FALSE(r);
            CHECK(r.error() == errc::proposal_dropped);
            CHECK_FALSE(c.node(id).has_ready());
        }
        CHECK(c.net().idle());
    }
    SECTION("the leader crashed and the follower is campaigning") {
        REQUIRE(c.elect(1));
        c.crash(1);
        REQUIRE(tick_until(c, [&] { return c.node(2).raft().role() == role::candidate; }, 100));
        REQUIRE(c.node(2).raft().lead() == none);
        auto r = c.propose(2, "orphan");
        REQUIRE_FALSE(r);
        CHECK(r.error() == errc::proposal_dropped);
        CHECK(c.propose(1, "to-the-dead").error() == errc::proposal_dropped);
    }
}

TEST_CASE("the same seed replays the same run", "[cluster][determinism]") {
    auto run = [](std::uint64_t seed) {
        cluster<> c(ids_of(5), seed);
        REQUIRE(c.bootstrap());
        c.net().drop(any_node, any_node, 0.2);
        c.net().delay(any_node, any_node, 0, 3);
        c.net().reorder(any_node, any_node);
        for (int t = 0; t < 300; ++t) {
            if (auto l = c.leader(); l && t % 3 == 0) (void)c.propose(*l, payload("d", t));
            c.run_ticks(1);
        }
        return std::tuple(c.leaders_by_term(), c.net().stats(), c.applied(1), c.applied(5));
    };
    CHECK(run(42) == run(42));
    CHECK(run(42) != run(43));
}
