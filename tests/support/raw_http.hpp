// Test support: raw TCP exchanges with an HTTP server, so tests can send bytes no client would.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace intercab::testing {

// A response parsed back from raw bytes (Content-Length framed; chunked bodies are not used by our server).
struct RawResponse {
  int status = 0;
  std::string version;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const;
};

// Splits a byte stream into the responses it holds; stops at the first unparsable byte.
// `head_only` marks streams answering HEAD requests (no bodies).
std::vector<RawResponse> parse_responses(const std::string& bytes, bool head_only = false);

class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port, const std::string& host = "127.0.0.1");
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool send(const std::string& bytes);  // false when the peer closed the connection
  void shutdown_write();
  // Reads until one complete response is available (or close/timeout).
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads everything until the peer closes or `timeout` passes; `closed` tells which.
  std::string read_until_close(std::chrono::milliseconds timeout, bool* closed = nullptr);
  bool peer_closed(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string pending_;
};

// A listening TCP socket on 127.0.0.1 and a free port, for hand-written test servers. Throws when
// the socket cannot be set up.
struct LoopbackListener {
  int fd = -1;
  std::uint16_t port = 0;
};
LoopbackListener listen_on_loopback();

// One request on a fresh connection; the response, or nullopt if none arrived.
std::optional<RawResponse> request(std::uint16_t port, const std::string& method, const std::string& target,
                                   const std::string& body = {},
                                   const std::map<std::string, std::string>& headers = {});

}  // namespace intercab::testing
