// Mutual TLS for the transport: stream_ops for boost::asio::ssl::stream<tcp::socket> (OpenSSL,
// which the program must link: -lssl -lcrypto) and a context in etcd's style
// (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth): both
// ends present a certificate and accept only one that chains to the cluster's CA. Peers are
// identified by the node ids of the handshake frame, not by names in their certificates.
//
//   auto ctx = net::make_mutual_tls_context({"node1.crt", "node1.key", "ca.crt"}).value();
//   net::tls_asio_transport t(io.get_executor(), opts, net::tls_context(ctx));
//   (the rest as with asio_transport; its sender is tls_asio_transport::sender)
//
// The TLS handshake runs after connect/accept, under the dial deadline on the dialling side
// and the handshake's read deadline on the accepting side; a failure closes that connection
// with a logged reason, like any other bad input.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/net/detail/stream_ops.hpp>

namespace raftpp::net {

using tls_stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// The TLS context every connection of one transport shares. Not default-constructible, so a
// TLS transport cannot be built without one.
struct tls_context {
    explicit tls_context(std::shared_ptr<boost::asio::ssl::context> c) noexcept
        : ssl(std::move(c)) {}
    std::shared_ptr<boost::asio::ssl::context> ssl;  // never null
};

struct tls_files {
    std::string cert_file;        // this node's certificate chain (PEM)
    std::string key_file;         // its private key (PEM, unencrypted)
    std::string trusted_ca_file;  // the cluster's CA (PEM); peers must chain to it
};

// A context for both roles: TLS 1.2 or later, our certificate and key, the trusted CA, and
// the peer's certificate required and verified (a peer without one is refused). The
// error of the first file that cannot be used (a system or OpenSSL error code).
inline result<std::shared_ptr<boost::asio::ssl::context>> make_mutual_tls_context(
    const tls_files& f) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    if (!ec) ctx->use_certificate_chain_file(f.cert_file, ec);
    if (!ec) ctx->use_private_key_file(f.key_file, ssl::context::pem, ec);
    if (!ec) ctx->load_verify_file(f.trusted_ca_file, ec);
    if (!ec) ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return std::error_code(ec);
    return ctx;
}

namespace detail {

template <>
struct stream_ops<tls_stream> {
    using stream_type = tls_stream;
    using context = tls_context;
    static constexpr bool has_handshake = true;

    static stream_type make(const boost::asio::any_io_executor& ex, context& c) {
        return stream_type(boost::asio::ip::tcp::socket(ex), *c.ssl);
    }
    static stream_type wrap(boost::asio::ip::tcp::socket&& s, context& c) {
        return stream_type(std::move(s), *c.ssl);
    }
    static boost::asio::ip::tcp::socket& socket(stream_type& s) noexcept { return s.next_layer(); }
    // We close without a close_notify (a peer may vanish anyway), so a truncated stream is
    // an ordinary close.
    static bool is_eof(const boost::system::error_code& ec) noexcept {
        return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
    }

    template <class Handler>
    static void async_handshake(stream_type& s, stream_role role, Handler&& h) {
        s.async_handshake(role == stream_role::client ? stream_type::client : stream_type::server,
                          std::forward<Handler>(h));
    }
};

}  // namespace detail

template <class Logger = null_logger>
using basic_tls_asio_transport = basic_asio_transport<Logger, tls_stream>;
using tls_asio_transport = basic_tls_asio_transport<>;

}  // namespace raftpp::net
