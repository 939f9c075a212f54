// raftpp::node's side of its transport's peer table: which members it dialed, at which
// address, and the removed members it keeps until their grace has passed (the last heartbeat
// telling them of their removal is still queued for them).
#pragma once

#include <cstdint>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <raftpp/cluster_members.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

template <class Transport, class Logger>
class peer_table {
public:
    peer_table(Transport& t, node_id self, Logger& logger) : t_(t), self_(self), logger_(logger) {}

    // Adds the member to the transport's peer table, or moves it to its new address.
    void dial(const member& m) {
        if (m.id == self_ || m.peer_urls.empty()) return;
        typename Transport::endpoint_type ep;
        try {
            const peer_address a = parse_peer_url(m.peer_urls.front());
            boost::system::error_code ec;
            auto addr = boost::asio::ip::make_address(a.host == "localhost" ? "127.0.0.1" : a.host, ec);
            if (ec) throw std::system_error(make_error_code(errc::invalid_config), a.host);
            ep = {addr, a.port};
        } catch (const std::system_error& e) {
            RAFTPP_LOG(logger_, log_level::error, "node ", self_, ": cannot dial member ", m.id,
                       ": ", e.what());
            return;
        }
        auto it = dialed_.find(m.id);
        if (it == dialed_.end()) {
            if (t_.add_peer(m.id, ep)) dialed_.emplace(m.id, ep);
        } else if (it->second != ep) {
            if (t_.update_peer(m.id, ep)) it->second = ep;
        }
    }
    void dial_all(const cluster_members& members) {
        for (const member& m : members.members()) dial(m);
    }

    // A member removed: it leaves the peer table at tick `due`, unless added back by then.
    void retire(node_id id, std::uint64_t due) { retiring_.push_back({id, due}); }
    void retire_due(std::uint64_t now, const cluster_members& members) {
        std::erase_if(retiring_, [&](const std::pair<node_id, std::uint64_t>& r) {
            if (r.second > now) return false;
            if (members.find(r.first) == nullptr && dialed_.erase(r.first) != 0)
                (void)t_.remove_peer(r.first);
            return true;
        });
    }

    // The member table was replaced (a snapshot): peers not in it go, the others are dialed.
    void reset_to(const cluster_members& members) {
        for (auto it = dialed_.begin(); it != dialed_.end();) {
            if (members.find(it->first) == nullptr) {
                (void)t_.remove_peer(it->first);
                it = dialed_.erase(it);
            } else {
                ++it;
            }
        }
        dial_all(members);
    }

private:
    Transport& t_;
    node_id self_;
    Logger& logger_;
    std::unordered_map<node_id, typename Transport::endpoint_type> dialed_;
    std::vector<std::pair<node_id, std::uint64_t>> retiring_;  // (member, tick to drop it)
};

}  // namespace raftpp::detail
