// Recycles the entry vectors that append messages carry. A leader builds one vector per
// append; the receiver is done with it once the message is stepped. Handing the capacity back
// (per thread) makes steady-state replication allocation-free beyond the payloads themselves,
// which are shared buffers and never copied.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <raftpp/types.hpp>

namespace raftpp::detail {

class entry_vector_pool {
public:
    static std::vector<entry> acquire() {
        auto& p = pool();
        if (p.empty()) return {};
        std::vector<entry> v = std::move(p.back());
        p.pop_back();
        return v;
    }

    static void release(std::vector<entry>&& v) {
        if (v.capacity() == 0) return;
        // Don't hoard: a few big vectors (a catch-up burst) would pin memory forever.
        if (v.capacity() > max_capacity) return;
        auto& p = pool();
        if (p.size() >= max_pooled) return;
        v.clear();
        p.push_back(std::move(v));
    }

    static constexpr std::size_t max_pooled = 256;
    static constexpr std::size_t max_capacity = 4096;

private:
    static std::vector<std::vector<entry>>& pool() {
        thread_local std::vector<std::vector<entry>> p;
        return p;
    }
};

}  // namespace raftpp::detail
