// The byte formats the fuzz targets read: fuzz_reader turns any byte string into operands
// (never failing: past the end it yields zeros), fuzz_writer builds the same bytes from named
// operands (fuzz/make_corpus.cpp writes the seed corpus with it). Both sides of the step
// fuzzer's format are here, so a seed in source reads like the script it is:
//
//   input   = config-flags:u8  first-leader:u8  action*
//   action  = opcode:u8 operand*            (opcode mod op_count: every byte is an action)
//
// Operands are fixed per opcode (see the table at `enum class op`). Values that should land
// near the node's state (terms, indexes) are a `value`: one mode byte and, for a literal,
// eight more, so most mutations of it stay meaningful:
//   mode & 3 == 0: the small number mode >> 2          (0 .. 63)
//   mode & 3 == 1: base + (mode >> 2) - 32             (base: the field's current value)
//   mode & 3 == 2: a u64 literal, little endian, in the next eight bytes
//   mode & 3 == 3: edge[(mode >> 2) % 8]               (0, 1, max, max - 1, base, base+1, ...)
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace raftpp::fuzz {

// Reads operands from the fuzz input; exhausted input reads as zeros, so every byte string is
// a valid input and truncation only shortens the last action.
class fuzz_reader {
public:
    explicit fuzz_reader(std::span<const std::uint8_t> in) : in_(in) {}

    bool done() const noexcept { return pos_ >= in_.size(); }
    std::size_t remaining() const noexcept { return done() ? 0 : in_.size() - pos_; }

    std::uint8_t u8() noexcept { return done() ? 0 : in_[pos_++]; }
    std::uint64_t u64() noexcept {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= std::uint64_t{u8()} << (8 * i);
        return v;
    }
    // A number in [0, n).
    std::uint64_t below(std::uint64_t n) noexcept { return u8() % n; }
    bool flag() noexcept { return (u8() & 1) != 0; }

    // A value near `base` (see the header comment).
    std::uint64_t value(std::uint64_t base) noexcept {
        const std::uint8_t mode = u8();
        const std::uint64_t arg = mode >> 2;
        switch (mode & 3) {
        case 0: return arg;
        case 1: return base + arg - 32;  // wraps on purpose
        case 2: return u64();
        default: {
            constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
            const std::uint64_t edge[8] = {0, 1, max, max - 1, base, base + 1, base - 1, max / 2};
            return edge[arg % 8];
        }
        }
    }

    // A byte string of at most max_len bytes: a length byte, then the bytes.
    std::vector<std::uint8_t> bytes(std::size_t max_len) {
        const std::size_t n = u8() % (max_len + 1);
        std::vector<std::uint8_t> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n && !done(); ++i) out.push_back(u8());
        return out;
    }

    // The rest of the input.
    std::span<const std::uint8_t> rest() const noexcept {
        return done() ? std::span<const std::uint8_t>{} : in_.subspan(pos_);
    }

private:
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

// Builds inputs operand by operand; the mirror of fuzz_reader.
class fuzz_writer {
public:
    fuzz_writer& u8(std::uint8_t v) {
        out_.push_back(v);
        return *this;
    }
    fuzz_writer& u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    // value(): the small literal 0..63.
    fuzz_writer& small(std::uint8_t v) { return u8(static_cast<std::uint8_t>((v & 63) << 2)); }
    // value(): base + delta, delta in [-32, 31].
    fuzz_writer& rel(int delta) { return u8(static_cast<std::uint8_t>(((delta + 32) << 2) | 1)); }
    // value(): a full literal.
    fuzz_writer& lit(std::uint64_t v) { return u8(2).u64(v); }
    // value(): edge case k (0, 1, max, max-1, base, base+1, base-1, max/2).
    fuzz_writer& edge(std::uint8_t k) { return u8(static_cast<std::uint8_t>((k << 2) | 3)); }
    fuzz_writer& bytes(std::string_view s) {
        u8(static_cast<std::uint8_t>(s.size()));
        for (char c : s) u8(static_cast<std::uint8_t>(c));
        return *this;
    }
    fuzz_writer& raw(std::span<const std::uint8_t> s) {
        out_.insert(out_.end(), s.begin(), s.end());
        return *this;
    }
    const std::vector<std::uint8_t>& data() const noexcept { return out_; }

private:
    std::vector<std::uint8_t> out_;
};

// --- the step fuzzer's format -------------------------------------------------------------

// Cluster: nodes 1-3 bootstrapped as voters, node 4 a spare that starts empty (a member once
// a conf change adds it). `node` operands are u8 % 4 + 1; `peer` operands are u8 % 6 (0 and 5
// are never members, on purpose).
//
// opcode            operands                         what it does
enum class op : std::uint8_t {
    tick,          // node                          one tick
    rounds,        // count                         count % 8 + 1 of: tick all, process,
                   //                               deliver all, process
    process,       // node                          ready cycles until nothing is ready
    deliver,       // k                             step in-flight message k % n into its node
    deliver_all,   //                               step every in-flight message, in order
    drop,          // k                             lose in-flight message k % n
    duplicate,     // k                             copy in-flight message k % n
    settle,        //                               process + deliver until quiet (bounded)
    propose,       // node bytes(32)                raw_node::propose
    propose_conf,  // node conf-change              raw_node::propose_conf_change (v1 or v2)
    campaign,      // node                          raw_node::campaign
    transfer,      // node peer                     raw_node::transfer_leader
    read_index,    // node bytes(8)                 raw_node::read_index
    report,        // node peer kind                report_unreachable / report_snapshot
    crash,         // node                          drop the raw_node, keep its storage
    restart,       // node                          (crash and) rebuild from storage
    snapshot,      // node keep                     snapshot at applied, compact to it - keep%4
    replay,        // k                             re-send sent message k % 64 (history)
    inject,        // node forged-message           raw_node::step of a message built from bytes
    mutate,        // k field value                 alter in-flight message k, then step it
    op_count
};

inline constexpr std::string_view op_names[] = {
    "tick",   "rounds",  "process",      "deliver",  "deliver_all", "drop",       "duplicate",
    "settle", "propose", "propose_conf", "campaign", "transfer",    "read_index", "report",
    "crash",  "restart", "snapshot",     "replay",   "inject",      "mutate"};
static_assert(std::size(op_names) == static_cast<std::size_t>(op::op_count));

// conf-change = kind:u8 ...
//   kind & 1 == 0: v1     type:u8%4 peer
//   kind & 1 == 1: v2     transition:u8%3 count:u8%4 (type:u8%4 peer)* context:bytes(8)
//
// forged-message (inject) =
//   type:u8%23  from:u8  to:u8  term:value(node term)  log_term:value(node last term)
//   index:value(node last index)  commit:value(node commit)  reject:u8&1
//   reject_hint:value(node last index)  shape:u8  n:u8%5  entry*n  snap:u8  [snapshot]
//   context:bytes(8)
// from: u8 % 8 -> 0..5 a peer id, 6 -> the target itself, 7 -> a u64 literal follows.
// to:   u8 & 1 -> the target, else peer u8 >> 1 % 6.
// shape bit 0: entry indexes are filled in as index + 1, + 2, ... (else each entry reads one)
//       bit 1: entry terms are the message term (else each entry reads a value)
//       bit 2: context "CampaignTransfer" instead of bytes(8) (still reads nothing extra)
// entry = type:u8%3  [index:value]  [term:value]  data: conf-change if type != 0 and
//         u8 & 1, else bytes(16)
// snap & 1: a snapshot follows:
//   index:value(node last index)  term:value(message term)  voters  learners
//   voters_outgoing  learners_next  (each: count:u8%4, peer*count)  auto_leave:u8&1
//   data:bytes(16)
//
// mutate: field = u8 % 11: 0 type:u8%23, 1 from:peer, 2 to:peer, 3 term, 4 log_term,
//   5 index, 6 commit, 7 reject toggled (no value), 8 reject_hint, 9 entries: drop the last
//   or bump one entry's term (value), 10 context:bytes(8). Values are value(field's own).

// config-flags bits:
enum config_flag : std::uint8_t {
    pre_vote = 1 << 0,
    check_quorum = 1 << 1,
    async_writes = 1 << 2,
    one_entry_per_msg = 1 << 3,  // max_size_per_msg = 0
    small_inflight = 1 << 4,     // max_inflight_msgs = 2
    lease_reads = 1 << 5,        // read_only lease_based (implies check_quorum)
    no_forwarding = 1 << 6,      // disable_proposal_forwarding
    small_uncommitted = 1 << 7,  // max_uncommitted_entries_size = 64
};

}  // namespace raftpp::fuzz
