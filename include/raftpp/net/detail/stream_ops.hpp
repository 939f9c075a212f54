// What a connection needs to know about its stream type, so the connection classes are
// templates over it: a plain boost::asio::ip::tcp::socket here; a TLS stream
// (ssl::stream<tcp::socket>) adds its own specialization with a handshake.
//   stream_ops<S>::context          shared by every connection (TLS: the ssl::context)
//   make(executor, context&)        a new, unconnected stream for dialling
//   wrap(tcp::socket&&, context&)   a stream over an accepted socket
//   socket(stream)                  the TCP socket underneath (connect, options, close)
//   has_handshake                   whether async_handshake(stream, role, handler) must run
//                                   after connect/accept and before any frame
//   is_eof(ec)                      whether a read error means the peer closed the stream
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace raftpp::net::detail {

enum class stream_role { client, server };

template <class Stream>
struct stream_ops;

template <>
struct stream_ops<boost::asio::ip::tcp::socket> {
    using stream_type = boost::asio::ip::tcp::socket;
    struct context {};
    static constexpr bool has_handshake = false;

    static stream_type make(const boost::asio::any_io_executor& ex, context&) {
        return stream_type(ex);
    }
    static stream_type wrap(boost::asio::ip::tcp::socket&& s, context&) { return std::move(s); }
    static boost::asio::ip::tcp::socket& socket(stream_type& s) noexcept { return s; }
    static bool is_eof(const boost::system::error_code& ec) noexcept {
        return ec == boost::asio::error::eof;
    }
};

}  // namespace raftpp::net::detail
