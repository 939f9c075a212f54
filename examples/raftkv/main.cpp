// raftkv: a replicated key-value server, one process per cluster member (docs: README.md,
// "Running raftkv by hand"). Flags follow etcd's (raftkv --help). SIGTERM and SIGINT stop it
// cleanly: the client port closes, the WAL is synced and closed, then the process exits 0.
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "flags.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    const raftkv::parse_result parsed = raftkv::parse_flags(argc, argv);
    if (!parsed.error.empty()) {
        std::cerr << "raftkv: " << parsed.error << "\n(raftkv --help lists the flags)\n";
        return 2;
    }
    if (parsed.opts.help) {
        std::cout << raftkv::usage();
        return 0;
    }
    try {
        boost::asio::io_context io;
        raftkv::server srv(io, parsed.opts);
        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        auto work = boost::asio::make_work_guard(io);
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            std::cerr << "raftkv: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                      << ", stopping\n";
            srv.stop([&] { work.reset(); io.stop(); });
        });
        srv.start();
        std::cerr << "raftkv: member " << parsed.opts.name << " serving clients on "
                  << srv.client_endpoint() << ", peers on " << parsed.opts.listen_peer << "\n";
        // --threads event loops share the node's strand and the HTTP connections.
        std::vector<std::thread> others;
        for (unsigned i = 1; i < parsed.opts.threads; ++i) others.emplace_back([&] { io.run(); });
        io.run();
        for (auto& t : others) t.join();
        std::cerr << "raftkv: stopped\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "raftkv: " << e.what() << "\n";
        return 1;
    }
}
