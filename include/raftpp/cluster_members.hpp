// Cluster membership as etcd's membership package keeps it: members with names and peer URLs,
// ids derived from SHA-1 so that every node computes the same ids from the same
// --initial-cluster flag without talking to the others, and a compact binary encoding for
// snapshots and conf-change contexts. Invariants of cluster_members: members are sorted by id,
// ids are unique and never `none`, and each member's peer_urls are sorted.
// Byte layouts and the flag syntax: docs/membership.md.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/detail/sha1.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

struct member {
    node_id id = none;
    std::string name;                     // empty for a member added but not yet started (etcd)
    std::vector<std::string> peer_urls;   // sorted
    bool is_learner = false;

    friend bool operator==(const member&, const member&) = default;
};

// Where a peer listens. host is an IPv4 or IPv6 literal (IPv6 without brackets) or
// "localhost": nothing here resolves names, so an id never depends on what DNS says today.
struct peer_address {
    std::string host;
    std::uint16_t port = 0;

    friend bool operator==(const peer_address&, const peer_address&) = default;
};

inline constexpr std::string_view default_cluster_token = "raftpp-cluster";

namespace detail::membership {

[[noreturn]] inline void throw_invalid_config(const std::string& why) {
    throw std::system_error(make_error_code(errc::invalid_config), why);
}

inline std::string quote(std::string_view s) {
    std::string q;
    q.reserve(s.size() + 2);
    q += '"';
    q += s;
    q += '"';
    return q;
}

inline std::string_view trim(std::string_view s) noexcept {
    constexpr std::string_view space = " \t\r\n";
    auto b = s.find_first_not_of(space);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(space) - b + 1);
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool is_hex_digit(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline char to_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }
inline std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = to_lower(c);
    return out;
}

// Dotted quad, each part 0-255 in decimal. Leading zeros are refused: some resolvers read
// "010" as octal, and an address that means two things should not name a peer.
inline bool is_ipv4_literal(std::string_view s) noexcept {
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (s.empty() || s.front() != '.') return false;
            s.remove_prefix(1);
        }
        std::size_t n = 0;
        unsigned value = 0;
        while (n < s.size() && n < 4 && is_digit(s[n])) value = value * 10 + unsigned(s[n++] - '0');
        if (n == 0 || n > 3 || value > 255 || (n > 1 && s.front() == '0')) return false;
        s.remove_prefix(n);
    }
    return s.empty();
}

// Colon-separated groups of 1-4 hex digits; the last may be a dotted quad (two groups' worth)
// when v4_tail. Adds the number of 16-bit groups to `groups`.
inline bool parse_ipv6_groups(std::string_view s, bool v4_tail, int& groups) noexcept {
    if (s.empty()) return true;
    for (;;) {
        auto colon = s.find(':');
        auto g = s.substr(0, colon);
        if (colon == std::string_view::npos && v4_tail && g.find('.') != std::string_view::npos) {
            groups += 2;
            return is_ipv4_literal(g);
        }
        if (g.empty() || g.size() > 4 || !std::all_of(g.begin(), g.end(), is_hex_digit))
            return false;
        ++groups;
        if (colon == std::string_view::npos) return true;
        s.remove_prefix(colon + 1);
    }
}

// RFC 4291 §2.2 text forms, without zone ids ("%eth0"): those only mean something on one host.
inline bool is_ipv6_literal(std::string_view s) noexcept {
    auto gap = s.find("::");
    int groups = 0;
    if (gap == std::string_view::npos) return parse_ipv6_groups(s, true, groups) && groups == 8;
    if (s.find("::", gap + 1) != std::string_view::npos) return false;
    return parse_ipv6_groups(s.substr(0, gap), false, groups) &&
           parse_ipv6_groups(s.substr(gap + 2), true, groups) && groups <= 7;
}

// The address of a peer URL, or nullopt with `why` set to a reason a person can act on.
inline std::optional<peer_address> check_peer_url(std::string_view url, std::string& why) {
    auto fail = [&](std::string reason) {
        why = std::move(reason);
        return std::optional<peer_address>{};
    };
    if (url.empty()) return fail("it is empty");
    std::string_view rest = url;
    if (auto sep = rest.find("://"); sep != std::string_view::npos) {
        auto scheme = rest.substr(0, sep);
        if (scheme != "http" && scheme != "https" && scheme != "tcp")
            return fail("unsupported scheme " + quote(scheme) +
                        " (use http://, https://, tcp:// or host:port alone)");
        rest.remove_prefix(sep + 3);
    }
    if (auto extra = rest.find_first_of("/?#"); extra != std::string_view::npos)
        return fail("it has a path, query or fragment " + quote(rest.substr(extra)) +
                    "; a peer URL is host:port only");

    std::string_view host, port;
    bool bracketed = !rest.empty() && rest.front() == '[';
    if (bracketed) {
        auto close = rest.find(']');
        if (close == std::string_view::npos) return fail("'[' without a closing ']'");
        host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (after.empty() || after.front() != ':')
            return fail("missing port (expected [ipv6]:port)");
        port = after.substr(1);
    } else {
        auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) return fail("missing port (expected host:port)");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return fail("an IPv6 address must be in brackets, as [::1]:2380");
    }

    if (port.empty()) return fail("missing port (expected host:port)");
    if (!std::all_of(port.begin(), port.end(), is_digit))
        return fail("port " + quote(port) + " is not a number");
    unsigned long value = 0;  // saturates: "99999999999999999999" must not wrap into range
    for (char c : port) value = std::min(value * 10 + unsigned(c - '0'), 100000ul);
    if (value == 0 || value > 65535)
        return fail("port " + std::string(port) + " is out of range 1-65535");

    peer_address a;
    a.port = static_cast<std::uint16_t>(value);
    if (bracketed) {
        if (!is_ipv6_literal(host)) return fail(quote(host) + " is not an IPv6 address");
        a.host = lowercase(host);
        return a;
    }
    if (host.empty()) return fail("missing host");
    if (lowercase(host) == "localhost") {
        a.host = "localhost";
        return a;
    }
    if (is_ipv4_literal(host)) {
        a.host = std::string(host);
        return a;
    }
    auto only = [&](auto pred) { return std::all_of(host.begin(), host.end(), pred); };
    if (only([](char c) { return is_digit(c) || c == '.'; }))
        return fail(quote(host) + " is not a valid IPv4 address");
    if (only([](char c) {
            char l = to_lower(c);
            return is_digit(c) || (l >= 'a' && l <= 'z') || c == '-' || c == '.' || c == '_';
        }))
        return fail("host name " + quote(host) +
                    " is not resolved (no DNS); use an IP address or localhost");
    return fail("invalid host " + quote(host));
}

// "[::1]:2380" / "10.0.0.1:2380": how messages show an address.
inline std::string format_address(const peer_address& a) {
    bool v6 = a.host.find(':') != std::string::npos;
    return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

inline std::string to_hex(std::uint64_t v) {
    char text[16];
    auto end = std::to_chars(text, text + sizeof text, v, 16).ptr;
    return std::string(text, end);
}

}  // namespace detail::membership

// Accepts "http://h:p", "https://h:p", "tcp://h:p" or a bare "h:p"; IPv6 as "[::1]:p"; the port
// must be 1-65535. Throws std::system_error(errc::invalid_config) naming the URL and the reason.
inline peer_address parse_peer_url(std::string_view url) {
    std::string why;
    auto a = detail::membership::check_peer_url(url, why);
    if (!a)
        detail::membership::throw_invalid_config("invalid peer URL " +
                                                 detail::membership::quote(url) + ": " + why);
    return std::move(*a);
}

// etcd's member id (membership.NewMember): SHA-1 over the sorted URLs concatenated, then the
// token, then the decimal unix seconds if given; the first 8 digest bytes, big-endian. The name
// is not hashed, so renaming a member keeps its id.
inline node_id derive_member_id(std::span<const std::string> peer_urls, std::string_view token,
                                std::optional<std::int64_t> unix_seconds = std::nullopt) {
    std::vector<std::string_view> sorted(peer_urls.begin(), peer_urls.end());
    std::sort(sorted.begin(), sorted.end());
    detail::sha1_hasher h;
    for (auto u : sorted) h.update(u);
    h.update(token);
    if (unix_seconds) {
        char text[24];
        auto end = std::to_chars(text, text + sizeof text, *unix_seconds).ptr;
        h.update(std::string_view(text, std::size_t(end - text)));
    }
    return detail::membership::load_be64(h.finish().data());
}

// etcd's cluster id (RaftCluster.genID): SHA-1 over the sorted member ids, each as 8 big-endian
// bytes; the first 8 digest bytes, big-endian. Order-independent; any change of members changes it.
inline std::uint64_t derive_cluster_id(std::span<const node_id> ids) {
    std::vector<node_id> sorted(ids.begin(), ids.end());
    std::sort(sorted.begin(), sorted.end());
    detail::sha1_hasher h;
    for (node_id id : sorted) {
        std::array<std::byte, 8> be;
        for (int i = 0; i < 8; ++i) be[std::size_t(i)] = std::byte(id >> (56 - 8 * i));
        h.update(be);
    }
    return detail::membership::load_be64(h.finish().data());
}

class cluster_members {
public:
    cluster_members() = default;

    // etcd's --initial-cluster: "n1=http://10.0.0.1:2380,n2=10.0.0.2:2380". A name may repeat to
    // give its member several URLs. Ids come from derive_member_id(urls, token), the cluster id
    // from derive_cluster_id(ids); every member is a voter. Throws
    // std::system_error(errc::invalid_config) with a message naming the culprit.
    static cluster_members parse(std::string_view initial_cluster,
                                 std::string_view token = default_cluster_token);

    std::uint64_t cluster_id() const noexcept { return cluster_id_; }
    // etcd keeps the cluster id of the bootstrap: members added or removed later do not change it.
    void set_cluster_id(std::uint64_t id) noexcept { cluster_id_ = id; }

    const member* find(node_id id) const noexcept;
    // The first member (in id order) with this name.
    const member* find(std::string_view name) const noexcept;
    // The member named `name`, or std::system_error(errc::invalid_config) listing the names.
    const member& require(std::string_view name) const;

    std::span<const member> members() const noexcept { return members_; }  // sorted by id
    std::vector<node_id> ids() const;
    std::size_t size() const noexcept { return members_.size(); }
    bool empty() const noexcept { return members_.empty(); }

    // add: false (and no change) when m.id is none or already present. update: replaces the
    // member with m.id, false if absent. remove: false if absent. add and update sort peer_urls.
    bool add(member m);
    bool update(member m);
    bool remove(node_id id);

    // "n1=url1,n1=url2,n2=url3" in id order. parse(to_string(), token) gives the same members
    // back when they came from parse with that token (ids are derived, not written).
    std::string to_string() const;

    // Binary form for snapshots and conf-change contexts (docs/membership.md#binary-encoding).
    // decode returns errc::malformed_message for anything truncated, oversized, out of order
    // or followed by extra bytes; what it allocates is bounded by the input size.
    buffer encode() const;
    static result<cluster_members> decode(std::span<const std::byte> bytes);
    static buffer encode_member(const member& m);
    static result<member> decode_member(std::span<const std::byte> bytes);

    friend bool operator==(const cluster_members&, const cluster_members&) = default;

private:
    std::vector<member>::const_iterator lower_bound(node_id id) const noexcept {
        return std::lower_bound(members_.begin(), members_.end(), id,
                                [](const member& m, node_id v) { return m.id < v; });
    }

    std::uint64_t cluster_id_ = 0;
    std::vector<member> members_;  // sorted by id, ids unique and != none
};

namespace detail::membership {

// The format version written first by encode() and encode_member().
inline constexpr std::uint8_t members_format_version = 1;
// Fixed bytes of a member record: id, flags, name length, URL count.
inline constexpr std::size_t member_fixed_size = 8 + 1 + 4 + 4;
inline constexpr std::uint8_t member_flag_learner = 0x01;

inline std::uint32_t checked_u32(std::size_t n) {
    RAFTPP_ASSERT(n <= std::numeric_limits<std::uint32_t>::max(),
                  "cluster_members: a name, URL or count does not fit the 32-bit length field");
    return static_cast<std::uint32_t>(n);
}

class members_writer {
public:
    explicit members_writer(std::byte* out) noexcept : out_(out) {}
    void u8(std::uint8_t v) noexcept { *out_++ = std::byte(v); }
    void u32(std::uint32_t v) noexcept { le(v, 4); }
    void u64(std::uint64_t v) noexcept { le(v, 8); }
    void str(std::string_view s) {
        u32(checked_u32(s.size()));
        if (!s.empty()) std::memcpy(out_, s.data(), s.size());
        out_ += s.size();
    }
    std::byte* position() const noexcept { return out_; }

private:
    void le(std::uint64_t v, int n) noexcept {
        for (int i = 0; i < n; ++i) *out_++ = std::byte(v >> (8 * i));
    }
    std::byte* out_;
};

// Every read checks what is left first, so no input can make it read past the end.
class members_reader {
public:
    explicit members_reader(std::span<const std::byte> in) noexcept : in_(in) {}
    std::size_t remaining() const noexcept { return in_.size(); }
    bool u8(std::uint8_t& v) noexcept {
        std::uint64_t x;
        if (!le(x, 1)) return false;
        v = static_cast<std::uint8_t>(x);
        return true;
    }
    bool u32(std::uint32_t& v) noexcept {
        std::uint64_t x;
        if (!le(x, 4)) return false;
        v = static_cast<std::uint32_t>(x);
        return true;
    }
    bool u64(std::uint64_t& v) noexcept { return le(v, 8); }
    bool str(std::string& s) {
        std::uint32_t n;
        if (!u32(n) || n > in_.size()) return false;
        s.assign(reinterpret_cast<const char*>(in_.data()), n);
        in_ = in_.subspan(n);
        return true;
    }

private:
    bool le(std::uint64_t& v, std::size_t n) noexcept {
        if (in_.size() < n) return false;
        v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(in_[i]) << (8 * i);
        in_ = in_.subspan(n);
        return true;
    }
    std::span<const std::byte> in_;
};

inline std::size_t encoded_member_size(const member& m) noexcept {
    std::size_t n = member_fixed_size + m.name.size();
    for (const auto& u : m.peer_urls) n += 4 + u.size();
    return n;
}

// URLs go out sorted even when the caller's member was not, so equal members encode equally.
inline void write_member(members_writer& w, const member& m) {
    std::vector<std::string_view> urls(m.peer_urls.begin(), m.peer_urls.end());
    std::sort(urls.begin(), urls.end());
    w.u64(m.id);
    w.u8(m.is_learner ? member_flag_learner : 0);
    w.str(m.name);
    w.u32(checked_u32(urls.size()));
    for (auto u : urls) w.str(u);
}

inline bool read_member(members_reader& r, member& m) {
    std::uint8_t flags;
    std::uint32_t url_count;
    if (!r.u64(m.id) || m.id == none || !r.u8(flags) || (flags & ~member_flag_learner) != 0)
        return false;
    m.is_learner = (flags & member_flag_learner) != 0;
    if (!r.str(m.name)) return false;
    // Each URL takes at least its 4-byte length, so a count beyond that is a lie, caught before
    // it can size an allocation.
    if (!r.u32(url_count) || url_count > r.remaining() / 4) return false;
    m.peer_urls.clear();
    m.peer_urls.reserve(url_count);
    for (std::uint32_t i = 0; i < url_count; ++i) {
        if (!r.str(m.peer_urls.emplace_back())) return false;
        if (i > 0 && m.peer_urls[i] < m.peer_urls[i - 1]) return false;
    }
    return true;
}

// One "name=url" of an initial cluster, checked.
struct initial_cluster_item {
    std::string_view name, url;
    peer_address address;
};

inline initial_cluster_item parse_initial_cluster_item(std::string_view item,
                                                       std::string_view text) {
    if (item.empty())
        throw_invalid_config("the initial cluster " + quote(text) +
                             " has an empty item (a stray comma?)");
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
        throw_invalid_config("initial cluster item " + quote(item) + " is not name=url");
    auto name = trim(item.substr(0, eq));
    auto url = trim(item.substr(eq + 1));
    if (name.empty())
        throw_invalid_config("initial cluster item " + quote(item) + " has an empty name");
    if (url.empty())
        throw_invalid_config("member " + quote(name) + " has an empty peer URL in " + quote(item));
    std::string why;
    auto address = check_peer_url(url, why);
    if (!address)
        throw_invalid_config("member " + quote(name) + " has an invalid peer URL " + quote(url) +
                             ": " + why);
    return {name, url, std::move(*address)};
}

// parse() with the id derivation passed in, so tests can force the collisions (an id of none,
// two members with one id) that SHA-1 makes unreachable from real URLs.
template <class DeriveId>
cluster_members parse_initial_cluster(std::string_view text, DeriveId&& derive_id) {
    if (trim(text).empty())
        throw_invalid_config("the initial cluster is empty (expected name=url[,name=url...])");
    struct named_urls {
        std::string name;
        std::vector<std::string> urls;
    };
    std::vector<named_urls> groups;  // in order of first appearance
    // "host/port" -> the first item that used it. Compared as text: "localhost" and
    // "127.0.0.1" are not seen as one address (that would take resolving).
    std::map<std::string, std::pair<std::string_view, std::string_view>, std::less<>> used;

    for (std::size_t start = 0;;) {
        auto comma = text.find(',', start);
        auto item = parse_initial_cluster_item(trim(text.substr(start, comma - start)), text);
        auto key = item.address.host + "/" + std::to_string(item.address.port);
        if (auto [it, fresh] = used.try_emplace(key, item.name, item.url); !fresh) {
            auto [first_name, first_url] = it->second;
            auto address = format_address(item.address);
            auto urls = " (" + quote(first_url) + " and " + quote(item.url) + ")";
            if (first_name == item.name)
                throw_invalid_config("member " + quote(item.name) + " lists peer address " +
                                     address + " twice" + urls);
            throw_invalid_config("members " + quote(first_name) + " and " + quote(item.name) +
                                 " both use peer address " + address + urls);
        }
        auto g = std::find_if(groups.begin(), groups.end(),
                              [&](const named_urls& n) { return n.name == item.name; });
        if (g == groups.end()) g = groups.insert(groups.end(), {std::string(item.name), {}});
        g->urls.emplace_back(item.url);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }

    cluster_members out;
    for (auto& g : groups) {
        std::sort(g.urls.begin(), g.urls.end());
        node_id id = derive_id(std::span<const std::string>(g.urls));
        if (id == none)
            throw_invalid_config("member " + quote(g.name) +
                                 " gets id 0 (none) from its peer URLs and the cluster token; "
                                 "change either");
        if (const member* other = out.find(id))
            throw_invalid_config("members " + quote(other->name) + " and " + quote(g.name) +
                                 " get the same id " + to_hex(id));
        out.add({.id = id, .name = g.name, .peer_urls = std::move(g.urls), .is_learner = false});
    }
    out.set_cluster_id(derive_cluster_id(out.ids()));
    return out;
}

}  // namespace detail::membership

inline cluster_members cluster_members::parse(std::string_view initial_cluster,
                                              std::string_view token) {
    return detail::membership::parse_initial_cluster(
        initial_cluster,
        [&](std::span<const std::string> urls) { return derive_member_id(urls, token); });
}

inline const member* cluster_members::find(node_id id) const noexcept {
    auto it = lower_bound(id);
    return it != members_.end() && it->id == id ? &*it : nullptr;
}

inline const member* cluster_members::find(std::string_view name) const noexcept {
    auto it = std::find_if(members_.begin(), members_.end(),
                           [&](const member& m) { return m.name == name; });
    return it != members_.end() ? &*it : nullptr;
}

inline const member& cluster_members::require(std::string_view name) const {
    using namespace detail::membership;
    if (const member* m = find(name)) return *m;
    std::vector<std::string_view> names;
    for (const auto& m : members_) names.push_back(m.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::string list;
    for (auto n : names) list += (list.empty() ? "" : ", ") + std::string(n);
    throw_invalid_config("member " + quote(name) + " is not in the initial cluster (" +
                         (list.empty() ? "which is empty" : list) + ")");
}

inline std::vector<node_id> cluster_members::ids() const {
    std::vector<node_id> out;
    out.reserve(members_.size());
    for (const auto& m : members_) out.push_back(m.id);
    return out;
}

inline bool cluster_members::add(member m) {
    auto it = lower_bound(m.id);
    if (m.id == none || (it != members_.end() && it->id == m.id)) return false;
    std::sort(m.peer_urls.begin(), m.peer_urls.end());
    members_.insert(it, std::move(m));
    return true;
}

inline bool cluster_members::update(member m) {
    auto it = lower_bound(m.id);
    if (it == members_.end() || it->id != m.id) return false;
    std::sort(m.peer_urls.begin(), m.peer_urls.end());
    members_[std::size_t(it - members_.begin())] = std::move(m);
    return true;
}

inline bool cluster_members::remove(node_id id) {
    auto it = lower_bound(id);
    if (it == members_.end() || it->id != id) return false;
    members_.erase(it);
    return true;
}

inline std::string cluster_members::to_string() const {
    std::string out;
    for (const auto& m : members_)
        for (const auto& u : m.peer_urls) {
            if (!out.empty()) out += ',';
            out += m.name;
            out += '=';
            out += u;
        }
    return out;
}

inline buffer cluster_members::encode() const {
    using namespace detail::membership;
    std::size_t size = 1 + 8 + 4;
    for (const auto& m : members_) size += encoded_member_size(m);
    auto out = buffer::for_overwrite(size);
    members_writer w(out.mutable_data());
    w.u8(members_format_version);
    w.u64(cluster_id_);
    w.u32(checked_u32(members_.size()));
    for (const auto& m : members_) write_member(w, m);
    RAFTPP_ASSERT(w.position() == out.mutable_data() + size, "cluster_members: encoded size");
    return out;
}

inline result<cluster_members> cluster_members::decode(std::span<const std::byte> bytes) {
    using namespace detail::membership;
    members_reader r(bytes);
    std::uint8_t version;
    std::uint32_t count;
    cluster_members out;
    if (!r.u8(version) || version != members_format_version || !r.u64(out.cluster_id_) ||
        !r.u32(count) || count > r.remaining() / member_fixed_size)
        return errc::malformed_message;
    out.members_.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        member m;
        if (!read_member(r, m)) return errc::malformed_message;
        // Written in id order without repeats; anything else was not written by encode().
        if (i > 0 && m.id <= out.members_.back().id) return errc::malformed_message;
        out.members_.push_back(std::move(m));
    }
    if (r.remaining() != 0) return errc::malformed_message;
    return out;
}

inline buffer cluster_members::encode_member(const member& m) {
    using namespace detail::membership;
    auto out = buffer::for_overwrite(1 + encoded_member_size(m));
    members_writer w(out.mutable_data());
    w.u8(members_format_version);
    write_member(w, m);
    return out;
}

inline result<member> cluster_members::decode_member(std::span<const std::byte> bytes) {
    using namespace detail::membership;
    members_reader r(bytes);
    std::uint8_t version;
    member m;
    if (!r.u8(version) || version != members_format_version || !read_member(r, m) ||
        r.remaining() != 0)
        return errc::malformed_message;
    return m;
}

}  // namespace raftpp
