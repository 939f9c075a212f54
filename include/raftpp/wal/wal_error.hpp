// raftpp::wal::wal_error — what opening or reading durable storage throws: a std::system_error
// whose code is a raftpp::errc (corrupt_record, wal_exists, wal_locked, ...) or an errno, and
// whose what() names the file and, for a corrupt record, the byte offset, so an operator
// knows where to look. Functions on the write path (save, sync, cut) return result<> instead:
// they run inside the ready cycle, which propagates error codes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <raftpp/error.hpp>

namespace raftpp::wal {

class wal_error : public std::system_error {
public:
    wal_error(std::error_code ec, const std::filesystem::path& path, const std::string& what,
              std::optional<std::uint64_t> offset = std::nullopt)
        : std::system_error(ec, describe(path, what, offset)), path_(path), offset_(offset) {}

    // The file or directory concerned.
    const std::filesystem::path& path() const noexcept { return path_; }
    // The byte offset in path() of a bad record, when there is one.
    std::optional<std::uint64_t> offset() const noexcept { return offset_; }

private:
    static std::string describe(const std::filesystem::path& path, const std::string& what,
                                std::optional<std::uint64_t> offset) {
        std::string s = "raftpp wal: " + path.string();
        if (offset) s += " at offset " + std::to_string(*offset);
        return s + ": " + what;
    }
    std::filesystem::path path_;
    std::optional<std::uint64_t> offset_;
};

// Throws wal_error for a failed result, naming path and the action that failed.
template <class T>
T value_or_throw(result<T>&& r, const std::filesystem::path& path, const char* action) {
    if (!r) throw wal_error(r.error(), path, std::string(action) + ": " + r.error().message());
    if constexpr (!std::is_void_v<T>) return std::move(r).value();
}

}  // namespace raftpp::wal
