// libFuzzer target: raft::step through raw_node on arbitrary action sequences against a small
// cluster (fuzz/step_harness.hpp). The input format is fuzz/fuzz_input.hpp's: config flags,
// a first leader, then actions. Anything that aborts is a finding: a RAFTPP_ASSERT, a
// sanitizer report, or an invariant the harness checks after every action.
//
// Replay one input with a trace of every action: RAFTPP_FUZZ_TRACE=1 ./step_fuzzer FILE
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include "fuzz_input.hpp"
#include "step_harness.hpp"

namespace raftpp::fuzz {
namespace {

// Known-bug guards: one named constant per open finding (fuzz/README.md#findings), each
// `= avoid_known_bugs` (step_harness.hpp) and tested in hits_known_bug().

// (No finding is open: 1-7 are fixed, fuzz/README.md#findings.)

config make_config(std::uint8_t flags) {
    config c;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c.pre_vote = flags & pre_vote;
    c.check_quorum = (flags & (check_quorum | lease_reads)) != 0;
    c.async_storage_writes = flags & async_writes;
    c.max_size_per_msg = (flags & one_entry_per_msg) ? 0 : std::uint64_t{1} << 20;
    c.max_inflight_msgs = (flags & small_inflight) ? 2 : 256;
    if (flags & lease_reads) c.read_only = read_only_option::lease_based;
    c.disable_proposal_forwarding = flags & no_forwarding;
    c.max_uncommitted_entries_size = (flags & small_uncommitted) ? 64 : 0;
    return c;
}

node_id read_node(fuzz_reader& in) { return in.below(node_count) + 1; }
node_id read_peer(fuzz_reader& in) { return in.below(6); }

buffer to_buffer(const std::vector<std::uint8_t>& v) { return buffer(v.data(), v.size()); }

std::vector<node_id> read_ids(fuzz_reader& in) {
    std::vector<node_id> ids(in.below(4));
    for (auto& id : ids) id = read_peer(in);
    return ids;
}

// conf-change: a v1 or v2 change, encoded, with the entry type that carries it.
std::pair<entry_type, buffer> read_conf_change(fuzz_reader& in) {
    if ((in.u8() & 1) == 0) {
        conf_change cc;
        cc.type = static_cast<conf_change_type>(in.below(4));
        cc.node = read_peer(in);
        return {entry_type::conf_change, encode(cc)};
    }
    conf_change_v2 cc;
    cc.transition = static_cast<conf_change_transition>(in.below(3));
    cc.changes.resize(in.below(4));
    for (auto& c : cc.changes) {
        c.type = static_cast<conf_change_type>(in.below(4));
        c.node = read_peer(in);
    }
    cc.context = to_buffer(in.bytes(8));
    return {entry_type::conf_change_v2, encode(cc)};
}

// A forged or mutated type is one of 23 values (fuzz_input.hpp: type:u8%23), as many as there
// were types when the seeds and findings were written, so they keep their meaning. 19-22 were
// etcd's storage messages, since removed: unknown types now, which step must refuse.
inline constexpr std::uint64_t message_type_choices = 23;
static_assert(message_type_choices >= message_type_count);

// The state a forged message's values are relative to (zeros for a crashed node).
struct bases {
    term_t term = 0, last_term = 0;
    index_t last = 0, commit = 0;
};

bases bases_of(fuzz_cluster::node_type* n) {
    if (n == nullptr) return {};
    const auto& r = n->raft();
    return {r.term(), r.log().last_term(), r.log().last_index(), r.log().committed()};
}

// forged-message (fuzz_input.hpp).
message read_message(fuzz_reader& in, node_id target, const bases& b) {
    message m;
    m.type = static_cast<message_type>(in.below(message_type_choices));
    const std::uint8_t from = in.u8();
    m.from = from % 8 < 6 ? from % 8 : from % 8 == 6 ? target : in.u64();
    const std::uint8_t to = in.u8();
    m.to = (to & 1) ? target : (to >> 1) % 6;
    m.term = in.value(b.term);
    m.log_term = in.value(b.last_term);
    m.index = in.value(b.last);
    m.commit = in.value(b.commit);
    m.reject = in.flag();
    m.reject_hint = in.value(b.last);
    const std::uint8_t shape = in.u8();
    const std::size_t n = in.below(5);
    for (std::size_t i = 0; i < n; ++i) {
        entry e;
        e.type = static_cast<entry_type>(in.below(3));
        e.index = (shape & 1) ? m.index + 1 + i : in.value(m.index + 1 + i);
        e.term = (shape & 2) ? m.term : in.value(m.term);
        if (e.type != entry_type::normal && in.flag())
            e.data = read_conf_change(in).second;
        else
            e.data = to_buffer(in.bytes(16));
        m.entries.push_back(std::move(e));
    }
    if (in.flag()) {
        auto s = std::make_shared<snapshot>();
        s->metadata.index = in.value(b.last);
        s->metadata.term = in.value(m.term);
        auto& cs = s->metadata.conf_state;
        cs.voters = read_ids(in);
        cs.learners = read_ids(in);
        cs.voters_outgoing = read_ids(in);
        cs.learners_next = read_ids(in);
        cs.auto_leave = in.flag();
        s->data = to_buffer(in.bytes(16));
        m.snapshot = std::move(s);
    }
    if (shape & 4)
        m.context = buffer("CampaignTransfer");
    else
        m.context = to_buffer(in.bytes(8));
    return m;
}

// mutate: one field of a message some node sent.
void mutate(fuzz_reader& in, message& m) {
    switch (in.below(11)) {
    case 0: m.type = static_cast<message_type>(in.below(message_type_choices)); break;
    case 1: m.from = read_peer(in); break;
    case 2: m.to = read_peer(in); break;
    case 3: m.term = in.value(m.term); break;
    case 4: m.log_term = in.value(m.log_term); break;
    case 5: m.index = in.value(m.index); break;
    case 6: m.commit = in.value(m.commit); break;
    case 7: m.reject = !m.reject; break;
    case 8: m.reject_hint = in.value(m.reject_hint); break;
    case 9:
        if (m.entries.empty()) break;
        if (in.flag()) {
            m.entries.pop_back();
        } else {
            entry& e = m.entries[in.below(m.entries.size())];
            e.term = in.value(e.term);
        }
        break;
    default: m.context = to_buffer(in.bytes(8)); break;
    }
}

// Whether stepping `m` into `n` would hit an open finding the fuzzer steers around (see the
// guards at the top). Findings 1-7 are fixed; fuzz/README.md#findings shows their guards.
bool hits_known_bug(const message& m, const fuzz_cluster::node_type& n) {
    (void)m;
    (void)n;
    return false;
}

void run_action(fuzz_cluster& c, fuzz_reader& in) {
    const auto code = static_cast<op>(in.u8() % static_cast<std::uint8_t>(op::op_count));
    const std::string_view name = op_names[static_cast<std::size_t>(code)];
    switch (code) {
    case op::tick: {
        const node_id id = read_node(in);
        trace(name, " ", id);
        c.tick(id);
        break;
    }
    case op::rounds: {
        const int n = static_cast<int>(in.below(8)) + 1;
        trace(name, " ", n);
        for (int i = 0; i < n; ++i) {
            for (node_id id = 1; id <= node_count; ++id) c.tick(id);
            c.process_all();
            c.deliver_all();
            c.process_all();
        }
        break;
    }
    case op::process: {
        const node_id id = read_node(in);
        trace(name, " ", id);
        c.process(id);
        break;
    }
    case op::deliver: {
        const std::size_t k = in.u8();
        trace(name, " ", k);
        c.deliver(k);
        break;
    }
    case op::deliver_all:
        trace(name);
        c.deliver_all();
        break;
    case op::drop:
    case op::duplicate: {
        const std::size_t k = in.u8();
        trace(name, " ", k);
        auto& f = c.in_flight();
        if (f.empty()) break;
        const auto it = f.begin() + static_cast<std::ptrdiff_t>(k % f.size());
        if (code == op::drop)
            f.erase(it);
        else if (f.size() < max_in_flight)
            f.push_back(*it);
        break;
    }
    case op::settle:
        trace(name);
        c.settle();
        break;
    case op::propose: {
        const node_id id = read_node(in);
        buffer data = to_buffer(in.bytes(32));
        trace(name, " ", id, " \"", data.view(), "\"");
        if (auto* n = c.node(id)) (void)n->propose(std::move(data));
        break;
    }
    case op::propose_conf: {
        const node_id id = read_node(in);
        auto [type, data] = read_conf_change(in);
        trace(name, " ", id, " ", static_cast<int>(type));
        // Through the entry path so both encodings reach the leader exactly as proposed.
        if (auto* n = c.node(id)) {
            if (type == entry_type::conf_change)
                (void)n->propose_conf_change(*decode_conf_change(data));
            else
                (void)n->propose_conf_change(*decode_conf_change_v2(data));
        }
        break;
    }
    case op::campaign: {
        const node_id id = read_node(in);
        trace(name, " ", id);
        if (auto* n = c.node(id)) (void)n->campaign();
        break;
    }
    case op::transfer: {
        const node_id id = read_node(in);
        const node_id to = read_peer(in);
        trace(name, " ", id, " -> ", to);
        if (auto* n = c.node(id)) n->transfer_leader(to);
        break;
    }
    case op::read_index: {
        const node_id id = read_node(in);
        buffer ctx = to_buffer(in.bytes(8));
        trace(name, " ", id);
        if (auto* n = c.node(id)) n->read_index(std::move(ctx));
        break;
    }
    case op::report: {
        const node_id id = read_node(in);
        const node_id peer_id = read_peer(in);
        const auto kind = in.below(3);
        trace(name, " ", id, " peer ", peer_id, " kind ", kind);
        if (auto* n = c.node(id)) {
            if (kind == 0)
                n->report_unreachable(peer_id);
            else
                n->report_snapshot(peer_id,
                                   kind == 1 ? snapshot_status::finish : snapshot_status::failure);
        }
        break;
    }
    case op::crash: {
        const node_id id = read_node(in);
        trace(name, " ", id);
        c.crash(id);
        break;
    }
    case op::restart: {
        const node_id id = read_node(in);
        trace(name, " ", id);
        c.restart(id);
        break;
    }
    case op::snapshot: {
        const node_id id = read_node(in);
        const index_t keep = in.below(4);
        trace(name, " ", id, " keep ", keep);
        c.snapshot_and_compact(id, keep);
        break;
    }
    case op::replay: {
        const std::size_t k = in.u8();
        trace(name, " ", k);
        if (c.history().empty()) break;
        message m = c.history()[k % c.history().size()];
        c.step_real(std::move(m));
        break;
    }
    case op::inject: {
        const node_id id = read_node(in);
        auto* n = c.node(id);
        message m = read_message(in, id, bases_of(n));
        if (trace_enabled()) trace(name, " ", id, " ", fuzz_cluster::describe(m));
        if (n == nullptr || hits_known_bug(m, *n)) break;
        c.inject(id, std::move(m));
        break;
    }
    case op::mutate: {
        const std::size_t k = in.u8();
        auto& f = c.in_flight();
        if (f.empty()) {
            trace(name, " (nothing in flight)");
            break;
        }
        message m = std::move(f[k % f.size()]);
        f.erase(f.begin() + static_cast<std::ptrdiff_t>(k % f.size()));
        mutate(in, m);
        if (trace_enabled()) trace(name, " ", k, " -> ", fuzz_cluster::describe(m));
        if (m.to < 1 || m.to > node_count) break;
        auto* n = c.node(m.to);
        if (n == nullptr || hits_known_bug(m, *n)) break;
        c.inject(m.to, std::move(m));
        break;
    }
    case op::op_count: break;
    }
}

}  // namespace
}  // namespace raftpp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace raftpp::fuzz;
    fuzz_reader in(std::span<const std::uint8_t>(data, size));
    const std::uint8_t flags = in.u8();
    const raftpp::node_id first_leader = in.below(4);
    trace("config flags ", static_cast<unsigned>(flags), ", first leader ", first_leader);
    fuzz_cluster c(make_config(flags));
    if (first_leader != 0) {
        (void)c.node(first_leader)->campaign();
        c.settle();
    }
    c.check();
    while (!in.done()) {
        run_action(c, in);
        c.check();
    }
    return 0;
}
