// raftpp::wal::file — the POSIX calls the WAL and the snapshotter make, each returning
// result<> with the errno as a std::system_category() code: an owned descriptor with
// positioned writes, fdatasync/fsync, preallocation, truncation and an exclusive flock, plus
// the directory operations a crash-safe file layout needs (fsync a directory after creating,
// renaming or unlinking in it).
#pragma once

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <raftpp/error.hpp>

namespace raftpp::wal {

inline std::error_code last_errno() noexcept { return {errno, std::system_category()}; }

// An owned file descriptor. Moves transfer ownership; the destructor closes.
class file {
public:
    file() noexcept = default;
    explicit file(int fd) noexcept : fd_(fd) {}
    file(file&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    file& operator=(file&& o) noexcept {
        file(std::move(o)).swap(*this);
        return *this;
    }
    file(const file&) = delete;
    file& operator=(const file&) = delete;
    ~file() { close(); }
    void swap(file& o) noexcept { std::swap(fd_, o.fd_); }

    // open(2) with O_CLOEXEC added: a forked child (tests, servers) never inherits a WAL fd.
    static result<file> open(const std::filesystem::path& p, int flags, mode_t mode = 0644) {
        int fd;
        do {
            fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) return last_errno();
        return file(fd);
    }
    static result<file> open_directory(const std::filesystem::path& p) {
        return open(p, O_RDONLY | O_DIRECTORY);
    }

    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    void close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    // Writes all of data at offset (pwrite until done; EINTR retried).
    result<void> write_at(std::span<const std::byte> data, std::uint64_t offset) const {
        while (!data.empty()) {
            const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_errno();
            }
            data = data.subspan(static_cast<std::size_t>(n));
            offset += static_cast<std::uint64_t>(n);
        }
        return {};
    }
    // Writes the buffers in order at offset with as few syscalls as pwritev allows.
    result<void> write_at(std::span<iovec> iov, std::uint64_t offset) const {
        while (!iov.empty()) {
            const int cnt = static_cast<int>(std::min<std::size_t>(iov.size(), IOV_MAX));
            const ssize_t n = ::pwritev(fd_, iov.data(), cnt, static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_errno();
            }
            offset += static_cast<std::uint64_t>(n);
            auto left = static_cast<std::size_t>(n);
            while (!iov.empty() && left >= iov.front().iov_len) {
                left -= iov.front().iov_len;
                iov = iov.subspan(1);
            }
            if (left > 0) {
                iov.front().iov_base = static_cast<char*>(iov.front().iov_base) + left;
                iov.front().iov_len -= left;
            }
        }
        return {};
    }
    // Reads up to out.size() bytes at offset; returns how many (short only at end of file).
    result<std::size_t> read_at(std::span<std::byte> out, std::uint64_t offset) const {
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                                      static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_errno();
            }
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        return done;
    }

    result<void> datasync() const { return check(::fdatasync(fd_)); }
    // A second descriptor for the same open file (close-on-exec), e.g. to fdatasync it on
    // another thread while this one goes on writing.
    result<file> duplicate() const {
        const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return last_errno();
        return file(fd);
    }
    result<void> sync() const { return check(::fsync(fd_)); }
    result<void> truncate(std::uint64_t size) const {
        return check(::ftruncate(fd_, static_cast<off_t>(size)));
    }
    // Reserves [0, size) on disk and extends the file to size: later appends inside it change
    // no file size, so fdatasync has no size to journal. File systems without fallocate
    // (EOPNOTSUPP) fall back to extending the size only.
    result<void> preallocate(std::uint64_t size) const {
        int rc;
        do {
            rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
        } while (rc == EINTR);
        if (rc == 0) return {};
        if (rc == EOPNOTSUPP || rc == EINVAL) return truncate(size);
        return std::error_code(rc, std::system_category());
    }
    result<std::uint64_t> size() const {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) return last_errno();
        return static_cast<std::uint64_t>(st.st_size);
    }
    // An exclusive, non-blocking flock: std::errc::resource_unavailable_try_again (EWOULDBLOCK)
    // when another open file description holds it, in this process or another.
    result<void> lock_exclusive() const {
        int rc;
        do {
            rc = ::flock(fd_, LOCK_EX | LOCK_NB);
        } while (rc != 0 && errno == EINTR);
        return check(rc);
    }

private:
    static result<void> check(int rc) {
        if (rc != 0) return last_errno();
        return {};
    }
    int fd_ = -1;
};

// A read-only mapping of a whole file (empty span for an empty file).
class mapped_file {
public:
    mapped_file() noexcept = default;
    mapped_file(mapped_file&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    mapped_file& operator=(mapped_file&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    ~mapped_file() {
        if (data_ != nullptr) ::munmap(data_, size_);
    }

    static result<mapped_file> map(const file& f) {
        auto sz = f.size();
        if (!sz) return sz.error();
        mapped_file m;
        if (*sz == 0) return m;
        void* p = ::mmap(nullptr, *sz, PROT_READ, MAP_PRIVATE, f.native_handle(), 0);
        if (p == MAP_FAILED) return last_errno();
        ::madvise(p, *sz, MADV_SEQUENTIAL);
        m.data_ = p;
        m.size_ = *sz;
        return m;
    }
    std::span<const std::byte> bytes() const noexcept {
        return {static_cast<const std::byte*>(data_), size_};
    }

private:
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

// fsync of a directory: makes the names created, renamed or unlinked in it durable.
inline result<void> sync_directory(const std::filesystem::path& dir) {
    auto d = file::open_directory(dir);
    if (!d) return d.error();
    return d->sync();
}

// rename(2) then fsync of the directory holding `to` (and of `from`'s, when different).
inline result<void> rename_durable(const std::filesystem::path& from,
                                   const std::filesystem::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) return last_errno();
    auto parent = [](const std::filesystem::path& p) {
        auto d = p.parent_path();
        return d.empty() ? std::filesystem::path(".") : d;
    };
    if (auto r = sync_directory(parent(to)); !r) return r;
    if (parent(from) != parent(to)) return sync_directory(parent(from));
    return {};
}

}  // namespace raftpp::wal
