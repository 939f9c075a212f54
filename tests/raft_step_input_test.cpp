// Input a peer can send that raft<>::step and raw_node::step must refuse the same way, with
// errc::malformed_message and before anything changes (docs/features.md: malformed input
// never crashes a node): a peer message claiming to come from the node itself, and a message
// type no type has. raw_node::step checks these before the core; the core checks them again,
// since an application may step raft<> directly.
#include <catch2/catch.hpp>

#include "core_instances.hpp"
#include "message_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <memory>
#include <string_view>
#include <vector>

using namespace raftpp;
using raftpp::test::make_message;

namespace {

using node_t = raw_node<memory_storage>;

config cfg_for(node_id id) {
    config c;
    c.id = id;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    return c;
}

// A node of {1, 2, 3} (this one is 1) that owns its storage, brought into a role.
struct subject {
    memory_storage storage;
    std::unique_ptr<node_t> node;

    explicit subject(role r) {
        node = std::make_unique<node_t>(cfg_for(1), storage);
        REQUIRE(node->bootstrap({peer{1, false, {}}, peer{2, false, {}}, peer{3, false, {}}}));
        settle();
        if (r == role::follower) return;
        REQUIRE(node->campaign());
        settle();
        if (r == role::candidate) return;
        REQUIRE(node->step(make_message(message_type::vote_resp, 2, 1, node->raft().term())));
        settle();
        REQUIRE(node->raft().role() == role::leader);
    }
    void settle() {
        while (node->has_ready()) {
            auto& rd = node->ready();
            REQUIRE(node->persist(rd));
            for (const auto& e : rd.committed_entries)
                if (e.type != entry_type::normal)
                    REQUIRE(node->apply_conf_change(*decode_conf_change_entry(e)));
            node->advance();
        }
        (void)node->transport().take();
    }
};

// What a refused message must leave as it was.
struct observed {
    term_t term;
    node_id vote, lead;
    role r;
    index_t last, committed;
    std::size_t msgs, msgs_after_append;
    bool operator==(const observed&) const = default;
};
observed observe(const node_t& n) {
    const auto& r = n.raft();
    return {r.term(), r.vote(), r.lead(), r.role(), r.log().last_index(), r.log().committed(),
            r.messages().size(), r.messages_after_append().size()};
}

// Peer messages from node 1 to node 1, each well formed otherwise and at a higher term, so
// that accepting one would show (a term change at least).
std::vector<std::pair<std::string_view, message>> forged_from_self(term_t term, index_t last) {
    std::vector<std::pair<std::string_view, message>> out;
    auto add = [&](std::string_view name, message_type t) -> message& {
        return out.emplace_back(name, make_message(t, 1, 1, term + 1)).second;
    };
    // A follower answers a heartbeat with a heartbeat_resp to its sender, here itself: the
    // case that asserted in send() ("only responses may be addressed to self").
    add("heartbeat", message_type::heartbeat).commit = last;
    message& app = add("app", message_type::app);
    app.index = last;
    app.log_term = 1;
    app.entries.push_back({term + 1, last + 1, entry_type::normal, buffer("x")});
    message& vote = add("vote", message_type::vote);
    vote.index = last;
    vote.log_term = 1;
    message& pre_vote = add("pre_vote", message_type::pre_vote);
    pre_vote.index = last;
    pre_vote.log_term = 1;
    add("timeout_now", message_type::timeout_now);
    auto s = std::make_shared<snapshot>();
    s->metadata.index = last + 5;
    s->metadata.term = term;
    s->metadata.conf_state.voters = {1, 2, 3};
    add("snap", message_type::snap).snapshot = std::move(s);
    add("heartbeat_resp", message_type::heartbeat_resp);
    add("read_index_resp", message_type::read_index_resp)
        .entries.push_back({0, 0, entry_type::normal, buffer("ctx")});
    // The responses a node owes itself arrive granted and addressed to it; a rejection, or
    // one addressed elsewhere, the core never sends (a rejecting app_resp would make a leader
    // probe itself).
    message& app_resp = add("rejecting app_resp to self", message_type::app_resp);
    app_resp.reject = true;
    app_resp.index = last;
    app_resp.reject_hint = 0;
    add("vote_resp to another node", message_type::vote_resp).to = 2;
    add("rejecting pre_vote_resp to self", message_type::pre_vote_resp).reject = true;
    return out;
}

}  // namespace

TEST_CASE("a peer message from the node itself is refused by raft and raw_node alike",
          "[step][malformed]") {
    for (role r : {role::follower, role::candidate, role::leader}) {
        CAPTURE(to_string(r));
        subject probe(r);
        const auto cases = forged_from_self(probe.node->raft().term(),
                                            probe.node->raft().log().last_index());
        for (const auto& [name, m] : cases) {
            CAPTURE(name);
            subject a(r);
            const observed before = observe(*a.node);
            auto core = a.node->raft().step(message(m));
            REQUIRE_FALSE(core);
            CHECK(core.error() == errc::malformed_message);
            CHECK(observe(*a.node) == before);
            CHECK_FALSE(a.node->has_ready());

            subject b(r);
            auto rn = b.node->step(message(m));
            REQUIRE_FALSE(rn);
            CHECK(rn.error() == errc::malformed_message);
            CHECK(observe(*b.node) == before);
        }
    }
}

TEST_CASE("the core still takes what a node addresses to itself", "[step]") {
    // Local requests carry the node's own id: a campaign, a proposal.
    subject s(role::follower);
    auto& core = s.node->raft();
    REQUIRE(core.step(make_message(message_type::hup, 1, 1, 0)));
    CHECK(core.role() == role::candidate);
    // The candidate's own vote is a vote_resp to itself, which the ready cycle delivers: with
    // one peer's vote it makes a majority.
    s.settle();
    REQUIRE(core.step(make_message(message_type::vote_resp, 2, 1, core.term())));
    CHECK(core.role() == role::leader);
    const index_t last = core.log().last_index();
    message prop = make_message(message_type::prop, 1, 1, 0);
    prop.entries.push_back({0, 0, entry_type::normal, buffer("p")});
    REQUIRE(core.step(std::move(prop)));
    CHECK(core.log().last_index() == last + 1);
    // The leader's acknowledgement of its own entries: granted, to itself.
    s.settle();
    CHECK(core.tracker().progress(1)->match == last + 1);
    // A peer never sends any of these with our id: raw_node::step is for peers only.
    CHECK(s.node->step(make_message(message_type::app_resp, 1, 1, core.term())).error() ==
          errc::malformed_message);
}

TEST_CASE("a message type no type has is refused by raft and raw_node alike",
          "[step][malformed]") {
    // 19-22 were etcd's storage messages once; the codec refuses them, a message built in
    // memory may still carry one.
    for (int t : {message_type_count, message_type_count + 3, 255}) {
        CAPTURE(t);
        const message m = make_message(static_cast<message_type>(t), 2, 1, 5);
        subject a(role::follower);
        const observed before = observe(*a.node);
        auto core = a.node->raft().step(message(m));
        REQUIRE_FALSE(core);
        CHECK(core.error() == errc::malformed_message);
        CHECK(observe(*a.node) == before);
        auto rn = a.node->step(message(m));
        REQUIRE_FALSE(rn);
        CHECK(rn.error() == errc::malformed_message);
        CHECK(observe(*a.node) == before);
    }
}
