// raftpp::net::basic_asio_transport — Raft messages between processes over TCP (Boost.Asio).
//
//   boost::asio::io_context io;
//   net::asio_transport t(io.get_executor(), {.id = 1, .cluster_id = 7});
//   t.on_message([&](message&& m) { /* post to the node's thread, step it there */ });
//   t.on_unreachable([&](node_id id) { /* post: node.report_unreachable(id) */ });
//   t.on_snapshot_status([&](node_id id, snapshot_status s) { /* post: node.report_snapshot */ });
//   t.start();                                   // listens on options.listen
//   t.add_peer(2, endpoint_of_2);                // dials it, redials with backoff for ever
//   raw_node<memory_storage, net::asio_transport::sender> node(cfg, storage, t.get_sender());
//
// One outbound connection per peer carries our messages to it (the peer dials us for its own
// to us, as etcd's streams), after a handshake frame naming the cluster, us and the peer. Each
// peer has a bounded queue drained whole into each write; while a peer is down its messages
// are dropped and counted and it is reported unreachable. Inbound connections are read with
// the frame decoder; bad input closes only the connection it came on. Every dial, write and
// partly read frame runs under a deadline.
//
// Threads: the transport runs on a strand of the executor it is given; send() (through the
// transport or a sender), add/update/remove_peer(), stats() and stop() may be called from any
// thread. The callbacks are invoked on that strand, never from inside send(), so a callback
// may post to the node's own thread and a node may send from within its ready cycle.
// Lifetime: the io_context must outlive the transport and its senders; stop() (or the
// destructor) closes everything, after which the io_context's run() returns once the
// cancelled operations have completed. No handler outlives the state it touches, and once
// stop() has returned no callback runs any more, so what the callbacks capture may go.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/net/detail/stream_ops.hpp>
#include <raftpp/net/detail/transport_engine.hpp>
#include <raftpp/net/detail/transport_options.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/transport.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net {

// Logger: the logger policy (RAFTPP_LOG); used on the transport's strand only.
// Stream: boost::asio::ip::tcp::socket (the default), or net::tls_stream for mutual TLS
// (<raftpp/net/tls.hpp>, which links OpenSSL); detail/stream_ops.hpp lists
// what a stream type must provide.
template <class Logger = null_logger, class Stream = boost::asio::ip::tcp::socket>
class basic_asio_transport {
    static_assert(check_logger<Logger>());
    using engine_type = detail::transport_engine<Logger, Stream>;

public:
    using options = asio_transport_options;
    using endpoint_type = boost::asio::ip::tcp::endpoint;
    using stream_context = typename detail::stream_ops<Stream>::context;

    // What a raw_node holds as its Transport: a cheap copyable handle on the transport.
    // send() never blocks: it queues the message for its peer, or drops it (unknown peer,
    // peer down, queue full, transport stopped). A default-constructed sender drops all.
    class sender {
    public:
        sender() = default;
        void send(message&& m) {
            if (engine_) engine_->send(std::move(m));
        }
        // The optional Transport ability: raw_node::advance() hands over a cycle's messages
        // at once, queued under one lock instead of one per message.
        void send_all(std::vector<message>& ms) {
            if (engine_) engine_->send_all(ms);
        }

    private:
        friend class basic_asio_transport;
        explicit sender(std::shared_ptr<engine_type> e) noexcept : engine_(std::move(e)) {}
        std::shared_ptr<engine_type> engine_;
    };

    basic_asio_transport(const boost::asio::any_io_executor& ex, const options& o,
                         Logger logger = Logger{})
        requires std::is_default_constructible_v<stream_context>
        : basic_asio_transport(ex, o, stream_context{}, std::move(logger)) {}

    // Throws std::system_error(errc::invalid_config) when the options are invalid (see
    // invalid_reason(options) for why).
    basic_asio_transport(const boost::asio::any_io_executor& ex, const options& o,
                         stream_context ctx, Logger logger = Logger{})
        : engine_(std::make_shared<engine_type>(ex, checked(o), std::move(ctx),
                                                std::move(logger))) {}

    basic_asio_transport(const basic_asio_transport&) = delete;
    basic_asio_transport& operator=(const basic_asio_transport&) = delete;
    basic_asio_transport(basic_asio_transport&&) noexcept = default;
    basic_asio_transport& operator=(basic_asio_transport&&) noexcept = default;
    ~basic_asio_transport() { stop(); }

    // --- callbacks: set them before start() and add_peer(); invoked on the strand ----------

    // Each message received from a peer, in the order that peer sent it, already checked to
    // come from the node that connected and to be addressed to us.
    void on_message(std::function<void(message&&)> f) { engine_->on_message = std::move(f); }
    // A peer went down, or messages to it were dropped (etcd reports each drop; ours are
    // coalesced): the node should call raw_node::report_unreachable(id).
    void on_unreachable(std::function<void(node_id)> f) { engine_->on_unreachable = std::move(f); }
    // A snap message was written out whole (finish) or dropped or cut off (failure): the
    // node should call raw_node::report_snapshot(id, status).
    void on_snapshot_status(std::function<void(node_id, snapshot_status)> f) {
        engine_->on_snapshot_status = std::move(f);
    }

    // --- control (any thread) -------------------------------------------------------------

    // Listens on options().listen; the socket's error when it cannot bind or listen.
    result<void> start() { return engine_->listen(); }
    // Listens on a socket the caller bound and put in the listening state (so its port is
    // known before the transport, which needs the member id, is built).
    result<void> start(boost::asio::ip::tcp::acceptor&& listening) {
        return engine_->listen(std::move(listening));
    }
    // Where start() listens (the kernel's port when options().listen had port 0).
    endpoint_type local_endpoint() const { return engine_->local_endpoint(); }

    sender get_sender() const { return sender(engine_); }
    void send(message&& m) { engine_->send(std::move(m)); }
    void send_all(std::vector<message>& ms) { engine_->send_all(ms); }

    // The peer table. add_peer dials at once; errc::invalid_argument for none, our own id, a
    // peer already present, or after stop(). update_peer moves a peer to a new address
    // (its connection is closed and redialled); remove_peer closes its connections and drops
    // whatever was queued for it. Both: errc::invalid_argument for an unknown peer.
    result<void> add_peer(node_id id, const endpoint_type& ep) { return engine_->add_peer(id, ep); }
    result<void> update_peer(node_id id, const endpoint_type& ep) {
        return engine_->update_peer(id, ep);
    }
    result<void> remove_peer(node_id id) { return engine_->remove_peer(id); }

    // The counters of a peer in the table (nullopt for others).
    std::optional<peer_stats> stats(node_id id) const { return engine_->stats(id); }
    // Messages sent to ids that are not in the peer table.
    std::uint64_t dropped_unknown() const noexcept { return engine_->dropped_unknown(); }
    const options& get_options() const noexcept { return engine_->options(); }

    // Drops every send from now on and turns the callbacks off (waiting for one running on
    // another thread; from inside a callback, that one finishes); then, on the strand, closes
    // the acceptor and every connection, cancels every timer and releases the callbacks.
    // Idempotent. A callback must not wait for a thread that is calling stop().
    void stop() {
        if (engine_) engine_->stop();
    }
    // stop(), then completes (signature void()) once everything is closed. Token: any Asio
    // completion token (a callback, use_future, use_awaitable, deferred).
    template <class CompletionToken>
    auto async_stop(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void()>(
            [engine = engine_](auto handler) {
                engine->stop();
                // Posted after the stop, to the same strand: it runs once the stop has.
                boost::asio::post(engine->strand(), std::move(handler));
            },
            token);
    }

private:
    static const options& checked(const options& o) {
        if (const char* why = invalid_reason(o); *why != '\0')
            throw std::system_error(make_error_code(errc::invalid_config), why);
        return o;
    }

    std::shared_ptr<engine_type> engine_;  // null only when moved from
};

using asio_transport = basic_asio_transport<>;

static_assert(transport<asio_transport::sender>,
              "asio_transport::sender must satisfy raftpp::transport");

}  // namespace raftpp::net

namespace raftpp {
using net::asio_transport;
using net::asio_transport_options;
using net::basic_asio_transport;
}  // namespace raftpp
