// abort_message(f): runs f in a forked child and returns what it wrote to stderr if it
// aborted (a RAFTPP_ASSERT), std::nullopt if it returned normally. For the tests of the core's
// programming-error checks, which abort rather than throw.
#pragma once

#include <csignal>
#include <cstdio>
#include <optional>
#include <string>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace raftpp::test {

template <class F>
std::optional<std::string> abort_message(F f) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Catch's own SIGABRT handler would report a failure: let the child just die.
        std::signal(SIGABRT, SIG_DFL);
        ::close(fds[0]);
        ::dup2(fds[1], 2);
        ::close(1);
        f();
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) return out;
    return std::nullopt;
}

}  // namespace raftpp::test
