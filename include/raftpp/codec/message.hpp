// The codec's encodings of what travels between nodes: raftpp::message (every message_type;
// a snap message carries its snapshot inline) and the membership changes conf_change and
// conf_change_v2. docs/net.md lists the layouts field by field; net_codec_test pins them.
// Loaders refuse what the core could never have sent: an unknown message or change type, a
// term or index above 2^63 - 1, a bool that is not 0 or 1, a snapshot on anything but a snap
// message (or a snap message without one). Changing a layout means bumping its version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <raftpp/codec/fields.hpp>
#include <raftpp/codec/types.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/types.hpp>

namespace raftpp::codec {

// The current (and newest readable) format version of each type.
inline constexpr std::uint8_t message_version = 1;
inline constexpr std::uint8_t conf_change_version = 1;
inline constexpr std::uint8_t conf_change_v2_version = 1;

// The last message_type the loader knows (types.hpp declares them in wire order).
// Types 19-22 were etcd's storage-write messages (local only: no raftpp node ever sent one,
// and raw_node::step refused them), so refusing them as unknown changes nothing on the wire.
inline constexpr message_type last_message_type = message_type::pre_vote_resp;
static_assert(static_cast<int>(last_message_type) + 1 == message_type_count,
              "a message_type was added: extend last_message_type and docs/net.md");

namespace detail {
// Bytes of an entry's encoding without its data (types.hpp): the least an entry takes, which
// bounds an entry count by the bytes left.
inline constexpr std::uint64_t entry_fixed_size = 1 + 8 + 8 + 1 + 8;
// Bytes of one conf_change_single inside a conf_change_v2: type u8, node u64.
inline constexpr std::uint64_t change_size = 1 + 8;

inline std::uint64_t load_position(iarchive& ar, const char* what) {
    const auto v = load_int<std::uint64_t>(ar);
    if (v > max_log_position) fail(what);
    return v;
}
// Writes entries exactly as save(ar, entry) would, one after the other, but staged in blocks
// of up to 1 KiB (small payloads included) written with one save_binary each: an append of
// many small entries then costs a few copies instead of six archive writes per entry (2.5x
// faster for 64 entries of 16 B). Payloads above 256 bytes go to the archive directly.
static_assert(entry_version == 1,
              "save_entries writes entry_version 1's layout: update it with types.hpp");
inline void save_entries(oarchive& ar, const std::vector<entry>& entries) {
    constexpr std::size_t stage_size = 1024, inline_payload = 256;
    std::byte stage[stage_size];
    std::size_t used = 0;
    auto flush = [&] {
        if (used != 0) ar.save_binary(stage, used);
        used = 0;
    };
    for (const entry& e : entries) {
        const std::uint64_t n = e.data.size();
        const bool inline_data = n <= inline_payload;
        if (used + entry_fixed_size + (inline_data ? n : 0) > stage_size) flush();
        std::byte* p = stage + used;  // version u8, term u64, index u64, type u8, size u64
        p[0] = std::byte{entry_version};
        std::memcpy(p + 1, &e.term, 8);
        std::memcpy(p + 9, &e.index, 8);
        p[17] = static_cast<std::byte>(e.type);
        std::memcpy(p + 18, &n, 8);
        used += entry_fixed_size;
        if (inline_data) {
            if (n != 0) std::memcpy(stage + used, e.data.data(), n);
            used += n;
        } else {
            flush();
            ar.save_binary(e.data.data(), n);
        }
    }
    flush();
}

inline conf_change_type load_change_type(iarchive& ar) {
    const auto t = load_int<std::uint8_t>(ar);
    if (t > static_cast<std::uint8_t>(conf_change_type::add_learner_node))
        fail("unknown conf change type");
    return static_cast<conf_change_type>(t);
}
}  // namespace detail

// message: version u8, type u8, to u64, from u64, term u64, log_term u64, index u64,
// commit u64, reject u8, reject_hint u64, context (u64 size + bytes), entries (u64 count, then
// each entry as types.hpp encodes it), has_snapshot u8, then the snapshot if it is 1. The
// fixed fields come first (59 bytes), so a reader knows what the message is before its bulk.
inline void save(oarchive& ar, const message& m, unsigned) {
    save_version(ar, message_version);
    save_enum(ar, m.type);
    save_int(ar, m.to);
    save_int(ar, m.from);
    save_int(ar, m.term);
    save_int(ar, m.log_term);
    save_int(ar, m.index);
    save_int(ar, m.commit);
    save_bool(ar, m.reject);
    save_int(ar, m.reject_hint);
    save_buffer(ar, m.context);
    save_int<std::uint64_t>(ar, m.entries.size());
    detail::save_entries(ar, m.entries);
    save_bool(ar, m.snapshot != nullptr);
    if (m.snapshot) save(ar, *m.snapshot, 0);
}
inline void load(iarchive& ar, message& m, unsigned) {
    load_version(ar, message_version);
    const auto type = load_int<std::uint8_t>(ar);
    if (type > static_cast<std::uint8_t>(last_message_type)) fail("unknown message type");
    m.type = static_cast<message_type>(type);
    m.to = load_int<node_id>(ar);
    m.from = load_int<node_id>(ar);
    m.term = detail::load_position(ar, "term above 2^63 - 1");
    m.log_term = detail::load_position(ar, "log_term above 2^63 - 1");
    m.index = detail::load_position(ar, "index above 2^63 - 1");
    m.commit = detail::load_position(ar, "commit above 2^63 - 1");
    m.reject = load_bool(ar);
    m.reject_hint = detail::load_position(ar, "reject_hint above 2^63 - 1");
    load_buffer(ar, m.context);
    const auto n = load_int<std::uint64_t>(ar);
    if (n > ar.remaining() / detail::entry_fixed_size) fail("entry count beyond the input");
    m.entries.clear();
    m.entries.resize(static_cast<std::size_t>(n));
    for (entry& e : m.entries) load(ar, e, 0);
    const bool has_snapshot = load_bool(ar);
    if (has_snapshot != (m.type == message_type::snap))
        fail(has_snapshot ? "snapshot on a message that is not snap"
                          : "snap message without a snapshot");
    if (has_snapshot) {
        auto snap = std::make_shared<snapshot>();
        load(ar, *snap, 0);
        m.snapshot = std::move(snap);
    } else {
        m.snapshot.reset();
    }
}

// conf_change: version u8, type u8 (0..3), node u64, context (u64 size + bytes).
inline void save(oarchive& ar, const conf_change& cc, unsigned) {
    save_version(ar, conf_change_version);
    save_enum(ar, cc.type);
    save_int(ar, cc.node);
    save_buffer(ar, cc.context);
}
inline void load(iarchive& ar, conf_change& cc, unsigned) {
    load_version(ar, conf_change_version);
    cc.type = detail::load_change_type(ar);
    cc.node = load_int<node_id>(ar);
    load_buffer(ar, cc.context);
}

// conf_change_v2: version u8, transition u8 (0..2), changes (u64 count, then per change:
// type u8 (0..3), node u64), context (u64 size + bytes).
inline void save(oarchive& ar, const conf_change_v2& cc, unsigned) {
    save_version(ar, conf_change_v2_version);
    save_enum(ar, cc.transition);
    save_int<std::uint64_t>(ar, cc.changes.size());
    for (const auto& c : cc.changes) {
        save_enum(ar, c.type);
        save_int(ar, c.node);
    }
    save_buffer(ar, cc.context);
}
inline void load(iarchive& ar, conf_change_v2& cc, unsigned) {
    load_version(ar, conf_change_v2_version);
    const auto transition = load_int<std::uint8_t>(ar);
    if (transition > static_cast<std::uint8_t>(conf_change_transition::joint_explicit))
        fail("unknown conf change transition");
    cc.transition = static_cast<conf_change_transition>(transition);
    const auto n = load_int<std::uint64_t>(ar);
    if (n > ar.remaining() / detail::change_size) fail("change count beyond the input");
    cc.changes.resize(static_cast<std::size_t>(n));
    for (auto& c : cc.changes) {
        c.type = detail::load_change_type(ar);
        c.node = load_int<node_id>(ar);
    }
    load_buffer(ar, cc.context);
}

// The exact size of save(ar, m)'s output: lets a framer reserve once for the whole message.
inline std::uint64_t encoded_size(const message& m) noexcept {
    std::uint64_t n = 1 + 1 + 6 * 8 + 1 + 8 + 8 + m.context.size() + 8 + 1;
    for (const entry& e : m.entries) n += detail::entry_fixed_size + e.data.size();
    if (m.snapshot) {
        const conf_state& cs = m.snapshot->metadata.conf_state;
        const std::uint64_t ids = cs.voters.size() + cs.learners.size() +
                                  cs.voters_outgoing.size() + cs.learners_next.size();
        const std::uint64_t conf = 1 + 4 * 8 + 8 * ids + 1;
        n += 1 + (1 + conf + 8 + 8) + 8 + m.snapshot->data.size();
    }
    return n;
}

}  // namespace raftpp::codec

RAFTPP_CODEC_TYPE(raftpp::message)
RAFTPP_CODEC_TYPE(raftpp::conf_change)
RAFTPP_CODEC_TYPE(raftpp::conf_change_v2)
