// Runs every JSONTestSuite file through parse_json_body: y_ accepted, n_ a 400, i_ either, nothing else ever.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <typeinfo>
#include <vector>

#include "platform/errors/errors.hpp"
#include "platform/validate/validate.hpp"

namespace intercab::validate {
namespace {

// Fewer files than this means the copy is incomplete (the suite has 318), and a green run would prove little.
constexpr std::size_t kMinimumCorpusFiles = 300;

enum class Outcome { kAccepted, kBadRequest, kSomethingElse };

struct Result {
  Outcome outcome;
  std::string detail;
};

Result parse(const std::string& body) {
  try {
    parse_json_body("application/json", body);
    return {Outcome::kAccepted, {}};
  } catch (const errors::BadRequest& error) {
    return {Outcome::kBadRequest, error.detail()};
  } catch (const std::exception& error) {
    return {Outcome::kSomethingElse, std::string(typeid(error).name()) + ": " + error.what()};
  } catch (...) {
    return {Outcome::kSomethingElse, "a non-standard exception"};
  }
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The detail goes into a problem+json document, so it must itself be valid UTF-8, whatever bytes caused it.
bool is_valid_utf8(const std::string& text) {
  try {
    parse_json_body("application/json", boost::json::serialize(boost::json::string(text)));
    return true;
  } catch (const errors::BadRequest&) {
    return false;
  }
}

TEST(JsonTestSuite, EveryFileGetsTheOutcomeItsPrefixDemands) {
  const char* source_dir = std::getenv("INTERCAB_SOURCE_DIR");
  ASSERT_TRUE(source_dir != nullptr && *source_dir != '\0')
      << "INTERCAB_SOURCE_DIR is not set; run this test through ctest, which sets it to the repository root";
  const auto corpus = std::filesystem::path(source_dir) / "tests" / "corpora" / "json_test_parsing";
  ASSERT_TRUE(std::filesystem::is_directory(corpus)) << corpus << " is missing; see tests/corpora/README.md";

  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), kMinimumCorpusFiles) << corpus << " holds only " << files.size() << " JSON files";

  std::map<std::string, std::map<Outcome, int>> tally;
  for (const auto& file : files) {
    const std::string name = file.filename().string();
    const std::string prefix = name.substr(0, 2);
    const Result result = parse(read_bytes(file));
    ++tally[prefix][result.outcome];
    if (prefix == "y_") {
      EXPECT_EQ(result.outcome, Outcome::kAccepted) << name << " must parse, got: " << result.detail;
    } else if (prefix == "n_") {
      EXPECT_EQ(result.outcome, Outcome::kBadRequest)
          << name << " must be a 400, got: " << (result.outcome == Outcome::kAccepted ? "accepted" : result.detail);
    } else if (prefix == "i_") {
      EXPECT_NE(result.outcome, Outcome::kSomethingElse) << name << " threw " << result.detail;
    } else {
      ADD_FAILURE() << name << " has no y_, n_ or i_ prefix";
    }
    if (result.outcome == Outcome::kBadRequest) {
      EXPECT_TRUE(is_valid_utf8(result.detail)) << name << ": the error detail is not valid UTF-8";
      EXPECT_NE(result.detail.find("JSON"), std::string::npos) << name << ": " << result.detail;
    }
  }
  for (const auto& [prefix, outcomes] : tally) {
    const auto count = [&](Outcome outcome) {
      auto it = outcomes.find(outcome);
      return it == outcomes.end() ? 0 : it->second;
    };
    std::cout << prefix << "*: " << count(Outcome::kAccepted) << " accepted, " << count(Outcome::kBadRequest)
              << " rejected with 400, " << count(Outcome::kSomethingElse) << " other\n";
  }
}

}  // namespace
}  // namespace intercab::validate
