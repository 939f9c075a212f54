// Writes the seed corpus: fuzz/corpus/step/* (scripts in the step fuzzer's action format),
// fuzz/corpus/conf_change/* (encoded membership changes, well formed and not) and
// fuzz/corpus/frame/* (a read-size mode byte, then a stream of frames as net/frame.hpp writes
// them, well formed and not).
//   scripts/fuzz --make-corpus     (builds this with clang++ and runs it on fuzz/corpus)
// Seeds are small and each exercises one scenario, so the fuzzer starts from inputs that
// reach deep states (elections, snapshots, joint configurations) instead of finding them.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/net/frame.hpp>
#include <raftpp/testing/kv.hpp>
#if __has_include(<raftpp/testing/sim_state_machine.hpp>)
#include <raftpp/testing/sim_state_machine.hpp>
#define RAFTPP_FUZZ_HAS_SIM_STATE_MACHINE 1
#endif

#include "fuzz_input.hpp"

namespace fs = std::filesystem;
using namespace raftpp;
using namespace raftpp::fuzz;

namespace {

// One step-fuzzer input, written action by action. Nodes are 1-4, peers 0-5.
class script {
public:
    script(std::uint8_t flags, node_id first_leader) {
        w_.u8(flags).u8(static_cast<std::uint8_t>(first_leader));
    }
    script& act(op o) {
        w_.u8(static_cast<std::uint8_t>(o));
        return *this;
    }
    script& node(node_id id) {
        w_.u8(static_cast<std::uint8_t>(id - 1));
        return *this;
    }
    script& peer(node_id id) {
        w_.u8(static_cast<std::uint8_t>(id));
        return *this;
    }

    script& tick(node_id id) { return act(op::tick).node(id); }
    script& rounds(int n) {
        act(op::rounds);
        w_.u8(static_cast<std::uint8_t>(n - 1));
        return *this;
    }
    script& process(node_id id) { return act(op::process).node(id); }
    script& deliver(std::uint8_t k) { return act(op::deliver).u8(k); }
    script& deliver_all() { return act(op::deliver_all); }
    script& drop(std::uint8_t k) { return act(op::drop).u8(k); }
    script& duplicate(std::uint8_t k) { return act(op::duplicate).u8(k); }
    script& settle() { return act(op::settle); }
    script& propose(node_id id, std::string_view data) {
        act(op::propose).node(id);
        w_.bytes(data);
        return *this;
    }
    // v1: type node
    script& propose_conf(node_id id, conf_change_type t, node_id target) {
        act(op::propose_conf).node(id);
        w_.u8(0).u8(static_cast<std::uint8_t>(t));
        return peer(target);
    }
    // v2: transition, changes, empty context
    script& propose_conf_v2(node_id id, conf_change_transition tr,
                            std::initializer_list<conf_change_single> changes) {
        act(op::propose_conf).node(id);
        w_.u8(1).u8(static_cast<std::uint8_t>(tr)).u8(static_cast<std::uint8_t>(changes.size()));
        for (const auto& c : changes)
            w_.u8(static_cast<std::uint8_t>(c.type)).u8(static_cast<std::uint8_t>(c.node));
        w_.bytes("");
        return *this;
    }
    script& campaign(node_id id) { return act(op::campaign).node(id); }
    script& transfer(node_id id, node_id to) { return act(op::transfer).node(id).peer(to); }
    script& read_index(node_id id, std::string_view ctx) {
        act(op::read_index).node(id);
        w_.bytes(ctx);
        return *this;
    }
    script& report(node_id id, node_id p, std::uint8_t kind) {
        return act(op::report).node(id).peer(p).u8(kind);
    }
    script& crash(node_id id) { return act(op::crash).node(id); }
    script& restart(node_id id) { return act(op::restart).node(id); }
    script& snapshot(node_id id, std::uint8_t keep) { return act(op::snapshot).node(id).u8(keep); }
    script& replay(std::uint8_t k) { return act(op::replay).u8(k); }
    // inject: a plausible message; fields as value() operands (see fuzz_input.hpp).
    script& inject(node_id to, message_type t, node_id from, int term_delta, int index_delta,
                   std::uint8_t entries = 0) {
        act(op::inject).node(to);
        w_.u8(static_cast<std::uint8_t>(t)).u8(static_cast<std::uint8_t>(from)).u8(1);
        w_.rel(term_delta);   // term
        w_.edge(4);           // log_term: the node's last term
        w_.rel(index_delta);  // index
        w_.edge(4);           // commit: the node's commit
        w_.u8(0);             // reject
        w_.edge(4);           // reject_hint
        w_.u8(3);             // shape: contiguous indexes, message term
        w_.u8(entries);
        for (std::uint8_t i = 0; i < entries; ++i) w_.u8(0).bytes("x");  // normal entries
        w_.u8(0);                                                        // no snapshot
        w_.bytes("");                                                    // context
        return *this;
    }
    script& inject_snapshot(node_id to, node_id from, int index_delta,
                            std::initializer_list<std::uint8_t> voters) {
        act(op::inject).node(to);
        w_.u8(static_cast<std::uint8_t>(message_type::snap))
            .u8(static_cast<std::uint8_t>(from))
            .u8(1);
        w_.edge(4).edge(4).edge(4).edge(4).u8(0).edge(4).u8(0).u8(0);
        w_.u8(1).rel(index_delta).edge(4);  // snapshot index, term = message term
        w_.u8(static_cast<std::uint8_t>(voters.size()));
        for (auto v : voters) w_.u8(v);
        w_.u8(0).u8(0).u8(0).u8(0);  // learners, outgoing, learners_next, auto_leave
        w_.bytes("snapshot data");
        w_.bytes("");
        return *this;
    }
    script& mutate(std::uint8_t k, std::uint8_t field, int delta) {
        act(op::mutate).u8(k).u8(field);
        if (field != 7) w_.rel(delta);
        return *this;
    }
    script& u8(std::uint8_t v) {
        w_.u8(v);
        return *this;
    }
    const std::vector<std::uint8_t>& data() const { return w_.data(); }

private:
    fuzz_writer w_;
};

void write(const fs::path& dir, const std::string& name, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> bytes_of(const buffer& b) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
    return {p, p + b.size()};
}

void step_seeds(const fs::path& dir) {
    using T = conf_change_type;
    using tr = conf_change_transition;
    auto put = [&](const char* name, const script& s) { write(dir, name, s.data()); };

    put("empty_cluster", script(0, 0));
    put("elect_by_ticks", script(0, 0).rounds(8).rounds(8).rounds(8));
    put("propose_settle", script(0, 1).propose(1, "a").propose(2, "b").settle().rounds(2));
    put("propose_batch", script(0, 1)
                             .propose(1, "a")
                             .propose(1, "b")
                             .propose(1, "c")
                             .process(1)
                             .deliver_all()
                             .process(2)
                             .process(3)
                             .deliver_all()
                             .settle());
    put("reorder_and_drop",
        script(0, 1).propose(1, "x").process(1).drop(0).deliver(1).settle().rounds(3));
    put("duplicates", script(0, 1)
                          .propose(1, "x")
                          .process(1)
                          .duplicate(0)
                          .duplicate(1)
                          .deliver_all()
                          .settle()
                          .replay(0)
                          .replay(3)
                          .settle());
    put("leader_crash", script(0, 1)
                            .propose(1, "a")
                            .settle()
                            .crash(1)
                            .rounds(8)
                            .rounds(8)
                            .rounds(8)
                            .propose(2, "b")
                            .propose(3, "b")
                            .settle()
                            .restart(1)
                            .rounds(4));
    put("follower_restart",
        script(0, 1).propose(1, "a").crash(3).settle().propose(1, "b").settle().restart(3).rounds(
            3));
    put("snapshot_catch_up", script(0, 1)
                                 .crash(3)
                                 .propose(1, "a")
                                 .propose(1, "b")
                                 .settle()
                                 .propose(1, "c")
                                 .settle()
                                 .snapshot(1, 0)
                                 .snapshot(2, 0)
                                 .restart(3)
                                 .rounds(4)
                                 .settle());
    put("snapshot_restart",
        script(0, 1).propose(1, "a").settle().rounds(1).snapshot(2, 1).restart(2).rounds(3));
    put("add_learner_then_voter", script(0, 1)
                                      .propose_conf(1, T::add_learner_node, 4)
                                      .settle()
                                      .rounds(3)
                                      .propose_conf(1, T::add_node, 4)
                                      .settle()
                                      .rounds(3)
                                      .propose(1, "after")
                                      .settle());
    put("remove_follower", script(0, 1)
                               .propose_conf(1, T::remove_node, 3)
                               .settle()
                               .rounds(2)
                               .propose(1, "x")
                               .settle());
    put("remove_leader",
        script(0, 1).propose_conf(1, T::remove_node, 1).settle().rounds(8).rounds(8).rounds(8));
    put("joint_change",
        script(0, 1)
            .propose_conf_v2(1, tr::joint_implicit, {{T::add_node, 4}, {T::remove_node, 3}})
            .settle()
            .rounds(3)
            .settle());
    put("joint_explicit",
        script(0, 1)
            .propose_conf_v2(1, tr::joint_explicit, {{T::add_node, 4}, {T::add_learner_node, 3}})
            .settle()
            .rounds(2)
            .propose_conf_v2(1, tr::automatic, {})
            .settle()
            .rounds(2));
    put("transfer_leader", script(0, 1).transfer(1, 2).settle().rounds(2).transfer(3, 3).settle());
    put("read_index", script(0, 1).read_index(1, "r1").read_index(2, "r2").settle().rounds(1));
    put("read_index_lease",
        script(lease_reads, 1).rounds(2).read_index(1, "r").read_index(3, "q").settle());
    put("reports", script(0, 1).report(1, 2, 0).report(1, 3, 1).report(1, 3, 2).rounds(2));
    put("campaign_race",
        script(0, 0).campaign(1).campaign(2).process(1).process(2).deliver_all().settle().rounds(
            3));
    put("pre_vote_election",
        script(pre_vote, 0).rounds(8).rounds(8).rounds(8).propose(1, "p").settle());
    put("check_quorum_partition", script(check_quorum, 1)
                                      .crash(2)
                                      .crash(3)
                                      .rounds(8)
                                      .rounds(8)
                                      .restart(2)
                                      .restart(3)
                                      .rounds(8)
                                      .rounds(8));
    put("async_writes", script(async_writes, 1)
                            .propose(1, "a")
                            .propose(2, "b")
                            .settle()
                            .crash(2)
                            .restart(2)
                            .rounds(3));
    put("one_entry_per_msg", script(one_entry_per_msg | small_inflight, 1)
                                 .crash(3)
                                 .propose(1, "a")
                                 .propose(1, "b")
                                 .propose(1, "c")
                                 .propose(1, "d")
                                 .settle()
                                 .restart(3)
                                 .rounds(4));
    put("uncommitted_limit", script(small_uncommitted, 1)
                                 .propose(1, std::string(30, 'x'))
                                 .propose(1, std::string(30, 'y'))
                                 .propose(1, std::string(30, 'z'))
                                 .settle());
    put("no_forwarding",
        script(no_forwarding, 1).propose(2, "dropped").propose(1, "kept").settle());
    put("all_flags", script(0x7f, 1).propose(1, "a").rounds(3).read_index(1, "r").settle());
    put("inject_heartbeat", script(0, 1).inject(2, message_type::heartbeat, 1, 0, 0).settle());
    put("inject_append", script(0, 1).inject(2, message_type::app, 1, 0, 0, 2).settle());
    put("inject_higher_term_app",
        script(0, 1).inject(3, message_type::app, 2, 1, 0, 1).settle().rounds(3));
    put("inject_vote", script(0, 0).inject(2, message_type::vote, 3, 1, 0).settle());
    put("inject_app_resp", script(0, 1)
                               .propose(1, "a")
                               .process(1)
                               .inject(1, message_type::app_resp, 2, 0, 0)
                               .settle());
    put("inject_timeout_now", script(0, 1).inject(2, message_type::timeout_now, 1, 0, 0).settle());
    put("inject_local_types", script(0, 1)
                                  .inject(2, message_type::hup, 1, 0, 0)
                                  .inject(2, message_type::beat, 1, 0, 0)
                                  // 19: no type has it now (etcd's storage_append once did)
                                  .inject(2, static_cast<message_type>(19), 1, 0, 0)
                                  .settle());
    put("inject_snapshot", script(0, 1).inject_snapshot(3, 1, 5, {1, 2, 3}).settle());
    put("mutate_append", script(0, 1).propose(1, "a").process(1).mutate(0, 5, 1).settle());
    put("mutate_reject", script(0, 1)
                             .propose(1, "a")
                             .process(1)
                             .process(2)
                             .deliver_all()
                             .process(2)
                             .mutate(0, 7, 0)
                             .settle());
}

void conf_change_seeds(const fs::path& dir) {
    using T = conf_change_type;
    auto put = [&](const std::string& name, const buffer& b) { write(dir, name, bytes_of(b)); };
    put("v1_add", encode(conf_change{T::add_node, 4, {}}));
    put("v1_remove", encode(conf_change{T::remove_node, 2, {}}));
    put("v1_learner_ctx", encode(conf_change{T::add_learner_node, 5, buffer("ctx")}));
    put("v1_update", encode(conf_change{T::update_node, 1, {}}));
    put("v1_node0", encode(conf_change{T::add_node, 0, {}}));
    put("v2_empty_leave", encode(conf_change_v2{}));
    put("v2_simple",
        encode(conf_change_v2{conf_change_transition::automatic, {{T::add_node, 4}}, {}}));
    put("v2_joint_auto",
        encode(conf_change_v2{
            conf_change_transition::automatic, {{T::add_node, 4}, {T::remove_node, 1}}, {}}));
    put("v2_joint_implicit",
        encode(conf_change_v2{conf_change_transition::joint_implicit,
                              {{T::remove_node, 3}, {T::add_learner_node, 3}, {T::add_node, 5}},
                              buffer("c")}));
    put("v2_joint_explicit", encode(conf_change_v2{conf_change_transition::joint_explicit,
                                                   {{T::add_learner_node, 1}, {T::add_node, 4}},
                                                   {}}));
    put("v2_demote_all",
        encode(conf_change_v2{
            conf_change_transition::joint_implicit,
            {{T::add_learner_node, 1}, {T::add_learner_node, 2}, {T::add_learner_node, 3}},
            {}}));
    put("v2_restore_shape",  // read as a conf_state: voters (1 2) outgoing (1 3) next (3)
        encode(conf_change_v2{conf_change_transition::joint_implicit,
                              {{T::add_node, 1},
                               {T::add_node, 2},
                               {T::remove_node, 1},
                               {T::remove_node, 3},
                               {T::update_node, 3}},
                              {}}));
    put("v2_big_ids",
        encode(conf_change_v2{
            conf_change_transition::automatic, {{T::add_node, ~std::uint64_t{0}}}, {}}));
    // Malformed: truncated, trailing byte, wrong tag, bad type, huge counts and lengths.
    auto good = bytes_of(encode(conf_change{T::add_node, 4, buffer("ab")}));
    write(dir, "bad_truncated", {good.begin(), good.end() - 1});
    auto trailing = good;
    trailing.push_back(0);
    write(dir, "bad_trailing", trailing);
    write(dir, "bad_tag", {0xC3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    write(dir, "bad_type", {0xC1, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    write(dir, "bad_v2_count", {0xC2, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    write(dir, "bad_ctx_len",
          {0xC1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f});
    write(dir, "empty", {});

    // The testing decoders share the target (fuzz/conf_change_fuzzer.cpp).
    using testing::kv_op;
    put("kv_put", testing::encode_kv_command({1, 1, {kv_op::put, 7, 42, 0}}));
    put("kv_cas", testing::encode_kv_command({300, 70000, {kv_op::cas, 1u << 20, ~0ull, 5}}));
#ifdef RAFTPP_FUZZ_HAS_SIM_STATE_MACHINE
    testing::state_machine sm;
    sm.apply(entry{1, 1, entry_type::normal, buffer("a")});
    sm.apply(entry{1, 2, entry_type::normal, buffer("bc")});
    put("sim_snapshot", sm.encode());
    put("sim_snapshot_empty", testing::state_machine{}.encode());
#endif
}

// frame_fuzzer's input: a mode byte (0 whole, 1 byte by byte, else pieces), then frames
// written with max_frame 256 (its decoder's) or less, so large messages go as parts.
void frame_seeds(const fs::path& dir) {
    using bytes = std::vector<std::byte>;
    auto put = [&](const std::string& name, std::uint8_t mode, const bytes& stream) {
        std::vector<std::uint8_t> in{mode};
        for (std::byte b : stream) in.push_back(std::to_integer<std::uint8_t>(b));
        write(dir, name, in);
    };
    auto msg = [](message_type t, node_id from, node_id to, term_t term) {
        message m;
        m.type = t;
        m.from = from;
        m.to = to;
        m.term = term;
        return m;
    };
    net::frame_encoder enc(256);
    const net::handshake hs{7, 1, 2};

    bytes hello;
    enc.encode(hs, hello);
    put("handshake", 0, hello);

    message app = msg(message_type::app, 1, 2, 3);
    app.log_term = 2;
    app.index = 10;
    app.commit = 9;
    app.entries = {entry{3, 11, entry_type::normal, buffer("put x 1")},
                   entry{3, 12, entry_type::conf_change_v2,
                         encode(conf_change_v2{conf_change_transition::joint_implicit,
                                               {{conf_change_type::add_node, 4},
                                                {conf_change_type::remove_node, 3}},
                                               buffer("ctx")})}};
    message resp = msg(message_type::app_resp, 2, 1, 3);
    resp.index = 12;
    resp.reject = true;
    resp.reject_hint = 10;
    message beat = msg(message_type::heartbeat, 1, 2, 3);
    beat.commit = 12;
    beat.context = buffer("r1");
    bytes session = hello;
    for (const message* m : {&app, &resp, &beat}) enc.encode(*m, session);
    put("session", 0, session);
    put("session_bytewise", 1, session);
    put("session_pieces", 37, session);

    bytes votes;
    for (auto t : {message_type::pre_vote, message_type::vote, message_type::vote_resp,
                   message_type::read_index, message_type::timeout_now, message_type::prop})
        enc.encode(msg(t, 2, 3, 4), votes);
    put("small_messages", 5, votes);

    message snap = msg(message_type::snap, 1, 3, 5);
    snap.snapshot = std::make_shared<const snapshot>(
        snapshot{buffer(std::string(300, 's')), snapshot_metadata{{{1, 2, 3}, {4}, {}, {}, false},
                                                                  40, 5}});
    bytes parts;
    enc.encode(snap, parts);  // a message_part frame, then the last part (468 bytes in all)
    put("snapshot_parts", 0, parts);
    put("snapshot_parts_pieces", 200, parts);
    bytes tiny;
    net::frame_encoder(net::min_max_frame).encode(app, tiny);  // parts of 64 bytes
    put("app_min_frame_parts", 9, tiny);

    // Malformed: a payload bit flipped (CRC), bad magic, a length past max_frame, a handshake
    // between parts.
    bytes bad = session;
    bad[bad.size() - 3] ^= std::byte{4};
    put("bad_crc", 0, bad);
    bad = hello;
    bad[0] = std::byte{'X'};
    put("bad_magic", 0, bad);
    bad = hello;
    bad[11] = std::byte{1};  // length 2^24 + 25
    put("bad_length", 0, bad);
    bad = bytes(parts.begin(), parts.begin() + 16 + 256);
    for (std::byte b : hello) bad.push_back(b);
    put("bad_handshake_in_parts", 0, bad);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr,
                     "usage: %s CORPUS_DIR  (writes CORPUS_DIR/step, CORPUS_DIR/conf_change, "
                     "CORPUS_DIR/frame)\n",
                     argv[0]);
        return 2;
    }
    const fs::path root = argv[1];
    for (const char* t : {"step", "conf_change", "frame"}) {
        if (fs::exists(root / t)) fs::remove_all(root / t);
    }
    step_seeds(root / "step");
    conf_change_seeds(root / "conf_change");
    frame_seeds(root / "frame");
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) n += e.is_regular_file();
    std::printf("make_corpus: %zu seeds in %s\n", n, root.c_str());
    return 0;
}
