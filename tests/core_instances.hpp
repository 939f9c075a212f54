// The core specializations most suites drive, compiled once (core_instances.cpp) instead of in
// every suite: `extern template` keeps a suite from generating their member functions again.
// About a third of a core suite's compile time at -O3, nearly half under ASan+UBSan; the
// behaviour is the same code, only where it is compiled changes.
#pragma once

#include <raftpp/memory_storage.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/raft_log.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/testing/network.hpp>

namespace raftpp {
extern template class raft_log<memory_storage>;
extern template class raft<memory_storage, vector_transport, null_logger>;
extern template class raft<memory_storage, testing::network_endpoint, null_logger>;
extern template class raw_node<memory_storage, vector_transport, null_logger>;
extern template class raw_node<memory_storage, testing::network_endpoint, null_logger>;
}  // namespace raftpp
