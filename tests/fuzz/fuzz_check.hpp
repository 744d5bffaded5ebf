// SPDX-License-Identifier: MIT
// What every fuzz target shares: an invariant check that stops the run loudly. libFuzzer treats
// the abort as a crash, saves the input and prints the stack.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
