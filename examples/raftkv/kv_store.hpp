// raftkv's state machine: a string map changed by put, compare-and-swap and delete commands
// that went through the log. It satisfies raftpp::state_machine: apply() runs on the node's
// strand, snapshot() and restore() carry the whole map. Reads come from any thread (the HTTP
// handlers), hence the shared lock; they happen after the node confirmed a read index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftkv {

enum class kv_op : std::uint8_t { put = 1, cas = 2, del = 3 };

// A command as proposed: op, key, and for put the value, for cas the expected and new values.
struct kv_command {
    kv_op op = kv_op::put;
    std::string key;
    std::string value;
    std::string expected;  // cas only
};

enum class kv_status : std::uint8_t { ok, not_found, precondition_failed, bad_command };

// What applying a command did; for a failed cas, the current value (empty when absent).
struct kv_result {
    kv_status status = kv_status::ok;
    std::string current;
    bool existed = false;  // cas: whether the key had a value
};

namespace detail {
inline void put_u32(std::string& out, std::size_t n) {
    const auto v = static_cast<std::uint32_t>(n);
    out.append(reinterpret_cast<const char*>(&v), 4);
}
// Reads a u32-prefixed string at `at`; false when the bytes end first.
inline bool get_str(std::string_view in, std::size_t& at, std::string& out) {
    std::uint32_t n = 0;
    if (in.size() - at < 4) return false;
    std::memcpy(&n, in.data() + at, 4);
    at += 4;
    if (in.size() - at < n) return false;
    out.assign(in.data() + at, n);
    at += n;
    return true;
}
}  // namespace detail

// Wire form of a command: op u8, then u32-length-prefixed key, value, expected.
inline raftpp::buffer encode(const kv_command& c) {
    std::string out;
    out.reserve(13 + c.key.size() + c.value.size() + c.expected.size());
    out.push_back(static_cast<char>(c.op));
    detail::put_u32(out, c.key.size());
    out += c.key;
    detail::put_u32(out, c.value.size());
    out += c.value;
    detail::put_u32(out, c.expected.size());
    out += c.expected;
    return raftpp::buffer(out);
}

inline std::optional<kv_command> decode(std::string_view in) {
    if (in.empty()) return std::nullopt;
    kv_command c;
    const auto op = static_cast<std::uint8_t>(in[0]);
    if (op < 1 || op > 3) return std::nullopt;
    c.op = static_cast<kv_op>(op);
    std::size_t at = 1;
    if (!detail::get_str(in, at, c.key) || !detail::get_str(in, at, c.value) ||
        !detail::get_str(in, at, c.expected) || at != in.size())
        return std::nullopt;
    return c;
}

class kv_store {
public:
    kv_result apply(const raftpp::entry& e) {
        // Empty entries (a new leader's, refused conf changes) change nothing.
        if (e.data.empty()) return {};
        auto c = decode(e.data.view());
        if (!c) return {kv_status::bad_command, {}, false};
        std::unique_lock lock(mu_);
        applied_ = e.index;
        switch (c->op) {
        case kv_op::put: map_[std::move(c->key)] = std::move(c->value); return {};
        case kv_op::del: return map_.erase(c->key) != 0 ? kv_result{} : kv_result{kv_status::not_found, {}, false};
        case kv_op::cas: {
            auto it = map_.find(c->key);
            if (it == map_.end()) return {kv_status::precondition_failed, {}, false};
            if (it->second != c->expected) return {kv_status::precondition_failed, it->second, true};
            it->second = std::move(c->value);
            return {};
        }
        }
        return {kv_status::bad_command, {}, false};
    }

    std::optional<std::string> get(std::string_view key) const {
        std::shared_lock lock(mu_);
        auto it = map_.find(std::string(key));
        if (it == map_.end()) return std::nullopt;
        return it->second;
    }

    std::size_t size() const {
        std::shared_lock lock(mu_);
        return map_.size();
    }

    // The index of the last command applied (0 before any).
    raftpp::index_t applied() const {
        std::shared_lock lock(mu_);
        return applied_;
    }

    // Snapshot: u64 applied index, u64 count, then u32-prefixed key and value pairs.
    raftpp::buffer snapshot() const {
        std::shared_lock lock(mu_);
        std::string out;
        std::size_t bytes = 16;
        for (const auto& [k, v] : map_) bytes += 8 + k.size() + v.size();
        out.reserve(bytes);
        const std::uint64_t head[2] = {applied_, map_.size()};
        out.append(reinterpret_cast<const char*>(head), sizeof head);
        for (const auto& [k, v] : map_) {
            detail::put_u32(out, k.size());
            out += k;
            detail::put_u32(out, v.size());
            out += v;
        }
        return raftpp::buffer(out);
    }

    // Replaces the map; a malformed snapshot leaves it as it was.
    raftpp::result<void> restore(std::span<const std::byte> bytes) {
        const std::string_view in(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        if (in.size() < 16) return raftpp::errc::malformed_message;
        std::uint64_t head[2];
        std::memcpy(head, in.data(), sizeof head);
        std::unordered_map<std::string, std::string> next;
        std::size_t at = 16;
        for (std::uint64_t i = 0; i < head[1]; ++i) {
            std::string k, v;
            if (!detail::get_str(in, at, k) || !detail::get_str(in, at, v))
                return raftpp::errc::malformed_message;
            next.emplace(std::move(k), std::move(v));
        }
        if (at != in.size()) return raftpp::errc::malformed_message;
        std::unique_lock lock(mu_);
        map_ = std::move(next);
        applied_ = head[0];
        return {};
    }

private:
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, std::string> map_;
    raftpp::index_t applied_ = 0;
};

}  // namespace raftkv
