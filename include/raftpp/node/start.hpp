// The three ways a durable member starts (etcd's NewServer: startNode, the join path,
// restartNode), each producing the member_boot a raftpp::node runs:
//
//   start_new     a member of a brand-new cluster: the WAL is created with the member id and
//                 cluster id as metadata, and the node bootstraps one conf change entry per
//                 initial member at term 1, committed.
//   start_join    a member joining a running cluster that was told about it (a conf change
//                 adding it was proposed): a WAL with the metadata, no bootstrap; the leader
//                 brings it up to date.
//   start_restart a member with a WAL: its log and newest snapshot are loaded, and the ids
//                 in the WAL must be the ones expected.
//   start_member  picks one as etcd does: restart when dir has a WAL, otherwise new or join
//                 by --initial-cluster-state.
//
// Errors are exceptions naming what is wrong: std::system_error(errc::invalid_config) for a
// name not in the cluster; wal::wal_error for a WAL that exists where a new one was asked for
// (errc::wal_exists), is missing (errc::wal_not_found), or names another member or cluster
// than expected (errc::metadata_mismatch, naming both).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <raftpp/cluster_members.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/node/member_boot.hpp>
#include <raftpp/wal/wal_error.hpp>
#include <raftpp/wal/wal_storage.hpp>

namespace raftpp {

// etcd's --initial-cluster-state.
enum class cluster_state : std::uint8_t { new_cluster, existing };

namespace detail {
inline std::string member_label(const member& m) {
    return "member \"" + m.name + "\" (id " + std::to_string(m.id) + ")";
}

template <class Logger>
member_boot<wal_storage<Logger>> create_member(const std::filesystem::path& dir,
                                               const cluster_members& members,
                                               std::string_view name, std::uint64_t cluster_id,
                                               bool bootstrap, wal_storage_options opts,
                                               Logger logger) {
    const member& me = members.require(name);
    if (wal_storage<Logger>::exists(dir))
        throw wal::wal_error(make_error_code(errc::wal_exists), dir / "wal",
                             member_label(me) + " already has a WAL here: restart it instead of " +
                                 (bootstrap ? "starting a new cluster" : "joining again"));
    auto st = wal_storage<Logger>::create(dir, wal::metadata{me.id, cluster_id, {}}, opts,
                                          std::move(logger));
    member_boot<wal_storage<Logger>> b{std::move(st), me.id, cluster_id, members, {}};
    if (bootstrap) b.bootstrap = bootstrap_peers(members);
    return b;
}
}  // namespace detail

// A member of a new cluster made of `members` (all voters), named `name`.
template <logger Logger = null_logger>
member_boot<wal_storage<Logger>> start_new(const std::filesystem::path& dir,
                                           const cluster_members& members, std::string_view name,
                                           wal_storage_options opts = {}, Logger logger = Logger{}) {
    return detail::create_member(dir, members, name, members.cluster_id(), true, opts,
                                 std::move(logger));
}

// A member joining the running cluster `cluster_id` (0: members.cluster_id(), right when
// `members` is the cluster's initial configuration). `members` lists the members to dial
// and this one, whose id must be the one the conf change that added it names.
template <logger Logger = null_logger>
member_boot<wal_storage<Logger>> start_join(const std::filesystem::path& dir,
                                            const cluster_members& members,
                                            std::string_view name, std::uint64_t cluster_id = 0,
                                            wal_storage_options opts = {},
                                            Logger logger = Logger{}) {
    return detail::create_member(dir, members, name,
                                 cluster_id != 0 ? cluster_id : members.cluster_id(), false, opts,
                                 std::move(logger));
}

// A member restarting from the WAL and snapshots in dir. `expect`: the member id and
// cluster id the flags name (a zero field is not checked).
template <logger Logger = null_logger>
member_boot<wal_storage<Logger>> start_restart(const std::filesystem::path& dir,
                                               wal_identity expect = {},
                                               wal_storage_options opts = {},
                                               Logger logger = Logger{}) {
    if (!wal_storage<Logger>::exists(dir))
        throw wal::wal_error(make_error_code(errc::wal_not_found), dir / "wal",
                             "no WAL to restart from (start a new member or join instead)");
    auto st = wal_storage<Logger>::open(dir, expect, opts, std::move(logger));
    const node_id id = st.metadata().id;
    const std::uint64_t cid = st.metadata().cluster_id;
    return member_boot<wal_storage<Logger>>{std::move(st), id, cid, cluster_members{}, {}};
}

// etcd's choice: a WAL in dir means restart (checked against the member `name` of
// `members` and the cluster id), otherwise new or join by `state`. cluster_id: as start_join's.
template <logger Logger = null_logger>
member_boot<wal_storage<Logger>> start_member(const std::filesystem::path& dir,
                                              const cluster_members& members,
                                              std::string_view name,
                                              cluster_state state = cluster_state::new_cluster,
                                              std::uint64_t cluster_id = 0,
                                              wal_storage_options opts = {},
                                              Logger logger = Logger{}) {
    const std::uint64_t cid = cluster_id != 0 ? cluster_id : members.cluster_id();
    if (wal_storage<Logger>::exists(dir))
        return start_restart(dir, wal_identity{members.require(name).id, cid}, opts,
                             std::move(logger));
    if (state == cluster_state::new_cluster)
        return start_new(dir, members, name, opts, std::move(logger));
    return start_join(dir, members, name, cid, opts, std::move(logger));
}

}  // namespace raftpp
