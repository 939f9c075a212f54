// The definitions core_instances.hpp declares extern.
#include "core_instances.hpp"

namespace raftpp {
template class raft_log<memory_storage>;
template class raft<memory_storage, vector_transport, null_logger>;
template class raft<memory_storage, testing::network_endpoint, null_logger>;
template class raw_node<memory_storage, vector_transport, null_logger>;
template class raw_node<memory_storage, testing::network_endpoint, null_logger>;
}  // namespace raftpp
