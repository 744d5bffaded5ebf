# SPDX-License-Identifier: MIT
# Included from the top-level CMakeLists.txt when PNSYNC_FUZZ is ON, before any library is
# defined: libFuzzer needs the code under test (the daemon/ libraries, pnsync_config) instrumented for
# coverage too, so the flags are global. The fuzz targets themselves add -fsanitize=fuzzer,
# which brings libFuzzer's main(). Use a build directory of its own (scripts/fuzz: build-fuzz).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "PNSYNC_FUZZ needs clang (libFuzzer); configure a separate build directory "
                      "with CC=clang CXX=clang++, got ${CMAKE_CXX_COMPILER_ID}")
endif()
string(APPEND CMAKE_CXX_FLAGS
       " -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
       " -fno-omit-frame-pointer -g")
