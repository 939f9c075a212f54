// WAL segment files: names and the listing of a WAL directory (etcd's wal/util.go).
// A segment is named %016x-%016x.wal: its sequence number, then the index of the first entry
// written to it (the last index + 1 when it was cut), so names sort in log order. Sequence
// numbers are consecutive; a gap means a segment went missing.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <raftpp/types.hpp>
#include <raftpp/wal/wal_error.hpp>

namespace raftpp::wal {

struct segment_info {
    std::uint64_t seq = 0;
    index_t first_index = 0;
    std::filesystem::path path;
};

inline std::string segment_file_name(std::uint64_t seq, index_t first_index) {
    char name[40];
    std::snprintf(name, sizeof name, "%016llx-%016llx.wal", static_cast<unsigned long long>(seq),
                  static_cast<unsigned long long>(first_index));
    return name;
}

// seq and first index of a segment file name, or nullopt for any other name.
inline std::optional<segment_info> parse_segment_name(std::string_view name) {
    if (name.size() != 16 + 1 + 16 + 4 || name[16] != '-' || !name.ends_with(".wal"))
        return std::nullopt;
    segment_info s;
    auto hex = [](std::string_view t, std::uint64_t& v) {
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, 16);
        return ec == std::errc{} && p == t.data() + t.size();
    };
    if (!hex(name.substr(0, 16), s.seq) || !hex(name.substr(17, 16), s.first_index))
        return std::nullopt;
    return s;
}

// Throws errc::corrupt_record naming the first gap in the sequence numbers of segs[from..]
// (a segment is missing).
inline void check_no_gap(const std::vector<segment_info>& segs, std::size_t from,
                         const std::filesystem::path& dir) {
    for (std::size_t k = from + 1; k < segs.size(); ++k) {
        if (segs[k].seq != segs[k - 1].seq + 1)
            throw wal_error(errc::corrupt_record, dir,
                            "segment sequence " + std::to_string(segs[k - 1].seq + 1) +
                                " is missing (between " + segs[k - 1].path.filename().string() +
                                " and " + segs[k].path.filename().string() + ")");
    }
}

// The segments in dir in sequence order; other files (temp files, strays) are ignored.
// Throws wal_error: errc::wal_not_found when there is none, or the errno of a failed
// listing. Gaps are not checked here (check_no_gap): segments released before the one a
// replay starts from may come back after a crash, some and not others, and are never read.
inline std::vector<segment_info> list_segments(const std::filesystem::path& dir) {
    std::vector<segment_info> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto s = parse_segment_name(it->path().filename().string());
        if (!s) continue;
        s->path = it->path();
        out.push_back(std::move(*s));
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
        throw wal_error(ec, dir, "cannot list the WAL directory: " + ec.message());
    if (out.empty()) throw wal_error(errc::wal_not_found, dir, "no WAL segment (*.wal) found");
    std::sort(out.begin(), out.end(),
              [](const segment_info& a, const segment_info& b) { return a.seq < b.seq; });
    return out;
}

// Whether dir holds a WAL (at least one segment file).
inline bool exists(const std::filesystem::path& dir) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (parse_segment_name(it->path().filename().string())) return true;
    return false;
}

}  // namespace raftpp::wal
