// SHA-1 (FIPS 180-4 §6.1), self-contained. It is here only because etcd derives member and
// cluster ids from SHA-1 digests and raftpp gives the same ids; it is not used for security
// (SHA-1 is broken for collision resistance), so no constant-time or hardware paths.
// Invariant of sha1_hasher: buffered_ < 64 bytes wait in block_, total_ counts every byte fed.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace raftpp::detail {

class sha1_hasher {
public:
    using digest = std::array<std::uint8_t, 20>;

    sha1_hasher& update(std::span<const std::byte> data) noexcept {
        total_ += data.size();
        std::size_t i = 0;
        if (buffered_ != 0) {
            std::size_t take = std::min(data.size(), block_.size() - buffered_);
            std::memcpy(block_.data() + buffered_, data.data(), take);
            buffered_ += take;
            i = take;
            if (buffered_ < block_.size()) return *this;
            compress(block_.data());
            buffered_ = 0;
        }
        // Whole blocks straight from the input, without a copy into block_.
        for (; data.size() - i >= block_.size(); i += block_.size())
            compress(reinterpret_cast<const std::uint8_t*>(data.data() + i));
        if (i < data.size()) {
            std::memcpy(block_.data(), data.data() + i, data.size() - i);
            buffered_ = data.size() - i;
        }
        return *this;
    }
    sha1_hasher& update(std::string_view s) noexcept {
        return update(std::as_bytes(std::span<const char>(s.data(), s.size())));
    }

    // Pads (a 1 bit, zeros, the message length in bits as a big-endian u64) and returns the
    // digest; the hasher is spent afterwards.
    digest finish() noexcept {
        const std::uint64_t bit_length = total_ * 8;
        block_[buffered_++] = 0x80;
        if (buffered_ > 56) {
            std::memset(block_.data() + buffered_, 0, block_.size() - buffered_);
            compress(block_.data());
            buffered_ = 0;
        }
        std::memset(block_.data() + buffered_, 0, 56 - buffered_);
        for (int i = 0; i < 8; ++i)
            block_[56 + i] = static_cast<std::uint8_t>(bit_length >> (56 - 8 * i));
        compress(block_.data());
        digest out{};
        for (std::size_t i = 0; i < 5; ++i)
            for (std::size_t b = 0; b < 4; ++b)
                out[4 * i + b] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * b));
        return out;
    }

private:
    void compress(const std::uint8_t* p) noexcept {
        std::array<std::uint32_t, 80> w;
        for (std::size_t t = 0; t < 16; ++t)
            w[t] = std::uint32_t{p[4 * t]} << 24 | std::uint32_t{p[4 * t + 1]} << 16 |
                   std::uint32_t{p[4 * t + 2]} << 8 | std::uint32_t{p[4 * t + 3]};
        for (std::size_t t = 16; t < 80; ++t)
            w[t] = std::rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
        for (std::size_t t = 0; t < 80; ++t) {
            std::uint32_t f, k;
            if (t < 20) f = (b & c) | (~b & d), k = 0x5A827999u;
            else if (t < 40) f = b ^ c ^ d, k = 0x6ED9EBA1u;
            else if (t < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
            else f = b ^ c ^ d, k = 0xCA62C1D6u;
            std::uint32_t tmp = std::rotl(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = std::rotl(b, 30);
            b = a;
            a = tmp;
        }
        h_[0] += a;
        h_[1] += b;
        h_[2] += c;
        h_[3] += d;
        h_[4] += e;
    }

    std::array<std::uint32_t, 5> h_{0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                                    0xC3D2E1F0u};
    std::array<std::uint8_t, 64> block_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_ = 0;
};

inline std::array<std::uint8_t, 20> sha1(std::span<const std::byte> data) noexcept {
    return sha1_hasher().update(data).finish();
}

}  // namespace raftpp::detail
