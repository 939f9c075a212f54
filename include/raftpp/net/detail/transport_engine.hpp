// The machinery behind raftpp::net::basic_asio_transport: the peer table, the acceptor, the
// redial loop and the user's callbacks. The public class and its senders share one engine
// through a shared_ptr, and so do the connections, which live as long as an operation of
// theirs is pending (the engine only keeps weak_ptrs to them): no handler ever runs on a
// destroyed object, and an io_context destroyed with operations pending frees everything.
//
// Threads: send(), add/update/remove_peer(), stats() and stop() may be called from any
// thread; they touch the peer table under table_mu_ and each peer's queue under its own
// mutex, and post everything else to the strand. Every other member runs on the strand.
// The callbacks run on the strand under callbacks_mu_, which stop() takes to turn them off.
// Invariants: peers_ holds the peers sent to (the table); a peer_link's conn is its current
// outbound connection, or empty while a redial is scheduled (or after stop/removal).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/net/detail/backoff.hpp>
#include <raftpp/net/detail/inbound_connection.hpp>
#include <raftpp/net/detail/outbound_connection.hpp>
#include <raftpp/net/detail/peer_queue.hpp>
#include <raftpp/net/detail/stream_ops.hpp>
#include <raftpp/net/detail/transport_options.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net::detail {

template <class Logger, class Stream>
class transport_engine : public std::enable_shared_from_this<transport_engine<Logger, Stream>> {
public:
    using stream_ops = detail::stream_ops<Stream>;
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    using tcp = boost::asio::ip::tcp;
    using error_code = boost::system::error_code;
    using outbound = outbound_connection<transport_engine>;
    using inbound = inbound_connection<transport_engine>;

    // One peer we send to: its queue (any thread) and its redial state (strand).
    struct peer_link {
        peer_link(node_id peer, const tcp::endpoint& ep, const asio_transport_options& o,
                  const strand_type& strand, std::uint64_t seed)
            : id(peer), queue(o.queue_messages, o.queue_bytes), endpoint(ep), retry(strand),
              redial(o.backoff_min, o.backoff_max, o.backoff_jitter, seed) {}

        const node_id id;
        peer_queue queue;
        // Strand only:
        tcp::endpoint endpoint;
        std::weak_ptr<outbound> conn;  // current connection; empty while waiting to redial
        boost::asio::steady_timer retry;
        backoff redial;
        std::chrono::steady_clock::time_point up_since;  // when conn came up
        bool connected_once = false;
        bool outage_logged = false;  // a warning was logged for the current outage
        bool removed = false;
    };

    // The user's callbacks; set them before listen() and add_peer().
    std::function<void(message&&)> on_message;
    std::function<void(node_id)> on_unreachable;
    std::function<void(node_id, snapshot_status)> on_snapshot_status;

    transport_engine(const boost::asio::any_io_executor& ex, const asio_transport_options& o,
                     typename stream_ops::context ctx, Logger logger)
        : strand_(boost::asio::make_strand(ex)), opts_(o), ctx_(std::move(ctx)),
          logger_(std::move(logger)), acceptor_(strand_), accept_retry_(strand_),
          seed_(o.seed != 0 ? o.seed : std::random_device{}()) {}

    // --- any thread ----------------------------------------------------------------------

    // Opens the listening socket (synchronously, so local_endpoint() is known on return)
    // and starts accepting on the strand.
    result<void> listen() {
        error_code ec;
        acceptor_.open(opts_.listen.protocol(), ec);
        if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(opts_.listen, ec);
        if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
        if (ec) {
            error_code ignored;
            acceptor_.close(ignored);
            return std::error_code(ec);
        }
        local_ = acceptor_.local_endpoint(ec);
        boost::asio::post(strand_, std::bind_front(&transport_engine::do_accept,
                                                   this->shared_from_this()));
        return {};
    }

    // Takes over a socket that is already listening (bound by the caller, e.g. to port 0
    // before the member ids that name its address were derived).
    result<void> listen(tcp::acceptor&& listening) {
        error_code ec;
        const auto ep = listening.local_endpoint(ec);
        if (ec) return std::error_code(ec);
        auto fd = listening.release(ec);
        if (!ec) acceptor_.assign(ep.protocol(), fd, ec);
        if (ec) return std::error_code(ec);
        local_ = ep;
        boost::asio::post(strand_, std::bind_front(&transport_engine::do_accept,
                                                   this->shared_from_this()));
        return {};
    }

    void send(message&& m) {
        std::lock_guard lock(table_mu_);
        send_locked(std::move(m));
    }
    // A ready cycle's messages under one lock; a peer's queue wakes the strand once, as for
    // messages sent one by one.
    void send_all(std::vector<message>& ms) {
        std::lock_guard lock(table_mu_);
        for (auto& m : ms) send_locked(std::move(m));
    }

    result<void> add_peer(node_id id, const tcp::endpoint& ep) {
        if (id == none || id == opts_.id) return errc::invalid_argument;
        std::shared_ptr<peer_link> p;
        {
            std::lock_guard lock(table_mu_);
            if (stopped_flag_ || peers_.contains(id)) return errc::invalid_argument;
            const std::uint64_t seed = seed_ ^ (id * 0x9e3779b97f4a7c15ULL);
            p = std::make_shared<peer_link>(id, ep, opts_, strand_, seed);
            peers_.emplace(id, p);
        }
        boost::asio::post(strand_, std::bind_front(&transport_engine::dial,
                                                   this->shared_from_this(), std::move(p)));
        return {};
    }

    result<void> update_peer(node_id id, const tcp::endpoint& ep) {
        auto p = find(id);
        if (!p) return errc::invalid_argument;
        boost::asio::post(strand_, std::bind_front(&transport_engine::do_update,
                                                   this->shared_from_this(), std::move(p), ep));
        return {};
    }

    result<void> remove_peer(node_id id) {
        std::shared_ptr<peer_link> p;
        {
            std::lock_guard lock(table_mu_);
            auto it = peers_.find(id);
            if (it == peers_.end()) return errc::invalid_argument;
            p = std::move(it->second);
            peers_.erase(it);
        }
        p->queue.close();  // from now on its messages are dropped
        boost::asio::post(strand_, std::bind_front(&transport_engine::do_remove,
                                                   this->shared_from_this(), std::move(p)));
        return {};
    }

    std::optional<peer_stats> stats(node_id id) const {
        auto p = find(id);
        if (!p) return std::nullopt;
        return p->queue.stats();
    }

    std::uint64_t dropped_unknown() const noexcept {
        return dropped_unknown_.load(std::memory_order_relaxed);
    }

    // Refuses every send from now on and closes everything on the strand. Once it returns,
    // no callback runs any more (one running on another thread is waited for; when called
    // from inside a callback, that one finishes).
    void stop() {
        {
            std::lock_guard lock(callbacks_mu_);
            callbacks_off_ = true;
        }
        {
            std::lock_guard lock(table_mu_);
            stopped_flag_ = true;
            for (auto& [id, p] : peers_) p->queue.close();
        }
        boost::asio::post(strand_, std::bind_front(&transport_engine::do_stop,
                                                   this->shared_from_this()));
    }

    const tcp::endpoint& local_endpoint() const noexcept { return local_; }

    // --- for the connections (strand) -----------------------------------------------------

    const strand_type& strand() const noexcept { return strand_; }
    const asio_transport_options& options() const noexcept { return opts_; }
    typename stream_ops::context& stream_context() noexcept { return ctx_; }
    Logger& logger() noexcept { return logger_; }

    void on_outbound_up(peer_link& p) {
        p.queue.set_up();
        p.up_since = std::chrono::steady_clock::now();
        if (p.connected_once) p.queue.update([](peer_stats& s) { ++s.reconnects; });
        const bool was_out = p.outage_logged;
        p.connected_once = true;
        p.outage_logged = false;
        RAFTPP_LOG(logger_, was_out ? log_level::info : log_level::debug, "raftpp transport ",
                   opts_.id, ": connected to node ", p.id, " at ", p.endpoint);
    }

    void on_outbound_closed(const std::shared_ptr<peer_link>& p, const outbound* conn,
                            bool was_up, error_code ec, std::string_view what) {
        if (p->conn.lock().get() != conn) return;  // an older connection, already replaced
        p->conn.reset();
        const auto discarded = p->queue.set_down();
        report_snapshots(p->id, discarded.snaps, snapshot_status::failure);
        if (stopped_ || p->removed) return;
        if (!was_up) p->queue.update([](peer_stats& s) { ++s.dial_failures; });
        // Only a connection that lasted resets the backoff: one refused right after the
        // handshake (another cluster, a wrong id) must not be redialled in a tight loop.
        if (was_up && std::chrono::steady_clock::now() - p->up_since >= opts_.backoff_max)
            p->redial.reset();
        const auto delay = p->redial.next();
        const bool first = !p->outage_logged;
        p->outage_logged = true;
        RAFTPP_LOG(logger_, first ? log_level::warning : log_level::debug, "raftpp transport ",
                   opts_.id, was_up ? ": lost the connection to node " : ": cannot reach node ",
                   p->id, " at ", p->endpoint, " (", what, ": ", ec.message(),
                   "); redialling in ", delay.count(), " ms",
                   first ? ", dropping its messages until then" : "");
        if (was_up || discarded.messages > 0) report_unreachable(p->id);
        p->retry.expires_after(delay);
        p->retry.async_wait(
            std::bind_front(&transport_engine::on_retry, this->shared_from_this(), p));
    }

    void on_snapshots_sent(node_id id, std::size_t n, bool ok) {
        report_snapshots(id, n, ok ? snapshot_status::finish : snapshot_status::failure);
    }

    // A connection accepted a handshake from `c->from()`: an older connection from that
    // node is closed (it is half-dead, or the node restarted). Returns the node's counters
    // when it is in our table.
    std::shared_ptr<peer_link> on_inbound_handshake(const std::shared_ptr<inbound>& c) {
        auto& slot = inbound_by_peer_[c->from()];
        if (auto old = slot.lock(); old && old != c) {
            RAFTPP_LOG(logger_, log_level::info, "raftpp transport ", opts_.id,
                       ": node ", c->from(), " connected again from ", c->remote(),
                       "; closing its older connection from ", old->remote());
            old->close();
            inbound_.erase(old.get());
        }
        slot = c;
        auto p = find(c->from());
        // The node is up (it dialled us: a restart, a healed partition). Waiting out our redial
        // backoff, up to backoff_max, would leave it without our messages meanwhile: dial now.
        // The backoff itself is kept, so a peer that keeps failing is not dialled in a loop.
        if (p && !stopped_ && !p->removed && !p->conn.lock()) {
            p->retry.cancel();
            p->queue.set_dialing();
            dial(p);
        }
        return p;
    }

    void on_inbound_closed(const inbound* c) {
        inbound_.erase(c);
        if (auto it = inbound_by_peer_.find(c->from());
            it != inbound_by_peer_.end() && it->second.lock().get() == c)
            inbound_by_peer_.erase(it);
    }

    void deliver(message&& m) {
        std::lock_guard lock(callbacks_mu_);
        if (!callbacks_off_ && on_message) on_message(std::move(m));
    }

private:
    // Holds table_mu_.
    void send_locked(message&& m) {
        auto it = peers_.find(m.to);
        if (it == peers_.end()) {
            dropped_unknown_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (it->second->queue.push(std::move(m)).wake)
            boost::asio::post(strand_, std::bind_front(&transport_engine::on_wake,
                                                       this->shared_from_this(), it->second));
    }

    std::shared_ptr<peer_link> find(node_id id) const {
        std::lock_guard lock(table_mu_);
        auto it = peers_.find(id);
        return it == peers_.end() ? nullptr : it->second;
    }

    void report_unreachable(node_id id) {
        std::lock_guard lock(callbacks_mu_);
        if (!callbacks_off_ && on_unreachable) on_unreachable(id);
    }
    void report_snapshots(node_id id, std::size_t n, snapshot_status st) {
        if (n == 0) return;
        std::lock_guard lock(callbacks_mu_);
        for (; n > 0 && !callbacks_off_ && on_snapshot_status; --n) on_snapshot_status(id, st);
    }

    void do_accept() {
        if (stopped_) return;
        acceptor_.async_accept(strand_, std::bind_front(&transport_engine::on_accept,
                                                        this->shared_from_this()));
    }

    void on_accept(error_code ec, tcp::socket socket) {
        if (stopped_) return;
        if (ec) {
            // Out of descriptors, or the like: try again shortly rather than spin.
            RAFTPP_LOG(logger_, log_level::warning, "raftpp transport ", opts_.id,
                       ": accept failed: ", ec.message());
            accept_retry_.expires_after(opts_.backoff_min);
            accept_retry_.async_wait(std::bind_front(&transport_engine::on_accept_retry,
                                                     this->shared_from_this()));
            return;
        }
        if (inbound_.size() >= opts_.max_inbound) {
            RAFTPP_LOG(logger_, log_level::warning, "raftpp transport ", opts_.id,
                       ": refusing a connection from ", socket.remote_endpoint(ec), ": ",
                       inbound_.size(), " are open already (max_inbound)");
            socket.close(ec);
            return do_accept();
        }
        auto c = std::make_shared<inbound>(this->shared_from_this(),
                                           stream_ops::wrap(std::move(socket), ctx_));
        inbound_.emplace(c.get(), c);
        c->start();
        do_accept();
    }

    void on_accept_retry(error_code ec) {
        if (!ec) do_accept();
    }

    void dial(const std::shared_ptr<peer_link>& p) {
        if (stopped_ || p->removed) return;
        auto c = std::make_shared<outbound>(this->shared_from_this(), p);
        p->conn = c;
        c->start(p->endpoint);
    }

    void on_retry(const std::shared_ptr<peer_link>& p, error_code ec) {
        if (ec || p->conn.lock()) return;  // cancelled: updated, removed or stopped
        dial(p);
    }

    // Wake-up from send(): reports drops, starts an idle writer.
    void on_wake(const std::shared_ptr<peer_link>& p) {
        const auto sig = p->queue.take_signals();
        if (sig.unreachable) report_unreachable(p->id);
        report_snapshots(p->id, sig.snap_failures, snapshot_status::failure);
        if (auto c = p->conn.lock()) c->on_queue_ready();
    }

    void do_update(const std::shared_ptr<peer_link>& p, const tcp::endpoint& ep) {
        if (stopped_ || p->removed) return;
        RAFTPP_LOG(logger_, log_level::info, "raftpp transport ", opts_.id, ": node ", p->id,
                   " moves from ", p->endpoint, " to ", ep);
        p->endpoint = ep;
        close_outbound(*p);
        p->redial.reset();
        p->queue.set_dialing();
        dial(p);
    }

    void do_remove(const std::shared_ptr<peer_link>& p) {
        p->removed = true;
        close_outbound(*p);
        if (auto it = inbound_by_peer_.find(p->id); it != inbound_by_peer_.end()) {
            if (auto c = it->second.lock()) {
                c->close();
                inbound_.erase(c.get());
            }
            inbound_by_peer_.erase(it);
        }
        RAFTPP_LOG(logger_, log_level::info, "raftpp transport ", opts_.id, ": removed node ",
                   p->id);
    }

    void close_outbound(peer_link& p) {
        p.retry.cancel();
        if (auto c = std::exchange(p.conn, {}).lock()) c->close();
    }

    void do_stop() {
        if (stopped_) return;
        stopped_ = true;
        error_code ignored;
        acceptor_.close(ignored);
        accept_retry_.cancel();
        std::unordered_map<node_id, std::shared_ptr<peer_link>> peers;
        {
            std::lock_guard lock(table_mu_);
            peers = peers_;
        }
        for (auto& [id, p] : peers) close_outbound(*p);
        for (auto& [ptr, weak] : std::exchange(inbound_, {}))
            if (auto c = weak.lock()) c->close();
        inbound_by_peer_.clear();
        // The callbacks may hold the application's objects: let them go now.
        std::lock_guard lock(callbacks_mu_);
        on_message = nullptr;
        on_unreachable = nullptr;
        on_snapshot_status = nullptr;
    }

    strand_type strand_;
    const asio_transport_options opts_;
    typename stream_ops::context ctx_;
    Logger logger_;
    tcp::acceptor acceptor_;
    tcp::endpoint local_;                  // set by listen()
    boost::asio::steady_timer accept_retry_;
    const std::uint64_t seed_;             // redial jitter; each peer's generator mixes in its id

    mutable std::mutex table_mu_;
    std::unordered_map<node_id, std::shared_ptr<peer_link>> peers_;  // guarded by table_mu_
    bool stopped_flag_ = false;            // guarded by table_mu_: no peer may be added
    std::atomic<std::uint64_t> dropped_unknown_{0};  // sends to ids not in the table

    // Held while a callback runs; stop() sets callbacks_off_ under it, so none runs after
    // stop() returns. Recursive: a callback may call stop().
    std::recursive_mutex callbacks_mu_;
    bool callbacks_off_ = false;  // guarded by callbacks_mu_

    // Strand only:
    bool stopped_ = false;
    std::unordered_map<const inbound*, std::weak_ptr<inbound>> inbound_;  // open ones
    std::unordered_map<node_id, std::weak_ptr<inbound>> inbound_by_peer_;  // newest per node
};

}  // namespace raftpp::net::detail
