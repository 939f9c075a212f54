// One outbound connection to a peer: dial (under the dial deadline), then the handshake frame,
// then a writer that takes the peer's whole queue at once, encodes it into one buffer and
// writes it with one async_write (many messages per syscall) under the write deadline. The
// connection only writes; a read stays posted so a peer that closes or resets is noticed at
// once, and a peer that sends anything on it is cut off (it must only read).
//
// Lifetime: every pending operation holds a shared_ptr to the connection, which holds the
// engine; the engine keeps only a weak_ptr. Until it closes, a connection always has an
// operation pending (the dial, then the read that watches for a close).
// Everything runs on the engine's strand. Invariant: closed_ once set stays set, and no
// handler does anything after it but return.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <raftpp/net/detail/deadline.hpp>
#include <raftpp/net/detail/stream_ops.hpp>
#include <raftpp/net/detail/transport_options.hpp>
#include <raftpp/net/frame.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net::detail {

template <class Engine>
class outbound_connection : public std::enable_shared_from_this<outbound_connection<Engine>> {
    using ops = typename Engine::stream_ops;
    using stream_type = typename ops::stream_type;
    using peer_type = typename Engine::peer_link;
    using error_code = boost::system::error_code;
    using tcp = boost::asio::ip::tcp;

public:
    outbound_connection(std::shared_ptr<Engine> engine, std::shared_ptr<peer_type> peer)
        : engine_(std::move(engine)),
          peer_(std::move(peer)),
          stream_(ops::make(engine_->strand(), engine_->stream_context())),
          deadline_(engine_->strand()),
          encoder_(engine_->options().max_frame) {}

    // Dials `ep`; the engine hears back through on_outbound_up / on_outbound_closed.
    void start(const tcp::endpoint& ep) {
        arm_deadline(engine_->options().dial_timeout);
        ops::socket(stream_).async_connect(
            ep, std::bind_front(&outbound_connection::on_connect, this->shared_from_this()));
    }

    // Messages were queued while the writer was idle.
    void on_queue_ready() {
        if (up_) write_next();
    }

    // Closes without calling the engine back (the engine is closing it). A batch being
    // written is lost; its snapshots are reported failed.
    void close() { shutdown(); }

    bool up() const noexcept { return up_; }

private:
    void on_connect(error_code ec) {
        if (closed_) return;
        if (ec) return fail(ec, "dial");
        error_code ignored;
        ops::socket(stream_).set_option(tcp::no_delay(true), ignored);
        if constexpr (ops::has_handshake) {
            ops::async_handshake(stream_, stream_role::client,
                                 std::bind_front(&outbound_connection::on_stream_handshake,
                                                 this->shared_from_this()));
        } else {
            on_stream_handshake({});
        }
    }

    void on_stream_handshake(error_code ec) {
        if (closed_) return;
        if (ec) return fail(ec, "stream handshake");
        deadline_.clear();
        up_ = true;
        // The handshake frame goes first, in the same write as whatever is queued: the
        // acceptor does not answer it (a refusal closes the connection, which the probe sees).
        const auto& o = engine_->options();
        encoder_.encode(handshake{o.cluster_id, o.id, peer_->id}, wbuf_);
        engine_->on_outbound_up(*peer_);
        if (closed_) return;
        stream_.async_read_some(
            boost::asio::buffer(probe_),
            std::bind_front(&outbound_connection::on_probe, this->shared_from_this()));
        write_next();
    }

    // Takes everything queued and writes it with what is already encoded (the handshake).
    void write_next() {
        if (closed_ || writing_) return;
        if (peer_->queue.take_batch(batch_)) {
            for (const auto& m : batch_) {
                encoder_.encode(m, wbuf_);
                batch_snaps_ += m.type == message_type::snap;
            }
            batch_messages_ = batch_.size();
            batch_.clear();  // the encoded bytes are all the write needs
        }
        if (wbuf_.empty()) return;  // idle until the next wake-up
        writing_ = true;
        arm_deadline(engine_->options().write_timeout);
        boost::asio::async_write(
            stream_, boost::asio::buffer(wbuf_),
            std::bind_front(&outbound_connection::on_write, this->shared_from_this()));
    }

    void on_write(error_code ec, std::size_t n) {
        writing_ = false;
        if (closed_) return;
        if (ec) return fail(ec, "write");
        deadline_.clear();
        const std::size_t msgs = std::exchange(batch_messages_, 0);
        peer_->queue.update([&](peer_stats& s) {
            s.messages_sent += msgs;
            s.bytes_sent += n;
        });
        if (const std::size_t snaps = std::exchange(batch_snaps_, 0); snaps > 0)
            engine_->on_snapshots_sent(peer_->id, snaps, true);
        wbuf_.clear();
        // A snapshot may have grown the buffer far beyond a steady-state batch.
        if (wbuf_.capacity() > keep_capacity) std::vector<std::byte>().swap(wbuf_);
        write_next();
    }

    void on_probe(error_code ec, std::size_t) {
        if (closed_) return;
        if (!ec) return fail(boost::asio::error::invalid_argument, "the peer wrote to us");
        fail(ec, up_ ? "read" : "dial");
    }

    void arm_deadline(std::chrono::steady_clock::duration timeout) {
        if (deadline_.arm(timeout))
            deadline_.async_wait(
                std::bind_front(&outbound_connection::on_deadline, this->shared_from_this()));
    }

    void on_deadline(error_code) {
        const auto o = deadline_.on_fired();
        if (closed_) return;
        if (o == deadline::outcome::rewait)
            deadline_.async_wait(
                std::bind_front(&outbound_connection::on_deadline, this->shared_from_this()));
        else if (o == deadline::outcome::expired)
            fail(boost::asio::error::timed_out,
                 up_ ? "write (the peer stopped reading)" : "dial");
    }

    void fail(error_code ec, std::string_view what) {
        if (closed_) return;
        const bool was_up = up_;
        shutdown();
        engine_->on_outbound_closed(peer_, this, was_up, ec, what);
    }

    void shutdown() {
        if (closed_) return;
        closed_ = true;
        up_ = false;
        deadline_.close();
        error_code ignored;
        ops::socket(stream_).close(ignored);
        wbuf_ = {};
        if (const std::size_t snaps = std::exchange(batch_snaps_, 0); snaps > 0)
            engine_->on_snapshots_sent(peer_->id, snaps, false);
    }

    static constexpr std::size_t keep_capacity = std::size_t{4} << 20;

    std::shared_ptr<Engine> engine_;
    std::shared_ptr<peer_type> peer_;
    stream_type stream_;
    deadline deadline_;             // dial, then each write
    frame_encoder encoder_;
    std::vector<std::byte> wbuf_;   // frames being written (writing_) or about to be
    std::vector<message> batch_;    // empty between writes; keeps the queue's capacity
    std::size_t batch_messages_ = 0;  // messages encoded in wbuf_
    std::size_t batch_snaps_ = 0;     // snap messages among them
    std::array<std::byte, 64> probe_{};
    bool up_ = false;       // connected and handshake queued; the peer's queue is open
    bool writing_ = false;  // an async_write is pending
    bool closed_ = false;
};

}  // namespace raftpp::net::detail
