// The address of a test server from the environment that `scripts/services`
// writes (/tmp/magic-services/env; scripts/test loads it). Integration tests
// need the real servers and fail, saying how to start them, without them.
//
//   const std::string url = testing::ServerEnv("MAGIC_TEST_POSTGRES_URL");
//   ASSERT_FALSE(url.empty());
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace magic::testing {

// The variable's value, or "" after failing the current test with the reason.
inline std::string ServerEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value != nullptr && *value != '\0') return value;
  ADD_FAILURE() << name
                << " is not set: start the servers with `scripts/services start` and load "
                   "/tmp/magic-services/env (scripts/test does both)";
  return "";
}

}  // namespace magic::testing
