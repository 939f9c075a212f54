// raftpp::buffer — an immutable, reference-counted byte string.
// Entry payloads travel from a proposal into the log, into messages and into storage; etcd
// shares one Go slice across all of them, and so do we: copying a buffer bumps a count, it
// never copies bytes. One heap allocation holds the count, the size and the bytes.
#pragma once

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace raftpp {

class buffer {
public:
    buffer() noexcept = default;
    buffer(const void* data, std::size_t size) {
        if (size == 0) return;
        rep_ = rep::make(size);
        std::memcpy(rep_->bytes(), data, size);
    }
    explicit buffer(std::string_view s) : buffer(s.data(), s.size()) {}
    explicit buffer(std::span<const std::byte> s) : buffer(s.data(), s.size()) {}
    explicit buffer(const char* s) : buffer(std::string_view(s)) {}

    // Allocates `size` zeroed bytes to be filled through mutable_data() before the buffer is
    // shared (decoders use this to avoid a second copy).
    static buffer uninitialized(std::size_t size) {
        buffer b;
        if (size != 0) {
            b.rep_ = rep::make(size);
            std::memset(b.rep_->bytes(), 0, size);
        }
        return b;
    }

    // Allocates `size` bytes left uninitialized, for a reader that fills every one of them
    // through mutable_data() before the buffer is shared (decoders of large payloads: no pass
    // of zeros ahead of the copy).
    static buffer for_overwrite(std::size_t size) {
        buffer b;
        if (size != 0) b.rep_ = rep::make(size);
        return b;
    }

    buffer(const buffer& o) noexcept : rep_(o.rep_) {
        if (rep_) rep_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    buffer(buffer&& o) noexcept : rep_(std::exchange(o.rep_, nullptr)) {}
    buffer& operator=(const buffer& o) noexcept {
        buffer(o).swap(*this);
        return *this;
    }
    buffer& operator=(buffer&& o) noexcept {
        buffer(std::move(o)).swap(*this);
        return *this;
    }
    // Most buffers destroyed are empty or moved-from: only those with bytes call out.
    ~buffer() {
        if (rep_) release();
    }

    void swap(buffer& o) noexcept { std::swap(rep_, o.rep_); }

    std::size_t size() const noexcept { return rep_ ? rep_->size : 0; }
    bool empty() const noexcept { return size() == 0; }
    const std::byte* data() const noexcept { return rep_ ? rep_->bytes() : nullptr; }
    // Only meaningful on a buffer nobody else shares yet (see uninitialized()).
    std::byte* mutable_data() noexcept { return rep_ ? rep_->bytes() : nullptr; }
    std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(data()), size()};
    }
    std::string str() const { return std::string(view()); }
    // How many buffers share these bytes; 0 for an empty buffer.
    std::uint32_t use_count() const noexcept {
        return rep_ ? rep_->refs.load(std::memory_order_relaxed) : 0;
    }

    friend bool operator==(const buffer& a, const buffer& b) noexcept {
        return a.view() == b.view();
    }
    friend std::strong_ordering operator<=>(const buffer& a, const buffer& b) noexcept {
        return a.view() <=> b.view();
    }

private:
    struct rep {
        std::atomic<std::uint32_t> refs{1};
        std::size_t size{};
        std::byte* bytes() noexcept { return reinterpret_cast<std::byte*>(this + 1); }
        static rep* make(std::size_t n) {
            void* p = ::operator new(sizeof(rep) + n);
            auto* r = ::new (p) rep;
            r->size = n;
            return r;
        }
    };
    void release() noexcept {
        if (rep_ && rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            rep_->~rep();
            ::operator delete(rep_);
        }
        rep_ = nullptr;
    }
    rep* rep_ = nullptr;
};

}  // namespace raftpp
