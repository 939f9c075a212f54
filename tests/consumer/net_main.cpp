// The consumer check's transport program (raftpp::net, raftpp-net): two asio transports on
// loopback, node 1 sends node 2 one heartbeat. With RAFTPP_HAVE_OPENSSL (the dependency
// defines it when OpenSSL was found) it also builds a mutual-TLS context, so libssl must be
// linked. Exits 0 when the message arrived; prints "tls: yes" or "tls: no".
#include <chrono>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <raftpp/net/asio_transport.hpp>
#ifdef RAFTPP_HAVE_OPENSSL
#include <raftpp/net/tls.hpp>
#endif

int main() {
    boost::asio::io_context io;
    raftpp::net::asio_transport t1(io.get_executor(), {.id = 1, .cluster_id = 7});
    raftpp::net::asio_transport t2(io.get_executor(), {.id = 2, .cluster_id = 7});
    bool delivered = false;
    boost::asio::steady_timer deadline(io, std::chrono::seconds(20));
    auto stop = [&] {
        deadline.cancel();
        t1.stop();
        t2.stop();
    };
    t2.on_message([&](raftpp::message&& m) {
        delivered = m.type == raftpp::message_type::heartbeat && m.from == 1 && m.term == 3;
        stop();
    });
    if (!t1.start() || !t2.start()) return 1;
    if (!t1.add_peer(2, t2.local_endpoint())) return 1;
    raftpp::message m;
    m.type = raftpp::message_type::heartbeat;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    t1.send(std::move(m));
    deadline.async_wait([&](boost::system::error_code ec) {
        if (!ec) stop();
    });
    io.run();

    bool tls = false;
#ifdef RAFTPP_HAVE_OPENSSL
    // Files that do not exist: the context is refused with an error, after OpenSSL was used.
    tls = !raftpp::net::make_mutual_tls_context({"/nonexistent.crt", "/nonexistent.key",
                                                 "/nonexistent-ca.crt"});
#endif
    std::printf("consumer net: %s, tls: %s\n", delivered ? "delivered" : "lost",
                tls ? "yes" : "no");
    return delivered ? 0 : 1;
}
