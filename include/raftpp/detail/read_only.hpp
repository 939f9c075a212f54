// Pending linearizable reads on the leader (etcd's readOnly): each read_index request waits
// for a quorum of heartbeat acks that carry its context. Requests are answered in order: an
// ack for a later request also confirms every earlier one (Raft thesis §6.4).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include <raftpp/types.hpp>

namespace raftpp::detail {

struct read_index_status {
    message req;        // the read_index request; req.entries[0].data is its context
    index_t index = 0;  // the commit index when the request arrived
    std::vector<node_id> acks;
};

class read_only {
public:
    // Context of a request: the data of its single entry.
    static const buffer& context_of(const message& m) { return m.entries.front().data; }

    void add_request(index_t index, const message& m) {
        if (find(context_of(m)) != pending_.end()) return;
        pending_.push_back({m, index, {}});
    }

    // Records an ack; returns the acks of the request with this context, or nullptr.
    const std::vector<node_id>* recv_ack(node_id id, const buffer& ctx) {
        auto it = find(ctx);
        if (it == pending_.end()) return nullptr;
        if (std::find(it->acks.begin(), it->acks.end(), id) == it->acks.end())
            it->acks.push_back(id);
        return &it->acks;
    }

    // Removes and returns every request up to and including the one with this context.
    std::vector<read_index_status> advance(const buffer& ctx) {
        std::vector<read_index_status> out;
        auto it = find(ctx);
        if (it == pending_.end()) return out;
        ++it;
        out.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(it));
        pending_.erase(pending_.begin(), it);
        return out;
    }

    // The context of the newest pending request (heartbeats carry it), or an empty buffer.
    buffer last_pending_request_ctx() const {
        return pending_.empty() ? buffer() : context_of(pending_.back().req);
    }
    std::size_t pending_count() const noexcept { return pending_.size(); }
    void clear() noexcept { pending_.clear(); }

private:
    std::vector<read_index_status>::iterator find(const buffer& ctx) {
        return std::find_if(pending_.begin(), pending_.end(),
                            [&](const read_index_status& s) { return context_of(s.req) == ctx; });
    }
    std::vector<read_index_status> pending_;
};

}  // namespace raftpp::detail
