// One accepted connection: reads into the frame decoder, checks the handshake, and hands each
// message to the engine (which calls the user's on_message). Anything wrong with the bytes
// (garbage, a bad CRC, a frame that is too long, a message before the handshake) closes this
// connection with a logged reason; other connections are untouched.
//
// Deadline: from accept until the handshake, and whenever the decoder holds part of a frame,
// the peer must deliver more within read_timeout (a peer that stalls mid-frame would otherwise
// hold the connection and its buffer forever). Between frames a connection may stay idle:
// Raft's heartbeats keep a live one busy.
//
// Lifetime: pending operations hold a shared_ptr to the connection, which holds the engine;
// the engine keeps only weak_ptrs (to close them on stop). Everything runs on the strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <raftpp/logger.hpp>
#include <raftpp/net/detail/deadline.hpp>
#include <raftpp/net/detail/stream_ops.hpp>
#include <raftpp/net/detail/transport_options.hpp>
#include <raftpp/net/frame.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net::detail {

template <class Engine>
class inbound_connection : public std::enable_shared_from_this<inbound_connection<Engine>> {
    using ops = typename Engine::stream_ops;
    using stream_type = typename ops::stream_type;
    using peer_type = typename Engine::peer_link;
    using error_code = boost::system::error_code;
    using tcp = boost::asio::ip::tcp;

public:
    inbound_connection(std::shared_ptr<Engine> engine, stream_type&& stream)
        : engine_(std::move(engine)),
          stream_(std::move(stream)),
          deadline_(engine_->strand()),
          decoder_(engine_->options().max_frame, engine_->options().max_message) {}

    void start() {
        error_code ec;
        remote_ = ops::socket(stream_).remote_endpoint(ec);
        ops::socket(stream_).set_option(tcp::no_delay(true), ec);
        arm_deadline();  // the handshake must come in time
        if constexpr (ops::has_handshake) {
            ops::async_handshake(stream_, stream_role::server,
                                 std::bind_front(&inbound_connection::on_stream_handshake,
                                                 this->shared_from_this()));
        } else {
            read_more();
        }
    }

    void close() { shutdown(); }

    const tcp::endpoint& remote() const noexcept { return remote_; }
    // The peer's id from its handshake; none before.
    node_id from() const noexcept { return hs_ ? hs_->from : none; }

private:
    void on_stream_handshake(error_code ec) {
        if (closed_) return;
        if (ec) return fail(log_level::warning, "stream handshake failed: ", ec.message());
        read_more();
    }

    void read_more() {
        const auto buf = decoder_.prepare();
        stream_.async_read_some(
            boost::asio::buffer(buf.data(), buf.size()),
            std::bind_front(&inbound_connection::on_read, this->shared_from_this()));
    }

    void on_read(error_code ec, std::size_t n) {
        if (closed_) return;
        if (ops::is_eof(ec))
            return fail(decoder_.mid_frame() ? log_level::warning : log_level::info,
                        decoder_.mid_frame() ? "closed by the peer in the middle of a frame"
                                             : "closed by the peer");
        if (ec) return fail(log_level::warning, "read failed: ", ec.message());
        decoder_.commit(n);
        if (!drain()) return;
        // Time the rest of a frame (or the handshake); between frames the peer may be idle.
        if (!hs_ || decoder_.mid_frame()) arm_deadline();
        else deadline_.clear();
        read_more();
    }

    // Decodes every whole item buffered. False when the connection was closed.
    bool drain() {
        std::uint64_t delivered = 0;
        bool open = true;
        for (;;) {
            auto r = decoder_.next();
            if (!r) {
                fail(log_level::warning, "malformed input, closing: ", decoder_.reason());
                open = false;
                break;
            }
            if (!r->has_value()) break;
            if (auto* h = std::get_if<handshake>(&**r)) {
                if (!(open = on_handshake(*h))) break;
                continue;
            }
            if (!hs_) {
                fail(log_level::warning, "a message before the handshake, closing");
                open = false;
                break;
            }
            delivered += deliver(std::move(std::get<message>(**r)));
            if (closed_) {  // the callback may have stopped the transport
                open = false;
                break;
            }
        }
        if (peer_) {
            const std::uint64_t bytes = decoder_.bytes_in() - counted_bytes_;
            counted_bytes_ = decoder_.bytes_in();
            peer_->queue.update([&](peer_stats& s) {
                s.bytes_received += bytes;
                s.messages_received += delivered;
            });
        }
        return open;
    }

    // Accepts the handshake when it is the first, from our cluster, addressed to us.
    bool on_handshake(const handshake& h) {
        const auto& o = engine_->options();
        if (hs_) {
            fail(log_level::warning, "a second handshake, closing");
            return false;
        }
        if (h == identity_probe) {
            answer_probe();
            return false;
        }
        if (h.cluster_id != o.cluster_id) {
            fail(log_level::warning, "refused: node ", h.from, " belongs to cluster ",
                 h.cluster_id, ", not to ours (", o.cluster_id, ")");
            return false;
        }
        if (h.to != o.id) {
            fail(log_level::warning, "refused: node ", h.from, " dialled node ", h.to,
                 ", but this is node ", o.id);
            return false;
        }
        if (h.from == none || h.from == o.id) {
            fail(log_level::warning, "refused: the handshake claims to come from node ", h.from);
            return false;
        }
        hs_ = h;
        peer_ = engine_->on_inbound_handshake(this->shared_from_this());
        counted_bytes_ = 0;  // the handshake's bytes count for the peer too
        return !closed_;
    }

    // Hands a message on when it comes from the node that shook hands, to us. Returns 1 when
    // it was delivered.
    std::uint64_t deliver(message&& m) {
        const auto& o = engine_->options();
        if (m.from != hs_->from || m.to != o.id) {
            if (!logged_mismatch_) {
                logged_mismatch_ = true;
                RAFTPP_LOG(engine_->logger(), log_level::warning, "raftpp transport ", o.id,
                           ": dropping a ", m.type, " from ", m.from, " to ", m.to,
                           " on the connection of node ", hs_->from, " (", remote_,
                           "); further mismatches on it are dropped silently");
            }
            return 0;
        }
        engine_->deliver(std::move(m));
        return 1;
    }

    // A member about to join asks who we are (net::identify): it learns our cluster id the
    // way etcd's joining member asks a peer for the cluster. One handshake back, then close.
    void answer_probe() {
        const auto& o = engine_->options();
        frame_encoder(engine_->options().max_frame).encode(handshake{o.cluster_id, o.id, none}, wbuf_);
        RAFTPP_LOG(engine_->logger(), log_level::info, "raftpp transport ", o.id,
                   ": answering an identity probe from ", remote_);
        boost::asio::async_write(stream_, boost::asio::buffer(wbuf_),
                                 [self = this->shared_from_this()](error_code, std::size_t) {
                                     if (self->closed_) return;
                                     self->shutdown();
                                     self->engine_->on_inbound_closed(self.get());
                                 });
    }

    void arm_deadline() {
        if (deadline_.arm(engine_->options().read_timeout))
            deadline_.async_wait(
                std::bind_front(&inbound_connection::on_deadline, this->shared_from_this()));
    }

    void on_deadline(error_code) {
        const auto o = deadline_.on_fired();
        if (closed_) return;
        if (o == deadline::outcome::rewait)
            deadline_.async_wait(
                std::bind_front(&inbound_connection::on_deadline, this->shared_from_this()));
        else if (o == deadline::outcome::expired)
            fail(log_level::warning,
                 hs_ ? "read deadline: the peer stalled in the middle of a frame"
                     : "read deadline: no handshake");
    }

    template <class... Parts>
    void fail(log_level lv, const Parts&... why) {
        if (closed_) return;
        shutdown();
        RAFTPP_LOG(engine_->logger(), lv, "raftpp transport ", engine_->options().id,
                   ": inbound connection from ", remote_,
                   hs_ ? raftpp::detail::concat(" (node ", hs_->from, ")") : std::string(),
                   ": ", why...);
        engine_->on_inbound_closed(this);
    }

    void shutdown() {
        if (closed_) return;
        closed_ = true;
        deadline_.close();
        error_code ignored;
        ops::socket(stream_).close(ignored);
    }

    std::shared_ptr<Engine> engine_;
    stream_type stream_;
    deadline deadline_;  // the handshake, then the rest of each frame
    frame_decoder decoder_;
    tcp::endpoint remote_;
    std::vector<std::byte> wbuf_;      // the answer to an identity probe
    std::optional<handshake> hs_;      // set once the handshake is accepted
    std::shared_ptr<peer_type> peer_;  // the peer's counters; null for a node not in our table
    std::uint64_t counted_bytes_ = 0;  // decoder_.bytes_in() already added to peer_'s counters
    bool logged_mismatch_ = false;
    bool closed_ = false;
};

}  // namespace raftpp::net::detail
