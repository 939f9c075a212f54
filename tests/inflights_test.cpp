// Tests for raftpp::detail::inflights: ports of etcd's tracker/inflights_test.go (3.4, plus
// etcd-io/raft's byte-budget tests) and byte-accounting checks against a simple model.
#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include <raftpp/detail/inflights.hpp>

using raftpp::index_t;
using raftpp::detail::inflights;

namespace {

// The (index, bytes) pairs in flight, oldest first.
std::vector<std::pair<index_t, std::uint64_t>> contents(const inflights& in) {
    std::vector<std::pair<index_t, std::uint64_t>> v;
    in.for_each([&](index_t i, std::uint64_t b) { v.emplace_back(i, b); });
    return v;
}

std::vector<index_t> indexes(const inflights& in) {
    std::vector<index_t> v;
    in.for_each([&](index_t i, std::uint64_t) { v.push_back(i); });
    return v;
}

std::vector<index_t> range(index_t lo, index_t hi) {  // [lo, hi)
    std::vector<index_t> v;
    for (index_t i = lo; i < hi; ++i) v.push_back(i);
    return v;
}

}  // namespace

TEST_CASE("inflights add keeps appends in order, also across the ring's end", "[inflights]") {
    inflights in(10);
    for (index_t i = 0; i < 5; ++i) in.add(i, 0);
    CHECK(in.count() == 5);
    CHECK(indexes(in) == range(0, 5));
    CHECK_FALSE(in.full());
    for (index_t i = 5; i < 10; ++i) in.add(i, 0);
    CHECK(in.count() == 10);
    CHECK(indexes(in) == range(0, 10));
    CHECK(in.full());

    // etcd's rotating case starts the window at slot 5: free five, add five more.
    in.free_le(4);
    for (index_t i = 10; i < 15; ++i) in.add(i, 0);
    CHECK(in.count() == 10);
    CHECK(indexes(in) == range(5, 15));
    CHECK(in.full());
    CHECK(in.capacity() == 10);
}

TEST_CASE("inflights free_le frees every append at or below the acked index", "[inflights]") {
    inflights in(10);
    for (index_t i = 0; i < 10; ++i) in.add(i, 0);

    in.free_le(4);
    CHECK(in.count() == 5);
    CHECK(indexes(in) == range(5, 10));

    in.free_le(8);
    CHECK(in.count() == 1);
    CHECK(indexes(in) == range(9, 10));

    // Rotating case: the window wraps around the end of the buffer.
    for (index_t i = 10; i < 15; ++i) in.add(i, 0);
    in.free_le(12);
    CHECK(in.count() == 2);
    CHECK(indexes(in) == range(13, 15));

    in.free_le(14);
    CHECK(in.count() == 0);
    CHECK(indexes(in).empty());
    CHECK_FALSE(in.full());
}

TEST_CASE("inflights free_le outside the window", "[inflights]") {
    inflights in(10, 1000);
    in.free_le(100);  // empty: nothing to free
    CHECK(in.count() == 0);
    for (index_t i = 5; i < 10; ++i) in.add(i, 10);
    in.free_le(4);  // left of the window: a stale ack
    CHECK(in.count() == 5);
    CHECK(in.bytes() == 50);
    in.free_le(1000);  // past the newest append: frees all
    CHECK(in.count() == 0);
    CHECK(in.bytes() == 0);
}

TEST_CASE("inflights free_first_one frees the oldest append", "[inflights]") {
    inflights in(10);
    for (index_t i = 0; i < 10; ++i) in.add(i, i);
    in.free_first_one();
    CHECK(in.count() == 9);
    CHECK(indexes(in) == range(1, 10));
    CHECK(in.bytes() == 45);

    inflights empty(3);
    empty.free_first_one();  // a no-op, not a crash (etcd reads buffer[start] unchecked)
    CHECK(empty.count() == 0);
}

TEST_CASE("inflights is full by count or by bytes", "[inflights][bytes]") {
    // etcd-io/raft TestInflightsFull. Append i carries 100 + i bytes.
    struct {
        std::string_view name;
        std::size_t size;
        std::uint64_t max_bytes;
        index_t full_at;
        index_t free_le;
        index_t again_at;
    } const cases[] = {
        {"always-full", 0, 0, 0, 0, 0},
        {"single-entry", 1, 0, 1, 1, 2},
        {"single-entry-overflow", 1, 10, 1, 1, 2},
        {"multi-entry", 15, 0, 15, 6, 22},
        {"slight-overflow", 8, 400, 4, 2, 7},
        {"exact-max-bytes", 8, 406, 4, 3, 8},
        {"larger-overflow", 15, 408, 5, 1, 6},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        inflights in(tc.size, tc.max_bytes);
        auto add_until_full = [&](index_t begin, index_t end) {
            for (index_t i = begin; i < end; ++i) {
                CAPTURE(i);
                REQUIRE_FALSE(in.full());
                in.add(i, 100 + i);
            }
            REQUIRE(in.full());
        };
        add_until_full(0, tc.full_at);
        in.free_le(tc.free_le);
        add_until_full(tc.full_at, tc.again_at);
    }
}

TEST_CASE("inflights bytes: a message may overshoot the budget, the next one waits",
          "[inflights][bytes]") {
    inflights in(100, 1000);
    in.add(1, 999);
    CHECK_FALSE(in.full());
    in.add(2, 5000);  // admitted: the budget was not used up yet
    CHECK(in.full());
    CHECK(in.bytes() == 5999);
    in.free_le(1);
    CHECK(in.bytes() == 5000);
    CHECK(in.full());
    in.free_le(2);
    CHECK(in.bytes() == 0);
    CHECK_FALSE(in.full());
}

TEST_CASE("inflights bytes are released exactly on ack", "[inflights][bytes]") {
    inflights in(10, 1'000'000);
    in.add(3, 7);
    in.add(5, 11);
    in.add(5, 13);  // equal indexes are allowed and freed together
    in.add(9, 17);
    CHECK(in.bytes() == 48);
    in.free_le(4);
    CHECK(in.bytes() == 41);
    in.free_le(5);
    CHECK(in.bytes() == 17);
    CHECK(contents(in) == std::vector<std::pair<index_t, std::uint64_t>>{{9, 17}});
    in.free_le(9);
    CHECK(in.bytes() == 0);
    CHECK(in.count() == 0);
}

TEST_CASE("inflights reset frees bytes too (etcd-io/raft#54)", "[inflights][bytes]") {
    // Ported from etcd-io/raft TestInflightsReset: a flow that is periodically reset to
    // empty must not leak byte usage across resets.
    inflights in(10, 1000);
    index_t index = 0;
    for (int epoch = 0; epoch < 100; ++epoch) {
        CAPTURE(epoch);
        in.reset();
        CHECK(in.bytes() == 0);
        for (int i = 0; i < 5; ++i) {
            REQUIRE_FALSE(in.full());
            in.add(++index, 16);
        }
        in.free_le(index - 2);  // ack all but the last two
        REQUIRE_FALSE(in.full());
        REQUIRE(in.count() == 2);
        REQUIRE(in.bytes() == 32);
    }
    in.free_le(index);
    CHECK(in.count() == 0);
    CHECK(in.bytes() == 0);
}

TEST_CASE("inflights accounting matches a model over many add/free_le cycles",
          "[inflights][bytes]") {
    const auto seed = static_cast<std::uint64_t>(
        Catch::rngSeed() != 0 ? Catch::rngSeed() : std::random_device{}());
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    auto below = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };

    for (int round = 0; round < 20; ++round) {
        const std::size_t size = 1 + below(16);
        const std::uint64_t max_bytes = below(2) == 0 ? 0 : 1 + below(4096);
        CAPTURE(round, size, max_bytes);
        inflights in(size, max_bytes);
        std::deque<std::pair<index_t, std::uint64_t>> model;
        std::uint64_t model_bytes = 0;
        index_t next = 1;
        for (int step = 0; step < 5000; ++step) {
            const auto op = below(10);
            if (op < 6) {
                const bool model_full =
                    model.size() == size || (max_bytes != 0 && model_bytes >= max_bytes);
                REQUIRE(in.full() == model_full);
                if (model_full) continue;
                next += below(3);  // sometimes repeat an index
                const std::uint64_t b = below(512);
                in.add(next, b);
                model.emplace_back(next, b);
                model_bytes += b;
            } else if (op < 9) {
                const index_t to = next - std::min<index_t>(next, below(2 * size + 2));
                in.free_le(to);
                while (!model.empty() && model.front().first <= to) {
                    model_bytes -= model.front().second;
                    model.pop_front();
                }
            } else if (below(10) == 0) {
                in.reset();
                model.clear();
                model_bytes = 0;
            }
            REQUIRE(in.count() == model.size());
            REQUIRE(in.bytes() == model_bytes);
            REQUIRE(in.capacity() <= size);
        }
        in.free_le(next);
        REQUIRE(in.count() == 0);
        REQUIRE(in.bytes() == 0);
        REQUIRE_FALSE(in.full());
    }
}

TEST_CASE("inflights grows its buffer lazily by doubling, never past its size", "[inflights]") {
    inflights in(10);
    CHECK(in.capacity() == 0);  // thousands of idle groups cost nothing
    std::vector<std::size_t> seen;
    for (index_t i = 0; i < 10; ++i) {
        in.add(i, 0);
        if (seen.empty() || seen.back() != in.capacity()) seen.push_back(in.capacity());
    }
    CHECK(seen == std::vector<std::size_t>{1, 2, 4, 8, 10});

    // Warmed up: a steady add/free cycle never grows it again.
    for (index_t i = 10; i < 10'000; ++i) {
        in.free_first_one();
        in.add(i, 0);
    }
    CHECK(in.capacity() == 10);
    CHECK(in.count() == 10);
}

TEST_CASE("inflights emptied restarts at slot 0 so a short window stays small", "[inflights]") {
    inflights in(1024);
    for (index_t i = 1; i <= 100'000; ++i) {
        in.add(i, 1);
        in.add(i, 1);
        in.free_le(i);
    }
    CHECK(in.capacity() == 2);
    CHECK(in.bytes() == 0);
}

TEST_CASE("inflights copies share nothing", "[inflights]") {
    inflights a(4, 100);
    a.add(1, 10);
    inflights b = a;  // etcd's Clone
    b.add(2, 20);
    b.free_le(1);
    CHECK(a.count() == 1);
    CHECK(a.bytes() == 10);
    CHECK(indexes(a) == std::vector<index_t>{1});
    CHECK(indexes(b) == std::vector<index_t>{2});
    CHECK(b.bytes() == 20);
}
