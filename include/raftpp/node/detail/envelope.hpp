// How raftpp::node frames what it puts in the log and in snapshots.
//
// A proposal's entry data is the payload behind a 17-byte header, so every node can tell
// which member proposed an entry and which of its requests it answers:
//   [u8 tag][u64 proposer id][u64 request sequence][payload]          (little-endian)
// tag 0xE1 marks a normal proposal; 0xE2 a conf change context (the payload then holds the
// encoded member, see cluster_members::encode_member). Bootstrap conf changes carry the bare
// encoded member.
//
// A snapshot's data is the member table and the state machine's bytes:
//   [magic "RPND"][u8 version 1][u64 length M][M bytes cluster_members::encode()][user data]
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include <raftpp/buffer.hpp>
#include <raftpp/cluster_members.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

inline constexpr std::uint8_t request_tag_proposal = 0xE1;
inline constexpr std::uint8_t request_tag_conf_change = 0xE2;
inline constexpr std::size_t envelope_header_size = 17;

inline void store_u64_le(std::byte* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint64_t load_u64_le(const std::byte* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
    return v;
}

inline buffer wrap_request(std::uint8_t tag, node_id proposer, std::uint64_t seq,
                           std::span<const std::byte> payload) {
    buffer b = buffer::for_overwrite(envelope_header_size + payload.size());
    std::byte* p = b.mutable_data();
    p[0] = std::byte{tag};
    store_u64_le(p + 1, proposer);
    store_u64_le(p + 9, seq);
    if (!payload.empty()) std::memcpy(p + envelope_header_size, payload.data(), payload.size());
    return b;
}

struct request_view {
    node_id proposer = none;
    std::uint64_t seq = 0;
    std::span<const std::byte> payload;
};

inline std::optional<request_view> unwrap_request(std::uint8_t tag,
                                                  std::span<const std::byte> data) noexcept {
    if (data.size() < envelope_header_size || data[0] != std::byte{tag}) return std::nullopt;
    return request_view{load_u64_le(data.data() + 1), load_u64_le(data.data() + 9),
                        data.subspan(envelope_header_size)};
}

inline constexpr std::array<std::byte, 4> snapshot_magic = {std::byte{'R'}, std::byte{'P'},
                                                             std::byte{'N'}, std::byte{'D'}};
inline constexpr std::uint8_t snapshot_version = 1;
inline constexpr std::size_t snapshot_header_size = 4 + 1 + 8;

inline buffer wrap_snapshot(const cluster_members& members, std::span<const std::byte> user) {
    const buffer m = members.encode();
    buffer b = buffer::for_overwrite(snapshot_header_size + m.size() + user.size());
    std::byte* p = b.mutable_data();
    std::memcpy(p, snapshot_magic.data(), snapshot_magic.size());
    p[4] = std::byte{snapshot_version};
    store_u64_le(p + 5, m.size());
    if (!m.empty()) std::memcpy(p + snapshot_header_size, m.data(), m.size());
    if (!user.empty()) std::memcpy(p + snapshot_header_size + m.size(), user.data(), user.size());
    return b;
}

struct snapshot_view {
    cluster_members members;
    std::span<const std::byte> user;
};

// errc::malformed_message for data this node did not write.
inline result<snapshot_view> unwrap_snapshot(std::span<const std::byte> data) {
    if (data.size() < snapshot_header_size ||
        std::memcmp(data.data(), snapshot_magic.data(), snapshot_magic.size()) != 0 ||
        data[4] != std::byte{snapshot_version})
        return errc::malformed_message;
    const std::uint64_t m = load_u64_le(data.data() + 5);
    if (m > data.size() - snapshot_header_size) return errc::malformed_message;
    auto members = cluster_members::decode(data.subspan(snapshot_header_size, m));
    if (!members) return members.error();
    return snapshot_view{std::move(*members), data.subspan(snapshot_header_size + m)};
}

}  // namespace raftpp::detail
