// Must not compile: this storage lacks term(i), and the error must say so.
#include <raftpp/concepts.hpp>

struct storage_without_term {
    raftpp::result<raftpp::initial_state_t> initial_state() const { return raftpp::initial_state_t{}; }
    raftpp::result<std::vector<raftpp::entry>> entries(raftpp::index_t, raftpp::index_t,
                                                       std::uint64_t) const { return std::vector<raftpp::entry>{}; }
    raftpp::result<raftpp::index_t> first_index() const { return raftpp::index_t{1}; }
    raftpp::result<raftpp::index_t> last_index() const { return raftpp::index_t{0}; }
    raftpp::result<raftpp::snapshot> snapshot() const { return raftpp::snapshot{}; }
};

static_assert(raftpp::check_storage_reader<storage_without_term>());
int main() {}
