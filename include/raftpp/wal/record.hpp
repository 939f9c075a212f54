// WAL records: how one value is framed in a segment file (etcd's wal/encoder.go and
// decoder.go), independent of what the records mean.
//
// A record is a 16-byte header, the payload, and zero padding to a multiple of 8 bytes:
//   offset  size  field
//   0       4     length      payload bytes, padding excluded (little-endian)
//   4       1     type        record_type; 0 never starts a record (preallocated zeros)
//   5       1     padding     zero bytes after the payload, 0..7
//   6       2     reserved    0
//   8       4     crc         CRC32C of header bytes [0, 8) then the payload, seeded with the
//                             previous record's crc: a chain through the whole WAL, so a record
//                             from elsewhere (or an old copy) does not fit in
//   12      4     header_crc  CRC32C of header bytes [0, 12), unchained: a damaged length is
//                             recognised before it is used, and a scan can tell whether a
//                             valid record follows a damaged one (see wal.hpp, recovery)
// A crc record carries the running crc as its payload (u32) and is its own chain's seed: each
// segment starts with one, so a segment can be read without the ones before it, and reading
// on from the previous segment checks that the chain continues.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <raftpp/codec/codec.hpp>
#include <raftpp/codec/crc32c.hpp>
#include <raftpp/error.hpp>

namespace raftpp::wal {

enum class record_type : std::uint8_t {
    metadata = 1,    // wal::metadata: node id, cluster id, user bytes; starts every segment
    entry = 2,       // raftpp::entry
    hard_state = 3,  // raftpp::hard_state
    snapshot = 4,    // raftpp::snapshot_metadata: a snapshot the log may start from
    crc = 5,         // the running crc (u32)
};
inline constexpr std::uint8_t max_record_type = 5;

inline constexpr std::size_t record_header_size = 16;
inline constexpr std::size_t record_alignment = 8;

namespace detail {
inline void put_u32(std::byte* p, std::uint32_t v) noexcept { std::memcpy(p, &v, 4); }
inline std::uint32_t get_u32(const std::byte* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline std::size_t padding_for(std::size_t n) noexcept {
    return (record_alignment - n % record_alignment) % record_alignment;
}
}  // namespace detail

// Frames values as records appended to a byte vector, carrying the crc chain.
class record_encoder {
public:
    explicit record_encoder(std::uint32_t crc = 0) noexcept : crc_(crc) {}

    // Appends one record holding `value` encoded with the codec.
    template <class T>
    void append(record_type type, const T& value, std::vector<std::byte>& out) {
        const std::size_t start = out.size();
        out.resize(start + record_header_size);
        enc_.encode(value, out);
        finish(type, start, out);
    }
    // Appends a crc record holding the running crc, which also seeds the chain from here on.
    void append_crc(std::vector<std::byte>& out) {
        const std::size_t start = out.size();
        out.resize(start + record_header_size + 4);
        detail::put_u32(out.data() + start + record_header_size, crc_);
        finish(record_type::crc, start, out);
    }

    // The crc of the last record appended (the seed of the next).
    std::uint32_t crc() const noexcept { return crc_; }
    void reset(std::uint32_t crc) noexcept { crc_ = crc; }

private:
    void finish(record_type type, std::size_t start, std::vector<std::byte>& out) {
        const std::size_t len = out.size() - start - record_header_size;
        const std::size_t pad = detail::padding_for(len);
        out.resize(out.size() + pad);  // zero-filled
        std::byte* h = out.data() + start;
        detail::put_u32(h, static_cast<std::uint32_t>(len));
        h[4] = static_cast<std::byte>(type);
        h[5] = static_cast<std::byte>(pad);
        h[6] = h[7] = std::byte{0};
        // A crc record's payload is crc_ itself, so every record is seeded with crc_.
        std::uint32_t c = crc32c(std::span<const std::byte>(h, 8), crc_);
        c = crc32c(std::span<const std::byte>(h + record_header_size, len), c);
        detail::put_u32(h + 8, c);
        detail::put_u32(h + 12, crc32c(std::span<const std::byte>(h, 12)));
        crc_ = c;
    }

    codec::encoder enc_;
    std::uint32_t crc_;
};

// One record as read: its type, payload (a view into the segment's bytes) and position.
struct record_view {
    record_type type{};
    std::span<const std::byte> payload;
    std::uint64_t offset = 0;  // of the header, in the segment
};

enum class read_status : std::uint8_t {
    ok,   // a record was read
    end,  // the bytes end at a record boundary, or the next header is all zero
    bad,  // the record at offset() is damaged or cut short; reason() says how
};

// Reads the records of one segment's bytes in order, checking both crcs and the chain.
class record_decoder {
public:
    explicit record_decoder(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

    read_status next(record_view& rec) {
        extent_ = 0;
        cut_short_ = false;
        const std::uint64_t left = bytes_.size() - pos_;
        if (left == 0) return read_status::end;
        if (left < record_header_size) {
            if (is_zero(pos_, left)) return read_status::end;
            cut_short_ = true;
            return fail("header cut short");
        }
        const std::byte* h = bytes_.data() + pos_;
        if (is_zero(pos_, record_header_size)) return read_status::end;
        extent_ = record_header_size;
        if (detail::get_u32(h + 12) != crc32c(std::span<const std::byte>(h, 12)))
            return fail("header checksum mismatch");
        const std::uint32_t len = detail::get_u32(h);
        const auto type = static_cast<std::uint8_t>(h[4]);
        const auto pad = static_cast<std::uint8_t>(h[5]);
        if (type == 0 || type > max_record_type) return fail("unknown record type");
        if (pad != detail::padding_for(len) || h[6] != std::byte{0} || h[7] != std::byte{0})
            return fail("bad padding");
        extent_ = record_header_size + std::uint64_t(len) + pad;
        if (extent_ > left) {
            cut_short_ = true;
            return fail("record cut short");
        }
        const std::span<const std::byte> payload(h + record_header_size, len);
        std::uint32_t seed = crc_;
        if (static_cast<record_type>(type) == record_type::crc) {
            if (len != 4) return fail("bad crc record");
            seed = detail::get_u32(payload.data());
        }
        std::uint32_t c = crc32c(std::span<const std::byte>(h, 8), seed);
        c = crc32c(payload, c);
        if (c != detail::get_u32(h + 8)) return fail("checksum mismatch");
        // Padding is not checksummed, but nothing but zeros is ever written there.
        if (!is_zero(pos_ + record_header_size + len, pad)) return fail("bad padding");
        rec.type = static_cast<record_type>(type);
        rec.payload = payload;
        rec.offset = pos_;
        crc_ = c;
        pos_ += extent_;
        return read_status::ok;
    }

    // After next() returned bad: whether the damage looks like a write that a crash cut
    // short, rather than bytes that changed after they were written. A torn record runs past
    // the end of the file, or holds a stretch of zeros where a 512-byte sector (the unit a disk
    // writes atomically) was never written, as etcd's isTornEntry checks. A bit flipped in
    // a record that was written in full is neither.
    bool looks_torn() const noexcept {
        if (cut_short_) return true;
        const std::uint64_t end = std::min<std::uint64_t>(pos_ + extent_, bytes_.size());
        constexpr std::uint64_t sector = 512;
        for (std::uint64_t p = pos_; p < end;) {
            const std::uint64_t chunk_end = std::min(end, (p / sector + 1) * sector);
            if (is_zero(p, chunk_end - p)) return true;
            p = chunk_end;
        }
        return false;
    }
    // After next() returned bad: where a scan for records that follow the damage starts
    // (after the damaged record when its header could be trusted, else the next boundary).
    std::uint64_t resume_offset() const noexcept {
        return extent_ > record_header_size ? pos_ + extent_ : pos_ + record_alignment;
    }

    // Where the next record starts (after a bad one: where the bad one starts).
    std::uint64_t offset() const noexcept { return pos_; }
    const char* reason() const noexcept { return reason_; }
    // The crc of the last record read.
    std::uint32_t crc() const noexcept { return crc_; }

    // Whether a record header that checks out (header crc, known type, length within the
    // bytes) starts at any 8-byte boundary at or after `from`: it tells damage followed by more
    // records (corruption) from a torn tail (nothing valid after it).
    bool valid_header_after(std::uint64_t from) const noexcept {
        from += detail::padding_for(from);
        for (std::uint64_t p = from; p + record_header_size <= bytes_.size(); p += record_alignment) {
            const std::byte* h = bytes_.data() + p;
            std::uint64_t a, b;
            std::memcpy(&a, h, 8);
            std::memcpy(&b, h + 8, 8);
            if ((a | b) == 0) continue;
            if (detail::get_u32(h + 12) != crc32c(std::span<const std::byte>(h, 12))) continue;
            const auto type = static_cast<std::uint8_t>(h[4]);
            if (type == 0 || type > max_record_type) continue;
            if (detail::get_u32(h) <= bytes_.size() - p - record_header_size) return true;
        }
        return false;
    }

private:
    bool is_zero(std::uint64_t from, std::uint64_t n) const noexcept {
        for (std::uint64_t k = 0; k < n; ++k)
            if (bytes_[from + k] != std::byte{0}) return false;
        return true;
    }
    read_status fail(const char* why) noexcept {
        reason_ = why;
        return read_status::bad;
    }

    std::span<const std::byte> bytes_;
    std::uint64_t pos_ = 0;
    std::uint32_t crc_ = 0;
    const char* reason_ = "";
    std::uint64_t extent_ = 0;  // bytes the record at pos_ claims (16 when its header is bad)
    bool cut_short_ = false;    // the record at pos_ runs past the end of the bytes
};

}  // namespace raftpp::wal
