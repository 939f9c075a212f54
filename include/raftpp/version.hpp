// The raftpp version, as numbers to compare in the preprocessor and as a string.
// Kept equal to the `version:` of meson.build's project(): `meson setup` fails, naming the
// lines to change, when they differ (the CMake files read it from here).
#pragma once

#define RAFTPP_VERSION_MAJOR 0
#define RAFTPP_VERSION_MINOR 1
#define RAFTPP_VERSION_PATCH 0
#define RAFTPP_VERSION_STRING "0.1.0"

// MAJOR * 10000 + MINOR * 100 + PATCH: `#if RAFTPP_VERSION >= 100` means "0.1.0 or newer".
#define RAFTPP_VERSION \
    (RAFTPP_VERSION_MAJOR * 10000 + RAFTPP_VERSION_MINOR * 100 + RAFTPP_VERSION_PATCH)
