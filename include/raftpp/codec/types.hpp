// The codec's encodings of the core's types (include/raftpp/types.hpp): entry, hard_state,
// conf_state, snapshot_metadata, snapshot. docs/codec.md lists each layout field by field;
// codec_test pins the bytes of an entry. Changing a layout means bumping that type's version
// and keeping the loader able to read every older one.
#pragma once

#include <cstdint>

#include <raftpp/codec/fields.hpp>
#include <raftpp/types.hpp>

namespace raftpp::codec {

// The current (and newest readable) format version of each type.
inline constexpr std::uint8_t entry_version = 1;
inline constexpr std::uint8_t hard_state_version = 1;
inline constexpr std::uint8_t conf_state_version = 1;
inline constexpr std::uint8_t snapshot_metadata_version = 1;
inline constexpr std::uint8_t snapshot_version = 1;

// entry: version u8, term u64, index u64, type u8, data (u64 size + bytes).
inline void save(oarchive& ar, const entry& e, unsigned) {
    save_version(ar, entry_version);
    save_int(ar, e.term);
    save_int(ar, e.index);
    save_enum(ar, e.type);
    save_buffer(ar, e.data);
}
inline void load(iarchive& ar, entry& e, unsigned) {
    load_version(ar, entry_version);
    e.term = load_int(ar, max_log_position);
    e.index = load_int(ar, max_log_position);
    e.type = load_enum(ar, entry_type::conf_change_v2);
    load_buffer(ar, e.data);
}

// hard_state: version u8, term u64, vote u64, commit u64.
inline void save(oarchive& ar, const hard_state& hs, unsigned) {
    save_version(ar, hard_state_version);
    save_int(ar, hs.term);
    save_int(ar, hs.vote);
    save_int(ar, hs.commit);
}
inline void load(iarchive& ar, hard_state& hs, unsigned) {
    load_version(ar, hard_state_version);
    hs.term = load_int(ar, max_log_position);
    hs.vote = load_int<node_id>(ar);
    hs.commit = load_int(ar, max_log_position);
}

// conf_state: version u8, voters, learners, voters_outgoing, learners_next (each u64 count +
// u64 ids), auto_leave u8 (0 or 1).
inline void save(oarchive& ar, const conf_state& cs, unsigned) {
    save_version(ar, conf_state_version);
    save_ids(ar, cs.voters);
    save_ids(ar, cs.learners);
    save_ids(ar, cs.voters_outgoing);
    save_ids(ar, cs.learners_next);
    save_bool(ar, cs.auto_leave);
}
inline void load(iarchive& ar, conf_state& cs, unsigned) {
    load_version(ar, conf_state_version);
    load_ids(ar, cs.voters);
    load_ids(ar, cs.learners);
    load_ids(ar, cs.voters_outgoing);
    load_ids(ar, cs.learners_next);
    cs.auto_leave = load_bool(ar);
}

// snapshot_metadata: version u8, conf_state (as above, with its own version), index u64,
// term u64.
inline void save(oarchive& ar, const snapshot_metadata& m, unsigned) {
    save_version(ar, snapshot_metadata_version);
    save(ar, m.conf_state, 0);
    save_int(ar, m.index);
    save_int(ar, m.term);
}
inline void load(iarchive& ar, snapshot_metadata& m, unsigned) {
    load_version(ar, snapshot_metadata_version);
    load(ar, m.conf_state, 0);
    m.index = load_int(ar, max_log_position);
    m.term = load_int(ar, max_log_position);
}

// snapshot: version u8, metadata (as above), data (u64 size + bytes). The metadata comes first
// so a reader learns the index and term before the (possibly large) data.
inline void save(oarchive& ar, const snapshot& s, unsigned) {
    save_version(ar, snapshot_version);
    save(ar, s.metadata, 0);
    save_buffer(ar, s.data);
}
inline void load(iarchive& ar, snapshot& s, unsigned) {
    load_version(ar, snapshot_version);
    load(ar, s.metadata, 0);
    load_buffer(ar, s.data);
}

}  // namespace raftpp::codec

RAFTPP_CODEC_TYPE(raftpp::entry)
RAFTPP_CODEC_TYPE(raftpp::hard_state)
RAFTPP_CODEC_TYPE(raftpp::conf_state)
RAFTPP_CODEC_TYPE(raftpp::snapshot_metadata)
RAFTPP_CODEC_TYPE(raftpp::snapshot)
