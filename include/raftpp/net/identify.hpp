// raftpp::net::identify — asks a running member, at its peer address, which cluster and node
// it is, the way etcd's member joining with --initial-cluster-state=existing fetches the
// cluster from its peers before it writes its WAL:
//
//   auto who = net::identify(peer_endpoint, std::chrono::seconds(1));
//   if (who) start_member(dir, members, name, cluster_state::existing, who->cluster_id);
//
// It dials, sends the identity probe (frame.hpp) and reads the one handshake the member's
// transport answers with. Blocking, on an io_context of its own, within `timeout` in all:
// meant for start-up, before a node runs. Plain TCP only; a TLS cluster names its cluster id.
// Errors: the dial's or read's error (connection refused, ...), errc::timed_out, or
// errc::malformed_message when the answer is not one handshake of a cluster (a process that
// is not a raftpp member, or one too old to answer).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>
#include <variant>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <raftpp/error.hpp>
#include <raftpp/net/frame.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net {

struct peer_identity {
    std::uint64_t cluster_id = 0;
    node_id id = none;
};

inline result<peer_identity> identify(const boost::asio::ip::tcp::endpoint& at,
                                      std::chrono::milliseconds timeout) {
    using boost::system::error_code;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket sock(io);
    std::vector<std::byte> out;
    frame_encoder().encode(identity_probe, out);
    frame_decoder decoder(min_max_frame, min_max_frame);
    std::error_code failure;
    std::optional<peer_identity> answer;

    auto read = [&](auto& self) -> void {
        const auto buf = decoder.prepare(min_max_frame);
        sock.async_read_some(boost::asio::buffer(buf.data(), buf.size()), [&](error_code ec, std::size_t n) {
            if (ec) {
                failure = ec == boost::asio::error::eof ? make_error_code(errc::malformed_message) : std::error_code(ec);
                return;
            }
            decoder.commit(n);
            auto r = decoder.next();
            if (!r) {
                failure = r.error();
                return;
            }
            if (!r->has_value()) return self(self);
            const auto* h = std::get_if<handshake>(&**r);
            if (!h || h->cluster_id == 0 || h->from == none) {
                failure = make_error_code(errc::malformed_message);
                return;
            }
            answer = peer_identity{h->cluster_id, h->from};
        });
    };
    sock.async_connect(at, [&](error_code ec) {
        if (ec) {
            failure = ec;
            return;
        }
        boost::asio::async_write(sock, boost::asio::buffer(out), [&](error_code wec, std::size_t) {
            if (wec) failure = wec;
            else read(read);
        });
    });
    io.run_for(timeout);
    const std::optional<peer_identity> got = answer;
    const std::error_code why = failure ? failure : make_error_code(errc::timed_out);
    error_code ignored;
    sock.close(ignored);
    io.restart();
    io.run();  // the cancelled operations complete before their captures go
    if (got) return *got;
    return why;
}

}  // namespace raftpp::net
