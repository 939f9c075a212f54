// Helpers shared by the WAL suites: a temporary directory removed even when a test fails, a
// logger that keeps what it was given, and entry builders.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/logger.hpp>
#include <raftpp/types.hpp>

namespace raftpp::test {

class temp_dir {
public:
    temp_dir() {
        std::string t = (std::filesystem::temp_directory_path() / "raftpp-XXXXXX").string();
        if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = t;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(std::string_view p) const { return path_ / p; }

private:
    std::filesystem::path path_;
};

// Keeps every line written, shared between copies (policies are held by value).
class recording_logger {
public:
    struct line {
        log_level level;
        std::string text;
    };
    recording_logger() : lines_(std::make_shared<std::vector<line>>()) {}
    bool enabled(log_level) const noexcept { return true; }
    void write(log_level lv, std::string_view text) const { lines_->push_back({lv, std::string(text)}); }
    const std::vector<line>& lines() const noexcept { return *lines_; }
    bool contains(log_level lv, std::string_view part) const {
        for (const auto& l : *lines_)
            if (l.level == lv && l.text.find(part) != std::string::npos) return true;
        return false;
    }

private:
    std::shared_ptr<std::vector<line>> lines_;
};

inline entry make_entry(index_t index, term_t term, std::string_view data = {}) {
    return entry{term, index, entry_type::normal, buffer(data)};
}

// Entries [from, to] at term, with payloads that name their index and term.
inline std::vector<entry> make_entries(index_t from, index_t to, term_t term) {
    std::vector<entry> out;
    for (index_t i = from; i <= to; ++i)
    {
        // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) on a chain of operator+.
        std::string data("e");
        data.append(std::to_string(i)).append("t").append(std::to_string(term));
        out.push_back(make_entry(i, term, data));
    }
    return out;
}

}  // namespace raftpp::test
