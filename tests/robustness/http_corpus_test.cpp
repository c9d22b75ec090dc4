// Sends every raw request of tests/corpora/http_malformed to a real service listener and checks
// the rules of the corpus README: rejects get one 4xx/5xx (or a silent close) and never a second
// reply, accepts get a well-formed reply other than 400, and the server keeps serving.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "app/modules.hpp"
#include "in_process_service.hpp"
#include "platform/http/server.hpp"
#include "process.hpp"
#include "raw_http.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;

struct Case {
  std::string file;
  bool expect_reject = false;
  std::string note;
};

std::vector<Case> load_index(const std::filesystem::path& directory) {
  std::ifstream index(directory / "index.tsv");
  std::vector<Case> cases;
  std::string line;
  std::getline(index, line);  // header
  while (std::getline(index, line)) {
    std::stringstream columns(line);
    Case item;
    std::string expected, source, llhttp;
    std::getline(columns, item.file, '\t');
    std::getline(columns, expected, '\t');
    std::getline(columns, source, '\t');
    std::getline(columns, llhttp, '\t');
    std::getline(columns, item.note, '\t');
    item.expect_reject = expected == "reject";
    cases.push_back(item);
  }
  return cases;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class HttpCorpus : public ::testing::Test {
 protected:
  static http::ServerLimits limits() {
    http::ServerLimits limits;  // production limits, shorter timeouts so truncated cases finish fast
    limits.header_timeout = 2s;
    limits.body_timeout = 2s;
    return limits;
  }

  testing::InProcessService service_{"user", limits()};
  std::uint16_t port_ = service_.port();
};

TEST_F(HttpCorpus, EveryCaseIsHandledAndTheServerKeepsServing) {
  const std::filesystem::path directory =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/http_malformed";
  const auto cases = load_index(directory);
  ASSERT_GE(cases.size(), 100U) << "corpus index missing or truncated in " << directory;
  const std::set<int> reject_statuses = {400, 411, 413, 414, 431, 501, 505};

  int rejected = 0, accepted = 0;
  for (const auto& item : cases) {
    SCOPED_TRACE(item.file + (item.note.empty() ? "" : " — " + item.note));
    const auto bytes = read_bytes(directory / item.file);
    ASSERT_FALSE(bytes.empty());
    testing::RawConnection connection(port_);
    connection.send(bytes);
    connection.shutdown_write();
    bool closed = false;
    const bool head_request = bytes.rfind("HEAD ", 0) == 0;
    const auto reply = connection.read_until_close(5s, &closed);
    EXPECT_TRUE(closed) << "the server neither answered-and-closed nor closed within 5 s";
    const auto responses = testing::parse_responses(reply, head_request);
    if (item.expect_reject) {
      ++rejected;
      EXPECT_LE(responses.size(), 1U) << "a second reply to smuggled bytes:\n" << reply;
      if (!responses.empty()) {
        EXPECT_TRUE(reject_statuses.contains(responses[0].status)) << "status " << responses[0].status << "\n" << reply;
      } else {
        EXPECT_TRUE(reply.empty()) << "unparsable reply:\n" << reply;
      }
    } else {
      ++accepted;
      ASSERT_FALSE(responses.empty()) << "no well-formed reply:\n" << reply;
      for (const auto& response : responses) EXPECT_NE(response.status, 400) << reply;
    }
    auto health = testing::request(port_, "GET", "/health");
    ASSERT_TRUE(health) << "server stopped serving";
    EXPECT_EQ(health->status, 200);
  }
  EXPECT_GT(rejected, 50);
  EXPECT_GT(accepted, 10);
}

}  // namespace
}  // namespace intercab
