// raftpp::wal::snapshotter — snapshot files in one directory (etcd's snap.Snapshotter): save
// writes <dir>/<term>-<index>.snap crash-safely (temp file, fsync, rename, fsync of the
// directory), so a name ending in .snap is always a complete file; load_newest returns the
// newest file that passes its checks and renames any that fail to <name>.broken.
//
// File format, version 1 (all integers little-endian; the header is 32 bytes):
//   offset  size  field
//        0     8  magic "RPPSNAP\0"
//        8     4  u32 format version (1)
//       12     4  u32 CRC32C (Castagnoli) of every byte from offset 16 to the end of the file
//       16     8  u64 M: length of the encoded metadata
//       24     8  u64 D: length of the snapshot data
//       32     M  snapshot_metadata encoded with raftpp::codec
//     32+M     D  snapshot data, as given to save()
// The file is exactly 32 + M + D bytes. Name: "%016x-%016x.snap" of (term, index), as etcd;
// the name must agree with the metadata inside. A file that fails any check (too short, bad
// magic, unknown version, lengths not matching the file size, CRC, undecodable metadata,
// name/metadata disagreement) is corrupt: errc::corrupt_record.
#pragma once

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/uio.h>

#include <raftpp/buffer.hpp>
#include <raftpp/codec/codec.hpp>
#include <raftpp/codec/crc32c.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/types.hpp>
#include <raftpp/wal/file.hpp>
#include <raftpp/wal/wal_error.hpp>

namespace raftpp::wal {

namespace detail {

inline constexpr std::array<std::byte, 8> snapshot_magic = {
    std::byte{'R'}, std::byte{'P'}, std::byte{'P'}, std::byte{'S'},
    std::byte{'N'}, std::byte{'A'}, std::byte{'P'}, std::byte{0}};
inline constexpr std::uint32_t snapshot_format_version = 1;
inline constexpr std::size_t snapshot_header_size = 32;
// The CRC covers [snapshot_crc_start, end of file): the two lengths, the metadata, the data.
inline constexpr std::size_t snapshot_crc_start = 16;
inline constexpr std::string_view snapshot_suffix = ".snap";
inline constexpr std::string_view snapshot_tmp_suffix = ".tmp";
inline constexpr std::string_view snapshot_broken_suffix = ".broken";
// Data is read and checksummed in pieces of this size, each while it is still in cache.
inline constexpr std::size_t snapshot_read_chunk = std::size_t{1} << 20;

inline void snapshot_store_le(std::byte* p, std::uint64_t v, int bytes) noexcept {
    for (int i = 0; i < bytes; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint64_t snapshot_load_le(const std::byte* p, int bytes) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= std::uint64_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
    return v;
}

// "%016x-%016x.snap" of (term, index).
inline std::string snapshot_file_name(term_t term, index_t index) {
    char name[40];
    std::snprintf(name, sizeof name, "%016" PRIx64 "-%016" PRIx64 ".snap", term, index);
    return name;
}

// (term, index) of a name written by snapshot_file_name; nullopt for any other name.
inline std::optional<std::pair<term_t, index_t>> parse_snapshot_file_name(std::string_view s) {
    if (s.size() != 16 + 1 + 16 + snapshot_suffix.size() || s[16] != '-' ||
        s.substr(33) != snapshot_suffix)
        return std::nullopt;
    auto hex16 = [&](std::size_t at) -> std::optional<std::uint64_t> {
        std::uint64_t v = 0;
        for (char c : s.substr(at, 16)) {
            if (c >= '0' && c <= '9') v = v << 4 | std::uint64_t(c - '0');
            else if (c >= 'a' && c <= 'f') v = v << 4 | std::uint64_t(c - 'a' + 10);
            else return std::nullopt;
        }
        return v;
    };
    auto term = hex16(0);
    auto index = hex16(17);
    if (!term || !index) return std::nullopt;
    return std::pair{*term, *index};
}

inline std::filesystem::path snapshot_parent_dir(const std::filesystem::path& p) {
    auto d = p.parent_path();
    return d.empty() ? std::filesystem::path(".") : d;
}

// mkdir -p, then an fsync of the parent of every directory it created, so the new names
// survive a crash (the snapshot's own rename is made durable by its caller).
inline result<void> create_snapshot_directory(std::filesystem::path dir) {
    if (!dir.has_filename() && dir.has_parent_path()) dir = dir.parent_path();  // "a/b/"
    std::vector<std::filesystem::path> missing;  // deepest first
    for (auto p = dir; !p.empty(); p = p.parent_path()) {
        std::error_code ec;
        if (std::filesystem::exists(p, ec)) break;
        if (ec) return ec;
        missing.push_back(p);
        if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) return last_errno();
        if (auto r = sync_directory(snapshot_parent_dir(*it)); !r) return r;
    }
    return {};
}

// The names in dir that match `keep`; a missing directory has none.
template <class Keep>
result<std::vector<std::string>> list_snapshot_directory(const std::filesystem::path& dir,
                                                         Keep keep) {
    std::vector<std::string> names;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec == std::errc::no_such_file_or_directory) return names;
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (keep(std::string_view(name))) names.push_back(std::move(name));
    }
    if (ec) return ec;
    return names;
}

// Reads and checks one snapshot file. On errc::corrupt_record, `why` says what was wrong.
inline result<snapshot> read_snapshot_file(const std::filesystem::path& path, std::string& why) {
    auto corrupt = [&](std::string reason) -> result<snapshot> {
        why = std::move(reason);
        return errc::corrupt_record;
    };
    auto f = file::open(path, O_RDONLY);
    if (!f) return f.error();
    struct stat st {};
    if (::fstat(f->native_handle(), &st) != 0) return last_errno();
    // Not a sign of corruption (the file would be renamed to .broken): an error.
    if (S_ISDIR(st.st_mode)) return std::make_error_code(std::errc::is_a_directory);
    if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::array<std::byte, snapshot_header_size> header{};
    if (size < header.size())
        return corrupt("the file is " + std::to_string(size) + " bytes, shorter than the " +
                       std::to_string(header.size()) + "-byte header");
    if (auto n = f->read_at(header, 0); !n) return n.error();
    else if (*n != header.size()) return corrupt("the file shrank while being read");
    if (!std::equal(snapshot_magic.begin(), snapshot_magic.end(), header.begin()))
        return corrupt("bad magic (not a raftpp snapshot file)");
    if (auto v = snapshot_load_le(&header[8], 4); v != snapshot_format_version)
        return corrupt("unsupported format version " + std::to_string(v));
    const auto stored_crc = static_cast<std::uint32_t>(snapshot_load_le(&header[12], 4));
    const std::uint64_t meta_len = snapshot_load_le(&header[16], 8);
    const std::uint64_t data_len = snapshot_load_le(&header[24], 8);
    // Checked against the file size before anything is allocated (and without overflow).
    const std::uint64_t body = size - header.size();
    if (meta_len > body || data_len != body - meta_len)
        return corrupt("length mismatch: the header gives " + std::to_string(meta_len) +
                       " bytes of metadata and " + std::to_string(data_len) +
                       " bytes of data, the file holds " + std::to_string(body) +
                       " bytes after the header");

    std::uint32_t crc = crc32c(std::span<const std::byte>(header).subspan(snapshot_crc_start));
    std::vector<std::byte> meta(static_cast<std::size_t>(meta_len));
    if (auto n = f->read_at(meta, header.size()); !n) return n.error();
    else if (*n != meta.size()) return corrupt("the file shrank while being read");
    crc = crc32c(meta, crc);

    buffer data = buffer::for_overwrite(static_cast<std::size_t>(data_len));
    for (std::size_t done = 0; done < data.size();) {
        const auto piece = std::span<std::byte>(data.mutable_data() + done,
                                                std::min(snapshot_read_chunk, data.size() - done));
        auto n = f->read_at(piece, header.size() + meta_len + done);
        if (!n) return n.error();
        if (*n != piece.size()) return corrupt("the file shrank while being read");
        crc = crc32c(piece, crc);
        done += piece.size();
    }
    if (crc != stored_crc) {
        char msg[80];
        std::snprintf(msg, sizeof msg,
                      "CRC mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")", stored_crc,
                      crc);
        return corrupt(msg);
    }

    auto metadata = raftpp::codec::decode<snapshot_metadata>(meta);
    if (!metadata) return corrupt("the metadata does not decode: " + metadata.error().message());
    if (auto named = parse_snapshot_file_name(path.filename().string());
        named && (named->first != metadata->term || named->second != metadata->index))
        return corrupt("the name says term " + std::to_string(named->first) + " index " +
                       std::to_string(named->second) + ", the metadata says term " +
                       std::to_string(metadata->term) + " index " +
                       std::to_string(metadata->index));
    return snapshot{std::move(data), std::move(*metadata)};
}

}  // namespace detail

// Snapshot files of one directory. Not safe for concurrent use: save() and purge() must not
// run at the same time as each other or as a load on the same directory.
template <class Logger = null_logger>
class snapshotter {
    static_assert(check_logger<Logger>());

public:
    // Does not touch the disk: the directory is created by the first save().
    explicit snapshotter(std::filesystem::path dir, Logger logger = Logger{})
        : dir_(std::move(dir)), logger_(std::move(logger)) {}

    const std::filesystem::path& dir() const noexcept { return dir_; }

    // Writes snap to <dir>/<term>-<index>.snap, replacing a file of that name. Crash-safe:
    // written to <name>.tmp, fsync'd, renamed into place, then the directory fsync'd; the
    // directory is created (and its parent fsync'd) when missing. An empty snapshot
    // (metadata.index == 0) writes nothing. Errors are errno codes; never throws.
    result<void> save(const snapshot& snap) noexcept;

    // The newest snapshot (highest index, then term) that passes its checks, or nullopt. A
    // corrupt file is logged as a warning and renamed to <name>.broken; a file that cannot be
    // read (an errno) is logged and skipped but left in place. Either way the next older one
    // is tried. Throws wal_error only when the directory exists but cannot be listed.
    std::optional<snapshot> load_newest() { return load_newest_matching(nullptr); }
    // The same among the snapshots whose (term, index) is in `usable` (etcd's
    // LoadNewestAvailable: the WAL knows which snapshots it holds markers for). Files outside
    // `usable` are not opened.
    std::optional<snapshot> load_newest(std::span<const snapshot_metadata> usable);

    // Reads and checks one file: errc::corrupt_record when it fails a check (see the format
    // above), else the errno of the failed call.
    result<snapshot> load(const std::filesystem::path& file) const {
        try {
            std::string why;
            return detail::read_snapshot_file(file, why);
        } catch (const std::bad_alloc&) {
            return std::make_error_code(std::errc::not_enough_memory);
        }
    }

    // (term, index) of every <term>-<index>.snap file, newest (highest index, then term)
    // first; other names (*.tmp, *.broken, strays) are ignored. A missing directory has none;
    // throws wal_error when the directory cannot be listed.
    std::vector<std::pair<term_t, index_t>> list() const {
        return value_or_throw(list_snapshots(), dir_, "list snapshot directory");
    }

    // Deletes all but the newest `keep` snapshot files at or below index `newest`, every file
    // above it, and leftover <name>.snap.tmp files.
    // *.broken files are left for an operator to look at. The directory is not fsynced (as
    // etcd's purge): a file a crash brings back is older than the ones kept, and the next
    // purge takes it again.
    result<void> purge(std::size_t keep, index_t newest = no_limit) noexcept;

    // Deletes the snapshot file at (term, index), if there is one.
    result<void> remove(term_t term, index_t index) noexcept {
        if (::unlink(path_of(term, index).c_str()) != 0 && errno != ENOENT) return last_errno();
        return {};
    }

private:
    using name_list = std::vector<std::pair<term_t, index_t>>;

    result<name_list> list_snapshots() const;
    result<void> save_file(const snapshot& snap);
    // `usable` sorted by (term, index), or nullptr for "any".
    std::optional<snapshot> load_newest_matching(const name_list* usable);
    std::filesystem::path path_of(term_t term, index_t index) const {
        return dir_ / detail::snapshot_file_name(term, index);
    }

    std::filesystem::path dir_;
    Logger logger_;
};

template <class Logger>
result<void> snapshotter<Logger>::save(const snapshot& snap) noexcept {
    if (is_empty(snap)) return {};
    try {
        return save_file(snap);
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::system_error& e) {
        return e.code();
    } catch (...) {
        return errc::io_error;
    }
}

template <class Logger>
result<void> snapshotter<Logger>::save_file(const snapshot& snap) {
    const auto final_path = path_of(snap.metadata.term, snap.metadata.index);
    auto tmp_path = final_path;
    tmp_path += detail::snapshot_tmp_suffix;

    const std::vector<std::byte> meta = raftpp::codec::encode(snap.metadata);
    std::array<std::byte, detail::snapshot_header_size> header{};
    std::copy(detail::snapshot_magic.begin(), detail::snapshot_magic.end(), header.begin());
    detail::snapshot_store_le(&header[8], detail::snapshot_format_version, 4);
    detail::snapshot_store_le(&header[16], meta.size(), 8);
    detail::snapshot_store_le(&header[24], snap.data.size(), 8);
    std::uint32_t crc =
        crc32c(std::span<const std::byte>(header).subspan(detail::snapshot_crc_start));
    crc = crc32c(snap.data.bytes(), crc32c(meta, crc));
    detail::snapshot_store_le(&header[12], crc, 4);

    constexpr int flags = O_WRONLY | O_CREAT | O_TRUNC;
    auto f = file::open(tmp_path, flags);
    if (!f && f.error() == std::errc::no_such_file_or_directory) {
        if (auto r = detail::create_snapshot_directory(dir_); !r) return r;
        f = file::open(tmp_path, flags);
    }
    if (!f) return f.error();

    // One pwritev of header, metadata and the caller's data buffer: the data is not copied.
    std::array<iovec, 3> iov{{
        {header.data(), header.size()},
        {const_cast<std::byte*>(meta.data()), meta.size()},
        {const_cast<std::byte*>(snap.data.data()), snap.data.size()},
    }};
    result<void> r = f->write_at(iov, 0);
    if (r) r = f->sync();
    f->close();
    if (r) r = rename_durable(tmp_path, final_path);
    if (!r) ::unlink(tmp_path.c_str());
    return r;
}

template <class Logger>
auto snapshotter<Logger>::list_snapshots() const -> result<name_list> {
    auto names = detail::list_snapshot_directory(dir_, [](std::string_view n) {
        return detail::parse_snapshot_file_name(n).has_value();
    });
    if (!names) return names.error();
    name_list out;
    out.reserve(names->size());
    for (const auto& n : *names) out.push_back(*detail::parse_snapshot_file_name(n));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return std::pair(a.second, a.first) > std::pair(b.second, b.first);
    });
    return out;
}

template <class Logger>
std::optional<snapshot> snapshotter<Logger>::load_newest(
    std::span<const snapshot_metadata> usable) {
    name_list wanted;
    wanted.reserve(usable.size());
    for (const auto& m : usable) wanted.emplace_back(m.term, m.index);
    std::sort(wanted.begin(), wanted.end());
    return load_newest_matching(&wanted);
}

template <class Logger>
std::optional<snapshot> snapshotter<Logger>::load_newest_matching(const name_list* usable) {
    for (const auto& [term, index] : list()) {
        if (usable && !std::binary_search(usable->begin(), usable->end(), std::pair(term, index)))
            continue;
        const auto path = path_of(term, index);
        std::string why;
        result<snapshot> snap = errc::io_error;
        try {
            snap = detail::read_snapshot_file(path, why);
        } catch (const std::bad_alloc&) {
            snap = std::make_error_code(std::errc::not_enough_memory);
        }
        if (snap) return std::move(snap).value();
        if (snap.error() != errc::corrupt_record) {
            // Possibly transient (EMFILE, ENOMEM, EIO): not evidence the file is bad.
            RAFTPP_LOG(logger_, log_level::warning, "raftpp snapshotter: skipping ",
                       path.string(), ": cannot read it: ", snap.error());
            continue;
        }
        auto broken = path;
        broken += detail::snapshot_broken_suffix;
        const auto renamed = rename_durable(path, broken);
        RAFTPP_LOG(logger_, log_level::warning, "raftpp snapshotter: skipping corrupt snapshot ",
                   path.string(), ": ", why,
                   renamed ? std::string("; renamed to ") + broken.filename().string()
                           : "; renaming it to " + broken.filename().string() +
                                 " failed: " + renamed.error().message());
    }
    return std::nullopt;
}

template <class Logger>
result<void> snapshotter<Logger>::purge(std::size_t keep, index_t newest) noexcept {
    try {
        auto snaps = list_snapshots();
        if (!snaps) return snaps.error();
        auto tmps = detail::list_snapshot_directory(dir_, [](std::string_view n) {
            return n.ends_with(detail::snapshot_tmp_suffix) &&
                   detail::parse_snapshot_file_name(
                       n.substr(0, n.size() - detail::snapshot_tmp_suffix.size()));
        });
        if (!tmps) return tmps.error();
        std::vector<std::filesystem::path> doomed;
        std::size_t kept = 0;
        for (const auto& [term, index] : *snaps)  // newest first
            if (index > newest || ++kept > keep) doomed.push_back(path_of(term, index));
        for (const auto& t : *tmps) doomed.push_back(dir_ / t);
        if (doomed.empty()) return {};
        for (const auto& p : doomed)
            if (::unlink(p.c_str()) != 0 && errno != ENOENT) return last_errno();
        return {};
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        return errc::io_error;
    }
}

}  // namespace raftpp::wal
