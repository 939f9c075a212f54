// The deterministic test network: every fault control does what it says, and a seed replays a
// run exactly. Also the transport concept and vector_transport.
#include <catch2/catch.hpp>

#include "core_instances.hpp"
#include "message_util.hpp"

#include <raftpp/testing/network.hpp>
#include <raftpp/transport.hpp>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

using namespace raftpp;
using raftpp::testing::any_node;
using raftpp::testing::network;

namespace {

// An append message numbered by `index`, so tests can tell messages apart.
message msg(node_id from, node_id to, index_t index, message_type t = message_type::app) {
    message m = test::make_message(t, from, to);
    m.index = index;
    return m;
}

std::vector<index_t> indexes(const std::vector<message>& ms) {
    std::vector<index_t> out;
    for (const auto& m : ms) out.push_back(m.index);
    return out;
}

// Delivers until idle; returns the indexes in delivery order.
std::vector<index_t> drain(network& n) {
    std::vector<index_t> out;
    while (!n.idle())
        for (const auto& m : n.deliver()) out.push_back(m.index);
    return out;
}

void check_accounting(const network& n) {
    const auto& s = n.stats();
    CHECK(s.sent + s.duplicated == s.delivered + s.dropped + n.in_flight());
}

struct not_a_transport {
    void send(const int&) {}
};
static_assert(transport<vector_transport>);
static_assert(transport<raftpp::testing::network_endpoint>);
static_assert(transport<network>);
static_assert(!transport<not_a_transport>);
static_assert(check_transport<vector_transport>() &&
              check_transport<raftpp::testing::network_endpoint>());

}  // namespace

TEST_CASE("vector_transport collects messages in order and take() empties it", "[transport]") {
    vector_transport t;
    CHECK(t.empty());
    t.send(msg(1, 2, 1));
    t.send(msg(1, 3, 2));
    CHECK(t.size() == 2);
    CHECK(t.pending()[1].to == 3);
    const auto taken = t.take();
    CHECK(indexes(taken) == std::vector<index_t>{1, 2});
    CHECK(t.empty());
    CHECK(t.take().empty());
}

TEST_CASE("a healthy network delivers everything on the next step, in send order", "[network]") {
    network n(1);
    CHECK(n.seed() == 1);
    auto e1 = n.endpoint(1);
    auto e2 = n.endpoint(2);
    CHECK(e1.id() == 1);
    e1.send(msg(none, 2, 1));  // from is filled in by the endpoint
    e2.send(msg(2, 1, 2));
    e1.send(msg(1, 3, 3));
    CHECK(n.in_flight() == 3);
    CHECK_FALSE(n.idle());
    const auto out = n.deliver();
    CHECK(indexes(out) == std::vector<index_t>{1, 2, 3});
    CHECK(out[0].from == 1);
    CHECK(n.idle());
    CHECK(n.now() == 1);
    CHECK(n.deliver().empty());
    CHECK(n.stats() == raftpp::testing::network_stats{3, 3, 0, 0});
    check_accounting(n);
}

TEST_CASE("drop rate loses about that share of messages", "[network][drop]") {
    network n(42);
    n.drop(1, 2, 0.3);
    constexpr int count = 10000;
    for (int i = 0; i < count; ++i) n.send(msg(1, 2, i));
    for (int i = 0; i < 100; ++i) n.send(msg(2, 1, i));  // the reverse link is unaffected
    n.deliver();
    const double share = static_cast<double>(n.stats().dropped) / count;
    // Binomial(10000, 0.3): sd ~ 0.0046; the bound is over 6 sd.
    CHECK(share > 0.27);
    CHECK(share < 0.33);
    CHECK(n.stats().delivered == count + 100 - n.stats().dropped);
    check_accounting(n);

    SECTION("rate 1 drops all, rate 0 none") {
        n.drop(1, 2, 1.0);
        n.drop(1, 3, 0.0);
        for (int i = 0; i < 50; ++i) n.send(msg(1, 2, i)), n.send(msg(1, 3, i));
        CHECK(n.deliver().size() == 50);
        check_accounting(n);
    }
}

TEST_CASE("delay holds messages for the given number of rounds", "[network][delay]") {
    network n(7);
    n.delay(1, 2, 3, 3);
    n.send(msg(1, 2, 1));
    n.send(msg(2, 1, 2));  // undelayed link
    CHECK(indexes(n.deliver()) == std::vector<index_t>{2});
    CHECK(n.deliver().empty());
    CHECK(n.deliver().empty());
    CHECK(n.in_flight() == 1);
    CHECK(indexes(n.deliver()) == std::vector<index_t>{1});  // 4th deliver: skipped 3 rounds
    CHECK(n.idle());

    SECTION("a range spreads deliveries over it and a FIFO link keeps order") {
        n.delay(1, 3, 2, 5);
        const auto start = n.now();
        for (index_t i = 0; i < 200; ++i) n.send(msg(1, 3, i));
        std::vector<index_t> order;
        std::vector<std::uint64_t> rounds;
        while (!n.idle()) {
            for (const auto& m : n.deliver()) {
                order.push_back(m.index);
                rounds.push_back(n.now() - start);
            }
        }
        CHECK(std::is_sorted(order.begin(), order.end()));
        CHECK(order.size() == 200);
        CHECK(*std::min_element(rounds.begin(), rounds.end()) >= 3);
        CHECK(*std::max_element(rounds.begin(), rounds.end()) <= 6);
    }
    SECTION("with reorder, delayed messages overtake each other") {
        n.delay(1, 3, 0, 4);
        n.reorder(1, 3, true);
        for (index_t i = 0; i < 200; ++i) n.send(msg(1, 3, i));
        const auto order = drain(n);
        CHECK(order.size() == 200);
        CHECK_FALSE(std::is_sorted(order.begin(), order.end()));
        CHECK(n.now() <= 4 + 5);
    }
}

TEST_CASE("partition blocks traffic across groups and heal restores it", "[network][partition]") {
    network n(3);
    n.partition({{1, 2}, {3}});
    for (node_id from : {1, 2, 3})
        for (node_id to : {1, 2, 3})
            if (from != to) n.send(msg(from, to, from * 10 + to));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{12, 21});
    CHECK(n.stats().dropped == 4);

    n.heal();
    n.send(msg(1, 3, 13));
    n.send(msg(3, 2, 32));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{13, 32});

    SECTION("nodes named in no group form their own group") {
        n.partition({{1}});
        n.send(msg(1, 2, 1));
        n.send(msg(2, 3, 2));
        n.send(msg(3, 1, 3));
        n.send(msg(1, 1, 4));  // a node always reaches itself
        CHECK(indexes(n.deliver()) == std::vector<index_t>{2, 4});
    }
    SECTION("a message in flight when the partition starts is lost") {
        n.delay(1, 2, 2, 2);
        n.send(msg(1, 2, 5));
        n.partition({{1}, {2}});
        CHECK(drain(n).empty());
        CHECK(n.stats().dropped == 5);
        check_accounting(n);
    }
}

TEST_CASE("cut is symmetric, cut_one_way is not", "[network][cut]") {
    network n(5);
    n.cut(1, 2);
    n.cut_one_way(1, 3);
    n.send(msg(1, 2, 1));
    n.send(msg(2, 1, 2));
    n.send(msg(1, 3, 3));
    n.send(msg(3, 1, 4));
    n.send(msg(2, 3, 5));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{4, 5});
    n.heal();
    n.send(msg(1, 2, 6));
    n.send(msg(1, 3, 7));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{6, 7});
}

TEST_CASE("isolate and black_hole cut a node off; restore brings it back", "[network][isolate]") {
    network n(9);
    SECTION("isolate keeps self-addressed messages") {
        n.isolate(2);
        n.send(msg(1, 2, 1));
        n.send(msg(2, 3, 2));
        n.send(msg(2, 2, 3));
        n.send(msg(1, 3, 4));
        CHECK(indexes(n.deliver()) == std::vector<index_t>{3, 4});
        n.restore(2);
        n.send(msg(1, 2, 5));
        CHECK(indexes(n.deliver()) == std::vector<index_t>{5});
    }
    SECTION("a black hole swallows everything, even its own messages") {
        n.black_hole(2);
        n.send(msg(1, 2, 1));
        n.send(msg(2, 3, 2));
        n.send(msg(2, 2, 3));
        n.send(msg(1, 3, 4));
        CHECK(indexes(n.deliver()) == std::vector<index_t>{4});
        n.heal();
        n.send(msg(2, 2, 5));
        CHECK(indexes(n.deliver()) == std::vector<index_t>{5});
    }
    check_accounting(n);
}

TEST_CASE("ignore drops a whole message type", "[network][ignore]") {
    network n(11);
    n.ignore(message_type::heartbeat);
    n.send(msg(1, 2, 1, message_type::heartbeat));
    n.send(msg(1, 2, 2, message_type::app));
    n.send(msg(3, 1, 3, message_type::heartbeat));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{2});
    n.heal();
    n.send(msg(1, 2, 4, message_type::heartbeat));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{4});
}

TEST_CASE("duplicate delivers extra copies", "[network][duplicate]") {
    network n(13);
    n.duplicate(1, 2, 1.0);
    n.send(msg(1, 2, 1));
    n.send(msg(1, 3, 2));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{1, 1, 2});
    CHECK(n.stats().duplicated == 1);

    n.duplicate(1, 2, 0.25);
    constexpr int count = 8000;
    const auto before = n.stats().duplicated;
    for (int i = 0; i < count; ++i) n.send(msg(1, 2, i));
    n.deliver();
    const double share = static_cast<double>(n.stats().duplicated - before) / count;
    CHECK(share > 0.22);
    CHECK(share < 0.28);
    check_accounting(n);
}

TEST_CASE("reorder permutes a link's messages, deterministically", "[network][reorder]") {
    auto run = [](std::uint64_t seed, bool reorder) {
        network n(seed);
        n.reorder(1, 2, reorder);
        for (index_t i = 0; i < 100; ++i) n.send(msg(1, 2, i));
        n.send(msg(3, 2, 1000));  // a FIFO link keeps its place among the shuffled ones
        return indexes(n.deliver());
    };
    const auto fifo = run(17, false);
    CHECK(std::is_sorted(fifo.begin(), fifo.end()));
    const auto shuffled = run(17, true);
    CHECK(shuffled != fifo);
    CHECK(shuffled.back() == 1000);
    CHECK(std::is_permutation(shuffled.begin(), shuffled.end(), fifo.begin(), fifo.end()));
    CHECK(run(17, true) == shuffled);
    CHECK(run(18, true) != shuffled);
}

TEST_CASE("link settings resolve field by field, most specific first", "[network][wildcard]") {
    network n(19);
    n.drop(any_node, 3, 1.0);  // everything to 3 is lost ...
    n.drop(1, 3, 0.0);         // ... except from 1
    n.delay(any_node, any_node, 1, 1);
    n.send(msg(1, 3, 1));
    n.send(msg(2, 3, 2));
    n.send(msg(2, 1, 3));
    CHECK(n.deliver().empty());  // every link is delayed one round, including 1 -> 3
    CHECK(indexes(n.deliver()) == std::vector<index_t>{1, 3});
    CHECK(n.stats().dropped == 1);
}

TEST_CASE("a filter drops the messages it rejects", "[network][filter]") {
    network n(23);
    n.set_filter([](const message& m) { return m.index % 2 == 0; });
    for (index_t i = 0; i < 6; ++i) n.send(msg(1, 2, i));
    n.heal();  // the filter survives heal()
    n.send(msg(1, 2, 7));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{0, 2, 4});
    n.set_filter({});
    n.send(msg(1, 2, 7));
    CHECK(indexes(n.deliver()) == std::vector<index_t>{7});
}

namespace {

using trace = std::vector<std::tuple<std::uint64_t, node_id, node_id, index_t>>;

// A mixed workload with every random fault on; returns (step, from, to, index) per delivery.
trace chaos_run(std::uint64_t seed) {
    network n(seed);
    n.drop(any_node, any_node, 0.2);
    n.duplicate(any_node, any_node, 0.1);
    n.delay(any_node, any_node, 0, 3);
    n.reorder(1, 2, true);
    n.reorder(3, 1, true);
    n.cut_one_way(2, 3);
    trace out;
    index_t next = 0;
    for (int step = 0; step < 60; ++step) {
        for (node_id from = 1; from <= 3; ++from)
            for (node_id to = 1; to <= 3; ++to)
                if (from != to) n.send(msg(from, to, next++));
        if (step == 30) n.partition({{1}, {2, 3}});
        if (step == 45) n.heal();
        for (const auto& m : n.deliver()) out.emplace_back(n.now(), m.from, m.to, m.index);
    }
    while (!n.idle())
        for (const auto& m : n.deliver()) out.emplace_back(n.now(), m.from, m.to, m.index);
    check_accounting(n);
    return out;
}

}  // namespace

TEST_CASE("same seed, same sends: identical deliveries; another seed differs", "[network][seed]") {
    const trace a = chaos_run(2024);
    CHECK(a.size() > 100);
    CHECK(chaos_run(2024) == a);
    CHECK(chaos_run(2025) != a);
}
