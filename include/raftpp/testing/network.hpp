// raftpp::testing::network — a deterministic in-memory network for tests and simulation
// (etcd's raft_test.go `network` and rafttest's raftNetwork, made deterministic). Nodes send
// through endpoint(id), a raftpp::transport; the harness calls deliver() once per logical
// step and steps the returned messages into its nodes. No threads, no clocks, no raft core.
//
// Faults: per-link drop / duplicate rates, delays in steps, reordering; cuts (one or both
// ways), partitions, isolated nodes, black-holed nodes, ignored message types, a filter.
// Links are FIFO unless reorder() is on for them, like a TCP connection.
//
// Determinism: the only randomness is a xoshiro256** generator seeded in the constructor and
// specified bit for bit below, so the same seed and the same sequence of calls (sends, fault
// changes, deliver()s) give the same deliveries, in the same order, on every platform.
#pragma once

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

// Wildcard for the link controls: drop(any_node, 3, 1.0) drops everything sent to node 3.
inline constexpr node_id any_node = none;

namespace detail {

// xoshiro256** (Blackman & Vigna), state filled by splitmix64. Written out rather than taken
// from <random> because std distributions are not specified bit for bit across libraries.
class xoshiro256ss {
public:
    explicit xoshiro256ss(std::uint64_t seed) noexcept {
        for (auto& s : s_) {
            std::uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
    }
    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, 1), 53 bits.
    double uniform01() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    // Uniform in [0, n) for n > 0 (multiply-shift; the bias is far below test resolution).
    std::uint64_t below(std::uint64_t n) noexcept {
        __extension__ typedef unsigned __int128 u128;  // __extension__: quiet under -Wpedantic
        return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace detail

// Counters since construction. Every message ends up delivered, dropped or still in flight:
//   sent + duplicated == delivered + dropped + in_flight()
struct network_stats {
    std::uint64_t sent = 0;        // messages handed to send()
    std::uint64_t delivered = 0;   // messages returned by deliver()
    std::uint64_t dropped = 0;     // lost to a rate, cut, partition, isolation, black hole,
                                   // ignored type or the filter
    std::uint64_t duplicated = 0;  // extra copies made by duplicate()

    friend bool operator==(const network_stats&, const network_stats&) = default;
};

class network;

// One node's handle on the network; a raftpp::transport. Cheap to copy; the network must
// outlive it.
class network_endpoint {
public:
    network_endpoint(network& net, node_id id) noexcept : net_(&net), id_(id) {}
    // Sends m from this node; m.from is set to id() when it is none.
    void send(message&& m);
    node_id id() const noexcept { return id_; }

private:
    network* net_;
    node_id id_;
};

class network {
public:
    explicit network(std::uint64_t seed) : seed_(seed), rng_(seed) {}
    // Endpoints point at the network, so it stays where it was built.
    network(const network&) = delete;
    network& operator=(const network&) = delete;

    std::uint64_t seed() const noexcept { return seed_; }
    network_endpoint endpoint(node_id from) noexcept { return {*this, from}; }

    // Queues m on the link (m.from, m.to). Faults are decided here: blocked links, the
    // filter, drop and duplicate rates, the delay. A message to oneself (from == to) bypasses
    // the link faults but not black holes, ignored types or the filter.
    void send(message&& m) {
        ++stats_.sent;
        RAFTPP_ASSERT(m.to != none, "network: message without a destination");
        if (blocked(m) || (filter_ && !filter_(m))) {
            ++stats_.dropped;
            return;
        }
        if (m.from == m.to) {
            enqueue(std::move(m), 0, false);
            return;
        }
        if (chance(resolve(m.from, m.to, &link_rule::drop, 0.0))) {
            ++stats_.dropped;
            return;
        }
        const bool copy = chance(resolve(m.from, m.to, &link_rule::duplicate, 0.0));
        const auto [lo, hi] = resolve(m.from, m.to, &link_rule::delay, steps{0, 0});
        const bool reorderable = resolve(m.from, m.to, &link_rule::reorder, false);
        if (copy) {
            ++stats_.duplicated;
            message dup = m;  // entry payloads are shared buffers: no bytes are copied
            enqueue(std::move(m), draw(lo, hi), reorderable);
            enqueue(std::move(dup), draw(lo, hi), reorderable);
        } else {
            enqueue(std::move(m), draw(lo, hi), reorderable);
        }
    }

    // --- Link faults. `from` / `to` may be any_node; the most specific setting wins, field by
    // field: (from, to), then (from, any), then (any, to), then (any, any).

    // Drops each message on the link with probability rate (>= 1 drops all).
    void drop(node_id from, node_id to, double rate) {
        RAFTPP_ASSERT(rate >= 0, "network: negative drop rate");
        rules_[{from, to}].drop = rate;
    }
    // Delivers one extra copy of a message with probability rate (>= 1 copies all).
    void duplicate(node_id from, node_id to, double rate) {
        RAFTPP_ASSERT(rate >= 0, "network: negative duplicate rate");
        rules_[{from, to}].duplicate = rate;
    }
    // A message skips a uniformly drawn d in [min_steps, max_steps] rounds: it is returned by
    // the (d+1)-th deliver() after its send (d = 0, the default, means the next one). On a
    // FIFO link a message never overtakes an earlier one, so it may wait longer than d.
    void delay(node_id from, node_id to, std::uint64_t min_steps, std::uint64_t max_steps) {
        RAFTPP_ASSERT(min_steps <= max_steps && max_steps < no_limit, "network: bad delay range");
        rules_[{from, to}].delay = steps{min_steps, max_steps};
    }
    // Off (default): the link is FIFO. On: delays are independent and messages due in the same
    // round are shuffled among themselves, so later messages may overtake earlier ones.
    void reorder(node_id from, node_id to, bool enabled = true) {
        rules_[{from, to}].reorder = enabled;
    }

    // --- Connectivity. Checked at send and again at delivery: a message in flight when its
    // link goes down is lost, as on a real network.

    // No traffic between a and b, either way.
    void cut(node_id a, node_id b) {
        cut_.insert({a, b});
        cut_.insert({b, a});
    }
    void cut_one_way(node_id from, node_id to) { cut_.insert({from, to}); }
    // Replaces the partition: no traffic between nodes of different groups. Nodes named in no
    // group form one more group, so partition({{1}}) separates node 1 from everybody else.
    void partition(std::vector<std::vector<node_id>> groups) {
        group_of_.clear();
        for (std::size_t g = 0; g < groups.size(); ++g)
            for (node_id id : groups[g]) {
                const bool fresh = group_of_.emplace(id, g).second;
                RAFTPP_ASSERT(fresh, "network: node in two groups");
            }
        implicit_group_ = groups.size();
        partitioned_ = true;
    }
    // Cuts id off from every other node (it still reaches itself); composes with partition().
    void isolate(node_id id) { isolated_.insert(id); }
    // id behaves as crashed (etcd's blackHole): everything it sends or is sent is lost,
    // including messages to itself.
    void black_hole(node_id id) { black_holes_.insert(id); }
    // Undoes isolate(id) and black_hole(id).
    void restore(node_id id) {
        isolated_.erase(id);
        black_holes_.erase(id);
    }
    // Drops every message of type t.
    void ignore(message_type t) { ignored_.set(static_cast<std::size_t>(t)); }
    // Drops each message for which keep(m) returns false (etcd's msgHook); checked at send.
    // An empty function removes the filter. heal() leaves the filter in place.
    void set_filter(std::function<bool(const message&)> keep) { filter_ = std::move(keep); }

    // Clears every fault: link rates, delays, reordering, cuts, the partition, isolated and
    // black-holed nodes, ignored types. Messages already in flight stay in flight.
    void heal() {
        rules_.clear();
        cut_.clear();
        group_of_.clear();
        partitioned_ = false;
        isolated_.clear();
        black_holes_.clear();
        ignored_.reset();
    }

    // --- Delivery.

    // Advances one logical step and returns the messages due now, in send order except where
    // reorder() shuffles them. Messages whose link went down in the meantime are dropped.
    std::vector<message> deliver() {
        ++now_;
        std::vector<message> out;
        std::vector<std::size_t> shuffle_slots;
        while (!queue_.empty() && queue_.begin()->first.first <= now_) {
            auto node = queue_.extract(queue_.begin());
            pending& p = node.mapped();
            if (blocked(p.msg)) {
                ++stats_.dropped;
                continue;
            }
            if (p.reorderable) shuffle_slots.push_back(out.size());
            out.push_back(std::move(p.msg));
        }
        // Fisher-Yates over the positions of reorderable messages; FIFO ones stay put.
        for (std::size_t i = shuffle_slots.size(); i > 1; --i) {
            const std::size_t j = static_cast<std::size_t>(rng_.below(i));
            std::swap(out[shuffle_slots[i - 1]], out[shuffle_slots[j]]);
        }
        stats_.delivered += out.size();
        return out;
    }

    bool idle() const noexcept { return queue_.empty(); }
    std::size_t in_flight() const noexcept { return queue_.size(); }
    // Steps taken: the number of deliver() calls so far.
    std::uint64_t now() const noexcept { return now_; }
    const network_stats& stats() const noexcept { return stats_; }

private:
    using link = std::pair<node_id, node_id>;
    using steps = std::pair<std::uint64_t, std::uint64_t>;
    // Unset fields fall through to less specific rules (see the link faults above).
    struct link_rule {
        std::optional<double> drop;
        std::optional<double> duplicate;
        std::optional<steps> delay;
        std::optional<bool> reorder;
    };
    struct pending {
        message msg;
        bool reorderable = false;
    };

    template <class T>
    T resolve(node_id from, node_id to, std::optional<T> link_rule::*field, T fallback) const {
        for (const link& k : {link{from, to}, link{from, any_node}, link{any_node, to},
                              link{any_node, any_node}}) {
            auto it = rules_.find(k);
            if (it != rules_.end() && (it->second.*field)) return *(it->second.*field);
        }
        return fallback;
    }

    bool blocked(const message& m) const {
        if (ignored_.test(static_cast<std::size_t>(m.type))) return true;
        if (black_holes_.count(m.from) || black_holes_.count(m.to)) return true;
        if (m.from == m.to) return false;
        if (isolated_.count(m.from) || isolated_.count(m.to)) return true;
        if (cut_.count({m.from, m.to})) return true;
        return partitioned_ && group(m.from) != group(m.to);
    }
    std::size_t group(node_id id) const {
        auto it = group_of_.find(id);
        return it == group_of_.end() ? implicit_group_ : it->second;
    }

    // Draws only for a real chance, so rates of 0 and >= 1 consume no randomness.
    bool chance(double rate) {
        if (rate <= 0) return false;
        return rate >= 1 || rng_.uniform01() < rate;
    }
    std::uint64_t draw(std::uint64_t lo, std::uint64_t hi) {
        return lo == hi ? lo : lo + rng_.below(hi - lo + 1);
    }

    void enqueue(message&& m, std::uint64_t delay_steps, bool reorderable) {
        std::uint64_t due = now_ + 1 + delay_steps;
        if (!reorderable) {
            // FIFO: never due before the previous message on the link; ties keep send order.
            std::uint64_t& last = last_due_[{m.from, m.to}];
            due = std::max(due, last);
            last = due;
        }
        queue_.emplace(std::pair{due, next_seq_++}, pending{std::move(m), reorderable});
    }

    std::uint64_t seed_;
    detail::xoshiro256ss rng_;
    std::uint64_t now_ = 0;
    std::uint64_t next_seq_ = 0;
    // In flight, keyed by (due step, send sequence): iteration order is delivery order.
    std::map<std::pair<std::uint64_t, std::uint64_t>, pending> queue_;
    // Due step of the last message queued on each FIFO link.
    std::map<link, std::uint64_t> last_due_;

    std::map<link, link_rule> rules_;
    std::set<link> cut_;
    std::map<node_id, std::size_t> group_of_;
    std::size_t implicit_group_ = 0;
    bool partitioned_ = false;
    std::set<node_id> isolated_;
    std::set<node_id> black_holes_;
    std::bitset<64> ignored_;
    std::function<bool(const message&)> filter_;
    network_stats stats_;
};

inline void network_endpoint::send(message&& m) {
    // A transfer_leader a follower forwards names the transferee in `from` (etcd main).
    RAFTPP_ASSERT(m.from == none || m.from == id_ || m.type == message_type::transfer_leader,
                  "network: endpoint sends for another node");
    if (m.from == none) m.from = id_;
    net_->send(std::move(m));
}

}  // namespace raftpp::testing
