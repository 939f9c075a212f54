// The options of raftpp::net::basic_asio_transport and the per-peer counters it reports.
// Included by <raftpp/net/asio_transport.hpp>; split out so the connection classes can use
// them without the transport itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <raftpp/net/frame.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net {

struct asio_transport_options {
    // This node's id (never none) and its cluster's: a peer whose handshake names another
    // cluster, or another node as the one it dialled, is refused.
    node_id id = none;
    std::uint64_t cluster_id = 0;
    // Where start() listens. Port 0 lets the kernel choose (see local_endpoint()).
    boost::asio::ip::tcp::endpoint listen{boost::asio::ip::address_v4::loopback(), 0};

    // Largest frame written or accepted; bigger messages go as several frames. A sender
    // splits at its own value and a receiver refuses above its own: use one per cluster.
    std::size_t max_frame = default_max_frame;
    // Largest message accepted (the sum of its frames); a longer one closes the connection.
    std::uint64_t max_message = std::uint64_t{4} << 30;

    // Per-peer queue bounds (etcd's stream buffer holds 4096 messages). One message always
    // fits an empty queue, so a snapshot larger than queue_bytes still goes.
    std::size_t queue_messages = 4096;
    std::size_t queue_bytes = std::size_t{64} << 20;
    // Accepted connections open at once; one beyond is closed as soon as it is accepted
    // (each holds a read buffer, so strangers must not open them without bound).
    std::size_t max_inbound = 1024;

    // etcd's dial timeout and rwTimeoutListener: a dial, a write, and the rest of a frame (or
    // the handshake) being read must each finish within these.
    std::chrono::milliseconds dial_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    std::chrono::milliseconds read_timeout{5000};

    // Redial delays: min * 2^n capped at max, each shortened by up to `backoff_jitter` of
    // itself at random; the generator is seeded from `seed` and the peer id (0: a random seed).
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
    double backoff_jitter = 0.5;
    std::uint64_t seed = 0;
};

// Why options cannot be used; empty when they can.
inline const char* invalid_reason(const asio_transport_options& o) noexcept {
    if (o.id == none) return "the node id must not be none";
    if (o.max_frame < min_max_frame || o.max_frame > max_max_frame)
        return "max_frame must be in [min_max_frame, max_max_frame]";
    if (o.max_message < o.max_frame) return "max_message must be at least max_frame";
    if (o.queue_messages == 0) return "queue_messages must be greater than 0";
    if (o.max_inbound == 0) return "max_inbound must be greater than 0";
    if (o.dial_timeout.count() <= 0 || o.write_timeout.count() <= 0 ||
        o.read_timeout.count() <= 0)
        return "timeouts must be positive";
    if (o.backoff_min.count() <= 0 || o.backoff_max < o.backoff_min)
        return "backoff_min must be positive and at most backoff_max";
    if (!(o.backoff_jitter >= 0.0 && o.backoff_jitter <= 1.0))
        return "backoff_jitter must be in [0, 1]";
    return "";
}

// A peer's counters, as stats() reports them.
struct peer_stats {
    bool connected = false;            // the outbound connection is up
    std::uint64_t messages_sent = 0;   // written to the socket
    std::uint64_t bytes_sent = 0;      // frame bytes written, handshakes included
    std::uint64_t dropped_full = 0;    // refused by a full queue
    std::uint64_t dropped_down = 0;    // refused or discarded while the peer was down
    std::uint64_t reconnects = 0;      // connections established after the first one
    std::uint64_t dial_failures = 0;   // connection attempts that failed or timed out
    std::uint64_t messages_received = 0;  // delivered to on_message from this peer
    std::uint64_t bytes_received = 0;  // frame bytes read from connections it opened to us
    std::size_t queued_messages = 0;
    std::size_t queued_bytes = 0;
};

}  // namespace raftpp::net
