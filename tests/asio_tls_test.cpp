// asio_transport over mutual TLS: messages flow between nodes of one CA; a peer with a
// certificate from another CA, with none, or without TLS is refused. Compiled only with
// OpenSSL (RAFTPP_HAVE_OPENSSL).
#include "asio_test_util.hpp"

using namespace asio_test;

#ifdef RAFTPP_HAVE_OPENSSL
// Mutual TLS. The certificates are made here with the openssl command line in a fresh
// temporary directory: two CAs, nodes signed by the first, a stranger signed by the second.
#include <raftpp/net/tls.hpp>

#include <boost/asio/ssl.hpp>

#include <filesystem>

namespace {

struct tls_fixture {
    std::filesystem::path dir;

    tls_fixture() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "raftpp-tls-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
        make_ca("ca1");
        make_ca("ca2");
        make_cert("node1", "ca1");
        make_cert("node2", "ca1");
        make_cert("stranger", "ca2");
    }
    ~tls_fixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string file(const std::string& name) const { return (dir / name).string(); }
    net::tls_files files(const std::string& node, const std::string& ca = "ca1") const {
        return {file(node + ".crt"), file(node + ".key"), file(ca + ".crt")};
    }
    std::shared_ptr<boost::asio::ssl::context> context(const std::string& node,
                                                      const std::string& ca = "ca1") const {
        auto c = net::make_mutual_tls_context(files(node, ca));
        REQUIRE(c);
        return *c;
    }

private:
    void run(const std::string& cmd) const {
        CAPTURE(cmd);
        REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
    }
    void make_ca(const std::string& name) const {
        run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
            "-subj /CN=" + name + " -keyout " + file(name + ".key") +
            " -out " + file(name + ".crt"));
    }
    void make_cert(const std::string& name, const std::string& ca) const {
        run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
            name + " -keyout " + file(name + ".key") + " -out " + file(name + ".csr"));
        run("openssl x509 -req -days 1 -in " + file(name + ".csr") + " -CA " + file(ca + ".crt") +
            " -CAkey " + file(ca + ".key") + " -CAcreateserial -out " + file(name + ".crt"));
    }
};

using tls_transport_type = net::basic_tls_asio_transport<capture_logger>;

struct tls_endpoint {
    tls_endpoint(boost::asio::io_context& io, const net::asio_transport_options& o,
                 std::shared_ptr<boost::asio::ssl::context> ctx)
        : log(std::make_shared<log_sink>()),
          t(io.get_executor(), o, net::tls_context(std::move(ctx)), capture_logger{log}) {
        t.on_message([this](message&& m) { received.push_back(std::move(m)); });
        REQUIRE(t.start());
    }
    std::shared_ptr<log_sink> log;
    tls_transport_type t;
    std::vector<message> received;
};

}  // namespace

TEST_CASE("TLS: two nodes of one CA exchange messages in order", "[net][tls]") {
    tls_fixture certs;
    boost::asio::io_context io;
    tls_endpoint a(io, test_options(1), certs.context("node1")),
        b(io, test_options(2), certs.context("node2"));
    REQUIRE(a.t.add_peer(2, b.t.local_endpoint()));
    REQUIRE(b.t.add_peer(1, a.t.local_endpoint()));
    raftpp::detail::splitmix64 rng(test_seed());
    std::vector<message> ab, ba;
    for (std::uint64_t i = 0; i < 300; ++i) {
        ab.push_back(random_message(rng, 1, 2, i));
        ba.push_back(random_message(rng, 2, 1, i));
        a.t.send(message(ab.back()));
        b.t.send(message(ba.back()));
    }
    REQUIRE(run_until(io, [&] { return a.received.size() == 300 && b.received.size() == 300; }));
    CHECK(b.received == ab);
    CHECK(a.received == ba);
}

TEST_CASE("TLS: a peer with a certificate from another CA, with none, or without TLS is "
          "refused", "[net][tls]") {
    tls_fixture certs;
    boost::asio::io_context io;
    tls_endpoint a(io, test_options(1), certs.context("node1"));

    // Another CA: its certificate does not verify (and ours does not for it).
    tls_endpoint stranger(io, test_options(3), certs.context("stranger", "ca2"));
    REQUIRE(stranger.t.add_peer(1, a.t.local_endpoint()));
    stranger.t.send(small_message(3, 1, 0));
    REQUIRE(run_until(io, [&] { return stranger.t.stats(1)->dial_failures >= 2; }));
    CHECK(a.log->contains("stream handshake failed"));

    // No certificate at all: a client that trusts the right CA but presents nothing.
    boost::asio::ssl::context bare(boost::asio::ssl::context::tls);
    bare.load_verify_file(certs.file("ca1.crt"));
    bare.set_verify_mode(boost::asio::ssl::verify_peer);
    net::tls_stream anonymous(io, bare);
    anonymous.next_layer().connect(a.t.local_endpoint());
    bool handshake_done = false, refused = false;
    anonymous.async_handshake(net::tls_stream::client, [&](auto ec) {
        handshake_done = true;
        if (ec) refused = true;
    });
    std::array<char, 16> buf{};
    // TLS 1.3 completes the client's handshake before the server has checked the client's
    // certificate; the refusal then arrives as the connection closing.
    REQUIRE(run_until(io, [&] { return handshake_done; }));
    if (!refused) {
        bool closed = false;
        anonymous.async_read_some(boost::asio::buffer(buf), [&](auto ec, std::size_t) {
            closed = static_cast<bool>(ec);
        });
        REQUIRE(run_until(io, [&] { return closed; }));
    }

    // Plain TCP speaking our frames to a TLS listener.
    raw_client plain(io, a.t.local_endpoint());
    plain.write(frames({net::handshake{7, 5, 1}, small_message(5, 1, 0)}));
    REQUIRE(run_until(io, [&] { return plain.closed; }));

    CHECK(a.received.empty());
}
#endif  // RAFTPP_HAVE_OPENSSL
