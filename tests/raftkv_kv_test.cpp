// raftkv's state machine (examples/raftkv/kv_store.hpp): commands round-trip through their
// wire form, apply gives put / cas / delete their meaning, snapshots restore the same map and
// a damaged snapshot or command is refused without changing anything.
#include <catch2/catch.hpp>

#include <raftkv/kv_store.hpp>
#include <raftpp/state_machine.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

using namespace raftkv;

namespace {

raftpp::entry entry_of(const kv_command& c, raftpp::index_t index) {
    return {1, index, raftpp::entry_type::normal, encode(c)};
}

kv_command put(std::string k, std::string v) { return {kv_op::put, std::move(k), std::move(v), {}}; }
kv_command cas(std::string k, std::string expected, std::string v) {
    return {kv_op::cas, std::move(k), std::move(v), std::move(expected)};
}
kv_command del(std::string k) { return {kv_op::del, std::move(k), {}, {}}; }

std::span<const std::byte> bytes_of(const raftpp::buffer& b) {
    return {reinterpret_cast<const std::byte*>(b.data()), b.size()};
}

}  // namespace

static_assert(raftpp::state_machine<kv_store>);

TEST_CASE("raftkv commands round-trip; damaged ones are refused", "[raftkv][kv]") {
    const kv_command c = cas("key with spaces", std::string("old\0value", 9), "new");
    const raftpp::buffer b = encode(c);
    const auto d = decode(b.view());
    REQUIRE(d);
    CHECK(d->op == kv_op::cas);
    CHECK(d->key == c.key);
    CHECK(d->expected == c.expected);
    CHECK(d->value == c.value);

    const std::string wire(b.view());
    CHECK_FALSE(decode(""));
    CHECK_FALSE(decode(wire.substr(0, wire.size() - 1)));  // cut short
    CHECK_FALSE(decode(wire + "x"));                       // trailing bytes
    std::string bad_op = wire;
    bad_op[0] = 9;
    CHECK_FALSE(decode(bad_op));
    std::string huge_len = wire;
    huge_len[1] = '\xff';
    huge_len[4] = '\x7f';
    CHECK_FALSE(decode(huge_len));
}

TEST_CASE("raftkv apply: put, compare-and-swap and delete", "[raftkv][kv]") {
    kv_store s;
    CHECK(s.apply(entry_of(put("a", "1"), 1)).status == kv_status::ok);
    CHECK(s.get("a") == "1");
    CHECK(s.applied() == 1);

    auto r = s.apply(entry_of(cas("a", "2", "3"), 2));
    CHECK(r.status == kv_status::precondition_failed);
    CHECK(r.existed);
    CHECK(r.current == "1");
    CHECK(s.get("a") == "1");

    CHECK(s.apply(entry_of(cas("a", "1", "3"), 3)).status == kv_status::ok);
    CHECK(s.get("a") == "3");

    r = s.apply(entry_of(cas("missing", "", "x"), 4));
    CHECK(r.status == kv_status::precondition_failed);
    CHECK_FALSE(r.existed);
    CHECK_FALSE(s.get("missing"));

    CHECK(s.apply(entry_of(del("a"), 5)).status == kv_status::ok);
    CHECK_FALSE(s.get("a"));
    CHECK(s.apply(entry_of(del("a"), 6)).status == kv_status::not_found);

    // A new leader's empty entry, and bytes that are no command.
    CHECK(s.apply(raftpp::entry{2, 7, raftpp::entry_type::normal, {}}).status == kv_status::ok);
    CHECK(s.apply(raftpp::entry{2, 8, raftpp::entry_type::normal, raftpp::buffer("junk")}).status ==
          kv_status::bad_command);
    CHECK(s.size() == 0);
}

TEST_CASE("raftkv snapshots restore the same map; a damaged one changes nothing", "[raftkv][kv]") {
    kv_store s;
    for (int i = 0; i < 100; ++i)
        (void)s.apply(entry_of(put("k" + std::to_string(i), std::string(i, 'v')), 1 + i));
    const raftpp::buffer snap = s.snapshot();

    kv_store t;
    REQUIRE(t.restore(bytes_of(snap)));
    CHECK(t.size() == 100);
    CHECK(t.applied() == 100);
    for (int i = 0; i < 100; ++i) CHECK(t.get("k" + std::to_string(i)) == std::string(i, 'v'));

    kv_store u;
    (void)u.apply(entry_of(put("keep", "me"), 1));
    const auto full = bytes_of(snap);
    CHECK(u.restore(full.first(full.size() - 1)).error() == raftpp::errc::malformed_message);
    CHECK(u.restore(full.first(10)).error() == raftpp::errc::malformed_message);
    CHECK(u.size() == 1);
    CHECK(u.get("keep") == "me");

    kv_store empty;
    const raftpp::buffer none = empty.snapshot();
    REQUIRE(u.restore(bytes_of(none)));
    CHECK(u.size() == 0);
}
