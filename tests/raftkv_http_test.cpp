// raftkv::http (examples/raftkv/http.hpp): the server on 127.0.0.1 with a kernel-chosen port,
// an io_context run by two threads, driven by the blocking client and by raw sockets that
// misbehave; and the target parser. Every wait is bounded; none is a sleep.
#include <catch2/catch.hpp>

#include <raftkv/http.hpp>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>

using namespace std::chrono_literals;
namespace http = raftkv::http;
using boost::asio::ip::tcp;
using http::status;
using http::verb;

namespace {

// Polls a condition for up to `limit`, in small steps.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// Requests the handler keeps for the test to answer, with a bounded wait for the next one.
struct held_requests {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<http::request, http::reply>> queue;

    void push(http::request&& req, http::reply rep) {
        {
            std::lock_guard lock(mu);
            queue.emplace_back(std::move(req), std::move(rep));
        }
        cv.notify_all();
    }
    std::pair<http::request, http::reply> pop(std::chrono::milliseconds limit = 5s) {
        std::unique_lock lock(mu);
        REQUIRE(cv.wait_for(lock, limit, [&] { return !queue.empty(); }));
        auto front = std::move(queue.front());
        queue.pop_front();
        return front;
    }
};

// A server with a few routes on an io_context run by two threads.
//   /echo   200, "<METHOD> <body>", the client's port in x-remote-port
//   /hold   kept in `held` for the test to answer
//   /throw  throws
//   /drop   lets the reply go uncalled
struct fixture {
    explicit fixture(http::server_limits limits = {}) {
        tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
        server.emplace(io.get_executor(), std::move(acceptor),
                       [this](http::request&& req, http::reply rep) { route(std::move(req), rep); },
                       limits);
        server->start();
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    }
    ~fixture() { shutdown(); }

    // Stops the server and lets the io_context finish the closes stop() posted (bounded).
    void shutdown() {
        if (threads.empty()) return;
        server->stop();
        work.reset();
        CHECK(eventually([&] { return io.stopped(); }));
        io.stop();
        for (auto& t : threads) t.join();
        threads.clear();
        server.reset();
    }

    std::uint16_t port() const { return server->local_endpoint().port(); }

    void route(http::request&& req, const http::reply& rep) {
        {
            std::lock_guard lock(mu);
            client_ports.insert(rep.remote_endpoint().port());
        }
        const std::string t(req.target());
        if (t == "/echo") {
            auto res = http::make_response(
                req, status::ok, std::string(req.method_string()) + " " + req.body());
            res.set("x-remote-port", std::to_string(rep.remote_endpoint().port()));
            rep(std::move(res));
        } else if (t == "/hold") {
            held.push(std::move(req), rep);
        } else if (t == "/throw") {
            throw std::runtime_error("boom\nsecond line");
        } else if (t == "/drop") {
            // nothing: the last copy of the reply goes with this frame
        } else {
            rep(http::error_response(req, status::not_found, "no route " + t));
        }
    }

    std::size_t distinct_clients() {
        std::lock_guard lock(mu);
        return client_ports.size();
    }

    using work_guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
    // What the handler touches comes first, so it outlives the server.
    held_requests held;
    std::mutex mu;
    std::set<std::uint16_t> client_ports;  // guarded by mu
    boost::asio::io_context io;
    work_guard work{io.get_executor()};
    std::optional<http::server> server;
    std::vector<std::thread> threads;
};

// A socket that sends what the test says and reads what comes back, each step bounded.
class raw_socket {
public:
    explicit raw_socket(std::uint16_t port) : socket_(io_) {
        socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    }
    void send(std::string_view bytes) {
        boost::asio::write(socket_, boost::asio::buffer(bytes.data(), bytes.size()));
    }
    // Up to and including `delim`.
    std::string read_until(std::string_view delim, std::chrono::milliseconds limit = 5s) {
        boost::system::error_code ec;
        std::size_t n = 0;
        boost::asio::async_read_until(socket_, boost::asio::dynamic_buffer(data_), delim,
            [&](boost::system::error_code e, std::size_t k) { ec = e, n = k; });
        drive(limit);
        REQUIRE_FALSE(ec);
        std::string out = data_.substr(0, n);
        data_.erase(0, n);
        return out;
    }
    // Everything until the server closes; fails the test if it does not within `limit`.
    std::string read_to_eof(std::chrono::milliseconds limit = 5s) {
        boost::system::error_code ec;
        boost::asio::async_read(socket_, boost::asio::dynamic_buffer(data_),
            [&](boost::system::error_code e, std::size_t) { ec = e; });
        drive(limit);
        CHECK((ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset));
        return std::exchange(data_, {});
    }

private:
    void drive(std::chrono::milliseconds limit) {
        io_.restart();
        io_.run_for(limit);
        REQUIRE(io_.stopped());  // else the operation is still pending: the limit passed
    }
    boost::asio::io_context io_;
    tcp::socket socket_;
    std::string data_;
};

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

TEST_CASE("requests over one kept-alive connection", "[raftkv][http]") {
    fixture f;
    http::client c("127.0.0.1", f.port());
    for (int i = 0; i < 5; ++i) {
        auto res = c.request(verb::put, "/echo", "v" + std::to_string(i));
        REQUIRE(res.result() == status::ok);
        CHECK(res.body() == "PUT v" + std::to_string(i));
        CHECK(res[http::field::server] == "raftkv");
        CHECK(res[http::field::content_type] == "text/plain");
        CHECK(res.keep_alive());
    }
    auto missing = c.request(verb::get, "/nowhere");
    CHECK(missing.result() == status::not_found);
    CHECK(missing.body() == "no route /nowhere\n");
    CHECK(f.distinct_clients() == 1);
    CHECK(f.server->stats().accepted == 1);
    CHECK(f.server->stats().open == 1);
}

TEST_CASE("a reply given later from another thread", "[raftkv][http]") {
    fixture f;
    auto pending = std::async(std::launch::async, [&] {
        http::client c("127.0.0.1", f.port());
        return c.request(verb::post, "/hold", "later");
    });
    auto [req, rep] = f.held.pop();
    CHECK(req.body() == "later");
    std::thread replier([&req = req, rep = rep] {
        rep(http::make_response(req, status::created, "done", "application/json"));
        rep(http::make_response(req, status::ok, "second call is ignored"));
    });
    replier.join();
    REQUIRE(pending.wait_for(5s) == std::future_status::ready);
    auto res = pending.get();
    CHECK(res.result() == status::created);
    CHECK(res.body() == "done");
    CHECK(res[http::field::content_type] == "application/json");
}

TEST_CASE("many clients at once on two threads", "[raftkv][http]") {
    fixture f;
    std::vector<std::future<int>> clients;
    for (int k = 0; k < 8; ++k)
        clients.push_back(std::async(std::launch::async, [&, k] {
            http::client c("127.0.0.1", f.port());
            int ok = 0;
            for (int i = 0; i < 50; ++i) {
                const auto body = std::to_string(k) + "/" + std::to_string(i);
                auto res = c.request(verb::put, "/echo", body);
                ok += res.result() == status::ok && res.body() == "PUT " + body;
            }
            return ok;
        }));
    for (auto& c : clients) {
        REQUIRE(c.wait_for(30s) == std::future_status::ready);
        CHECK(c.get() == 50);
    }
    CHECK(f.distinct_clients() == 8);
    CHECK(f.server->stats().accepted == 8);
}

TEST_CASE("a body over the limit gets 413", "[raftkv][http]") {
    http::server_limits limits;
    limits.max_body = 1024;
    fixture f(limits);
    http::client c("127.0.0.1", f.port());
    CHECK(c.request(verb::put, "/echo", std::string(1024, 'x')).result() == status::ok);
    auto res = c.request(verb::put, "/echo", std::string(4096, 'x'));
    CHECK(res.result() == status::payload_too_large);
    CHECK(res.body() == "request body over 1024 bytes\n");
    CHECK_FALSE(res.keep_alive());
    // The client dials again after the close.
    CHECK(c.request(verb::put, "/echo", "small").body() == "PUT small");

    SECTION("chunked, where the length is known only while reading") {
        raw_socket s(f.port());
        s.send("PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
               std::string(0x800, 'y') + "\r\n0\r\n\r\n");
        CHECK(starts_with(s.read_to_eof(), "HTTP/1.1 413 "));
    }
}

TEST_CASE("a header over the limit gets 431", "[raftkv][http]") {
    http::server_limits limits;
    limits.max_header = 1024;
    fixture f(limits);
    raw_socket s(f.port());
    s.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    CHECK(starts_with(s.read_to_eof(), "HTTP/1.1 431 "));
}

TEST_CASE("garbage gets 400 and the connection closed", "[raftkv][http]") {
    fixture f;
    raw_socket s(f.port());
    s.send("\x01\x02 not http at all\r\n\r\n");
    const auto got = s.read_to_eof();
    CHECK(starts_with(got, "HTTP/1.1 400 "));
    CHECK(got.find("Connection: close") != std::string::npos);
    CHECK(got.find("\r\n\r\nbad request: ") != std::string::npos);
    // The server is still there for others.
    http::client c("127.0.0.1", f.port());
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
}

TEST_CASE("Connection: close and HTTP/1.0 are honoured", "[raftkv][http]") {
    fixture f;
    SECTION("Connection: close") {
        raw_socket s(f.port());
        s.send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const auto got = s.read_to_eof();
        CHECK(starts_with(got, "HTTP/1.1 200 "));
        CHECK(got.find("\r\n\r\nGET ") != std::string::npos);
    }
    SECTION("HTTP/1.0 without keep-alive") {
        raw_socket s(f.port());
        s.send("GET /echo HTTP/1.0\r\n\r\n");
        CHECK(starts_with(s.read_to_eof(), "HTTP/1.0 200 "));
    }
    SECTION("HTTP/1.0 with keep-alive stays open") {
        raw_socket s(f.port());
        s.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(starts_with(s.read_until("GET "), "HTTP/1.0 200 "));
        s.send("GET /echo HTTP/1.0\r\n\r\n");
        CHECK(starts_with(s.read_to_eof(), "HTTP/1.0 200 "));
    }
    SECTION("pipelined requests are answered in order") {
        raw_socket s(f.port());
        s.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na"
               "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nb");
        const auto got = s.read_to_eof();
        CHECK(got.find("PUT a") < got.find("PUT b"));
        CHECK(got.find("PUT b") != std::string::npos);
    }
}

TEST_CASE("Expect: 100-continue is answered before the body", "[raftkv][http]") {
    fixture f;
    raw_socket s(f.port());
    s.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    CHECK(s.read_until("\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n");
    s.send("abc");
    CHECK(s.read_until("PUT abc").find("HTTP/1.1 200 ") == 0);
}

TEST_CASE("a handler that throws yields 500 and the server keeps serving", "[raftkv][http]") {
    fixture f;
    http::client c("127.0.0.1", f.port());
    auto res = c.request(verb::get, "/throw");
    CHECK(res.result() == status::internal_server_error);
    CHECK(res.body() == "internal error: boom second line\n");
    CHECK(res.keep_alive());
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
    auto dropped = c.request(verb::get, "/drop");
    CHECK(dropped.result() == status::internal_server_error);
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
    CHECK(f.server->stats().accepted == 1);
}

TEST_CASE("stop with a request waiting, then the late reply is dropped", "[raftkv][http]") {
    auto f = std::make_unique<fixture>();
    auto pending = std::async(std::launch::async, [&, port = f->port()] {
        http::client c("127.0.0.1", port);
        return c.request(verb::get, "/hold");
    });
    auto [req, rep] = f->held.pop();
    f->server->stop();
    REQUIRE(pending.wait_for(5s) == std::future_status::ready);
    CHECK_THROWS_AS(pending.get(), boost::system::system_error);
    rep(http::make_response(req, status::ok, "too late"));  // the connection may still exist

    SECTION("and again once the server and its io_context are gone") {
        auto [req2, rep2] = std::pair{req, rep};
        f.reset();
        rep2(http::make_response(req2, status::ok, "later still"));
    }
    SECTION("new connections are refused") {
        http::client c("127.0.0.1", f->port());
        CHECK_THROWS_AS(c.request(verb::get, "/echo", {}, 2s), boost::system::system_error);
    }
}

TEST_CASE("a late reply after the fixture is gone, never called before", "[raftkv][http]") {
    http::reply kept;
    {
        fixture f;
        auto pending = std::async(std::launch::async, [&] {
            http::client c("127.0.0.1", f.port());
            return c.request(verb::get, "/hold");
        });
        kept = f.held.pop().second;
        f.shutdown();
        REQUIRE(pending.wait_for(5s) == std::future_status::ready);
        CHECK_THROWS(pending.get());
    }
    kept(http::response{status::ok, 11});  // and its destructor runs after this: both harmless
}

TEST_CASE("beyond max_connections new connections are closed at once", "[raftkv][http]") {
    http::server_limits limits;
    limits.max_connections = 1;
    fixture f(limits);
    {
        http::client c("127.0.0.1", f.port());
        CHECK(c.request(verb::get, "/echo").result() == status::ok);
        raw_socket over(f.port());
        CHECK(over.read_to_eof() == "");
        CHECK(f.server->stats().rejected == 1);
    }
    // The client's close frees the place (the server learns of it on its own time).
    REQUIRE(eventually([&] { return f.server->stats().open == 0; }));
    http::client c("127.0.0.1", f.port());
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
}

TEST_CASE("idle connections are closed", "[raftkv][http]") {
    http::server_limits limits;
    // Short, yet long enough for a request to get through a loaded (sanitized) test machine.
    limits.idle_timeout = 1000ms;
    limits.max_connections = 1;  // so a new connection works only once the idle one is gone
    fixture f(limits);
    raw_socket idle(f.port());
    CHECK(idle.read_to_eof() == "");  // nothing sent: closed after idle_timeout
    // The deadline closes the socket a moment before the server counts the connection gone.
    REQUIRE(eventually([&] { return f.server->stats().open == 0; }));
    http::client c("127.0.0.1", f.port());
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
    // A client whose kept-alive connection timed out dials again.
    REQUIRE(eventually([&] { return f.server->stats().open == 0; }));
    CHECK(c.request(verb::get, "/echo").result() == status::ok);
    CHECK(f.server->stats().accepted == 3);
}

TEST_CASE("make_response keeps the request's version and keep-alive", "[raftkv][http]") {
    http::request req{verb::get, "/x", 10};
    auto res = http::make_response(req, status::ok, "b", "application/json");
    CHECK(res.version() == 10);
    CHECK_FALSE(res.keep_alive());
    CHECK(res[http::field::content_type] == "application/json");
    CHECK(res[http::field::content_length] == "1");
    http::request req11{verb::get, "/x", 11};
    auto err = http::error_response(req11, status::conflict, "no");
    CHECK(err.version() == 11);
    CHECK(err.keep_alive());
    CHECK(err.body() == "no\n");
}

TEST_CASE("parse_target", "[raftkv][http]") {
    SECTION("path and query, decoded") {
        auto t = http::parse_target("/kv/a%20b%2Fc+d?serializable&rev=3&q=x+y%26z&empty=");
        REQUIRE(t);
        CHECK(t->path == "/kv/a b/c+d");  // '+' is literal in a path
        CHECK(t->has("serializable"));
        CHECK(t->get("serializable") == "");
        CHECK(t->get("rev") == "3");
        CHECK(t->get("q") == "x y&z");
        CHECK(t->get("empty") == "");
        CHECK_FALSE(t->has("missing"));
        CHECK_FALSE(t->get("missing"));
    }
    SECTION("no query, empty query, stray ampersands, repeated keys") {
        CHECK(http::parse_target("/members")->query.empty());
        CHECK(http::parse_target("/members?")->query.empty());
        auto t = http::parse_target("/x?&a=1&&a=2&");
        REQUIRE(t);
        CHECK(t->query.size() == 2);
        CHECK(t->get("a") == "1");
    }
    SECTION("escapes: any case, any byte; keys are decoded too") {
        auto t = http::parse_target("/%e2%82%AC%00?%6B%65y=%2b");
        REQUIRE(t);
        CHECK(t->path == std::string("/\xe2\x82\xac\0", 5));
        CHECK(t->get("key") == "+");
    }
    SECTION("bad escapes and bad targets") {
        CHECK_FALSE(http::parse_target("/kv/%"));
        CHECK_FALSE(http::parse_target("/kv/%2"));
        CHECK_FALSE(http::parse_target("/kv/%zz"));
        CHECK_FALSE(http::parse_target("/kv?a=%g0"));
        CHECK_FALSE(http::parse_target("/kv?%=1"));
        CHECK_FALSE(http::parse_target(""));
        CHECK_FALSE(http::parse_target("kv/a"));
        CHECK_FALSE(http::parse_target("http://host/kv/a"));
    }
    SECTION("percent_encode round-trips through parse_target") {
        const std::string key("a b/c+d?e&f=g%h~_.-\x01\xff", 21);
        const auto enc = http::percent_encode(key);
        CHECK(enc.find_first_of(" /+?&=") == std::string::npos);
        auto t = http::parse_target("/kv/" + enc + "?v=" + enc);
        REQUIRE(t);
        CHECK(t->path == "/kv/" + key);
        CHECK(t->get("v") == key);
        CHECK(http::percent_encode("AZaz09-._~") == "AZaz09-._~");
        CHECK(http::percent_encode(" /") == "%20%2F");
    }
}
