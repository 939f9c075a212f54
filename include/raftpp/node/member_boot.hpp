// raftpp::member_boot — what a member starts from: its storage, its identity, the members it
// knows, and (for a brand-new cluster) the configuration to bootstrap. The start paths build
// one (node/start.hpp for durable members, boot_in_memory below for tests and benchmarks);
// raftpp::node runs it.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <raftpp/cluster_members.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

template <class Storage>
struct member_boot {
    Storage storage;
    node_id id = none;
    std::uint64_t cluster_id = 0;
    // Members to dial from the start (besides those the log and snapshot name): the initial
    // cluster of a new member, the existing members a joining one was told about.
    cluster_members members;
    // Non-empty only for a member of a brand-new cluster: one voter per initial member, each
    // carrying its encoded member as context (etcd's startNode peers).
    std::vector<peer> bootstrap;
};

// The bootstrap peers for a new cluster: every member a voter, in id order.
inline std::vector<peer> bootstrap_peers(const cluster_members& members) {
    std::vector<peer> peers;
    peers.reserve(members.size());
    for (const member& m : members.members())
        peers.push_back({m.id, m.is_learner, cluster_members::encode_member(m)});
    return peers;
}

// A member on memory_storage (nothing survives the process): `name` must be in `members`.
// join = false bootstraps a new cluster of `members`; join = true waits to be added.
// Throws std::system_error(errc::invalid_config) when `name` is not a member.
inline member_boot<memory_storage> boot_in_memory(const cluster_members& members,
                                                  std::string_view name, bool join = false) {
    const member& me = members.require(name);
    member_boot<memory_storage> b{memory_storage{}, me.id, members.cluster_id(), members, {}};
    if (!join) b.bootstrap = bootstrap_peers(members);
    return b;
}

}  // namespace raftpp
