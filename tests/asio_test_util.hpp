// Helpers of the asio_transport suites (asio_transport_test, asio_tls_test): seeded random
// messages, transports on 127.0.0.1 with kernel-chosen ports, bounded waits (run_until), raw
// sockets that misbehave, and a logger that keeps lines. One translation unit per program
// includes it.
#pragma once

#include <catch2/catch.hpp>

#include <raftpp/net/asio_transport.hpp>
#include <raftpp/net/frame.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

using namespace raftpp;
using namespace std::chrono_literals;
using boost::asio::ip::tcp;

namespace asio_test {

std::uint64_t test_seed() {
    static const std::uint64_t seed = [] {
        std::uint64_t s = 0;
        if (const char* env = std::getenv("RAFTPP_NET_SEED")) s = std::strtoull(env, nullptr, 10);
        if (s == 0)
            s = static_cast<std::uint64_t>(
                std::chrono::steady_clock::now().time_since_epoch().count());
        std::cout << "asio_transport_test: RAFTPP_NET_SEED=" << s << '\n';
        return s;
    }();
    return seed;
}

// Log lines of one transport, kept for the assertions on "a clear log line".
struct log_sink {
    std::mutex mu;
    std::vector<std::string> lines;
    bool contains(std::string_view needle) {
        std::lock_guard lock(mu);
        for (const auto& l : lines)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }
};

struct capture_logger {
    std::shared_ptr<log_sink> sink;
    bool enabled(log_level lv) const noexcept { return lv >= log_level::info; }
    void write(log_level lv, std::string_view text) const {
        static const bool echo = std::getenv("RAFTPP_NET_LOG") != nullptr;
        if (echo) std::cerr << to_string(lv) << ' ' << text << '\n';
        std::lock_guard lock(sink->mu);
        sink->lines.emplace_back(text);
    }
};

using transport_type = net::basic_asio_transport<capture_logger>;

net::asio_transport_options test_options(node_id id, std::uint64_t cluster = 7) {
    net::asio_transport_options o;
    o.id = id;
    o.cluster_id = cluster;
    o.dial_timeout = 2s;
    o.read_timeout = 2s;
    o.write_timeout = 2s;
    o.backoff_min = 10ms;
    o.backoff_max = 200ms;
    o.seed = test_seed() + id;
    return o;
}

// One transport and everything its callbacks reported.
struct endpoint {
    endpoint(boost::asio::io_context& io, const net::asio_transport_options& o)
        : log(std::make_shared<log_sink>()), t(io.get_executor(), o, capture_logger{log}) {
        t.on_message([this](message&& m) { received.push_back(std::move(m)); });
        t.on_unreachable([this](node_id id) { unreachable.push_back(id); });
        t.on_snapshot_status([this](node_id id, snapshot_status s) {
            (s == snapshot_status::finish ? snaps_finished : snaps_failed).push_back(id);
        });
        REQUIRE(t.start());
    }
    tcp::endpoint ep() const { return t.local_endpoint(); }
    net::peer_stats stats(node_id id) const {
        auto s = t.stats(id);
        REQUIRE(s.has_value());
        return *s;
    }
    std::vector<message> from(node_id id) const {
        std::vector<message> out;
        for (const auto& m : received)
            if (m.from == id) out.push_back(m);
        return out;
    }

    std::shared_ptr<log_sink> log;
    transport_type t;
    std::vector<message> received;
    std::vector<node_id> unreachable;
    std::vector<node_id> snaps_finished;
    std::vector<node_id> snaps_failed;
};

// Runs the io_context until pred() holds or `limit` passes; returns pred().
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        if (io.stopped()) io.restart();
        io.run_for(2ms);
    }
    return true;
}

// Runs the io_context for `d` whatever happens (to check that something does not happen).
void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
        if (io.stopped()) io.restart();
        io.run_for(5ms);
    }
}

bool contains(const std::vector<node_id>& v, node_id id) {
    return std::find(v.begin(), v.end(), id) != v.end();
}

// A message as a peer sends them, with random fields and payloads; `seq` goes in reject_hint
// so a test can tell the order.
message random_message(raftpp::detail::splitmix64& rng, node_id from, node_id to,
                       std::uint64_t seq) {
    static constexpr message_type types[] = {
        message_type::app,       message_type::app_resp,       message_type::vote,
        message_type::vote_resp, message_type::heartbeat,      message_type::heartbeat_resp,
        message_type::pre_vote,  message_type::pre_vote_resp,  message_type::read_index,
        message_type::snap,      message_type::timeout_now,    message_type::prop};
    auto bytes = [&](std::size_t max) {
        std::string s(rng.below(max + 1), '\0');
        for (auto& c : s) c = static_cast<char>(rng.next());
        return buffer(s);
    };
    message m;
    m.type = types[rng.below(std::size(types))];
    m.from = from;
    m.to = to;
    m.term = 1 + rng.below(1000);
    m.log_term = rng.below(1000);
    m.index = rng.below(1u << 30);
    m.commit = rng.below(1u << 30);
    m.reject = rng.below(2) == 1;
    m.reject_hint = seq;
    m.context = bytes(16);
    const auto n = m.type == message_type::app || m.type == message_type::prop ? rng.below(9) : 0;
    for (std::uint64_t i = 0; i < n; ++i)
        m.entries.push_back({m.term, m.index + i + 1, entry_type::normal, bytes(300)});
    if (m.type == message_type::snap) {
        auto s = std::make_shared<snapshot>();
        s->data = bytes(5000);
        s->metadata.index = 1 + rng.below(1000);
        s->metadata.term = 1 + rng.below(10);
        s->metadata.conf_state.voters = {1, 2, 3};
        m.snapshot = std::move(s);
    }
    return m;
}

std::size_t count_snaps(const std::vector<message>& ms) {
    std::size_t n = 0;
    for (const auto& m : ms) n += m.type == message_type::snap;
    return n;
}

// A client socket the test drives by hand: writes whatever bytes it is given and notices
// when the transport closes the connection.
struct raw_client {
    raw_client(boost::asio::io_context& io, const tcp::endpoint& ep) : socket(io) {
        socket.connect(ep);
        socket.set_option(tcp::no_delay(true));
        watch();
    }
    void write(const std::vector<std::byte>& bytes) {
        boost::asio::write(socket, boost::asio::buffer(bytes));
    }
    void watch() {
        socket.async_read_some(boost::asio::buffer(buf), [this](auto ec, std::size_t) {
            if (ec) closed = true;
            else watch();
        });
    }
    tcp::socket socket;
    std::array<char, 256> buf{};
    bool closed = false;
};

std::vector<std::byte> frames(std::initializer_list<std::variant<net::handshake, message>> items,
                              std::size_t max_frame = net::default_max_frame) {
    net::frame_encoder enc(max_frame);
    std::vector<std::byte> out;
    for (const auto& it : items) std::visit([&](const auto& v) { enc.encode(v, out); }, it);
    return out;
}

message small_message(node_id from, node_id to, std::uint64_t seq) {
    message m;
    m.type = message_type::heartbeat;
    m.from = from;
    m.to = to;
    m.term = 1;
    m.reject_hint = seq;
    return m;
}

// Connects a -> b and b -> a and waits until both connections are up and both handshakes
// were accepted (their bytes count for the peer from then on).
void connect_pair(boost::asio::io_context& io, endpoint& a, node_id a_id, endpoint& b,
                  node_id b_id) {
    REQUIRE(a.t.add_peer(b_id, b.ep()));
    REQUIRE(b.t.add_peer(a_id, a.ep()));
    REQUIRE(run_until(io, [&] {
        const auto sa = a.stats(b_id), sb = b.stats(a_id);
        return sa.connected && sb.connected && sa.bytes_received > 0 && sb.bytes_received > 0;
    }));
}

}  // namespace asio_test
