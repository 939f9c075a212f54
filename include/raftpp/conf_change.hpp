// Membership changes as they travel in the log: conf_change (etcd's ConfChange, one node at a
// time) and conf_change_v2 (a list of changes, entered jointly or simply), with the compact
// binary encoding raftpp stores in entry data. Decoding never trusts its input: a short or
// garbled payload is errc::malformed_message, never UB.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

enum class conf_change_type : std::uint8_t {
    add_node = 0,
    remove_node = 1,
    update_node = 2,
    add_learner_node = 3,
};

// How a conf_change_v2 is carried out (etcd's ConfChangeTransition).
enum class conf_change_transition : std::uint8_t {
    // Simple when the change touches at most one voter, joint with auto-leave otherwise.
    automatic = 0,
    joint_implicit = 1,  // joint, left automatically once applied
    joint_explicit = 2,  // joint, left by an empty conf_change_v2 the application proposes
};

struct conf_change_single {
    conf_change_type type = conf_change_type::add_node;
    node_id node = none;
    friend bool operator==(const conf_change_single&, const conf_change_single&) = default;
};

struct conf_change_v2 {
    conf_change_transition transition = conf_change_transition::automatic;
    std::vector<conf_change_single> changes;
    buffer context;

    // etcd's EnterJoint: whether to use a joint configuration, and whether to leave it
    // automatically.
    bool enter_joint(bool* auto_leave) const {
        if (transition == conf_change_transition::automatic && changes.size() <= 1) return false;
        if (auto_leave) *auto_leave = transition != conf_change_transition::joint_explicit;
        return true;
    }
    // An empty, automatic change (whatever its context) means "leave the joint configuration".
    bool leave_joint() const {
        return transition == conf_change_transition::automatic && changes.empty();
    }
    friend bool operator==(const conf_change_v2&, const conf_change_v2&) = default;
};

struct conf_change {
    conf_change_type type = conf_change_type::add_node;
    node_id node = none;
    buffer context;

    conf_change_v2 as_v2() const {
        conf_change_v2 v;
        v.changes.push_back({type, node});
        v.context = context;
        return v;
    }
    friend bool operator==(const conf_change&, const conf_change&) = default;
};

namespace detail {
class byte_writer {
public:
    explicit byte_writer(std::size_t n) : buf_(buffer::uninitialized(n)), p_(buf_.mutable_data()) {}
    void u8(std::uint8_t v) { *p_++ = std::byte{v}; }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) *p_++ = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void bytes(const buffer& b) {
        u64(b.size());
        if (!b.empty()) std::memcpy(p_, b.data(), b.size());
        p_ += b.size();
    }
    buffer finish() { return std::move(buf_); }

private:
    buffer buf_;
    std::byte* p_;
};

class byte_reader {
public:
    explicit byte_reader(std::span<const std::byte> s) : s_(s) {}
    bool u8(std::uint8_t& v) {
        if (s_.size() < 1) return false;
        v = std::to_integer<std::uint8_t>(s_[0]);
        s_ = s_.subspan(1);
        return true;
    }
    bool u64(std::uint64_t& v) {
        if (s_.size() < 8) return false;
        v = 0;
        for (int i = 0; i < 8; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(s_[i])} << (8 * i);
        s_ = s_.subspan(8);
        return true;
    }
    bool bytes(buffer& b) {
        std::uint64_t n;
        if (!u64(n) || n > s_.size()) return false;
        b = buffer(s_.data(), static_cast<std::size_t>(n));
        s_ = s_.subspan(static_cast<std::size_t>(n));
        return true;
    }
    bool done() const { return s_.empty(); }
    std::size_t remaining() const { return s_.size(); }

private:
    std::span<const std::byte> s_;
};

inline constexpr std::uint8_t conf_change_tag = 0xC1;
inline constexpr std::uint8_t conf_change_v2_tag = 0xC2;
inline bool valid_conf_change_type(std::uint8_t t) { return t <= 3; }
}  // namespace detail

inline buffer encode(const conf_change& cc) {
    detail::byte_writer w(1 + 1 + 8 + 8 + cc.context.size());
    w.u8(detail::conf_change_tag);
    w.u8(static_cast<std::uint8_t>(cc.type));
    w.u64(cc.node);
    w.bytes(cc.context);
    return w.finish();
}

inline buffer encode(const conf_change_v2& cc) {
    detail::byte_writer w(1 + 1 + 8 + cc.changes.size() * 9 + 8 + cc.context.size());
    w.u8(detail::conf_change_v2_tag);
    w.u8(static_cast<std::uint8_t>(cc.transition));
    w.u64(cc.changes.size());
    for (const auto& c : cc.changes) {
        w.u8(static_cast<std::uint8_t>(c.type));
        w.u64(c.node);
    }
    w.bytes(cc.context);
    return w.finish();
}

inline result<conf_change> decode_conf_change(const buffer& b) {
    detail::byte_reader r(b.bytes());
    std::uint8_t tag, type;
    conf_change cc;
    if (!r.u8(tag) || tag != detail::conf_change_tag || !r.u8(type) ||
        !detail::valid_conf_change_type(type) || !r.u64(cc.node) || !r.bytes(cc.context) ||
        !r.done())
        return errc::malformed_message;
    cc.type = static_cast<conf_change_type>(type);
    return cc;
}

inline result<conf_change_v2> decode_conf_change_v2(const buffer& b) {
    detail::byte_reader r(b.bytes());
    std::uint8_t tag, transition;
    std::uint64_t n;
    conf_change_v2 cc;
    if (!r.u8(tag) || tag != detail::conf_change_v2_tag || !r.u8(transition) || transition > 2 ||
        !r.u64(n) || n > r.remaining() / 9)
        return errc::malformed_message;
    cc.transition = static_cast<conf_change_transition>(transition);
    cc.changes.resize(static_cast<std::size_t>(n));
    for (auto& c : cc.changes) {
        std::uint8_t type;
        if (!r.u8(type) || !detail::valid_conf_change_type(type) || !r.u64(c.node))
            return errc::malformed_message;
        c.type = static_cast<conf_change_type>(type);
    }
    if (!r.bytes(cc.context) || !r.done()) return errc::malformed_message;
    return cc;
}

// Decodes the conf change carried by a conf_change or conf_change_v2 entry as a v2 change.
inline result<conf_change_v2> decode_conf_change_entry(const entry& e) {
    if (e.type == entry_type::conf_change) {
        auto cc = decode_conf_change(e.data);
        if (!cc) return cc.error();
        return cc->as_v2();
    }
    if (e.type == entry_type::conf_change_v2) return decode_conf_change_v2(e.data);
    return errc::invalid_argument;
}

}  // namespace raftpp
