// raftkv's server: one cluster member. A raftpp::node over wal_storage in --data-dir and the
// asio transport on --listen-peer, the kv_store as its state machine, and an HTTP/1.1 API on
// --listen-client:
//
//   PUT    /kv/<key>                 body = value        204 once committed and applied
//   PUT    /kv/<key>?prev_value=<v>  compare-and-swap    204, or 412 with the current value
//   GET    /kv/<key>                 linearizable (ReadIndex); ?serializable reads locally
//   DELETE /kv/<key>                                     204 | 404
//   GET    /members   POST /members (JSON)   DELETE /members/<id>
//   GET    /status    GET /metrics (Prometheus text)
//
// A follower proposes writes through raft (the node forwards them to the leader); it never
// redirects. Errors are a status and a one-line message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <raftpp/cluster_members.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/net/identify.hpp>
#include <raftpp/node.hpp>
#include <raftpp/node/start.hpp>
#include <raftpp/wal/wal_storage.hpp>

#include "flags.hpp"
#include "http.hpp"
#include "kv_store.hpp"
#include "metrics.hpp"

namespace raftkv {

using kv_node = raftpp::node<kv_store, raftpp::wal_storage<>>;

namespace detail {
inline boost::asio::ip::tcp::endpoint resolve_numeric(std::string_view url) {
    const raftpp::peer_address a = raftpp::parse_peer_url(url);
    const std::string host = a.host == "localhost" ? "127.0.0.1" : a.host;
    return {boost::asio::ip::make_address(host), a.port};
}

inline boost::asio::ip::tcp::acceptor listen_at(boost::asio::io_context& io,
                                                const boost::asio::ip::tcp::endpoint& ep) {
    boost::asio::ip::tcp::acceptor a(io);
    a.open(ep.protocol());
    a.set_option(boost::asio::socket_base::reuse_address(true));
    a.bind(ep);
    a.listen();
    return a;
}

inline std::string_view role_name(raftpp::role r) { return raftpp::to_string(r); }
}  // namespace detail

class server {
public:
    // Opens (or creates) the member's WAL and binds both listeners; throws std::system_error
    // (invalid flags, a WAL of another member, an address in use) with a message naming it.
    server(boost::asio::io_context& io, options opts) : io_(io), opts_(std::move(opts)) {
        members_ = raftpp::cluster_members::parse(opts_.initial_cluster, opts_.initial_cluster_token);
        const raftpp::member& self = members_.require(opts_.name);
        const auto state = opts_.initial_cluster_state == "existing"
                               ? raftpp::cluster_state::existing
                               : raftpp::cluster_state::new_cluster;
        auto boot = start(self, state);
        peer_acceptor_.emplace(detail::listen_at(io_, detail::resolve_numeric(opts_.listen_peer)));
        client_acceptor_.emplace(detail::listen_at(io_, detail::resolve_numeric(opts_.listen_client)));

        raftpp::net::asio_transport_options t;
        t.id = boot.id;
        t.cluster_id = boot.cluster_id;
        raftpp::node_options no;
        no.tick_interval = std::chrono::milliseconds(opts_.heartbeat_interval_ms);
        no.raft.election_tick = election_ticks(opts_);
        no.raft.heartbeat_tick = 1;
        no.snapshot_count = opts_.snapshot_count;
        no.snapshot_catchup_entries = opts_.snapshot_catchup_entries;
        node_ = std::make_unique<kv_node>(io_.get_executor(), std::move(boot),
                                          raftpp::net::asio_transport(io_.get_executor(), t), kv_, no);
        self_id_ = self.id;

        http::server_limits limits;
        limits.max_body = opts_.max_request_bytes;
        http_ = std::make_unique<http::server>(
            io_.get_executor(), std::move(*client_acceptor_),
            [this](http::request&& req, http::reply rep) { handle(std::move(req), std::move(rep)); },
            limits);
        client_acceptor_.reset();
        make_metrics();
    }

    void start() {
        if (auto r = node_->start(std::move(*peer_acceptor_)); !r)
            throw std::system_error(r.error(), "raftkv: starting the node on " + opts_.listen_peer);
        peer_acceptor_.reset();
        http_->start();
    }

    // Stops serving, then stops the node (the WAL is synced and closed); done() runs once all
    // is closed.
    void stop(std::function<void()> done) {
        http_->stop();
        node_->async_stop([done = std::move(done)] { done(); });
    }

    kv_node& node() { return *node_; }

    // etcd's choice. A restart checks the WAL's member id, and its cluster id when the flags
    // name one: a member that joined was not part of --initial-cluster's bootstrap, so the id
    // derived from that list is not its cluster's. A join takes the id from
    // --initial-cluster-id, or else from a running member.
    raftpp::member_boot<raftpp::wal_storage<>> start(const raftpp::member& self, raftpp::cluster_state state) {
        if (raftpp::wal_storage<>::exists(opts_.data_dir)) {
            const std::uint64_t cid = opts_.initial_cluster_id != 0   ? opts_.initial_cluster_id
                                      : state == raftpp::cluster_state::new_cluster ? members_.cluster_id()
                                                                                   : 0;
            return raftpp::start_restart<>(opts_.data_dir, raftpp::wal_identity{self.id, cid});
        }
        std::uint64_t cid = opts_.initial_cluster_id;
        if (state == raftpp::cluster_state::existing && cid == 0) cid = ask_cluster_id(self);
        return raftpp::start_member<>(opts_.data_dir, members_, opts_.name, state, cid);
    }

    // Joining without --initial-cluster-id: the first of the other --initial-cluster members
    // that answers an identity probe on its peer address names the cluster (etcd asks its
    // peers the same way). Tried for a few seconds, as they may be starting too.
    std::uint64_t ask_cluster_id(const raftpp::member& self) const {
        std::string why = "no other member in --initial-cluster";
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        do {
            for (raftpp::node_id id : members_.ids()) {
                if (id == self.id) continue;
                for (const auto& url : members_.find(id)->peer_urls) {
                    auto who = raftpp::net::identify(detail::resolve_numeric(url), std::chrono::milliseconds(500));
                    if (who) return who->cluster_id;
                    why = url + ": " + who.error().message();
                }
            }
            if (members_.ids().size() < 2) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        } while (std::chrono::steady_clock::now() < give_up);
        throw std::system_error(make_error_code(raftpp::errc::unavailable),
                                "joining a running cluster (--initial-cluster-state=existing): no "
                                "member of --initial-cluster told its cluster id (last: " + why +
                                "); start one, or give --initial-cluster-id");
    }
    const kv_store& store() const { return kv_; }
    boost::asio::ip::tcp::endpoint client_endpoint() const { return http_->local_endpoint(); }

private:
    using status = boost::beast::http::status;
    using verb = boost::beast::http::verb;

    void handle(http::request&& req, http::reply rep) {
        requests_->inc();
        const auto t = http::parse_target(req.target());
        if (!t) return rep(http::error_response(req, status::bad_request, "bad request target"));
        const std::string& path = t->path;
        if (path.starts_with("/kv/")) return handle_kv(std::move(req), *t, std::move(rep));
        if (path == "/members" || path.starts_with("/members/"))
            return handle_members(std::move(req), *t, std::move(rep));
        if (path == "/status" && req.method() == verb::get)
            return rep(http::make_response(req, status::ok, status_json(), "application/json"));
        if (path == "/metrics" && req.method() == verb::get)
            return rep(http::make_response(req, status::ok, render_metrics(),
                                           "text/plain; version=0.0.4"));
        rep(http::error_response(req, status::not_found, "no such path: " + path));
    }

    // --- /kv ----------------------------------------------------------------------------

    void handle_kv(http::request&& req, const http::target& t, http::reply rep) {
        std::string key = t.path.substr(4);
        if (key.empty()) return rep(http::error_response(req, status::bad_request, "empty key"));
        if (key.size() > opts_.max_key_bytes)
            return rep(http::error_response(req, status::bad_request,
                                            "key longer than " + std::to_string(opts_.max_key_bytes) +
                                                " bytes"));
        switch (req.method()) {
        case verb::get: return get(std::move(req), std::move(key), t.has("serializable"), std::move(rep));
        case verb::put: {
            kv_command c;
            c.key = std::move(key);
            c.value = std::move(req.body());
            if (auto prev = t.get("prev_value")) {
                c.op = kv_op::cas;
                c.expected = std::move(*prev);
            }
            return propose(std::move(req), std::move(c), std::move(rep));
        }
        case verb::delete_: {
            kv_command c;
            c.op = kv_op::del;
            c.key = std::move(key);
            return propose(std::move(req), std::move(c), std::move(rep));
        }
        default:
            return rep(http::error_response(req, status::method_not_allowed,
                                            "use GET, PUT or DELETE on /kv/<key>"));
        }
    }

    void get(http::request&& req, std::string key, bool serializable, http::reply rep) {
        if (serializable) return rep(value_response(req, key));
        auto r = std::make_shared<http::request>(std::move(req));
        node_->async_read_index([this, r, key = std::move(key), rep = std::move(rep)](
                                    boost::system::error_code ec, raftpp::index_t) mutable {
            if (ec) return rep(failure_response(*r, ec));
            reads_->inc();
            rep(value_response(*r, key));
        });
    }

    http::response value_response(const http::request& req, const std::string& key) {
        auto v = kv_.get(key);
        if (!v) return http::error_response(req, status::not_found, "key not found");
        return http::make_response(req, status::ok, std::move(*v), "application/octet-stream");
    }

    void propose(http::request&& req, kv_command c, http::reply rep) {
        auto r = std::make_shared<http::request>(std::move(req));
        const auto start = std::chrono::steady_clock::now();
        node_->async_propose(encode(c), [this, r, start, rep = std::move(rep)](
                                            boost::system::error_code ec, kv_result res) mutable {
            if (ec) {
                proposals_failed_->inc();
                return rep(failure_response(*r, ec));
            }
            proposals_committed_->inc();
            propose_seconds_->observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            switch (res.status) {
            case kv_status::ok: return rep(http::make_response(*r, status::no_content, {}));
            case kv_status::not_found:
                return rep(http::error_response(*r, status::not_found, "key not found"));
            case kv_status::precondition_failed: {
                auto resp = http::make_response(*r, status::precondition_failed, res.current);
                resp.set("X-Raftkv-Exists", res.existed ? "true" : "false");
                return rep(std::move(resp));
            }
            case kv_status::bad_command: break;
            }
            rep(http::error_response(*r, status::internal_server_error, "command not understood"));
        });
    }

    // Raft errors as HTTP: what a client may retry is 503 (or 504 for a timeout; the write may
    // still be applied), a full queue 429.
    http::response failure_response(const http::request& req, boost::system::error_code ec) {
        using raftpp::errc;
        status st = status::service_unavailable;
        if (ec == errc::timed_out) st = status::gateway_timeout;
        else if (ec == errc::too_many_requests) st = status::too_many_requests;
        else if (ec == errc::invalid_argument || ec == errc::unknown_member) st = status::bad_request;
        else if (ec == errc::learner_not_ready) st = status::conflict;
        return http::error_response(req, st, ec.message());
    }

    // --- /members -------------------------------------------------------------------------

    void handle_members(http::request&& req, const http::target& t, http::reply rep) {
        if (t.path == "/members" && req.method() == verb::get)
            return rep(http::make_response(req, status::ok, members_json(node_->members()),
                                           "application/json"));
        if (t.path == "/members" && req.method() == verb::post) return add_member(std::move(req), std::move(rep));
        if (t.path.starts_with("/members/") && req.method() == verb::delete_) {
            const std::string id_text = t.path.substr(9);
            raftpp::node_id id = 0;
            const auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id, 16);
            if (ec != std::errc{} || p != id_text.data() + id_text.size() || id == raftpp::none)
                return rep(http::error_response(req, status::bad_request,
                                                "member id must be hexadecimal: " + id_text));
            return change_members(std::move(req), {raftpp::member_change_type::remove, {id, {}, {}, false}},
                                  std::move(rep));
        }
        rep(http::error_response(req, status::method_not_allowed,
                                 "use GET or POST on /members, DELETE on /members/<id>"));
    }

    // POST /members: {"peer_url": "http://h:p", "name": "n4", "learner": false} adds a member
    // (its id derived from the URL and the cluster token, as --initial-cluster does), or
    // {"id": "<hex>", "promote": true} promotes a learner.
    void add_member(http::request&& req, http::reply rep) {
        boost::system::error_code jec;
        const boost::json::value v = boost::json::parse(req.body(), jec);
        if (jec || !v.is_object()) return rep(http::error_response(req, status::bad_request, "body must be a JSON object"));
        const auto& o = v.as_object();
        raftpp::member_change ch;
        if (const auto* promote = o.if_contains("promote"); promote && promote->is_bool() && promote->as_bool()) {
            const auto* id = o.if_contains("id");
            if (id == nullptr || !id->is_string())
                return rep(http::error_response(req, status::bad_request, "promote needs \"id\" (hex string)"));
            const std::string_view s = id->as_string();
            raftpp::node_id nid = 0;
            const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), nid, 16);
            if (ec != std::errc{} || p != s.data() + s.size())
                return rep(http::error_response(req, status::bad_request, "\"id\" must be hexadecimal"));
            ch.type = raftpp::member_change_type::promote;
            ch.m.id = nid;
            return change_members(std::move(req), std::move(ch), std::move(rep));
        }
        const auto* url = o.if_contains("peer_url");
        if (url == nullptr || !url->is_string())
            return rep(http::error_response(req, status::bad_request, "\"peer_url\" (string) is required"));
        try {
            (void)raftpp::parse_peer_url(url->as_string());
        } catch (const std::system_error& e) {
            return rep(http::error_response(req, status::bad_request, e.what()));
        }
        ch.m.peer_urls = {std::string(url->as_string())};
        if (const auto* name = o.if_contains("name"); name && name->is_string())
            ch.m.name = std::string(name->as_string());
        const auto* learner = o.if_contains("learner");
        ch.m.is_learner = learner && learner->is_bool() && learner->as_bool();
        ch.type = ch.m.is_learner ? raftpp::member_change_type::add_learner
                                  : raftpp::member_change_type::add_voter;
        ch.m.id = raftpp::derive_member_id(ch.m.peer_urls, opts_.initial_cluster_token);
        change_members(std::move(req), std::move(ch), std::move(rep));
    }

    void change_members(http::request&& req, raftpp::member_change ch, http::reply rep) {
        auto r = std::make_shared<http::request>(std::move(req));
        node_->async_propose_conf_change(
            std::move(ch), [this, r, rep = std::move(rep)](boost::system::error_code ec,
                                                           raftpp::cluster_members after) mutable {
                if (ec) return rep(failure_response(*r, ec));
                rep(http::make_response(*r, status::ok, members_json(after), "application/json"));
            });
    }

    static std::string hex(std::uint64_t v) {
        char b[17];
        const auto [p, ec] = std::to_chars(b, b + sizeof b, v, 16);
        return std::string(b, p);
    }

    std::string members_json(const raftpp::cluster_members& ms) const {
        boost::json::array a;
        for (const auto& m : ms.members()) {
            boost::json::array urls;
            for (const auto& u : m.peer_urls) urls.emplace_back(u);
            a.push_back(boost::json::object{{"id", hex(m.id)}, {"name", m.name},
                                            {"peer_urls", std::move(urls)},
                                            {"learner", m.is_learner}});
        }
        return boost::json::serialize(boost::json::object{
                   {"cluster_id", hex(node_->cluster_id())}, {"members", std::move(a)}}) +
               "\n";
    }

    // --- /status and /metrics -------------------------------------------------------------

    std::string status_json() const {
        const raftpp::node_status s = node_->status();
        boost::json::object o{
            {"id", hex(s.id)},
            {"name", opts_.name},
            {"cluster_id", hex(s.cluster_id)},
            {"role", std::string(detail::role_name(s.role))},
            {"term", s.term},
            {"leader", hex(s.leader)},
            {"commit", s.commit},
            {"applied", s.applied},
            {"snapshot_index", s.snapshot_index},
            {"members", s.members},
            {"learner", s.learner},
            {"keys", kv_.size()},
        };
        if (s.failure) o["failure"] = s.failure.message();
        return boost::json::serialize(o) + "\n";
    }

    void make_metrics() {
        proposals_committed_ = &metrics_.add_counter("raftkv_proposals_committed_total",
                                                     "Writes committed and applied (answered 2xx/4xx).");
        proposals_failed_ = &metrics_.add_counter("raftkv_proposals_failed_total",
                                                  "Writes that failed: dropped, timed out, stopped.");
        reads_ = &metrics_.add_counter("raftkv_linearizable_reads_total",
                                       "Linearizable reads served.");
        requests_ = &metrics_.add_counter("raftkv_http_requests_total", "HTTP requests received.");
        propose_seconds_ = &metrics_.add_histogram("raftkv_proposal_duration_seconds",
                                                   "Time from a write's arrival to its answer.",
                                                   latency_buckets());
        is_leader_ = &metrics_.add_gauge("raftkv_is_leader", "1 if this member leads.");
        term_ = &metrics_.add_gauge("raftkv_term", "Current raft term.");
        commit_ = &metrics_.add_gauge("raftkv_commit_index", "Commit index.");
        apply_lag_ = &metrics_.add_gauge("raftkv_apply_lag_entries",
                                         "Committed entries not applied yet.");
        leader_changes_ = &metrics_.add_gauge("raftkv_leader_changes_seen_total",
                                              "Leader changes this member has seen.");
        dropped_ = &metrics_.add_gauge("raftkv_peer_messages_dropped_total",
                                       "Messages to peers dropped by the transport.");
        syncs_ = &metrics_.add_gauge("raftkv_wal_syncs_total", "WAL fdatasync calls.");
        sync_seconds_ = &metrics_.add_gauge("raftkv_wal_sync_seconds_total",
                                            "Time spent in WAL fdatasync.");
        snapshots_ = &metrics_.add_gauge("raftkv_snapshots_taken_total",
                                         "Snapshots this member took of its store.");
        snapshot_seconds_ = &metrics_.add_gauge(
            "raftkv_snapshot_seconds_total", "Time the member's cycle spent taking snapshots.");
        snapshot_max_seconds_ = &metrics_.add_gauge("raftkv_snapshot_max_seconds",
                                                    "The longest snapshot this member took.");
        // Kept by the node (etcd's wal_fsync_duration_seconds); loaded at each scrape.
        sync_histogram_ = &metrics_.add_histogram(
            "raftkv_wal_fsync_duration_seconds", "WAL fdatasync latency.",
            {raftpp::node_status::sync_bucket_bounds.begin(), raftpp::node_status::sync_bucket_bounds.end()});
    }

    std::string render_metrics() {
        const raftpp::node_status s = node_->status();
        is_leader_->set(s.role == raftpp::role::leader ? 1 : 0);
        term_->set(static_cast<double>(s.term));
        commit_->set(static_cast<double>(s.commit));
        apply_lag_->set(static_cast<double>(s.commit - std::min(s.commit, s.applied)));
        leader_changes_->set(static_cast<double>(s.leader_changes));
        dropped_->set(static_cast<double>(s.messages_dropped));
        syncs_->set(static_cast<double>(s.syncs));
        sync_seconds_->set(static_cast<double>(s.sync_nanoseconds) / 1e9);
        sync_histogram_->load(s.sync_buckets, static_cast<double>(s.sync_nanoseconds) / 1e9);
        snapshots_->set(static_cast<double>(s.snapshots_taken));
        snapshot_seconds_->set(static_cast<double>(s.snapshot_nanoseconds) / 1e9);
        snapshot_max_seconds_->set(static_cast<double>(s.snapshot_max_nanoseconds) / 1e9);
        return metrics_.render();
    }

    boost::asio::io_context& io_;
    options opts_;
    raftpp::cluster_members members_;
    kv_store kv_;
    std::optional<boost::asio::ip::tcp::acceptor> peer_acceptor_;
    std::optional<boost::asio::ip::tcp::acceptor> client_acceptor_;
    std::unique_ptr<kv_node> node_;
    std::unique_ptr<http::server> http_;
    raftpp::node_id self_id_ = raftpp::none;

    registry metrics_;
    counter* proposals_committed_ = nullptr;
    counter* proposals_failed_ = nullptr;
    counter* reads_ = nullptr;
    counter* requests_ = nullptr;
    histogram* propose_seconds_ = nullptr;
    gauge* is_leader_ = nullptr;
    gauge* term_ = nullptr;
    gauge* commit_ = nullptr;
    gauge* apply_lag_ = nullptr;
    gauge* leader_changes_ = nullptr;
    gauge* dropped_ = nullptr;
    gauge* syncs_ = nullptr;
    gauge* sync_seconds_ = nullptr;
    gauge* snapshots_ = nullptr;
    gauge* snapshot_seconds_ = nullptr;
    gauge* snapshot_max_seconds_ = nullptr;
    histogram* sync_histogram_ = nullptr;
};

}  // namespace raftkv
