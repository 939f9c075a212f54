// Helpers shared by prevote_test.cpp and check_quorum_test.cpp: nodes with PreVote and
// CheckQuorum switched per test, a three-voter network, and the messages etcd's tests build.
// Every node has a fixed seed (config.seed) derived from the seed each test captures.
#pragma once

#include "raft_test_util.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace Catch {
template <>
struct StringMaker<raftpp::role> {
    static std::string convert(raftpp::role r) { return std::string(raftpp::to_string(r)); }
};
}  // namespace Catch

namespace raftpp::test::election {

using enum raftpp::role;

struct features {
    bool check_quorum = false;
    bool pre_vote = false;
};

// etcd's newTestConfig with the features on; each node draws its own timeouts from `seed`.
inline config make_config(node_id id, features f, std::uint64_t seed, int election = 10) {
    config c = test_config(id, election, 1);
    c.check_quorum = f.check_quorum;
    c.pre_vote = f.pre_vote;
    c.seed = seed * 100 + id;
    return c;
}

inline test_raft_ptr make_node(node_id id, std::vector<node_id> peers, features f, std::uint64_t seed,
                        int election = 10) {
    return new_test_raft(make_config(id, f, seed, election), new_test_storage(std::move(peers)));
}

// The network's hook for the fresh nodes it makes.
inline std::function<void(config&)> with(features f, std::uint64_t seed) {
    return [f, seed](config& c) { c = make_config(c.id, f, seed, c.election_tick); };
}

using roles = std::vector<role>;
using terms = std::vector<term_t>;

// Voters 1..3 wired into a network; etcd's tests often start them with becomeFollower(1, None).
struct trio {
    test_raft_ptr n1, n2, n3;
    network nt;
    trio(features f, std::uint64_t seed, term_t start_term)
        : n1(make_node(1, {1, 2, 3}, f, seed)),
          n2(make_node(2, {1, 2, 3}, f, seed)),
          n3(make_node(3, {1, 2, 3}, f, seed)),
          nt({n1, n2, n3}) {
        if (start_term == 0) return;
        for (test_raft* n : {n1.get(), n2.get(), n3.get()}) n->become_follower(start_term, none);
    }
    std::vector<role> roles() const { return {n1->role(), n2->role(), n3->role()}; }
    std::vector<term_t> terms() const { return {n1->term(), n2->term(), n3->term()}; }
};

inline message hup(node_id id) { return make_message(message_type::hup, id, id); }

inline message propose(node_id id) {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, entry_type::normal, buffer("somedata")});
    return m;
}

inline message heartbeat(node_id from, node_id to, term_t term) {
    return make_message(message_type::heartbeat, from, to, term);
}

// Asks `leader` to hand its role to `transferee` (etcd's MsgTransferLeader, a local message).
inline message transfer_to(node_id transferee, node_id lead) {
    return make_message(message_type::transfer_leader, transferee, lead);
}

using link_filter = std::function<bool(const message&)>;

// Links between the nodes of `cut_off` and everyone else are down.
inline link_filter all_but(std::set<node_id> cut_off) {
    return [cut_off = std::move(cut_off)](const message& m) {
        return !cut_off.contains(m.from) && !cut_off.contains(m.to);
    };
}

// Ticks the nodes `ids` once each, in order, delivering what each sends. The network filters
// only what nodes send while it delivers, so `up` filters each tick's own output the same way
// the test's cuts do.
inline void tick(network& nt, std::initializer_list<node_id> ids, const link_filter& up = {}) {
    for (node_id id : ids) {
        test_raft& r = nt.peer(id);
        r.tick();
        auto out = read_messages(r);
        if (up) std::erase_if(out, [&](const message& m) { return !up(m); });
        nt.send(std::move(out));
    }
}

// The one leader among `ids`, or none.
inline node_id leader_among(network& nt, std::initializer_list<node_id> ids) {
    node_id lead = none;
    for (node_id id : ids) {
        if (nt.peer(id).role() != leader) continue;
        if (lead != none) return none;
        lead = id;
    }
    return lead;
}

// A network of 3, 4 or 5 peers from a list built at run time.
inline network make_network(const std::vector<network::peer_arg>& p,
                     const std::function<void(config&)>& c) {
    switch (p.size()) {
    case 3: return network({p[0], p[1], p[2]}, c);
    case 4: return network({p[0], p[1], p[2], p[3]}, c);
    default: return network({p[0], p[1], p[2], p[3], p[4]}, c);
    }
}

}  // namespace raftpp::test::election
