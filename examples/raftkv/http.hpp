// raftkv::http — the HTTP/1.1 plumbing of raftkv: a keep-alive server that hands each request
// to one handler and writes whatever that handler replies, possibly later and from another
// thread (after a raft commit); the target parser the routes use; and a small blocking client
// for the tests and the benchmark. Nothing here knows about raft or about the routes.
//
//   boost::asio::io_context io;
//   tcp::acceptor acc(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
//   http::server srv(io.get_executor(), std::move(acc),
//       [](http::request&& req, http::reply rep) {
//           rep(http::make_response(req, boost::beast::http::status::ok, "hello\n"));
//       });
//   srv.start();                        // then run io on as many threads as you like
//
// Threads: each connection runs on its own strand; the handler is called on it, so it runs
// concurrently for different connections and must return promptly (hand slow work elsewhere
// and reply later). A reply may be called from any thread. start(), stop() and stats() may be
// called from any thread. Lifetime: destroy the server before its io_context.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>

namespace raftkv::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;
using status = boost::beast::http::status;
using verb = boost::beast::http::verb;
using field = boost::beast::http::field;

using request = beast::http::request<beast::http::string_body>;
using response = beast::http::response<beast::http::string_body>;

struct server_limits {
    std::size_t max_body = 1 << 20;                  // larger bodies get 413
    std::size_t max_header = 8 * 1024;              // larger headers get 431
    std::chrono::milliseconds idle_timeout{60000};  // to read one request, or write one reply
    std::size_t max_connections = 4096;             // beyond it, new connections are closed
};

// Counters for /metrics.
struct server_stats {
    std::uint64_t accepted = 0;  // connections admitted since start
    std::uint64_t rejected = 0;  // connections closed at once (over max_connections, or stopped)
    std::size_t open = 0;        // connections admitted and not yet closed
};

// ---------------------------------------------------------------------------------------------
// Responses

namespace detail {

// Error bodies are one line: a newline inside a message would forge a second one.
inline std::string one_line(std::string_view s) {
    std::string out(s);
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return out;
}

inline response plain(unsigned version, bool keep_alive, status st, std::string_view message) {
    response res{st, version};
    res.set(field::content_type, "text/plain");
    res.keep_alive(keep_alive);
    res.body() = one_line(message) + "\n";
    res.prepare_payload();
    return res;
}

}  // namespace detail

// A response to `req` that keeps its HTTP version and keep-alive.
inline response make_response(const request& req, status st, std::string body,
                              std::string_view content_type = "text/plain") {
    response res{st, req.version()};
    res.set(field::content_type, beast::string_view(content_type.data(), content_type.size()));
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// A text/plain response whose body is `one_line_message` and a newline.
inline response error_response(const request& req, status st, std::string_view one_line_message) {
    return detail::plain(req.version(), req.keep_alive(), st, one_line_message);
}

// ---------------------------------------------------------------------------------------------
// Targets

struct target {
    std::string path;                                         // percent-decoded
    std::vector<std::pair<std::string, std::string>> query;  // decoded, in order; `?k` is {k, ""}
    bool has(std::string_view key) const {
        return std::any_of(query.begin(), query.end(),
                           [&](const auto& kv) { return kv.first == key; });
    }
    // The first value of `key`.
    std::optional<std::string> get(std::string_view key) const {
        for (const auto& [k, v] : query)
            if (k == key) return v;
        return std::nullopt;
    }
};

namespace detail {

inline int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// nullopt on a `%` not followed by two hex digits.
inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
        }
    }
    return out;
}

}  // namespace detail

// Splits an origin-form target ("/kv/a%20b?serializable&rev=3") into its decoded path and query.
// `+` means a space in the query only (the form encoding), not in the path. nullopt when the
// target does not start with '/' or holds a bad escape.
inline std::optional<target> parse_target(std::string_view raw) {
    if (raw.empty() || raw.front() != '/') return std::nullopt;
    const auto q = raw.find('?');
    target t;
    auto path = detail::percent_decode(raw.substr(0, q), false);
    if (!path) return std::nullopt;
    t.path = std::move(*path);
    std::string_view rest = q == std::string_view::npos ? std::string_view{} : raw.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto part = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (part.empty()) continue;  // "a&&b"
        const auto eq = part.find('=');
        auto key = detail::percent_decode(part.substr(0, eq), true);
        auto value = detail::percent_decode(
            eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
        if (!key || !value) return std::nullopt;
        t.query.emplace_back(std::move(*key), std::move(*value));
    }
    return t;
}

// Escapes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~), '/' included: the result
// is one path segment or one query value.
inline std::string percent_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The handler and its reply

namespace detail {

class connection;

// One request's right to answer. The connection is held weakly: a reply kept by a raft
// callback must not keep a socket (and its io_context's services) alive after the server.
struct reply_state {
    reply_state(std::weak_ptr<connection> c, tcp::endpoint r)
        : conn(std::move(c)), remote(std::move(r)) {}
    reply_state(const reply_state&) = delete;
    reply_state& operator=(const reply_state&) = delete;
    ~reply_state();  // if no copy of the reply was called: a 500, rather than a hang

    // True once: a second call, or a call racing the handler's exception, loses.
    bool claim() noexcept { return !done.exchange(true, std::memory_order_acq_rel); }

    std::weak_ptr<connection> conn;
    tcp::endpoint remote;
    std::atomic<bool> done{false};
};

}  // namespace detail

// The answer to one request: call it exactly once, from any thread, now or later. Copies share
// the one answer; calls after the first are ignored, as is a call after the connection or the
// server is gone. If every copy is destroyed uncalled, the client gets a 500.
class reply {
public:
    reply() = default;  // an empty reply: calling it does nothing
    void operator()(response res) const;
    // The client's address (for logs, and for telling connections apart).
    tcp::endpoint remote_endpoint() const { return state_ ? state_->remote : tcp::endpoint{}; }

private:
    friend class detail::connection;
    explicit reply(std::shared_ptr<detail::reply_state> s) : state_(std::move(s)) {}
    std::shared_ptr<detail::reply_state> state_;
};

// Called on the connection's strand with each request. An exception out of it becomes a 500
// (unless it had replied already); the connection stays open.
using handler = std::function<void(request&&, reply)>;

// ---------------------------------------------------------------------------------------------
// The server: one acceptor, a registry of live connections

namespace detail {

class server_state : public std::enable_shared_from_this<server_state> {
public:
    server_state(asio::any_io_executor ex, tcp::acceptor acceptor, handler h, server_limits l)
        : executor_(std::move(ex)), accept_strand_(asio::make_strand(executor_)),
          acceptor_(std::move(acceptor)), retry_(accept_strand_), handle(std::move(h)), limits(l) {
        beast::error_code ec;
        local_ = acceptor_.local_endpoint(ec);
    }

    void start();
    void stop();
    void forget(std::uint64_t id);
    tcp::endpoint local_endpoint() const { return local_; }
    server_stats stats() const {
        std::lock_guard lock(mu_);
        return {accepted_, rejected_, live_.size()};
    }

private:
    void accept();
    void on_accept(beast::error_code ec, tcp::socket socket);
    void admit(tcp::socket socket);

    asio::any_io_executor executor_;  // new connections get a strand of it
    asio::strand<asio::any_io_executor> accept_strand_;  // acceptor_ and retry_ live on it
    tcp::acceptor acceptor_;
    asio::steady_timer retry_;  // a pause after a failed accept (EMFILE), so as not to spin
    tcp::endpoint local_;

public:
    const handler handle;
    const server_limits limits;

private:
    mutable std::mutex mu_;
    bool stopped_ = false;  // guarded by mu_; once set, nothing is admitted
    std::uint64_t next_id_ = 0, accepted_ = 0, rejected_ = 0;              // guarded by mu_
    std::unordered_map<std::uint64_t, std::shared_ptr<connection>> live_;  // guarded by mu_
};

// One client: read a request, hand it over, wait for the reply, write it, read the next.
// Every member is used on the strand of stream_ only, except the constructor and the
// post-ing entry points (start, abort, deliver, deliver_dropped).
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(tcp::socket socket, std::shared_ptr<server_state> owner, std::uint64_t id)
        : stream_(std::move(socket)), owner_(std::move(owner)), id_(id) {
        beast::error_code ec;
        remote_ = stream_.socket().remote_endpoint(ec);
        // Replies are small and a client waits for each: Nagle would only add latency.
        stream_.socket().set_option(tcp::no_delay(true), ec);
    }
    std::uint64_t id() const { return id_; }

    void start() { run([](connection& c) { c.read_header(); }); }
    void abort() { run([](connection& c) { c.shut(); }); }
    void deliver(response res) {
        asio::post(stream_.get_executor(),
                   [self = shared_from_this(), res = std::move(res)]() mutable {
                       self->finish(std::move(res));
                   });
    }
    void deliver_dropped() {
        run([](connection& c) {
            c.finish(c.error(status::internal_server_error, "the request was dropped unanswered"));
        });
    }

private:
    template <class F>
    void run(F f) {
        asio::post(stream_.get_executor(), [self = shared_from_this(), f] { f(*self); });
    }
    const server_limits& limits() const { return owner_->limits; }
    response error(status st, std::string_view message) const {
        return plain(version_, keep_alive_, st, message);
    }

    void read_header() {
        if (closed_) return;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(limits().max_header, std::numeric_limits<std::uint32_t>::max())));
        parser_->body_limit(limits().max_body);
        // One deadline for the whole request: a client trickling bytes is bounded too.
        stream_.expires_after(limits().idle_timeout);
        beast::http::async_read_header(stream_, buffer_, *parser_,
            beast::bind_front_handler(&connection::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec || closed_) return on_read_error(ec);
        const auto& h = parser_->get();
        if (h.version() >= 11 && beast::iequals(h[field::expect], "100-continue")) {
            // The client holds the body back until told to go on (curl does, for big bodies).
            static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(stream_, asio::buffer(go_on.data(), go_on.size()),
                [self = shared_from_this()](beast::error_code wec, std::size_t) {
                    if (wec || self->closed_) return self->shut();
                    self->read_body();
                });
            return;
        }
        // A small body came in the header's packet: parse it from the buffer here rather than
        // through another composed read and a trip through the scheduler.
        while (!parser_->is_done() && buffer_.size() != 0) {
            beast::error_code pec;
            const std::size_t used = parser_->put(buffer_.data(), pec);
            buffer_.consume(used);
            if (pec == beast::http::error::need_more) break;
            if (pec) return on_read_error(pec);
            if (used == 0) break;
        }
        if (parser_->is_done()) return on_body({}, 0);
        read_body();
    }

    void read_body() {
        beast::http::async_read(stream_, buffer_, *parser_,
            beast::bind_front_handler(&connection::on_body, shared_from_this()));
    }

    void on_body(beast::error_code ec, std::size_t) {
        if (ec || closed_) return on_read_error(ec);
        stream_.expires_never();  // waiting for a raft commit is the route's to bound
        call_handler(parser_->release());
    }

    void on_read_error(beast::error_code ec) {
        using he = beast::http::error;
        if (closed_) return;
        keep_alive_ = false;
        version_ = 11;
        if (ec == he::body_limit)
            return send(error(status::payload_too_large,
                              "request body over " + std::to_string(limits().max_body) + " bytes"));
        if (ec == he::header_limit)
            return send(error(status::request_header_fields_too_large, "request header over " +
                              std::to_string(limits().max_header) + " bytes"));
        if (&ec.category() == &beast::error_code(he::bad_method).category() &&
            ec != he::end_of_stream && ec != he::partial_message)
            return send(error(status::bad_request, "bad request: " + ec.message()));
        shut();  // the peer left, the deadline passed, or the socket failed: nobody to answer
    }

    void call_handler(request req) {
        keep_alive_ = req.keep_alive();
        version_ = req.version();
        waiting_ = true;
        const auto state = std::make_shared<reply_state>(weak_from_this(), remote_);
        try {
            owner_->handle(std::move(req), reply{state});
        } catch (const std::exception& e) {
            if (state->claim()) finish(error(status::internal_server_error,
                                             std::string("internal error: ") + e.what()));
        } catch (...) {
            if (state->claim()) finish(error(status::internal_server_error, "internal error"));
        }
    }

    void finish(response res) {
        if (closed_ || !waiting_) return;  // stopped meanwhile: the reply is dropped
        waiting_ = false;
        send(std::move(res));
    }

    void send(response res) {
        try {
            decorate(res);
        } catch (const std::exception& e) {  // prepare_payload refuses, e.g., a body on a 204
            res = error(status::internal_server_error, std::string("bad response: ") + e.what());
            decorate(res);
        }
        last_ = res.need_eof();
        serialize(res, out_);
        stream_.expires_after(limits().idle_timeout);
        asio::async_write(stream_, asio::buffer(out_),
            beast::bind_front_handler(&connection::on_write, shared_from_this()));
    }

    // The response as bytes, by hand into one reused string: a reply is a status line, a few
    // fields and a sized body (prepare_payload never chooses chunked for a string body), and
    // one buffer is one write without the serializer's machinery.
    static void serialize(const response& res, std::string& out) {
        const unsigned code = res.result_int();
        const auto reason = res.reason();
        out.assign("HTTP/1.");
        out += res.version() == 10 ? '0' : '1';
        out += ' ';
        out += static_cast<char>('0' + code / 100 % 10);
        out += static_cast<char>('0' + code / 10 % 10);
        out += static_cast<char>('0' + code % 10);
        out += ' ';
        out.append(reason.data(), reason.size());
        out += "\r\n";
        for (const auto& f : res.base()) {
            out.append(f.name_string().data(), f.name_string().size());
            out += ": ";
            out.append(f.value().data(), f.value().size());
            out += "\r\n";
        }
        out += "\r\n";
        out += res.body();
    }

    void decorate(response& res) const {
        res.set(field::server, "raftkv");
        if (res.find(field::content_type) == res.end()) res.set(field::content_type, "text/plain");
        res.keep_alive(res.keep_alive() && keep_alive_);
        res.prepare_payload();
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec || closed_) return shut();
        if (out_.capacity() > 64 * 1024) std::string().swap(out_);  // a big reply's room goes
        if (last_) return linger();
        read_header();
    }

    // Closing with unread input makes the kernel send a reset, which can destroy the reply
    // (a 413 or 400) before the client reads it: half-close, and drain for a bounded while.
    void linger() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return shut();
        stream_.expires_after(std::min<std::chrono::milliseconds>(limits().idle_timeout,
                                                                  std::chrono::seconds(2)));
        drain();
    }

    void drain() {
        buffer_.clear();
        stream_.async_read_some(buffer_.prepare(4096),
            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec || self->closed_) return self->shut();
                self->drain();
            });
    }

    void shut() {
        if (closed_) return;
        closed_ = true;
        waiting_ = false;
        owner_->forget(id_);  // first: a peer that sees the close may dial again at once
        stream_.close();
    }

    beast::tcp_stream stream_;  // its executor is this connection's strand
    std::shared_ptr<server_state> owner_;  // a cycle through owner_->live_, cut by shut or stop
    const std::uint64_t id_;
    tcp::endpoint remote_;
    beast::flat_buffer buffer_;  // may hold the start of a pipelined next request
    std::optional<beast::http::request_parser<beast::http::string_body>> parser_;  // fresh each
    std::string out_;         // the reply being written; a member, as async_write needs it stable
    bool last_ = false;       // the reply being written ends the connection
    unsigned version_ = 11;   // of the request in hand, for the replies this layer makes
    bool keep_alive_ = true;  // the request in hand allows another after it
    bool waiting_ = false;    // the handler has the request and no reply has come
    bool closed_ = false;     // once set, nothing more is read or written
};

inline void server_state::start() {
    asio::post(accept_strand_, [self = shared_from_this()] {
        {
            std::lock_guard lock(self->mu_);
            if (self->stopped_) return;
        }
        self->accept();
    });
}

inline void server_state::stop() {
    std::unordered_map<std::uint64_t, std::shared_ptr<connection>> victims;
    {
        std::lock_guard lock(mu_);
        if (stopped_) return;
        stopped_ = true;
        victims.swap(live_);
    }
    asio::post(accept_strand_, [self = shared_from_this()] {
        beast::error_code ec;
        self->acceptor_.close(ec);
        self->retry_.cancel();
    });
    for (auto& [id, conn] : victims) conn->abort();
}

inline void server_state::forget(std::uint64_t id) {
    std::lock_guard lock(mu_);
    live_.erase(id);
}

inline void server_state::accept() {
    // The new socket's executor is a fresh strand: the connection's.
    acceptor_.async_accept(asio::any_io_executor(asio::make_strand(executor_)),
        asio::bind_executor(accept_strand_,
            [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                self->on_accept(ec, std::move(socket));
            }));
}

inline void server_state::on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
        retry_.expires_after(std::chrono::milliseconds(50));
        retry_.async_wait([self = shared_from_this()](beast::error_code wec) {
            if (!wec && self->acceptor_.is_open()) self->accept();
        });
        return;
    }
    admit(std::move(socket));
    accept();
}

inline void server_state::admit(tcp::socket socket) {
    std::shared_ptr<connection> conn;
    {
        std::lock_guard lock(mu_);
        if (stopped_ || live_.size() >= limits.max_connections) {
            ++rejected_;
        } else {
            ++accepted_;
            conn = std::make_shared<connection>(std::move(socket), shared_from_this(), next_id_++);
            live_.emplace(conn->id(), conn);
        }
    }
    if (!conn) {
        beast::error_code ec;
        socket.close(ec);
        return;
    }
    conn->start();
}

inline reply_state::~reply_state() {
    if (done.load(std::memory_order_acquire)) return;
    try {
        if (auto c = conn.lock()) c->deliver_dropped();
    } catch (...) {  // out of memory in a destructor: the connection waits for its idle close
    }
}

}  // namespace detail

inline void reply::operator()(response res) const {
    if (!state_ || !state_->claim()) return;
    if (auto c = state_->conn.lock()) c->deliver(std::move(res));
}

// Serves HTTP/1.1 on an acceptor that is already bound and listening.
class server {
public:
    server(asio::any_io_executor ex, tcp::acceptor acceptor, handler h, server_limits limits = {})
        : state_(std::make_shared<detail::server_state>(std::move(ex), std::move(acceptor),
                                                        std::move(h), limits)) {}
    ~server() { stop(); }
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    void start() { state_->start(); }
    // Closes the acceptor and every connection, on their strands, soon after it returns;
    // replies to requests in flight are dropped. Idempotent; the server cannot restart.
    void stop() { state_->stop(); }
    tcp::endpoint local_endpoint() const { return state_->local_endpoint(); }
    server_stats stats() const { return state_->stats(); }

private:
    std::shared_ptr<detail::server_state> state_;
};

// ---------------------------------------------------------------------------------------------
// The client: blocking, one kept-alive connection, for tests and the benchmark

class client {
public:
    client(std::string host, std::uint16_t port)
        : host_(std::move(host)), port_(port), stream_(io_) {}
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Sends one request and waits for its response, all within `timeout`. A kept-alive
    // connection the server has closed meanwhile is redialled once (so a request that had
    // reached a server dying at that moment may be sent twice). Throws
    // boost::system::system_error on failure or timeout, and then closes the connection.
    raftkv::http::response request(verb method, std::string_view target, std::string body = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        raftkv::http::request req{method, beast::string_view(target.data(), target.size()), 11};
        req.set(field::host, host_ + ":" + std::to_string(port_));
        req.set(field::user_agent, "raftkv-client");
        req.body() = std::move(body);
        req.prepare_payload();
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        raftkv::http::response res;
        const bool reused = open_;
        beast::error_code ec;
        if (!open_) ec = connect(deadline);
        if (!ec) ec = exchange(req, res, deadline);
        if (ec && reused && stale(ec)) {
            close();
            ec = connect(deadline);
            if (!ec) ec = exchange(req, res, deadline);
        }
        if (ec) {
            close();
            throw boost::system::system_error(ec, "raftkv::http::client");
        }
        if (!res.keep_alive()) close();
        return res;
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
        buffer_.clear();
        open_ = false;
    }

private:
    using time_point = std::chrono::steady_clock::time_point;

    // What a server closing an idle kept-alive connection looks like from here.
    static bool stale(const beast::error_code& ec) {
        return ec == beast::http::error::end_of_stream || ec == asio::error::eof ||
               ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
               ec == asio::error::connection_aborted;
    }

    // The tcp_stream's deadline applies to async operations only: run them on io_ and wait.
    beast::error_code connect(time_point deadline) {
        beast::error_code ec;
        tcp::resolver resolver(io_);
        const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
        if (ec) return ec;
        stream_.expires_at(deadline);
        stream_.async_connect(endpoints,
                              [&](beast::error_code cec, const tcp::endpoint&) { ec = cec; });
        drive();
        if (ec) return ec;
        open_ = true;
        beast::error_code ignored;
        stream_.socket().set_option(tcp::no_delay(true), ignored);
        return ec;
    }

    beast::error_code exchange(const raftkv::http::request& req, raftkv::http::response& res,
                               time_point deadline) {
        beast::error_code ec;
        beast::http::response_parser<beast::http::string_body> parser;
        parser.body_limit(boost::none);
        if (req.method() == verb::head) parser.skip(true);
        stream_.expires_at(deadline);
        beast::http::async_write(stream_, req, [&](beast::error_code wec, std::size_t) {
            ec = wec;
            if (ec) return;
            beast::http::async_read(stream_, buffer_, parser,
                                    [&](beast::error_code rec, std::size_t) { ec = rec; });
        });
        drive();
        if (!ec) res = parser.release();
        return ec;
    }

    void drive() {
        io_.restart();
        io_.run();
    }

    std::string host_;
    std::uint16_t port_;
    asio::io_context io_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bool open_ = false;  // connected, and the server has not said it will close
};

}  // namespace raftkv::http
