// Leader leases (read_only_option::lease_based, Raft thesis §6.4): the lease is dated from the
// send of a heartbeat a quorum acknowledged and lasts election_tick - max_clock_drift ticks;
// outside it a read takes a heartbeat round; a leader transfer ends it; a node that just
// started keeps the followers' promise not to vote. The invariant behind all of it
// (docs/design.md, "Leader leases"): no other leader can be elected while a lease is valid.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"
#include "read_test_util.hpp"

#include <cstdint>
#include <string>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

test_raft_ptr lease_leader() {
    auto r = new_test_raft(cfg_for(1, read_only_option::lease_based), new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    commit_noop_entry(*r);
    return r;
}

// A heartbeat response from `from` acknowledging the heartbeat stamped `stamp`.
message stamped_ack(node_id from, std::uint64_t stamp, std::string_view ctx = {}) {
    message m = heartbeat_resp(from, 1, 1, ctx);
    m.index = stamp;
    return m;
}

std::vector<std::uint64_t> heartbeat_stamps(const std::vector<message>& msgs) {
    std::vector<std::uint64_t> out;
    for (const auto& m : msgs)
        if (m.type == message_type::heartbeat) out.push_back(m.index);
    return out;
}

message transfer_to(node_id transferee) {
    return make_message(message_type::transfer_leader, transferee, 1);
}

}  // namespace

TEST_CASE("a lease starts when a quorum acks a heartbeat and lasts election - drift ticks from "
          "its send",
          "[lease][read_index]") {
    auto r = lease_leader();
    CHECK_FALSE(r->lease_valid());  // elected, but no heartbeat round acknowledged yet

    // Outside the lease a read takes a round; its heartbeats carry the send tick.
    REQUIRE(r->step(read_index(1, 1, "a")));
    auto out = read_messages(*r);
    CHECK(heartbeat_stamps(out) == std::vector<std::uint64_t>{1, 1});
    CHECK(r->read_states().empty());
    REQUIRE(r->step(stamped_ack(2, 1, "a")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "a")});
    r->read_states().clear();
    REQUIRE(r->lease_valid());

    // Within the lease: answered at once, nothing sent.
    REQUIRE(r->step(read_index(1, 1, "b")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "b")});
    CHECK(read_messages(*r).empty());
    r->read_states().clear();

    // election_tick 10 - max_clock_drift 2 = 8 ticks from the send at tick 0. The beats of
    // those ticks go unanswered.
    const int lease = r->cfg().election_tick - r->cfg().max_clock_drift;
    for (int i = 1; i < lease; ++i) r->tick();
    (void)read_messages(*r);
    CHECK(r->lease_valid());
    r->tick();
    (void)read_messages(*r);
    CHECK(r->ticks() == static_cast<std::uint64_t>(lease));
    CHECK_FALSE(r->lease_valid());
    REQUIRE(r->step(read_index(1, 1, "c")));
    CHECK(r->read_states().empty());
    using hb = std::pair<node_id, std::string>;
    out = read_messages(*r);
    CHECK(heartbeats(out) == std::vector<hb>{{2, "c"}, {3, "c"}});
    CHECK(heartbeat_stamps(out) == std::vector<std::uint64_t>{9, 9});

    SECTION("a late ack dates the lease from the heartbeat it answers, not from its arrival") {
        REQUIRE(r->step(stamped_ack(3, 6)));  // the beat sent at tick 5
        CHECK(r->lease_valid());              // 5 + 8 > 8
        for (int i = 0; i < 4; ++i) r->tick();
        CHECK(r->lease_valid());  // tick 12
        r->tick();
        CHECK_FALSE(r->lease_valid());  // tick 13 = 5 + 8
    }
    SECTION("an ack claiming a tick the leader has not reached is ignored") {
        REQUIRE(r->step(stamped_ack(3, 1000)));
        CHECK_FALSE(r->lease_valid());
    }
    SECTION("one stamped ack is not a quorum of five") {
        auto five = new_test_raft(cfg_for(1, read_only_option::lease_based),
                                  new_test_storage({1, 2, 3, 4, 5}));
        five->become_candidate();
        five->become_leader();
        commit_noop_entry(*five);
        five->tick();
        (void)read_messages(*five);
        REQUIRE(five->step(stamped_ack(2, 2)));
        CHECK_FALSE(five->lease_valid());
        REQUIRE(five->step(stamped_ack(4, 2)));
        CHECK(five->lease_valid());
    }
}

TEST_CASE("a leader transfer ends the lease; a timeout_now ends it for the term",
          "[lease][read_index][transfer]") {
    auto r = lease_leader();
    r->tick();
    (void)read_messages(*r);
    REQUIRE(r->step(stamped_ack(2, 2)));
    REQUIRE(r->lease_valid());
    commit_one(*r);  // node 3 lags behind now

    SECTION("while the transferee catches up, no lease; abandoned before timeout_now, back") {
        REQUIRE(r->step(transfer_to(3)));
        REQUIRE(r->lead_transferee() == 3);
        CHECK_FALSE(r->lease_valid());
        REQUIRE(r->step(read_index(1, 1, "during")));
        CHECK(r->read_states().empty());
        (void)read_messages(*r);
        REQUIRE(r->step(transfer_to(1)));  // to itself: the transfer is abandoned
        REQUIRE(r->lead_transferee() == none);
        CHECK(r->lease_valid());
    }
    SECTION("once timeout_now went out the transferee may campaign past every lease") {
        REQUIRE(r->step(transfer_to(2)));  // node 2 is caught up: timeout_now at once
        bool sent = false;
        for (const auto& m : read_messages(*r)) sent |= m.type == message_type::timeout_now;
        REQUIRE(sent);
        REQUIRE(r->step(transfer_to(1)));
        REQUIRE(r->lead_transferee() == none);
        CHECK_FALSE(r->lease_valid());
        REQUIRE(r->step(stamped_ack(2, 2)));
        REQUIRE(r->step(stamped_ack(3, 2)));
        CHECK_FALSE(r->lease_valid());
    }
}

TEST_CASE("with lease-based reads a node that just started refuses votes for an election "
          "timeout",
          "[lease][election]") {
    auto vote_from_3 = [](term_t term) {
        message m = make_message(message_type::vote, 3, 2, term);
        m.log_term = 1;
        m.index = 10;
        return m;
    };
    auto granted = [](test_raft& r) {
        for (const auto& m : read_messages(r))
            if (m.type == message_type::vote_resp && !m.reject) return true;
        return false;
    };

    SECTION("lease-based: it may have acked a leader right before it crashed") {
        auto r = new_test_raft(cfg_for(2, read_only_option::lease_based), new_test_storage({1, 2, 3}));
        r->set_randomized_election_timeout(19);
        REQUIRE(r->step(vote_from_3(2)));
        CHECK_FALSE(granted(*r));
        CHECK(r->term() == 0);
        for (int i = 0; i < r->cfg().election_tick; ++i) r->tick();
        REQUIRE(r->step(vote_from_3(2)));
        CHECK(granted(*r));
    }
    SECTION("lease-based, a transfer's campaign is let through") {
        auto r = new_test_raft(cfg_for(2, read_only_option::lease_based), new_test_storage({1, 2, 3}));
        message m = vote_from_3(2);
        m.context = buffer("CampaignTransfer");
        REQUIRE(r->step(std::move(m)));
        CHECK(granted(*r));
    }
    SECTION("safe reads with check_quorum: etcd's behaviour, a fresh node votes") {
        config c = cfg_for(2);
        c.check_quorum = true;
        auto r = new_test_raft(c, new_test_storage({1, 2, 3}));
        REQUIRE(r->step(vote_from_3(2)));
        CHECK(granted(*r));
    }
}

TEST_CASE("max_clock_drift must leave a positive lease when reads are lease-based",
          "[lease][config]") {
    config c = cfg_for(1, read_only_option::lease_based);
    CHECK(c.max_clock_drift == 2);
    CHECK(c.validate());
    c.max_clock_drift = c.election_tick - 1;
    CHECK(c.validate());
    c.max_clock_drift = c.election_tick;
    CHECK(c.validate().error() == errc::invalid_config);
    CHECK(c.invalid_reason().find("max clock drift") != std::string_view::npos);
    c.max_clock_drift = -1;
    CHECK(c.validate().error() == errc::invalid_config);
    c.read_only = read_only_option::safe;  // not used by safe reads
    CHECK(c.validate());
}

// The inequality in action, on clocks that tick together: the isolated leader's lease ends
// before any other node could grant a vote, so at no tick is there a leader elsewhere while it
// still holds a lease; and the read it gets after losing the lease is never answered.
TEST_CASE("an isolated leader's lease ends before anyone else can be elected",
          "[lease][read_index][safety]") {
    network nt({nullptr, nullptr, nullptr}, [](config& c) {
        c.seed = test_seed + c.id;
        c.check_quorum = true;
        c.read_only = read_only_option::lease_based;
    });
    for (node_id id : {2, 3}) {
        auto& p = nt.peer(id);
        p.set_randomized_election_timeout(p.cfg().election_tick + 1);
        for (int i = 0; i < p.cfg().election_tick; ++i) p.tick();
    }
    nt.send(hup(1));
    test_raft& old = nt.peer(1);
    REQUIRE(old.role() == role::leader);
    nt.send(propose(1, "x"));
    nt.send(read_index(1, 1, "first"));  // a round: it starts the lease
    REQUIRE(old.read_states().size() == 1);
    old.read_states().clear();
    REQUIRE(old.lease_valid());

    nt.isolate(1);
    bool stale_window = false;
    bool asked = false;
    std::optional<node_id> other;
    for (int t = 0; t < 60 && !other; ++t) {
        for (node_id id : {1, 2, 3}) {
            nt.peer(id).tick();
            nt.send(read_messages(nt.peer(id)));
        }
        for (node_id id : {2, 3})
            if (nt.peer(id).role() == role::leader) other = id;
        if (other && old.lease_valid()) stale_window = true;
        if (!old.lease_valid() && !asked) {
            asked = true;
            nt.send(read_index(1, 1, "late"));
        }
    }
    REQUIRE(other.has_value());
    CHECK_FALSE(stale_window);
    CHECK(asked);
    CHECK(old.read_states().empty());
}
