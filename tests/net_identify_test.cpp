// net::identify against a running transport: it learns the cluster and node id, the transport
// goes on with its peers; and against things that are not a member (nothing listening, a
// listener that never answers, one that hangs up): a clear error within the timeout.
#include <array>
#include <future>
#include <thread>

#include <raftpp/net/identify.hpp>

#include "asio_test_util.hpp"

using namespace asio_test;

namespace {
// identify() blocks on an io_context of its own while this one drives the transports.
result<net::peer_identity> identify_while_running(boost::asio::io_context& io, const tcp::endpoint& at,
                                                  std::chrono::milliseconds timeout) {
    auto f = std::async(std::launch::async, [=] { return net::identify(at, timeout); });
    REQUIRE(run_until(io, [&] { return f.wait_for(0s) == std::future_status::ready; }));
    return f.get();
}
}  // namespace

TEST_CASE("identify: a running transport names its cluster and node, and keeps its peers",
          "[net][identify]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1)), b(io, test_options(2));
    connect_pair(io, a, 1, b, 2);

    for (int round = 0; round < 3; ++round) {
        auto who = identify_while_running(io, a.ep(), 2s);
        REQUIRE(who.has_value());
        CHECK(who->cluster_id == 7);
        CHECK(who->id == 1);
    }
    CHECK(a.log->contains("answering an identity probe"));
    // The probes were no peers: nothing delivered from them, b's link untouched.
    CHECK(a.received.empty());
    for (std::uint64_t i = 0; i < 10; ++i) b.t.send(small_message(2, 1, i));
    REQUIRE(run_until(io, [&] { return a.from(2).size() == 10; }));
    CHECK(a.stats(2).reconnects == 0);
}

TEST_CASE("identify: nothing listening, a silent listener, a hang-up: errors, in time",
          "[net][identify]") {
    boost::asio::io_context io;
    tcp::acceptor silent(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    tcp::endpoint closed_ep;
    {
        tcp::acceptor gone(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        closed_ep = gone.local_endpoint();
    }

    SECTION("nothing listens") {
        auto who = net::identify(closed_ep, 2s);
        REQUIRE_FALSE(who.has_value());
        CHECK(who.error() == std::errc::connection_refused);
    }
    SECTION("a listener that never answers: timed out") {
        const auto t0 = std::chrono::steady_clock::now();
        auto who = net::identify(silent.local_endpoint(), 200ms);
        REQUIRE_FALSE(who.has_value());
        CHECK(who.error() == raftpp::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
    SECTION("a listener that hangs up, or answers what is not a handshake") {
        for (bool garbage : {false, true}) {
            CAPTURE(garbage);
            std::thread server([&] {
                tcp::socket s(io);
                silent.accept(s);
                // The probe is read first, as a member of another cluster reads and refuses it:
                // closing with it unread would reset the connection instead of ending it.
                std::array<std::byte, net::frame_header_size + 25> probe{};
                boost::asio::read(s, boost::asio::buffer(probe));
                if (garbage) {
                    const std::string junk(64, 'g');
                    boost::asio::write(s, boost::asio::buffer(junk));
                }
                s.close();
            });
            auto who = net::identify(silent.local_endpoint(), 5s);
            server.join();
            REQUIRE_FALSE(who.has_value());
            CHECK(who.error() == raftpp::errc::malformed_message);
        }
    }
}
