#include <catch2/catch.hpp>

#include <cstring>

#include <raftpp/buffer.hpp>

using raftpp::buffer;

TEST_CASE("buffer copies share bytes instead of copying them", "[buffer]") {
    buffer a("hello");
    REQUIRE(a.size() == 5);
    REQUIRE(a.view() == "hello");
    buffer b = a;
    CHECK(b.data() == a.data());
    CHECK(a.use_count() == 2);
    buffer c = std::move(b);
    CHECK(b.empty());
    CHECK(c.data() == a.data());
    CHECK(a.use_count() == 2);
    c = buffer();
    CHECK(a.use_count() == 1);
}

TEST_CASE("buffer compares by content", "[buffer]") {
    CHECK(buffer("abc") == buffer("abc"));
    CHECK(buffer("abc") != buffer("abd"));
    CHECK(buffer("ab") < buffer("abc"));
    CHECK(buffer() == buffer(""));
    CHECK(buffer().data() == nullptr);
}

TEST_CASE("an uninitialized buffer is zeroed and writable before it is shared", "[buffer]") {
    auto b = buffer::uninitialized(4);
    REQUIRE(b.size() == 4);
    CHECK(b.view() == std::string_view("\0\0\0\0", 4));
    b.mutable_data()[1] = std::byte{'x'};
    CHECK(b.view()[1] == 'x');
}

TEST_CASE("for_overwrite allocates bytes to fill before sharing", "[buffer]") {
    auto b = raftpp::buffer::for_overwrite(5);
    REQUIRE(b.size() == 5);
    std::memcpy(b.mutable_data(), "hello", 5);
    CHECK(b == raftpp::buffer("hello"));
    CHECK(b.use_count() == 1);
    CHECK(raftpp::buffer::for_overwrite(0).empty());
}
