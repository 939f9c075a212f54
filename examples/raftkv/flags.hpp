// raftkv's command-line flags, spelled and defaulted like etcd's (--name, --data-dir,
// --initial-cluster, ...). parse_flags() either returns options that passed every check, with
// the derived defaults (data dir, initial cluster) filled in, or one line naming the flag at
// fault: a typo on the command line is the user's error, never an assert.
// Standard library only, so the parser can be tested without the server's dependencies.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace raftkv {

struct options {
    // Unique within the cluster; keys the member in --initial-cluster.
    std::string name = "default";
    // Empty until parsed; then "<name>.raftkv", as etcd defaults to "<name>.etcd".
    std::string data_dir;
    std::string listen_peer = "http://127.0.0.1:2380";
    std::string listen_client = "http://127.0.0.1:2379";
    // Empty until parsed; then "<name>=<listen_peer>", a cluster of one.
    std::string initial_cluster;
    // "new" or "existing" (etcd's meaning: "existing" joins a running cluster).
    std::string initial_cluster_state = "new";
    std::string initial_cluster_token = "raftkv-cluster";
    // Joining (--initial-cluster-state=existing): the running cluster's id, in hex, as
    // POST /members answers it; 0 when not given (then the running members are asked).
    std::uint64_t initial_cluster_id = 0;
    // Applied entries between two snapshots; > 0.
    std::uint64_t snapshot_count = 10000;
    // Entries the log keeps behind a snapshot, so a follower slightly behind catches up from
    // the log (etcd's --experimental-snapshot-catchup-entries, 5000).
    std::uint64_t snapshot_catchup_entries = 5000;
    // The raft tick: heartbeat_tick is 1, so one tick is one heartbeat interval.
    unsigned heartbeat_interval_ms = 100;
    // At least 5 heartbeat intervals and at most 50 s (etcd's rules).
    unsigned election_timeout_ms = 1000;
    // etcd's default: 1.5 MiB, which bounds one raft entry too.
    std::size_t max_request_bytes = 1536 * 1024;
    // etcd has no key limit of its own; 4 KiB keeps keys index-sized while leaving the rest
    // of a request to the value. At most max_request_bytes.
    std::size_t max_key_bytes = 4096;
    // Event-loop threads for the node and the client connections (the WAL syncs on a thread
    // of its own). One is fastest when members share a machine's cores, as on loopback.
    unsigned threads = 1;
    bool help = false;
};

struct parse_result {
    options opts;
    // Empty on success. Otherwise one line, starting with the flag at fault; opts is then
    // partly filled and must not be used.
    std::string error;
};

// An address of the form http://host:port or host:port.
struct endpoint {
    // An IPv4 literal, "localhost", or an IPv6 literal without its brackets.
    std::string host;
    std::uint16_t port = 0;
};

// One member of --initial-cluster.
struct peer {
    std::string name;
    std::string url;  // as written
    endpoint address;
};

struct cluster_parse_result {
    std::vector<peer> peers;  // in the order written
    std::string error;        // empty on success; does not name the flag
};

// Parses argv (argv[0], the program, is skipped). Arguments are read left to right and the
// first error stops them; --help or -h stops them too, returning help = true and no error, so
// `raftkv --election-timeout 1 --help` prints help. A repeated flag's last value wins, as in
// Go's flag package. No positional arguments are accepted. Flags take a value as
// --flag=value or --flag value; in the second form an argument starting with "--" is the next
// flag, not a value, so `--name --data-dir x` is a missing value rather than a name.
inline parse_result parse_flags(int argc, const char* const* argv);

// Parses one peer or client URL; nullopt unless it is http://host:port or host:port with a port
// in 1..65535 and a host that is an IPv4 literal, [IPv6 literal] or localhost. Host names are
// not accepted: the transport does not resolve names.
inline std::optional<endpoint> parse_endpoint(std::string_view url);

// Parses "name1=url1,name2=url2,...": member names unique, addresses unique.
inline cluster_parse_result parse_initial_cluster(std::string_view text);

// The raft election_tick for these options: the raft tick is one heartbeat interval
// (heartbeat_tick = 1), so the election timeout in ticks is election_timeout_ms /
// heartbeat_interval_ms, rounded down. For parsed options it is at least 5 (etcd's rule),
// which keeps it above heartbeat_tick as raftpp::config requires. 0 if heartbeat is 0.
inline int election_ticks(const options& o);
inline constexpr int heartbeat_ticks = 1;

// etcd's cap: longer timeouts make a failed leader go unnoticed for too long.
inline constexpr unsigned max_election_timeout_ms = 50000;

// The --help text: every flag, one line each, with its default.
inline std::string usage();

namespace detail {

// Each setter returns why the value is wrong, or "" when it was stored.
using flag_setter = std::string (*)(options&, std::string_view value);

struct flag_spec {
    std::string_view name;   // "--name"
    std::string_view alias;  // etcd's spelling when ours is shorter, or ""
    std::string_view value_name;
    std::string_view help;
    std::string (*default_text)(const options& defaults);  // null for --help
    flag_setter set;  // null for --help, which takes no value
};

inline std::string quoted(std::string_view s) {
    return '"' + std::string(s) + '"';
}

// Decimal digits only: no sign, no spaces, no suffix. Negatives and overflow get their own
// message because "not a number" would be a confusing reply to -5 or 1e30-sized input.
template <class T>
std::string parse_unsigned(std::string_view text, T& out, std::uint64_t min, std::uint64_t max) {
    if (text.starts_with('-') && text.size() > 1 && text[1] >= '0' && text[1] <= '9')
        return "must not be negative, got " + quoted(text);
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc::invalid_argument || end != text.data() + text.size())
        return quoted(text) + " is not a number";
    if (ec == std::errc::result_out_of_range || v > max)
        return quoted(text) + " is out of range (at most " + std::to_string(max) + ")";
    if (v < min) return "must be at least " + std::to_string(min) + ", got " + quoted(text);
    out = static_cast<T>(v);
    return "";
}

inline bool is_ipv4(std::string_view s) {
    int parts = 0;
    for (;;) {
        auto dot = s.find('.');
        auto part = s.substr(0, dot);
        // A leading zero reads as octal to inet_aton; refuse the ambiguity.
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
        unsigned v = 0;
        for (char c : part) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<unsigned>(c - '0');
        }
        if (v > 255) return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    return parts == 4;
}

// RFC 4291 text form: 8 groups of 1-4 hex digits, one "::" standing for one or more zero
// groups, and an optional dotted IPv4 tail counting as two groups. No zone ids.
inline bool is_ipv6(std::string_view s) {
    int groups = 0;
    bool compressed = false;
    if (s.starts_with("::")) {
        compressed = true;
        s.remove_prefix(2);
    } else if (s.starts_with(':')) {
        return false;
    }
    while (!s.empty()) {
        auto colon = s.find(':');
        auto part = s.substr(0, colon);
        if (colon == std::string_view::npos && part.find('.') != std::string_view::npos) {
            if (!is_ipv4(part)) return false;
            groups += 2;
            break;
        }
        if (part.empty() || part.size() > 4) return false;
        for (char c : part)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                return false;
        ++groups;
        if (colon == std::string_view::npos) break;
        s.remove_prefix(colon + 1);
        if (s.starts_with(':')) {
            if (compressed) return false;
            compressed = true;
            s.remove_prefix(1);
        } else if (s.empty()) {
            return false;  // a single trailing ':'
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

// Why url is not an endpoint, or "" with out filled in.
inline std::string check_endpoint(std::string_view url, endpoint& out) {
    const std::string_view whole = url;
    if (url.starts_with("http://")) {
        url.remove_prefix(7);
    } else if (url.find("://") != std::string_view::npos) {
        return quoted(whole) + ": the scheme must be http://";
    }
    std::string_view host, port;
    if (url.starts_with('[')) {
        auto close = url.find(']');
        if (close == std::string_view::npos) return quoted(whole) + ": '[' without ']'";
        host = url.substr(1, close - 1);
        if (!is_ipv6(host)) return quoted(whole) + ": not an IPv6 address inside [ ]";
        if (close + 1 >= url.size() || url[close + 1] != ':')
            return quoted(whole) + ": missing :port";
        port = url.substr(close + 2);
    } else {
        auto colon = url.rfind(':');
        if (colon == std::string_view::npos) return quoted(whole) + ": missing :port";
        host = url.substr(0, colon);
        port = url.substr(colon + 1);
        if (host != "localhost" && !is_ipv4(host))
            return quoted(whole) + ": the host must be an IPv4 address, [IPv6 address] or localhost";
    }
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || port.size() > 5 || ec != std::errc{} || end != port.data() + port.size() ||
        p == 0 || p > 65535)
        return quoted(whole) + ": the port must be a number in 1..65535";
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(p);
    return "";
}

// Names end up in --initial-cluster (so no '=' or ',') and in the default data dir (so no
// '/'); a leading '-' would read as a flag.
inline std::string check_name(std::string_view name) {
    if (name.empty()) return "a member name must not be empty";
    auto ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    };
    if (!std::all_of(name.begin(), name.end(), ok) || name.front() == '-')
        return "member name " + quoted(name) +
               " must be letters, digits, '.', '_' or '-', not starting with '-'";
    return "";
}

inline std::string set_url(std::string& field, std::string_view value) {
    endpoint e;
    auto why = check_endpoint(value, e);
    if (why.empty()) field = std::string(value);
    return why;
}

inline std::string text_default(std::string s) {
    return quoted(s);
}

inline const std::vector<flag_spec>& flag_table() {
    static const std::vector<flag_spec> table = {
        {"--name", "", "NAME", "name of this member, unique in the cluster",
         [](const options& d) { return text_default(d.name); },
         [](options& o, std::string_view v) {
             auto why = check_name(v);
             if (why.empty()) o.name = std::string(v);
             return why;
         }},
        {"--data-dir", "", "DIR", "directory of the WAL and snapshots",
         [](const options&) { return std::string("\"<name>.raftkv\""); },
         [](options& o, std::string_view v) {
             o.data_dir = std::string(v);
             return std::string();
         }},
        {"--listen-peer", "--listen-peer-urls", "URL", "address to serve raft peers on",
         [](const options& d) { return text_default(d.listen_peer); },
         [](options& o, std::string_view v) { return set_url(o.listen_peer, v); }},
        {"--listen-client", "--listen-client-urls", "URL", "address to serve the key-value HTTP API on",
         [](const options& d) { return text_default(d.listen_client); },
         [](options& o, std::string_view v) { return set_url(o.listen_client, v); }},
        {"--initial-cluster", "", "NAME=URL,...", "peer address of every member at bootstrap",
         [](const options&) { return std::string("\"<name>=<listen-peer>\""); },
         [](options& o, std::string_view v) {
             auto parsed = parse_initial_cluster(v);
             if (parsed.error.empty()) o.initial_cluster = std::string(v);
             return parsed.error;
         }},
        {"--initial-cluster-state", "", "new|existing",
         "new: bootstrap a cluster; existing: join a running one",
         [](const options& d) { return text_default(d.initial_cluster_state); },
         [](options& o, std::string_view v) {
             if (v != "new" && v != "existing")
                 return "must be \"new\" or \"existing\", got " + quoted(v);
             o.initial_cluster_state = std::string(v);
             return std::string();
         }},
        {"--initial-cluster-token", "", "TOKEN", "cluster name, so two clusters cannot mix members",
         [](const options& d) { return text_default(d.initial_cluster_token); },
         [](options& o, std::string_view v) {
             o.initial_cluster_token = std::string(v);
             return std::string();
         }},
        {"--initial-cluster-id", "", "HEX",
         "joining: the running cluster's id (POST /members answers it); asked of the members when not given",
         [](const options&) { return std::string("none"); },
         [](options& o, std::string_view v) {
             std::uint64_t id = 0;
             const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), id, 16);
             if (ec != std::errc{} || p != v.data() + v.size() || id == 0)
                 return "must be a non-zero hexadecimal cluster id, got " + quoted(v);
             o.initial_cluster_id = id;
             return std::string();
         }},
        {"--snapshot-count", "", "N", "applied entries between snapshots",
         [](const options& d) { return std::to_string(d.snapshot_count); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.snapshot_count, 1, std::numeric_limits<std::uint64_t>::max());
         }},
        {"--snapshot-catchup-entries", "", "N", "entries kept behind a snapshot for followers",
         [](const options& d) { return std::to_string(d.snapshot_catchup_entries); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.snapshot_catchup_entries, 0,
                                   std::numeric_limits<std::uint64_t>::max());
         }},
        {"--heartbeat-interval", "", "MS", "ms between leader heartbeats; the raft tick",
         [](const options& d) { return std::to_string(d.heartbeat_interval_ms); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.heartbeat_interval_ms, 1, std::numeric_limits<unsigned>::max());
         }},
        {"--election-timeout", "", "MS",
         "ms without a leader before an election; >= 5 heartbeats, <= 50000",
         [](const options& d) { return std::to_string(d.election_timeout_ms); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.election_timeout_ms, 1, max_election_timeout_ms);
         }},
        {"--threads", "", "N", "event-loop threads (clients and raft); the WAL has its own",
         [](const options& d) { return std::to_string(d.threads); },
         [](options& o, std::string_view v) { return parse_unsigned(v, o.threads, 1u, 256u); }},
        {"--max-request-bytes", "", "BYTES", "largest client request, and so largest raft entry",
         [](const options& d) { return std::to_string(d.max_request_bytes); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.max_request_bytes, 1, std::numeric_limits<std::size_t>::max());
         }},
        {"--max-key-bytes", "", "BYTES", "longest key accepted; at most --max-request-bytes",
         [](const options& d) { return std::to_string(d.max_key_bytes); },
         [](options& o, std::string_view v) {
             return parse_unsigned(v, o.max_key_bytes, 1, std::numeric_limits<std::size_t>::max());
         }},
        {"--help", "-h", "", "print this help and exit", nullptr, nullptr},
    };
    return table;
}

inline const flag_spec* find_flag(std::string_view name) {
    for (const auto& f : flag_table())
        if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
    return nullptr;
}

// The rules that involve more than one flag, and the defaults derived from other flags.
inline std::string finish(options& o) {
    if (std::uint64_t{o.election_timeout_ms} < 5 * std::uint64_t{o.heartbeat_interval_ms})
        return "--election-timeout (" + std::to_string(o.election_timeout_ms) +
               " ms) must be at least 5 times --heartbeat-interval (" +
               std::to_string(o.heartbeat_interval_ms) + " ms)";
    if (o.max_key_bytes > o.max_request_bytes)
        return "--max-key-bytes (" + std::to_string(o.max_key_bytes) +
               ") must not exceed --max-request-bytes (" + std::to_string(o.max_request_bytes) + ")";
    if (o.data_dir.empty()) o.data_dir = o.name + ".raftkv";
    if (o.initial_cluster.empty()) o.initial_cluster = o.name + "=" + o.listen_peer;
    auto cluster = parse_initial_cluster(o.initial_cluster);
    if (!cluster.error.empty()) return "--initial-cluster: " + cluster.error;
    auto self = std::find_if(cluster.peers.begin(), cluster.peers.end(),
                             [&](const peer& p) { return p.name == o.name; });
    if (self == cluster.peers.end())
        return "--initial-cluster: has no member named " + quoted(o.name) + " (this member's --name)";
    return "";
}

}  // namespace detail

inline std::optional<endpoint> parse_endpoint(std::string_view url) {
    endpoint e;
    if (!detail::check_endpoint(url, e).empty()) return std::nullopt;
    return e;
}

inline cluster_parse_result parse_initial_cluster(std::string_view text) {
    cluster_parse_result r;
    if (text.empty()) {
        r.error = "must list at least one member as name=url";
        return r;
    }
    for (;;) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            r.error = "entry " + detail::quoted(item) + " is not name=url";
            return r;
        }
        peer p{std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)), {}};
        if (auto why = detail::check_name(p.name); !why.empty()) {
            r.error = why;
            return r;
        }
        if (auto why = detail::check_endpoint(p.url, p.address); !why.empty()) {
            r.error = "member " + detail::quoted(p.name) + ": " + why;
            return r;
        }
        for (const auto& q : r.peers) {
            // etcd lets a name repeat to give a member several URLs; raftkv has one per member.
            if (q.name == p.name) r.error = "member " + detail::quoted(p.name) + " is listed twice";
            else if (q.address.host == p.address.host && q.address.port == p.address.port)
                r.error = "members " + detail::quoted(q.name) + " and " + detail::quoted(p.name) +
                          " have the same address";
            if (!r.error.empty()) return r;
        }
        r.peers.push_back(std::move(p));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return r;
}

inline parse_result parse_flags(int argc, const char* const* argv) {
    parse_result r;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            r.opts.help = true;
            return r;
        }
        if (!arg.starts_with("--")) {
            r.error = "unexpected argument " + detail::quoted(arg) + "; flags start with --";
            return r;
        }
        auto eq = arg.find('=');
        auto name = arg.substr(0, eq);
        const auto* flag = detail::find_flag(name);
        if (flag == nullptr) {
            r.error = std::string(name) + ": unknown flag (see --help)";
            return r;
        }
        if (flag->set == nullptr) {  // --help=..., since bare --help returned above
            r.error = std::string(name) + ": takes no value";
            return r;
        }
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
        } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
            value = argv[++i];
        }
        if (value.empty()) {
            r.error = std::string(name) + ": missing value";
            return r;
        }
        if (auto why = flag->set(r.opts, value); !why.empty()) {
            r.error = std::string(name) + ": " + why;
            return r;
        }
    }
    r.error = detail::finish(r.opts);
    return r;
}

inline int election_ticks(const options& o) {
    if (o.heartbeat_interval_ms == 0) return 0;
    return static_cast<int>(o.election_timeout_ms / o.heartbeat_interval_ms);
}

inline std::string usage() {
    std::string out =
        "Usage: raftkv [flags]\n"
        "\n"
        "A replicated key-value server on raftpp, one process per cluster member.\n"
        "Flags are given as --flag=value or --flag value.\n"
        "\n";
    const options defaults;
    std::vector<std::string> lefts;
    std::size_t width = 0;
    for (const auto& f : detail::flag_table()) {
        std::string left = "  " + std::string(f.name);
        if (!f.value_name.empty()) left += " " + std::string(f.value_name);
        if (!f.alias.empty()) left += ", " + std::string(f.alias);
        width = std::max(width, left.size());
        lefts.push_back(std::move(left));
    }
    for (std::size_t i = 0; i < lefts.size(); ++i) {
        const auto& f = detail::flag_table()[i];
        out += lefts[i] + std::string(width + 2 - lefts[i].size(), ' ') + std::string(f.help);
        if (f.default_text != nullptr) out += " (default " + f.default_text(defaults) + ")";
        out += '\n';
    }
    return out;
}

}  // namespace raftkv
