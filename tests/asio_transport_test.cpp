// asio_transport on real sockets (127.0.0.1, kernel-chosen ports): order and integrity per
// peer, a listener that goes away and comes back, bad input and strangers cut off while the
// others keep going, bounded queues under a slow reader, read and write deadlines, peer table
// changes, counters, and a clean stop. Every wait is a bounded poll of a condition (run_until);
// the only fixed waits check that something does NOT happen within a few timeouts.
// The seed of the random messages and of the redial jitter is printed; RAFTPP_NET_SEED
// replays one. RAFTPP_NET_LOG=1 echoes the transports' log lines to stderr.
#include "asio_test_util.hpp"

using namespace asio_test;

TEST_CASE("asio_transport::sender satisfies the transport concept", "[net]") {
    STATIC_REQUIRE(transport<asio_transport::sender>);
    STATIC_REQUIRE(std::is_copy_constructible_v<asio_transport::sender>);
    asio_transport::sender s;  // a default one drops everything
    s.send(message{});
}

TEST_CASE("invalid options are refused at construction", "[net]") {
    boost::asio::io_context io;
    auto o = test_options(0);
    CHECK_THROWS_AS(asio_transport(io.get_executor(), o), std::system_error);
    o = test_options(1);
    o.max_frame = 10;
    CHECK_THROWS_AS(asio_transport(io.get_executor(), o), std::system_error);
    o = test_options(1);
    o.backoff_max = 1ms;
    CHECK_THROWS_AS(asio_transport(io.get_executor(), o), std::system_error);
}

TEST_CASE("backoff doubles up to its cap, jitter only shortens, a seed replays it", "[net]") {
    net::detail::backoff exact(100ms, 1000ms, 0.0, 1);
    std::vector<long> got;
    for (int i = 0; i < 6; ++i) got.push_back(static_cast<long>(exact.next().count()));
    CHECK(got == std::vector<long>{100, 200, 400, 800, 1000, 1000});
    exact.reset();
    CHECK(exact.next() == 100ms);

    net::detail::backoff a(100ms, 5000ms, 0.5, 42), b(100ms, 5000ms, 0.5, 42);
    bool differs_from_base = false;
    for (int i = 0; i < 12; ++i) {
        const auto base = std::min<long>(5000, 100L << i);
        const auto d = a.next();
        CHECK(d == b.next());
        CHECK(d.count() <= base);
        CHECK(d.count() >= base / 2);
        differs_from_base |= d.count() != base;
    }
    CHECK(differs_from_base);
}

TEST_CASE("peer_queue: bounded by count and bytes, drops while down, wakes once", "[net]") {
    net::detail::peer_queue q(4, 2000);
    auto msg = [](std::size_t payload) {
        message m;
        m.type = message_type::app;
        m.entries.push_back({1, 1, entry_type::normal, buffer(std::string(payload, 'x'))});
        return m;
    };
    // Dialing: messages wait, but nobody is woken (the connection takes them when up).
    CHECK(q.push(msg(10)).result == net::detail::peer_queue::push_result::queued);
    q.set_up();
    auto first = q.push(msg(10));
    CHECK(first.result == net::detail::peer_queue::push_result::queued);
    CHECK(first.wake);
    CHECK_FALSE(q.push(msg(10)).wake);  // one wake-up is pending already
    CHECK(q.push(msg(10)).result == net::detail::peer_queue::push_result::queued);
    CHECK(q.push(msg(10)).result == net::detail::peer_queue::push_result::dropped_full);
    CHECK(q.stats().queued_messages == 4);
    CHECK(q.take_signals().unreachable);  // the drop asks for a report

    std::vector<message> batch;
    REQUIRE(q.take_batch(batch));
    CHECK(batch.size() == 4);
    batch.clear();
    // Bytes: one big message always fits an empty queue, a second one does not.
    CHECK(q.push(msg(5000)).result == net::detail::peer_queue::push_result::queued);
    CHECK(q.push(msg(10)).result == net::detail::peer_queue::push_result::dropped_full);
    CHECK(q.stats().queued_bytes >= 5000);

    message snap;
    snap.type = message_type::snap;
    snap.snapshot = std::make_shared<snapshot>();
    CHECK(q.push(std::move(snap)).result == net::detail::peer_queue::push_result::dropped_full);
    const auto discarded = q.set_down();
    CHECK(discarded.messages == 1);
    CHECK(q.push(msg(10)).result == net::detail::peer_queue::push_result::dropped_down);
    const auto sig = q.take_signals();
    CHECK(sig.unreachable);
    CHECK(sig.snap_failures == 1);
    const auto st = q.stats();
    CHECK(st.dropped_full == 3);
    CHECK(st.dropped_down == 2);
    CHECK(st.queued_messages == 0);
    CHECK_FALSE(q.take_batch(batch));
}

TEST_CASE("two transports: messages arrive in order and intact, both ways", "[net]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1)), b(io, test_options(2));
    connect_pair(io, a, 1, b, 2);

    raftpp::detail::splitmix64 rng(test_seed());
    std::vector<message> ab, ba;
    for (std::uint64_t i = 0; i < 2000; ++i) {
        ab.push_back(random_message(rng, 1, 2, i));
        ba.push_back(random_message(rng, 2, 1, i));
        a.t.send(message(ab.back()));
        b.t.get_sender().send(message(ba.back()));
        if (i % 97 == 0) io.poll();  // let some writes go while the rest queue up
    }
    REQUIRE(run_until(io, [&] { return a.received.size() == 2000 && b.received.size() == 2000; }));
    CHECK(b.received == ab);
    CHECK(a.received == ba);

    // Snapshots are reported finished once written; counters match on both sides.
    REQUIRE(run_until(io, [&] { return a.snaps_finished.size() == count_snaps(ab); }));
    CHECK(a.snaps_failed.empty());
    const auto sa = a.stats(2), sb = b.stats(1);
    CHECK(sa.messages_sent == 2000);
    CHECK(sa.dropped_full + sa.dropped_down + sa.reconnects + sa.dial_failures == 0);
    CHECK(sb.messages_received == 2000);
    CHECK(sb.bytes_received == sa.bytes_sent);
    CHECK(sa.bytes_received == sb.bytes_sent);
    CHECK(sa.queued_messages == 0);
    CHECK(a.unreachable.empty());
}

TEST_CASE("three transports: each sender's messages arrive in its order", "[net]") {
    boost::asio::io_context io;
    std::deque<endpoint> n;
    for (node_id id = 1; id <= 3; ++id) n.emplace_back(io, test_options(id));
    for (node_id i = 1; i <= 3; ++i)
        for (node_id j = 1; j <= 3; ++j)
            if (i != j) REQUIRE(n[i - 1].t.add_peer(j, n[j - 1].ep()));
    REQUIRE(run_until(io, [&] {
        for (node_id i = 1; i <= 3; ++i)
            for (node_id j = 1; j <= 3; ++j)
                if (i != j && !n[i - 1].stats(j).connected) return false;
        return true;
    }));

    raftpp::detail::splitmix64 rng(test_seed() ^ 3);
    std::vector<message> sent[4][4];
    for (std::uint64_t k = 0; k < 600; ++k)
        for (node_id i = 1; i <= 3; ++i)
            for (node_id j = 1; j <= 3; ++j) {
                if (i == j) continue;
                sent[i][j].push_back(random_message(rng, i, j, k));
                n[i - 1].t.send(message(sent[i][j].back()));
            }
    REQUIRE(run_until(io, [&] {
        for (const auto& e : n)
            if (e.received.size() != 1200) return false;
        return true;
    }));
    for (node_id i = 1; i <= 3; ++i)
        for (node_id j = 1; j <= 3; ++j)
            if (i != j) CHECK(n[j - 1].from(i) == sent[i][j]);
}

TEST_CASE("send_all: a cycle's messages to several peers arrive in order; strangers counted",
          "[net]") {
    STATIC_REQUIRE(requires(asio_transport::sender& s, std::vector<message>& v) { s.send_all(v); });
    boost::asio::io_context io;
    std::deque<endpoint> n;
    for (node_id id = 1; id <= 3; ++id) n.emplace_back(io, test_options(id));
    connect_pair(io, n[0], 1, n[1], 2);
    connect_pair(io, n[0], 1, n[2], 3);
    raftpp::detail::splitmix64 rng(test_seed() ^ 5);
    std::vector<message> to2, to3;
    const auto unknown0 = n[0].t.dropped_unknown();
    auto sender = n[0].t.get_sender();
    for (std::uint64_t cycle = 0; cycle < 50; ++cycle) {
        // As raw_node::advance() hands them over: interleaved peers, and one for a node that
        // is not in the table.
        std::vector<message> batch;
        for (std::uint64_t k = 0; k < 6; ++k) {
            const node_id to = k % 2 == 0 ? 2 : 3;
            batch.push_back(random_message(rng, 1, to, cycle * 6 + k));
            (to == 2 ? to2 : to3).push_back(batch.back());
        }
        batch.push_back(small_message(1, 9, cycle));
        if (cycle % 2 == 0) sender.send_all(batch);
        else n[0].t.send_all(batch);
        if (cycle % 7 == 0) io.poll();
    }
    REQUIRE(run_until(io, [&] {
        return n[1].received.size() == to2.size() && n[2].received.size() == to3.size();
    }));
    CHECK(n[1].received == to2);
    CHECK(n[2].received == to3);
    CHECK(n[0].t.dropped_unknown() == unknown0 + 50);
}

TEST_CASE("a stopped listener is reported unreachable, its messages dropped and counted, and "
          "redialled once it is back on its port", "[net]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1));
    auto b = std::make_unique<endpoint>(io, test_options(2));
    connect_pair(io, a, 1, *b, 2);
    const tcp::endpoint b_ep = b->ep();

    bool stopped = false;
    b->t.async_stop([&] { stopped = true; });
    REQUIRE(run_until(io, [&] { return stopped; }));
    b.reset();
    REQUIRE(run_until(io, [&] { return contains(a.unreachable, 2) && !a.stats(2).connected; }));
    CHECK(a.log->contains("lost the connection to node 2"));

    // While it is down: dropped at once, counted, never queued; a snapshot fails.
    const auto before = a.stats(2);
    raftpp::detail::splitmix64 rng(test_seed());
    for (std::uint64_t i = 0; i < 10; ++i) a.t.send(small_message(1, 2, i));
    message snap = random_message(rng, 1, 2, 10);
    snap.type = message_type::snap;
    snap.entries.clear();
    snap.snapshot = std::make_shared<snapshot>();
    a.t.send(std::move(snap));
    const auto down = a.stats(2);
    CHECK(down.dropped_down == before.dropped_down + 11);
    CHECK(down.queued_messages == 0);
    REQUIRE(run_until(io, [&] { return contains(a.snaps_failed, 2); }));
    // Redialling meanwhile fails (connection refused) and is counted.
    REQUIRE(run_until(io, [&] { return a.stats(2).dial_failures >= 2; }));

    auto o = test_options(2);
    o.listen = b_ep;
    endpoint b2(io, o);
    REQUIRE(run_until(io, [&] { return a.stats(2).connected; }));
    CHECK(a.stats(2).reconnects == 1);
    CHECK(a.log->contains("connected to node 2"));
    for (std::uint64_t i = 100; i < 110; ++i) a.t.send(small_message(1, 2, i));
    REQUIRE(run_until(io, [&] { return b2.received.size() == 10; }));
    for (std::uint64_t i = 0; i < 10; ++i) CHECK(b2.received[i].reject_hint == 100 + i);
}

// A restarted member dials the leader at once; the leader's own link to it would wait out its
// backoff (up to backoff_max) and leave the member without appends meanwhile. An inbound
// handshake from the node says it is up: the link redials now.
TEST_CASE("a peer that dials us is redialled at once, not after the backoff", "[net]") {
    boost::asio::io_context io;
    auto oa = test_options(1);
    oa.backoff_min = 30s;
    oa.backoff_max = 60s;
    endpoint a(io, oa);
    // Node 2's port, closed: a's first dial is refused and its redial waits 30 s.
    tcp::endpoint b_ep;
    {
        auto probe = std::make_unique<endpoint>(io, test_options(2));
        b_ep = probe->ep();
        bool stopped = false;
        probe->t.async_stop([&] { stopped = true; });
        REQUIRE(run_until(io, [&] { return stopped; }));
    }
    REQUIRE(a.t.add_peer(2, b_ep));
    REQUIRE(run_until(io, [&] { return a.stats(2).dial_failures == 1; }));

    auto ob = test_options(2);
    ob.listen = b_ep;
    endpoint b(io, ob);
    REQUIRE(b.t.add_peer(1, a.ep()));
    // Well before the 30 s backoff: b's handshake to a made a dial b again.
    REQUIRE(run_until(io, [&] { return a.stats(2).connected; }, 5s));
    a.t.send(small_message(1, 2, 1));
    REQUIRE(run_until(io, [&] { return b.received.size() == 1; }));
}

TEST_CASE("update_peer moves a peer to a new address", "[net]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1)), b(io, test_options(2)), b_new(io, test_options(2));
    REQUIRE(a.t.add_peer(2, b.ep()));
    REQUIRE(run_until(io, [&] { return a.stats(2).connected; }));
    a.t.send(small_message(1, 2, 1));
    REQUIRE(run_until(io, [&] { return b.received.size() == 1; }));

    REQUIRE(a.t.update_peer(2, b_new.ep()));
    REQUIRE(run_until(io, [&] { return b_new.received.size() == 0 && a.stats(2).connected &&
                                       a.log->contains("moves from"); }));
    a.t.send(small_message(1, 2, 2));
    REQUIRE(run_until(io, [&] { return b_new.received.size() == 1; }));
    CHECK(b.received.size() == 1);
    CHECK_FALSE(a.t.update_peer(9, b.ep()));
}

TEST_CASE("bad input and strangers are cut off while the other peers keep going", "[net]") {
    boost::asio::io_context io;
    auto oa = test_options(1);
    oa.max_frame = 4096;
    endpoint a(io, oa), b(io, test_options(2));
    REQUIRE(b.t.add_peer(1, a.ep()));
    REQUIRE(run_until(io, [&] { return b.stats(1).connected; }));

    std::uint64_t seq = 0;
    auto b_keeps_going = [&] {
        const std::size_t want = a.from(2).size() + 10;
        for (int i = 0; i < 10; ++i) b.t.send(small_message(2, 1, seq++));
        return run_until(io, [&] { return a.from(2).size() == want; });
    };
    REQUIRE(b_keeps_going());

    const net::handshake ok{7, 5, 1};
    std::vector<std::byte> bad_crc = frames({ok, small_message(5, 1, 0)});
    bad_crc.back() ^= std::byte{1};
    message big = small_message(5, 1, 0);
    big.context = buffer(std::string(8000, 'x'));
    std::vector<std::byte> garbage(64, std::byte{'g'});
    struct {
        std::string_view name;
        std::vector<std::byte> bytes;
        std::string_view logged;
    } cases[] = {
        {"garbage", garbage, "bad magic"},
        {"bad CRC", bad_crc, "CRC mismatch"},
        {"frame too long", frames({ok, big}, 1 << 20), "frame too long"},
        {"message before the handshake", frames({small_message(5, 1, 0)}), "before the handshake"},
        {"a second handshake", frames({ok, ok}), "a second handshake"},
        {"wrong cluster", frames({net::handshake{99, 5, 1}}), "belongs to cluster 99"},
        {"wrong receiver", frames({net::handshake{7, 5, 4}}), "dialled node 4, but this is node 1"},
        {"no sender", frames({net::handshake{7, 0, 1}}), "claims to come from node 0"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        raw_client c(io, a.ep());
        c.write(tc.bytes);
        REQUIRE(run_until(io, [&] { return c.closed; }));
        CHECK(a.log->contains(tc.logged));
        CHECK(b_keeps_going());
    }
    CHECK(a.from(5).empty());

    // A transport of another cluster is refused (and keeps being refused as it redials).
    endpoint stranger(io, test_options(3, 99));
    REQUIRE(stranger.t.add_peer(1, a.ep()));
    for (int i = 0; i < 5; ++i) stranger.t.send(small_message(3, 1, i));
    REQUIRE(run_until(io, [&] { return stranger.stats(1).reconnects >= 2; }));
    CHECK(a.log->contains("node 3 belongs to cluster 99, not to ours (7)"));
    CHECK(a.from(3).empty());
    CHECK(contains(stranger.unreachable, 1));
    // Refused right after each handshake, it backs off instead of redialling in a loop.
    const auto redials = stranger.stats(1).reconnects;
    run_for(io, 1s);
    CHECK(stranger.stats(1).reconnects - redials <= 15);
    CHECK(b_keeps_going());
}

TEST_CASE("a message whose sender or receiver disagrees with the handshake is dropped, once "
          "logged, and the connection stays", "[net]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1));
    raw_client c(io, a.ep());
    c.write(frames({net::handshake{7, 5, 1}, small_message(6, 1, 0), small_message(5, 2, 1),
                    small_message(6, 1, 2), small_message(5, 1, 3)}));
    REQUIRE(run_until(io, [&] { return a.received.size() == 1; }));
    CHECK(a.received[0].reject_hint == 3);
    CHECK(a.log->contains("dropping a heartbeat from 6 to 1 on the connection of node 5"));
    std::size_t logged = 0;
    for (const auto& l : a.log->lines) logged += l.find("dropping") != std::string::npos;
    CHECK(logged == 1);
    CHECK_FALSE(c.closed);
}

TEST_CASE("a slow reader makes the sender's queue drop, not grow", "[net]") {
    boost::asio::io_context io;
    // A peer that accepts and never reads.
    tcp::acceptor sink(io, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    tcp::socket sink_conn(io);
    bool accepted = false;
    sink.async_accept(sink_conn, [&](auto ec) { accepted = !ec; });

    auto o = test_options(1);
    o.queue_messages = 64;
    o.queue_bytes = std::size_t{1} << 20;
    o.write_timeout = 60s;  // this test is about the queue, not the deadline
    endpoint a(io, o);
    REQUIRE(a.t.add_peer(9, sink.local_endpoint()));
    REQUIRE(run_until(io, [&] { return accepted && a.stats(9).connected; }));

    message m = small_message(1, 9, 0);
    m.type = message_type::app;
    m.entries.push_back({1, 1, entry_type::normal, buffer(std::string(64 << 10, 'p'))});
    constexpr std::size_t total = 3000;  // ~190 MiB offered, far beyond the socket buffers
    std::size_t peak_messages = 0, peak_bytes = 0;
    for (std::size_t i = 0; i < total; ++i) {
        a.t.send(message(m));
        if (i % 8 == 0) io.poll();
        const auto s = a.stats(9);
        peak_messages = std::max(peak_messages, s.queued_messages);
        peak_bytes = std::max(peak_bytes, s.queued_bytes);
    }
    const auto s = a.stats(9);
    CHECK(s.connected);
    CHECK(s.dropped_full > 0);
    CHECK(peak_messages <= 64);
    CHECK(peak_bytes <= o.queue_bytes);
    CHECK(s.messages_sent + s.dropped_full + s.queued_messages <= total);
    CHECK(s.messages_sent < total / 4);
    REQUIRE(run_until(io, [&] { return contains(a.unreachable, 9); }));
}

TEST_CASE("a peer that stops reading is cut off by the write deadline", "[net]") {
    boost::asio::io_context io;
    tcp::acceptor sink(io, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    tcp::socket sink_conn(io);
    bool accepted = false;
    sink.async_accept(sink_conn, [&](auto ec) { accepted = !ec; });

    auto o = test_options(1);
    o.write_timeout = 300ms;
    endpoint a(io, o);
    REQUIRE(a.t.add_peer(9, sink.local_endpoint()));
    REQUIRE(run_until(io, [&] { return accepted && a.stats(9).connected; }));
    message m = small_message(1, 9, 0);
    m.type = message_type::app;
    m.entries.push_back({1, 1, entry_type::normal, buffer(std::string(64 << 10, 'p'))});
    // More than the socket buffers on both ends hold, in one batch.
    for (int i = 0; i < 600; ++i) a.t.send(message(m));
    REQUIRE(run_until(io, [&] { return !a.stats(9).connected; }, 5s));
    CHECK(a.log->contains("write (the peer stopped reading)"));
    CHECK(contains(a.unreachable, 9));
}

TEST_CASE("a peer that stalls mid-frame is cut off by the read deadline; an idle one is not",
          "[net]") {
    boost::asio::io_context io;
    auto o = test_options(1);
    o.read_timeout = 300ms;
    endpoint a(io, o);

    std::vector<std::byte> half = frames({net::handshake{7, 5, 1}, small_message(5, 1, 0)});
    half.resize(half.size() - 10);
    raw_client stalled(io, a.ep());
    stalled.write(half);
    raw_client silent(io, a.ep());  // never even sends its handshake
    raw_client idle(io, a.ep());    // whole frames, then nothing: fine
    idle.write(frames({net::handshake{7, 6, 1}, small_message(6, 1, 0)}));

    REQUIRE(run_until(io, [&] { return stalled.closed && silent.closed; }, 5s));
    CHECK(a.log->contains("stalled in the middle of a frame"));
    CHECK(a.log->contains("no handshake"));
    run_for(io, 1s);  // more than three read timeouts
    CHECK_FALSE(idle.closed);
    CHECK(a.from(6).size() == 1);
    CHECK(a.from(5).empty());
}

TEST_CASE("connections beyond max_inbound are closed at once", "[net]") {
    boost::asio::io_context io;
    auto o = test_options(1);
    o.max_inbound = 2;
    endpoint a(io, o);
    raw_client c1(io, a.ep()), c2(io, a.ep());
    c1.write(frames({net::handshake{7, 5, 1}, small_message(5, 1, 0)}));
    c2.write(frames({net::handshake{7, 6, 1}, small_message(6, 1, 0)}));
    REQUIRE(run_until(io, [&] { return a.received.size() == 2; }));
    raw_client c3(io, a.ep());
    REQUIRE(run_until(io, [&] { return c3.closed; }));
    CHECK(a.log->contains("are open already (max_inbound)"));
    CHECK_FALSE(c1.closed);
    CHECK_FALSE(c2.closed);
    // Once one closes, there is room again.
    c1.socket.close();
    c1.closed = true;
    REQUIRE(run_until(io, [&] { return a.log->contains("(node 5): closed by the peer"); }));
    raw_client c4(io, a.ep());
    c4.write(frames({net::handshake{7, 8, 1}, small_message(8, 1, 0)}));
    REQUIRE(run_until(io, [&] { return a.received.size() == 3; }));
    CHECK_FALSE(c4.closed);
}

TEST_CASE("remove_peer closes its connections and its messages go nowhere", "[net]") {
    boost::asio::io_context io;
    endpoint a(io, test_options(1)), b(io, test_options(2));
    connect_pair(io, a, 1, b, 2);

    REQUIRE(a.t.remove_peer(2));
    CHECK_FALSE(a.t.stats(2).has_value());
    CHECK_FALSE(a.t.remove_peer(2));
    // a closed both: b's inbound from a sees the close, b's outbound to a is lost.
    REQUIRE(run_until(io, [&] { return contains(b.unreachable, 1); }));
    REQUIRE(run_until(io, [&] { return b.log->contains("(node 1): closed by the peer"); }));
    a.t.send(small_message(1, 2, 0));
    CHECK(a.t.dropped_unknown() == 1);

    // b redials; a still accepts a node it does not send to (a membership change in flight).
    REQUIRE(run_until(io, [&] { return b.stats(1).connected && b.stats(1).reconnects == 1; }));
    b.t.send(small_message(2, 1, 7));
    REQUIRE(run_until(io, [&] { return a.received.size() == 1; }));
    run_for(io, 100ms);
    CHECK(b.received.empty());
}

TEST_CASE("stop closes everything and the io_context runs out of work", "[net]") {
    boost::asio::io_context io;
    {
        std::deque<endpoint> n;
        for (node_id id = 1; id <= 3; ++id) n.emplace_back(io, test_options(id));
        for (node_id i = 1; i <= 3; ++i)
            for (node_id j = 1; j <= 3; ++j)
                if (i != j) REQUIRE(n[i - 1].t.add_peer(j, n[j - 1].ep()));
        REQUIRE(run_until(io, [&] { return n[0].stats(2).connected && n[2].stats(1).connected; }));
        // Traffic in flight, a sender that outlives its transport, a peer never dialled.
        raftpp::detail::splitmix64 rng(test_seed());
        for (std::uint64_t k = 0; k < 200; ++k) n[0].t.send(random_message(rng, 1, 2, k));
        auto survivor = n[0].t.get_sender();
        REQUIRE(n[1].t.add_peer(4, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 1)));
        for (auto& e : n) e.t.stop();
        const auto dropped = n[0].stats(2).dropped_down;
        survivor.send(small_message(1, 2, 0));
        CHECK(n[0].stats(2).dropped_down == dropped + 1);
        CHECK_FALSE(n[0].t.add_peer(5, n[1].ep()));
    }  // the transports are gone; their handlers still hold what they touch
    if (io.stopped()) io.restart();
    const auto start = std::chrono::steady_clock::now();
    io.run_for(10s);
    CHECK(io.stopped());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a transport destroyed before its io_context ever ran leaves nothing behind", "[net]") {
    boost::asio::io_context io;
    {
        endpoint a(io, test_options(1));
        REQUIRE(a.t.add_peer(2, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 1)));
        a.t.send(small_message(1, 2, 0));
    }
    const auto start = std::chrono::steady_clock::now();
    io.run_for(10s);
    CHECK(io.stopped());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}
