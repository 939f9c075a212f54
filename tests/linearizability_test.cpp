// Linearizability: the checker (raftpp/testing/linearizability.hpp) on hand-written and
// generated histories, including ones it must reject; then a KV store (raftpp/testing/kv.hpp)
// driven through the cluster harness by concurrent clients under message loss, partitions,
// leader isolation, crash-restart and lagging state machines, every history checked; and
// deliberately broken read paths that the checker must catch.
//
// Environment: RAFTPP_LIN_RUNS (seeds per end-to-end case, default 24), RAFTPP_LIN_SEED (the
// first seed, default 1: RAFTPP_LIN_SEED=29 RAFTPP_LIN_RUNS=1 replays seed 29), RAFTPP_LIN_ROUNDS
// (client rounds per run, default 2000), RAFTPP_LIN_VERBOSE (print a line per run),
// RAFTPP_LIN_LEASE (lease-based reads in the faults case too), RAFTPP_LIN_LEASE_RUNS (seeds per
// [lease] sweep, default 150).
// The broken-read cases always run their fixed seeds.
#include <catch2/catch.hpp>

#include "core_instances.hpp"

#include <raftpp/testing/cluster.hpp>
#include <raftpp/testing/kv.hpp>
#include <raftpp/testing/linearizability.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace raftpp;
using namespace raftpp::testing;
using xoshiro = raftpp::testing::detail::xoshiro256ss;

namespace {

constexpr std::uint64_t inf = never_returned;

kv_operation op(std::uint64_t client, kv_input in, kv_output out, std::uint64_t t0,
                std::uint64_t t1) {
    return {client, in, out, t0, t1};
}
constexpr kv_output ok{true, 0};
constexpr kv_output failed{false, 0};
constexpr kv_output read(std::uint64_t v) { return {true, v}; }

lin_verdict verdict(const kv_history& h, lin_options o = {}) {
    return check_linearizable<kv_model>(h, o).verdict;
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
    if (const char* v = std::getenv(name))
        return std::max<std::uint64_t>(1, std::strtoull(v, nullptr, 10));
    return fallback;
}

// A FIFO queue without partitions: the checker is generic over the model.
struct queue_model {
    struct input_type {
        bool enqueue = true;
        int value = 0;
    };
    using output_type = int;  // dequeue: the value, or -1 when empty; enqueue: 0
    using state_type = std::vector<int>;
    static state_type init() { return {}; }
    static std::size_t hash(const state_type& s) {
        std::size_t h = s.size();
        for (int v : s) h = h * 31 + static_cast<std::size_t>(v);
        return h;
    }
    static int apply(state_type& s, const input_type& in) {
        if (in.enqueue) {
            s.push_back(in.value);
            return 0;
        }
        if (s.empty()) return -1;
        const int v = s.front();
        s.erase(s.begin());
        return v;
    }
};
static_assert(lin_model<queue_model> && !partitioned_lin_model<queue_model>);
static_assert(partitioned_lin_model<kv_model>);

}  // namespace

TEST_CASE("known histories: linearizable or not", "[linearizability][checker]") {
    struct tc {
        std::string_view name;
        kv_history history;
        lin_verdict expect;
    };
    constexpr auto yes = lin_verdict::linearizable;
    constexpr auto no = lin_verdict::not_linearizable;
    const tc cases[] = {
        {"empty history", {}, yes},
        {"sequential put then get",
         {op(0, kv_put(0, 1), ok, 1, 2), op(1, kv_get(0), read(1), 3, 4)},
         yes},
        {"read of a key never written is 0", {op(0, kv_get(0), read(0), 1, 2)}, yes},
        {"stale read after a completed write",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), ok, 3, 4),
          op(1, kv_get(0), read(1), 5, 6)},
         no},
        {"read of a value never written",
         {op(0, kv_put(0, 1), ok, 1, 2), op(1, kv_get(0), read(7), 3, 4)},
         no},
        {"read before the write it observes was invoked",
         {op(1, kv_get(0), read(1), 1, 2), op(0, kv_put(0, 1), ok, 3, 4)},
         no},
        {"concurrent write: the old value is fine",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), ok, 3, 10),
          op(1, kv_get(0), read(1), 4, 5)},
         yes},
        {"concurrent write: the new value is fine",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), ok, 3, 10),
          op(1, kv_get(0), read(2), 4, 5)},
         yes},
        {"reads may not go back in time",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), ok, 3, 10),
          op(1, kv_get(0), read(2), 4, 5), op(2, kv_get(0), read(1), 6, 7)},
         no},
        {"equal times overlap",
         {op(0, kv_put(0, 1), ok, 1, 5), op(1, kv_get(0), read(1), 5, 6)},
         yes},
        {"two conflicting cas both succeed",
         {op(0, kv_put(0, 1), ok, 1, 2), op(1, kv_cas(0, 1, 2), ok, 3, 6),
          op(2, kv_cas(0, 1, 3), ok, 4, 7)},
         no},
        {"two conflicting cas, one fails",
         {op(0, kv_put(0, 1), ok, 1, 2), op(1, kv_cas(0, 1, 2), ok, 3, 6),
          op(2, kv_cas(0, 1, 3), failed, 4, 7), op(0, kv_get(0), read(2), 8, 9)},
         yes},
        {"a failed cas that should have succeeded",
         {op(0, kv_put(0, 1), ok, 1, 2), op(1, kv_cas(0, 1, 2), failed, 3, 4)},
         no},
        {"concurrency lets a cas chain reorder",
         {op(0, kv_cas(0, 5, 6), ok, 1, 10), op(1, kv_cas(0, 0, 5), ok, 2, 9),
          op(2, kv_get(0), read(6), 11, 12)},
         yes},
        {"indeterminate write may have taken effect",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), {}, 3, inf),
          op(1, kv_get(0), read(2), 5, 6)},
         yes},
        {"indeterminate write may not have taken effect",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), {}, 3, inf),
          op(1, kv_get(0), read(1), 5, 6)},
         yes},
        {"indeterminate write takes effect late",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), {}, 3, inf),
          op(1, kv_get(0), read(1), 5, 6), op(1, kv_get(0), read(2), 7, 8)},
         yes},
        {"indeterminate write cannot be undone",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_put(0, 2), {}, 3, inf),
          op(1, kv_get(0), read(2), 5, 6), op(1, kv_get(0), read(1), 7, 8)},
         no},
        {"indeterminate write cannot act before its invocation",
         {op(1, kv_get(0), read(2), 1, 2), op(0, kv_put(0, 2), {}, 3, inf)},
         no},
        {"indeterminate cas's output is not recorded",
         {op(0, kv_put(0, 1), ok, 1, 2), op(0, kv_cas(0, 1, 3), failed, 3, inf),
          op(1, kv_get(0), read(3), 5, 6)},
         yes},
    };
    for (const tc& c : cases) {
        CAPTURE(c.name);
        CHECK(verdict(c.history) == c.expect);
    }
}

TEST_CASE("a non-linearizable result names the failing partition", "[linearizability][checker]") {
    const kv_history h = {
        op(0, kv_put(0, 1), ok, 1, 2),   op(1, kv_put(1, 5), ok, 1, 3),
        op(2, kv_get(0), read(1), 4, 5), op(0, kv_put(1, 6), ok, 6, 7),
        op(1, kv_get(1), read(5), 8, 9),  // stale: key 1 fails
        op(2, kv_put(2, 9), ok, 8, 9),
    };
    const auto r = check_linearizable<kv_model>(h);
    REQUIRE(r.verdict == lin_verdict::not_linearizable);
    CHECK(r.failing_partition == std::vector<std::size_t>{1, 3, 4});
    CHECK(r.longest_linearization == std::vector<std::size_t>{1, 3});
    CHECK(r.stuck == std::vector<std::size_t>{4});
    CHECK(describe(h, r.failing_partition) ==
          "c1 [1, 3] put(k1, 5) -> ok\nc0 [6, 7] put(k1, 6) -> ok\nc1 [8, 9] get(k1) -> 5\n");

    // The other keys alone are fine; each key is its own partition.
    kv_history fine = h;
    fine[4].output = read(6);
    const auto f = check_linearizable<kv_model>(fine);
    CHECK(f.ok());
    CHECK(f.partitions == 3);
}

TEST_CASE("the checker is generic: an unpartitioned queue", "[linearizability][checker]") {
    using qop = operation<queue_model::input_type, int>;
    auto enq = [](int v, std::uint64_t a, std::uint64_t b) { return qop{0, {true, v}, 0, a, b}; };
    auto deq = [](int v, std::uint64_t a, std::uint64_t b) { return qop{1, {false, 0}, v, a, b}; };
    // Concurrent enqueues may land in either order; the dequeues then fix it.
    const std::vector<qop> ok_h = {enq(1, 1, 10), enq(2, 2, 9), deq(2, 11, 12), deq(1, 13, 14)};
    const std::vector<qop> bad_h = {enq(1, 1, 10), enq(2, 2, 9), deq(1, 11, 12), deq(1, 13, 14)};
    const std::vector<qop> fifo_h = {enq(1, 1, 2), enq(2, 3, 4), deq(2, 5, 6)};
    CHECK(check_linearizable<queue_model>(ok_h).ok());
    CHECK(check_linearizable<queue_model>(bad_h).verdict == lin_verdict::not_linearizable);
    CHECK(check_linearizable<queue_model>(fifo_h).verdict == lin_verdict::not_linearizable);
    CHECK(check_linearizable<queue_model>(ok_h).partitions == 1);
}

TEST_CASE("an exceeded search budget gives unknown, not a guess", "[linearizability][checker]") {
    // Ten overlapping puts and a read of a value none of them wrote: refuting it means trying
    // every subset of the puts.
    kv_history h;
    for (std::uint64_t i = 1; i <= 10; ++i) h.push_back(op(i, kv_put(0, i), ok, 1, 100));
    h.push_back(op(0, kv_get(0), read(99), 1, 100));
    const auto full = check_linearizable<kv_model>(h);
    CHECK(full.verdict == lin_verdict::not_linearizable);
    CHECK(full.steps > 1000);
    CHECK(verdict(h, {.max_steps = 1000}) == lin_verdict::unknown);
    h.back().output = read(7);
    CHECK(verdict(h, {.max_steps = 1000}) == lin_verdict::linearizable);
}

TEST_CASE("generated histories: widened ones pass, corrupted sequential ones fail",
          "[linearizability][checker]") {
    xoshiro rng(42);
    for (int trial = 0; trial < 200; ++trial) {
        CAPTURE(trial);
        // A sequential run of the model, one operation per time slot [10 i, 10 i + 5].
        kv_model::state_type s = kv_model::init();
        kv_history seq;
        for (std::uint64_t i = 0; i < 30; ++i) {
            const auto key = static_cast<std::uint32_t>(rng.below(2));
            const std::uint64_t u = rng.below(3), v = 1 + rng.below(4);
            const kv_input in = u == 0   ? kv_put(key, v)
                                : u == 1 ? kv_get(key)
                                         : kv_cas(key, rng.below(5), v);
            const kv_output out = kv_model::apply(s, in);
            seq.push_back(op(i % 3, in, out, 10 * i + 10, 10 * i + 15));
        }
        REQUIRE(verdict(seq) == lin_verdict::linearizable);
        // Widening intervals only removes real-time constraints; some become indeterminate.
        kv_history wide = seq;
        for (auto& o : wide) {
            o.invoked_at -= rng.below(o.invoked_at);
            o.returned_at += rng.below(40);
            if (o.input.op != kv_op::get && rng.below(8) == 0) o.returned_at = inf;
        }
        CHECK(verdict(wide) == lin_verdict::linearizable);
        // In a sequential history one changed output has no other explanation.
        kv_history bad = seq;
        auto& victim = bad[rng.below(bad.size())];
        if (victim.input.op == kv_op::get) victim.output.value += 1 + rng.below(3);
        else if (victim.input.op == kv_op::cas) victim.output.ok = !victim.output.ok;
        else continue;
        CHECK(verdict(bad) == lin_verdict::not_linearizable);
    }
}

namespace {

// The definition, by brute force: some order of the determinate operations and of a subset of
// the indeterminate ones is legal for the model and puts a before b whenever a returned before
// b was invoked.
bool brute_force_linearizable(const kv_history& h, std::vector<bool>& placed,
                              const kv_model::state_type& s, std::size_t left) {
    if (left == 0) return true;
    for (std::size_t x = 0; x < h.size(); ++x) {
        if (placed[x]) continue;
        bool ready = true;  // every determinate op that returned before x was invoked is placed
        for (std::size_t y = 0; y < h.size() && ready; ++y)
            ready = placed[y] || h[y].indeterminate() || h[y].returned_at >= h[x].invoked_at;
        if (!ready) continue;
        kv_model::state_type next = s;
        const kv_output out = kv_model::apply(next, h[x].input);
        if (!h[x].indeterminate() && !(out == h[x].output)) continue;
        placed[x] = true;
        const bool ok =
            brute_force_linearizable(h, placed, next, left - (h[x].indeterminate() ? 0 : 1));
        placed[x] = false;
        if (ok) return true;
    }
    return false;
}

// kv_model without its pruning hooks.
struct plain_kv_model {
    using input_type = kv_input;
    using output_type = kv_output;
    using state_type = kv_model::state_type;
    static state_type init() { return {}; }
    static std::size_t hash(const state_type& s) { return kv_model::hash(s); }
    static kv_output apply(state_type& s, const kv_input& in) { return kv_model::apply(s, in); }
};

}  // namespace

TEST_CASE("the checker agrees with the definition on small random histories",
          "[linearizability][checker]") {
    xoshiro rng(7);
    std::size_t yes = 0, no = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        // Few values, so that writes collide; random intervals; some timeouts; outputs from a
        // sequential run, then sometimes corrupted.
        kv_history h;
        kv_model::state_type s;
        const std::size_t n = 2 + rng.below(6);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t u = rng.below(3), v = 1 + rng.below(3);
            const kv_input in = u == 0   ? kv_put(0, v)
                                : u == 1 ? kv_get(0)
                                         : kv_cas(0, rng.below(4), v);
            kv_output out = kv_model::apply(s, in);
            if (rng.below(4) == 0)
                out = in.op == kv_op::get ? read(rng.below(4)) : kv_output{rng.below(2) == 0, 0};
            const std::uint64_t t0 = rng.below(20);
            const std::uint64_t t1 =
                in.op != kv_op::get && rng.below(4) == 0 ? inf : t0 + rng.below(10);
            h.push_back(op(i, in, out, t0, t1));
        }
        std::vector<bool> placed(h.size(), false);
        std::size_t determinate = 0;
        for (const auto& o : h) determinate += o.indeterminate() ? 0 : 1;
        const bool expect = brute_force_linearizable(h, placed, {}, determinate);
        std::vector<std::size_t> all(h.size());
        for (std::size_t i = 0; i < h.size(); ++i) all[i] = i;
        CAPTURE(trial, describe(h, all));
        REQUIRE(check_linearizable<kv_model>(h).ok() == expect);
        REQUIRE(check_linearizable<plain_kv_model>(h).ok() == expect);
        (expect ? yes : no)++;
    }
    CHECK(yes > 300);
    CHECK(no > 300);
}

TEST_CASE("kv commands round-trip; the state machine applies each (client, seq) once", "[kv]") {
    const kv_command cas{7, 300, kv_cas(3, 1ULL << 50, 42)};
    const kv_command put{1, 1, kv_put(0, 5)};
    CHECK(encode_kv_command(put).size() == 6);
    CHECK(decode_kv_command(encode_kv_command(cas).bytes()) == cas);
    CHECK(decode_kv_command(encode_kv_command(put).bytes()) == put);
    const buffer enc = encode_kv_command(cas);
    CHECK_FALSE(decode_kv_command(enc.bytes().first(enc.size() - 1)));  // truncated
    CHECK_FALSE(decode_kv_command(buffer("hello").bytes()));
    CHECK_FALSE(decode_kv_command({}));

    kv_state_machine sm;
    index_t idx = 0;
    auto apply = [&](const kv_command& c) {
        return sm.apply({1, ++idx, entry_type::normal, encode_kv_command(c)});
    };
    CHECK(sm.apply({1, ++idx, entry_type::normal, {}}) == std::nullopt);  // a leader's empty entry
    CHECK(apply(put)->output == ok);
    CHECK(apply({2, 1, kv_cas(0, 5, 6)})->output == ok);
    CHECK(apply({1, 1, kv_put(0, 5)})->output == ok);  // a retry: not run again
    CHECK(sm.get(0) == 6);
    CHECK(apply({2, 2, kv_cas(0, 5, 7)})->output == failed);
    CHECK(apply({2, 2, kv_cas(0, 6, 7)})->output == failed);  // a retry keeps its first output
    CHECK(apply({2, 1, kv_cas(0, 6, 7)}) == std::nullopt);    // older than the client's latest
    CHECK(sm.get(0) == 6);
    CHECK(sm.applied_index() == idx);
}

namespace {

std::vector<node_id> ids_of(std::size_t n) {
    std::vector<node_id> ids;
    for (node_id id = 1; id <= n; ++id) ids.push_back(id);
    return ids;
}

// Random faults, one change every 20..120 rounds: a network fault (minority partition, loss,
// delay with reordering and duplication, an isolated leader) that replaces the previous one or,
// one time in three, piles onto it; a crash (a minority at most is down) or the restart of the
// crashed nodes; or a heal of everything. With leader_bias the current leader is cut off more
// often, which is what a broken read path needs to show itself.
class nemesis {
public:
    nemesis(std::uint64_t seed, bool leader_bias) : rng_(seed), leader_bias_(leader_bias) {}

    void act(cluster<>& c, std::uint64_t round) {
        if (round < next_) return;
        next_ = round + 20 + rng_.below(100);
        const auto ids = c.ids();
        const std::size_t n = ids.size();
        const std::uint64_t action = rng_.below(leader_bias_ ? 10 : 8);
        if (action == 0) return heal(c);
        if (action == 1) return crash_one(c);
        if (action == 2) return restart_all(c);
        auto& net = c.net();
        if (rng_.below(3) != 0) net.heal();
        switch (action) {
        case 3: {  // a minority on one side, possibly with the leader
            std::vector<node_id> minority;
            for (node_id id : ids)
                if (minority.size() < (n - 1) / 2 && rng_.below(2) == 0) minority.push_back(id);
            if (!minority.empty()) net.partition({minority});
            break;
        }
        case 4: net.drop(any_node, any_node, 0.05 + 0.25 * rng_.uniform01()); break;
        case 5:
            net.delay(any_node, any_node, 0, 1 + rng_.below(4));
            net.reorder(any_node, any_node);
            net.duplicate(any_node, any_node, 0.05);
            break;
        default:  // 6..7, and 8..9 under leader_bias
            if (auto l = c.leader()) net.isolate(*l);
            break;
        }
    }

    void heal(cluster<>& c) {
        c.net().heal();
        restart_all(c);
    }

private:
    void crash_one(cluster<>& c) {
        std::vector<node_id> up;
        for (node_id id : c.ids())
            if (c.alive(id)) up.push_back(id);
        const std::size_t n = c.ids().size();
        if (n - up.size() >= (n - 1) / 2) return;
        const auto l = c.leader();
        c.crash(l && rng_.below(2) == 0 ? *l : up[rng_.below(up.size())]);
    }
    static void restart_all(cluster<>& c) {
        for (node_id id : c.ids())
            if (!c.alive(id)) c.restart(id);
    }
    xoshiro rng_;
    bool leader_bias_;
    std::uint64_t next_ = 50;
};

struct kv_run {
    kv_history history;
    lin_result lin;
    kv_client_stats stats;
    std::vector<std::string> violations;
    bool drained = false;
};

struct kv_run_options {
    std::size_t nodes = 3;
    kv_workload work;
    std::uint64_t rounds = 1000;
    bool pre_vote = false;
    bool check_quorum = false;
    bool leader_bias = false;
    // read_only_option::lease_based (implies check_quorum), with this max_clock_drift.
    bool lease_reads = false;
    int max_clock_drift = 2;
    // Each node's clock runs at a rate drawn from [skew_min, skew_max] per mille of the
    // others' round, with a random phase; 1000..1000 is no skew.
    std::uint32_t skew_min = 1000;
    std::uint32_t skew_max = 1000;
    // When not 0: whichever node leads ticks at this rate (per mille), the others at 1000.
    std::uint32_t slow_leader = 0;
};

kv_run run_kv(std::uint64_t seed, const kv_run_options& o) {
    const bool pv = o.pre_vote, cq = o.check_quorum || o.lease_reads, lease = o.lease_reads;
    const int drift = o.max_clock_drift;
    cluster<> c(ids_of(o.nodes), seed, [pv, cq, lease, drift](config& cfg) {
        cfg.pre_vote = pv;
        cfg.check_quorum = cq;
        cfg.max_clock_drift = drift;
        if (lease) cfg.read_only = read_only_option::lease_based;
    });
    if (o.skew_max != 1000 || o.skew_min != 1000) {
        xoshiro clocks(seed ^ 0xc10c);
        for (node_id id : c.ids())
            c.set_clock(id,
                        o.skew_min + static_cast<std::uint32_t>(clocks.below(o.skew_max - o.skew_min + 1)),
                        static_cast<std::uint32_t>(clocks.below(1000)));
    }
    REQUIRE(c.bootstrap());
    kv_clients<cluster<>> clients(c, o.work, seed * 0x9e3779b97f4a7c15ULL + 1);
    nemesis nem(seed ^ 0x5eed, o.leader_bias);
    std::optional<node_id> slowed;
    for (std::uint64_t r = 0; r < o.rounds; ++r) {
        nem.act(c, r);
        if (o.slow_leader != 0) {
            // Only a leader's lease matters: slow down the node that leads now.
            const auto l = c.leader();
            if (l && l != slowed) {
                if (slowed) c.set_clock(*slowed, 1000);
                c.set_clock(*l, o.slow_leader);
                slowed = l;
            }
        }
        clients.round();
    }
    // Heal everything and let the operations in progress finish.
    nem.heal(c);
    kv_run out;
    for (int r = 0; r < 3000 && !clients.idle(); ++r) clients.round(false);
    out.drained = clients.idle();
    out.history = clients.history();
    out.stats = clients.stats();
    out.violations = c.violations();
    out.lin = check_linearizable<kv_model>(out.history);
    return out;
}

std::string report(const kv_run& r) {
    std::string s = std::string(to_string(r.lin.verdict)) + ", " +
                    std::to_string(r.history.size()) + " ops (" +
                    std::to_string(r.stats.indeterminate) + " indeterminate), " +
                    std::to_string(r.lin.steps) + " search steps";
    if (r.lin.verdict == lin_verdict::not_linearizable) {
        // The tail of the longest linearization, then what could not follow it.
        const auto& l = r.lin.longest_linearization;
        const std::size_t tail = std::min<std::size_t>(l.size(), 8);
        s += "\nlongest linearization (" + std::to_string(l.size()) + " of " +
             std::to_string(r.lin.failing_partition.size()) + " ops), last " +
             std::to_string(tail) + ":\n";
        s += describe(r.history, std::span(l).last(tail));
        s += "none of these can come next:\n" + describe(r.history, r.lin.stuck);
    }
    return s;
}

}  // namespace

TEST_CASE("kv over raft is linearizable under faults", "[linearizability][kv][cluster]") {
    const std::uint64_t runs = env_or("RAFTPP_LIN_RUNS", 24);
    const std::uint64_t rounds = env_or("RAFTPP_LIN_ROUNDS", 2000);
    const std::uint64_t first = env_or("RAFTPP_LIN_SEED", 1);
    // Lease-based reads: the [lease] cases below cover them; RAFTPP_LIN_LEASE adds them here.
    const bool lease_reads = std::getenv("RAFTPP_LIN_LEASE") != nullptr;
    std::uint64_t completed = 0;
    for (std::uint64_t seed = first; seed < first + runs; ++seed) {
        xoshiro pick(seed);
        kv_run_options o;
        o.nodes = seed % 2 == 1 ? 3 : 5;
        o.work.clients = 3 + pick.below(3);
        o.work.keys = 1 + static_cast<std::uint32_t>(pick.below(3));
        o.rounds = rounds;
        o.pre_vote = pick.below(2) == 0;
        o.check_quorum = pick.below(2) == 0;
        o.leader_bias = pick.below(2) == 0;
        o.work.max_apply_per_round = pick.below(2) == 0 ? 0 : 1 + pick.below(3);
        o.lease_reads = lease_reads;
        CAPTURE(seed, o.nodes, o.work.clients, o.work.keys, o.pre_vote, o.check_quorum,
                o.work.max_apply_per_round, o.lease_reads);
        const kv_run r = run_kv(seed, o);
        INFO(report(r));
        if (std::getenv("RAFTPP_LIN_VERBOSE"))
            WARN("seed " << seed << ": " << report(r) << "; attempts " << r.stats.attempts
                         << ", failed " << r.stats.attempts_failed << ", reads abandoned "
                         << r.stats.reads_abandoned);
        CHECK(r.violations.empty());
        CHECK(r.drained);
        CHECK(r.lin.verdict == lin_verdict::linearizable);
        completed += r.stats.completed;
    }
    CHECK(completed > runs * rounds / 10);  // the clients made progress
}

TEST_CASE("deliberately broken read paths are caught", "[linearizability][kv][cluster]") {
    struct tc {
        std::string_view name;
        kv_read_path path;
        std::uint64_t apply_lag;
    };
    const tc cases[] = {
        // Reads served from the local state of any node that believes it leads: an isolated
        // old leader keeps believing it (no check_quorum) while the majority moves on.
        {"local reads on a deposed leader", kv_read_path::unsafe_local_leader, 0},
        // read_index, but no wait for the apply: a state machine behind its log is read.
        {"no wait for applied >= read index", kv_read_path::unsafe_no_apply_wait, 1},
    };
    for (const tc& c : cases) {
        CAPTURE(c.name);
        std::size_t caught = 0;
        std::string first_caught;
        for (std::uint64_t seed = 1; seed <= 6; ++seed) {
            CAPTURE(seed);
            kv_run_options o;
            o.nodes = 3;
            o.work.clients = 4;
            o.work.keys = 2;
            o.work.get_share = 0.5;
            o.work.read_path = c.path;
            o.work.max_apply_per_round = c.apply_lag;
            o.rounds = 800;
            o.leader_bias = true;
            const kv_run r = run_kv(seed, o);
            CHECK(r.violations.empty());  // raft itself stays safe; only the reads are wrong
            CHECK(r.lin.verdict != lin_verdict::unknown);
            if (r.lin.verdict == lin_verdict::not_linearizable && ++caught == 1)
                first_caught = "seed " + std::to_string(seed) + ": " + report(r);
        }
        CHECK(caught >= 1);
        if (std::getenv("RAFTPP_LIN_VERBOSE"))
            WARN(c.name << ": caught " << caught << " of 6 seeds; the first, " << first_caught);
    }
}

// Lease-based reads (read_only_option::lease_based). Before the lease was dated from the send
// of an acknowledged heartbeat round, a deposed leader kept its lease for up to two election
// timeouts (check_quorum's recent_active flags, etcd-io/raft#166) while followers voted for a
// new leader after one: a hunt over 3000 seeds of this workload found these 11 serving stale
// reads even with the simulator's perfect clocks. Now they must all be linearizable, as must a
// sweep of further seeds (RAFTPP_LIN_LEASE_RUNS, default 150).
namespace {

kv_run_options lease_hunt_options(std::uint64_t seed) {
    xoshiro pick(seed);  // pre_vote drawn as by the hunt that found the seeds
    pick.next();
    pick.next();
    kv_run_options o;
    o.nodes = seed % 2 == 1 ? 3 : 5;
    o.pre_vote = pick.below(2) == 0;
    o.work.clients = 5;
    o.work.keys = 1;
    o.work.get_share = 0.6;
    o.rounds = 2000;
    o.leader_bias = true;
    o.lease_reads = true;
    return o;
}

}  // namespace

TEST_CASE("lease-based reads are linearizable: the seeds that caught etcd's lease, and a sweep",
          "[lease][linearizability][kv][cluster]") {
    std::vector<std::uint64_t> seeds{1162, 1522, 1578, 1798, 1931, 2296, 2319, 2440, 3210, 3367, 3500};
    const std::uint64_t runs = env_or("RAFTPP_LIN_LEASE_RUNS", 150);
    const std::uint64_t first = env_or("RAFTPP_LIN_SEED", 1);
    for (std::uint64_t seed = first; seed < first + runs; ++seed) seeds.push_back(seed);
    std::uint64_t completed = 0;
    for (std::uint64_t seed : seeds) {
        CAPTURE(seed);
        const kv_run r = run_kv(seed, lease_hunt_options(seed));
        INFO(report(r));
        CHECK(r.violations.empty());
        CHECK(r.drained);
        CHECK(r.lin.verdict == lin_verdict::linearizable);
        completed += r.stats.completed;
    }
    CHECK(completed > seeds.size() * 200);  // the clients made progress
}

// Clocks that run at different rates, within what max_clock_drift allows: with election_tick
// 10 and a drift of 2, a follower may tick up to (10 - 1) / (10 - 2) = 1.125 times as fast as
// the leader (the 1 is the unaligned tick boundaries; docs/design.md, "Leader leases").
TEST_CASE("lease-based reads stay linearizable with clocks skewed within max_clock_drift",
          "[lease][linearizability][kv][cluster][skew]") {
    const std::uint64_t runs = env_or("RAFTPP_LIN_LEASE_RUNS", 150);
    const std::uint64_t first = env_or("RAFTPP_LIN_SEED", 1);
    for (std::uint64_t seed = first; seed < first + runs; ++seed) {
        CAPTURE(seed);
        kv_run_options o = lease_hunt_options(seed);
        o.skew_min = 1000;
        o.skew_max = 1120;
        const kv_run r = run_kv(seed, o);
        INFO(report(r));
        CHECK(r.violations.empty());
        CHECK(r.drained);
        CHECK(r.lin.verdict == lin_verdict::linearizable);
    }
}

// Beyond the bound the lease is unsafe, and the checker shows it: with the leader's clock at
// an eighth of the followers' rate (RAFTPP_LIN_SLOW_LEADER per mille) its lease outlives their
// election timeout many times over (no drift allowed for), and a few of these runs serve a
// stale read (4 of the first 100 seeds; the case stops at the first, seed 15, unless
// RAFTPP_LIN_VERBOSE asks for the count). The same runs with safe reads are linearizable.
TEST_CASE("clock skew beyond max_clock_drift makes lease reads stale (unsafe, caught)",
          "[lease][linearizability][kv][cluster][skew]") {
    std::size_t caught = 0;
    std::string first_caught;
    const std::uint64_t runs = env_or("RAFTPP_LIN_SKEW_RUNS", 100);
    for (std::uint64_t seed = 1; seed <= runs; ++seed) {
        CAPTURE(seed);
        kv_run_options o = lease_hunt_options(seed);
        o.max_clock_drift = 0;
        o.slow_leader = static_cast<std::uint32_t>(env_or("RAFTPP_LIN_SLOW_LEADER", 125));
        const kv_run lease = run_kv(seed, o);
        CHECK(lease.violations.empty());  // raft itself stays safe; only the reads are wrong
        if (lease.lin.verdict == lin_verdict::not_linearizable && ++caught == 1)
            first_caught = "seed " + std::to_string(seed) + ": " + report(lease);
        o.lease_reads = false;
        o.check_quorum = true;
        CHECK(run_kv(seed, o).lin.ok());
        if (caught != 0 && !std::getenv("RAFTPP_LIN_VERBOSE")) break;
    }
    CHECK(caught >= 1);
    if (std::getenv("RAFTPP_LIN_VERBOSE"))
        WARN("skew beyond the drift: caught " << caught << " of " << runs << "; the first, "
                                              << first_caught);
}
