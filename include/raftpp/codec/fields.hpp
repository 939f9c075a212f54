// Field helpers for codec types: fixed-width integers, bools, enums, raftpp::buffer,
// std::vector<node_id> and the leading format version byte. Savers write through
// oarchive::save_binary; loaders read through iarchive::load_binary and throw malformed_input
// (via codec::fail) on anything out of range, checking every length against the bytes left
// before allocating, so no length field can make a decoder allocate more than its input.
//
// Adding a type T to the codec (wal::metadata, message, ...):
//
//   namespace raftpp::wal {   // T's namespace, or raftpp::codec (found by ADL either way)
//   inline constexpr std::uint8_t metadata_version = 1;
//   inline void save(codec::oarchive& ar, const metadata& m, unsigned) {
//       codec::save_version(ar, metadata_version);   // always first
//       codec::save_int(ar, m.id);
//       codec::save_int(ar, m.cluster_id);
//       codec::save_buffer(ar, m.user);
//   }
//   inline void load(codec::iarchive& ar, metadata& m, unsigned) {
//       codec::load_version(ar, metadata_version);   // refuses 0 and versions above ours
//       m.id = codec::load_int<std::uint64_t>(ar);
//       m.cluster_id = codec::load_int<std::uint64_t>(ar);
//       codec::load_buffer(ar, m.user);
//   }
//   }  // namespace raftpp::wal
//   RAFTPP_CODEC_TYPE(raftpp::wal::metadata)        // at global scope
//
// RAFTPP_CODEC_TYPE(T) is Boost's BOOST_SERIALIZATION_SPLIT_FREE(T) (a serialize() in
// boost::serialization that calls the save/load above) plus the two trait macros
// BOOST_CLASS_IMPLEMENTATION(T, object_serializable) and BOOST_CLASS_TRACKING(T, track_never):
// no class information, no tracking, nothing remembered between records. A hand-written
// `template <class Archive> void serialize(Archive&, T&, unsigned)` (found by ADL or in
// boost::serialization) plus the two trait macros works too. A type nested in another calls
// the inner save/load directly. Versions only grow: a loader accepts every version up to its
// own, and a field added in version N is defaulted when loading an older one (docs/codec.md).
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <boost/serialization/level.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/tracking.hpp>

#include <raftpp/buffer.hpp>
#include <raftpp/codec/archive.hpp>
#include <raftpp/types.hpp>

// Registers T with the codec (see above). Use at global namespace scope.
#define RAFTPP_CODEC_TYPE(T)                                                     \
    BOOST_SERIALIZATION_SPLIT_FREE(T)                                            \
    BOOST_CLASS_IMPLEMENTATION(T, boost::serialization::object_serializable)     \
    BOOST_CLASS_TRACKING(T, boost::serialization::track_never)

namespace raftpp::codec {

// The largest term or index accepted from outside (the core refuses larger ones from peers).
inline constexpr std::uint64_t max_log_position = (std::uint64_t{1} << 63) - 1;

// Unsigned integers: sizeof(Int) bytes, little-endian (archive.hpp asserts the target is).
template <std::unsigned_integral Int>
void save_int(oarchive& ar, Int v) {
    ar.save_binary(&v, sizeof v);
}
// Refuses a value above `max`.
template <std::unsigned_integral Int>
Int load_int(iarchive& ar, Int max = std::numeric_limits<Int>::max()) {
    Int v;
    ar.load_binary(&v, sizeof v);
    if (v > max) fail("integer out of range");
    return v;
}

// A bool is one byte, 0 or 1; anything else is refused (loading it into a bool would be UB).
inline void save_bool(oarchive& ar, bool v) { save_int<std::uint8_t>(ar, v ? 1 : 0); }
inline bool load_bool(iarchive& ar) { return load_int<std::uint8_t>(ar, 1) != 0; }

// An enum is its underlying type; values from 0 to `max` are accepted.
template <class Enum>
    requires std::is_enum_v<Enum>
void save_enum(oarchive& ar, Enum v) {
    save_int(ar, static_cast<std::make_unsigned_t<std::underlying_type_t<Enum>>>(v));
}
template <class Enum>
    requires std::is_enum_v<Enum>
Enum load_enum(iarchive& ar, Enum max) {
    using U = std::make_unsigned_t<std::underlying_type_t<Enum>>;
    return static_cast<Enum>(load_int<U>(ar, static_cast<U>(max)));
}

// A buffer is its size (u64) then its bytes, read straight into the new buffer.
inline void save_buffer(oarchive& ar, const buffer& b) {
    save_int<std::uint64_t>(ar, b.size());
    if (!b.empty()) ar.save_binary(b.data(), b.size());
}
inline void load_buffer(iarchive& ar, buffer& b) {
    const auto n = load_int<std::uint64_t>(ar);
    if (n > ar.remaining()) fail("buffer length beyond the input");
    auto loaded = buffer::for_overwrite(static_cast<std::size_t>(n));
    if (n != 0) ar.load_binary(loaded.mutable_data(), static_cast<std::size_t>(n));
    b = std::move(loaded);
}

// A node id list is its count (u64) then the ids (u64 each).
inline void save_ids(oarchive& ar, const std::vector<node_id>& ids) {
    save_int<std::uint64_t>(ar, ids.size());
    if (!ids.empty()) ar.save_binary(ids.data(), ids.size() * sizeof(node_id));
}
inline void load_ids(iarchive& ar, std::vector<node_id>& ids) {
    const auto n = load_int<std::uint64_t>(ar);
    if (n > ar.remaining() / sizeof(node_id)) fail("id count beyond the input");
    ids.resize(static_cast<std::size_t>(n));
    if (n != 0) ar.load_binary(ids.data(), ids.size() * sizeof(node_id));
}

// The format version byte every type writes first. Versions start at 1; a loader accepts
// 1..max (its own version) and refuses anything else.
inline void save_version(oarchive& ar, std::uint8_t version) { save_int(ar, version); }
inline void check_version(iarchive&, std::uint8_t version, std::uint8_t max) {
    if (version == 0 || version > max) fail("unknown format version");
}
// Reads the version byte, checks it against `max`, returns it (to default newer fields).
inline std::uint8_t load_version(iarchive& ar, std::uint8_t max) {
    const auto version = load_int<std::uint8_t>(ar);
    check_version(ar, version, max);
    return version;
}

}  // namespace raftpp::codec
