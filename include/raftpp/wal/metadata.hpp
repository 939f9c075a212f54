// raftpp::wal::metadata — what a WAL says about its owner, written at the head of every
// segment (etcd writes the member id and cluster id there the same way): a restart with the
// data directory of another member or cluster is refused instead of joining with a stranger's
// log.
#pragma once

#include <cstdint>

#include <raftpp/buffer.hpp>
#include <raftpp/codec/fields.hpp>
#include <raftpp/types.hpp>

namespace raftpp::wal {

struct metadata {
    node_id id = 0;
    std::uint64_t cluster_id = 0;
    // The application's own bytes (opaque to raftpp).
    buffer user;

    friend bool operator==(const metadata&, const metadata&) = default;
};

inline constexpr std::uint8_t metadata_version = 1;

inline void save(codec::oarchive& ar, const metadata& m, unsigned) {
    codec::save_version(ar, metadata_version);
    codec::save_int(ar, m.id);
    codec::save_int(ar, m.cluster_id);
    codec::save_buffer(ar, m.user);
}
inline void load(codec::iarchive& ar, metadata& m, unsigned) {
    codec::load_version(ar, metadata_version);
    m.id = codec::load_int<std::uint64_t>(ar);
    m.cluster_id = codec::load_int<std::uint64_t>(ar);
    codec::load_buffer(ar, m.user);
}

}  // namespace raftpp::wal

RAFTPP_CODEC_TYPE(raftpp::wal::metadata)
