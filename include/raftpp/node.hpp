// raftpp::node — a running cluster member: a raw_node driven by a Boost.Asio executor, its
// log persisted through the Storage policy, its messages carried by an asio transport, its
// committed entries applied to a state machine (etcd's server node loop, in asio idiom).
//
//   boost::asio::io_context io;
//   auto members = cluster_members::parse("n1=127.0.0.1:2380,n2=127.0.0.1:2381,n3=...");
//   auto boot = start_member<>(dir, members, "n1");          // new, join or restart
//   asio_transport t(io.get_executor(), {.id = boot.id, .cluster_id = boot.cluster_id,
//                                        .listen = endpoint_of_n1});
//   kv_machine kv;                                            // a raftpp::state_machine
//   node n(io.get_executor(), std::move(boot), std::move(t), kv);
//   n.start();
//   auto r = co_await n.async_propose(buffer("put x 1"), boost::asio::use_awaitable);
//   io.run();
//
// Every operation takes an Asio completion token (a callback, use_future, use_awaitable,
// deferred) and completes on the handler's associated executor (the node's executor when it
// has none), never inside the call:
//   async_propose(data)               void(error_code, R)   R: what StateMachine::apply returns
//                                                           (void(error_code) when it is void)
//   async_read_index()                void(error_code, index_t)  a linearizable read point:
//                                     completes once this node has applied up to it
//   async_propose_conf_change(change) void(error_code, cluster_members)   (the members after)
//   async_transfer_leadership(id)     void(error_code)      once id leads
//   async_stop()                      void()                once storage and transport closed
// Errors (errc): proposal_dropped (not in the log, or overwritten by a new leader),
// not_leader (forwarding off), too_many_requests, timed_out (node_options::request_timeout),
// no_leader (a proposal waited for a leader until its deadline: never proposed), stopped,
// member_removed, unknown_member, invalid_argument, leader_transfer_failed,
// learner_not_ready (a promote on the leader before the learner has 90 % of its log).
// A proposal, conf change or read that succeeded completes after status() shows this node's
// applied index at or past it.
//
// Threads: every public member may be called from any thread. The node's own work runs on a
// strand of the executor (one thread or a pool); the state machine is called on that strand
// only, so code that reads it should run there too (post to get_executor()).
// Lifetime: the state machine must outlive the node's stop; the io_context must outlive the
// node. Destroying a node stops it; wait for async_stop to complete before reopening its
// storage (the WAL's lock is released when the stop has run).
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <raftpp/buffer.hpp>
#include <raftpp/cluster_members.hpp>
#include <raftpp/concepts.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/node/detail/node_impl.hpp>
#include <raftpp/node/detail/node_requests.hpp>
#include <raftpp/node/member_boot.hpp>
#include <raftpp/node/options.hpp>
#include <raftpp/state_machine.hpp>

namespace raftpp {

namespace detail {
template <class T>
concept node_transport_type = requires(T& t, node_id id, const typename T::endpoint_type& ep) {
    typename T::sender;
    { t.get_sender() } -> std::same_as<typename T::sender>;
    t.add_peer(id, ep);
    t.update_peer(id, ep);
    t.remove_peer(id);
    t.stop();
};
}  // namespace detail

// StateMachine: a raftpp::state_machine (state_machine.hpp). Storage: a storage policy with
// create_snapshot() and compact() (wal_storage, memory_storage). Transport: an asio transport
// (net::basic_asio_transport with any stream); the node owns it and sets its callbacks.
template <class StateMachine, class Storage, class Transport = net::asio_transport,
          class Logger = null_logger>
class node {
    static_assert(check_state_machine<StateMachine>());
    static_assert(check_storage_reader<Storage>() && check_storage_writer<Storage>());
    static_assert(detail::node_transport_type<Transport>,
                  "raftpp: node needs an asio transport (net::basic_asio_transport)");
    using impl_type = detail::node_impl<StateMachine, Storage, Transport, Logger>;

public:
    using executor_type = boost::asio::strand<boost::asio::any_io_executor>;
    using result_type = apply_result_t<StateMachine>;

    // Restores the state machine from the storage's snapshot (a restart), bootstraps a new
    // cluster when boot.bootstrap says so. Throws std::system_error: errc::invalid_config for
    // a bad node_options::raft, the storage's error when its snapshot cannot be restored.
    node(const boost::asio::any_io_executor& ex, member_boot<Storage>&& boot, Transport&& transport,
         StateMachine& sm, const node_options& opts = {}, Logger logger = Logger{})
        : impl_(std::make_shared<impl_type>(ex, std::move(boot), std::move(transport), sm, opts,
                                            std::move(logger))) {}

    node(const node&) = delete;
    node& operator=(const node&) = delete;
    ~node() {
        if (impl_) impl_->stop();
    }

    // Starts the transport (listen: nothing, or a listening tcp::acceptor for
    // Transport::start), dials the known members and starts ticking. The transport's error
    // when it cannot listen.
    template <class... Listen>
    result<void> start(Listen&&... listen) {
        return impl_->start(std::forward<Listen>(listen)...);
    }

    template <class CompletionToken>
    auto async_propose(buffer data, CompletionToken&& token) {
        using sig = typename detail::propose_signature<result_type>::type;
        return boost::asio::async_initiate<CompletionToken, sig>(
            [impl = impl_](auto handler, buffer d) {
                impl->submit_proposal(std::move(d),
                                      typename impl_type::propose_handler(std::move(handler)));
            },
            token, std::move(data));
    }

    template <class CompletionToken>
    auto async_read_index(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, index_t)>(
            [impl = impl_](auto handler) {
                impl->submit_read(typename impl_type::read_handler(std::move(handler)));
            },
            token);
    }

    template <class CompletionToken>
    auto async_propose_conf_change(member_change change, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, cluster_members)>(
            [impl = impl_](auto handler, member_change c) {
                impl->submit_conf_change(std::move(c),
                                         typename impl_type::members_handler(std::move(handler)));
            },
            token, std::move(change));
    }

    template <class CompletionToken>
    auto async_transfer_leadership(node_id target, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
            [impl = impl_](auto handler, node_id t) {
                impl->submit_transfer(t, typename impl_type::done_handler(std::move(handler)));
            },
            token, target);
    }

    // Stops: syncs and closes the storage, closes the transport, completes every pending
    // operation with errc::stopped (and every later one). Completes once all is closed.
    template <class CompletionToken>
    auto async_stop(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void()>(
            [impl = impl_](auto handler) {
                impl->stop(typename impl_type::stop_handler(std::move(handler)));
            },
            token);
    }
    // async_stop without waiting. Idempotent.
    void stop() { impl_->stop(); }

    // Starts an election now (etcd's Campaign).
    void campaign() { impl_->campaign(); }

    // As of the end of the node's last cycle.
    node_status status() const { return impl_->status(); }
    cluster_members members() const { return impl_->members(); }
    node_id id() const noexcept { return impl_->id(); }
    std::uint64_t cluster_id() const noexcept { return impl_->cluster_id(); }

    // The strand the node runs on: post here to read the state machine between applies.
    executor_type get_executor() const noexcept { return impl_->strand(); }

private:
    std::shared_ptr<impl_type> impl_;
};

}  // namespace raftpp
