// Raw TCP exchanges for tests.
#include "raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>

namespace intercab::testing {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Parses one response at `offset`; returns bytes consumed or 0 if incomplete/unparsable.
std::size_t parse_one(const std::string& bytes, std::size_t offset, bool head_only, RawResponse& out) {
  auto head_end = bytes.find("\r\n\r\n", offset);
  if (head_end == std::string::npos) return 0;
  std::string head = bytes.substr(offset, head_end - offset);
  auto line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/", 0) != 0 || status_line.size() < 12) return 0;
  out = RawResponse{};
  out.version = status_line.substr(0, 8);
  out.status = std::stoi(status_line.substr(9, 3));
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    auto line = head.substr(pos, next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      out.headers[lower(line.substr(0, colon))] = value;
    }
    pos = next + 2;
  }
  std::size_t length = 0;
  bool no_body = head_only || out.status == 204 || out.status == 304 || (out.status >= 100 && out.status < 200);
  const std::size_t body_start = head_end + 4;
  if (!no_body && lower(out.header("transfer-encoding")) == "chunked") {
    // Chunks (hex size, CRLF, data, CRLF) up to the zero-size one and an empty trailer.
    std::size_t chunk = body_start;
    while (true) {
      const auto size_end = bytes.find("\r\n", chunk);
      if (size_end == std::string::npos) return 0;
      const auto size = std::stoul(bytes.substr(chunk, size_end - chunk), nullptr, 16);
      chunk = size_end + 2;
      if (size == 0) {
        if (bytes.compare(chunk, 2, "\r\n") != 0) return 0;
        return chunk + 2 - offset;
      }
      if (bytes.size() < chunk + size + 2) return 0;
      out.body += bytes.substr(chunk, size);
      chunk += size + 2;
    }
  }
  if (!no_body && out.headers.count("content-length")) length = std::stoul(out.headers["content-length"]);
  if (bytes.size() < body_start + length) return 0;
  out.body = bytes.substr(body_start, length);
  return body_start + length - offset;
}

}  // namespace

std::string RawResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::vector<RawResponse> parse_responses(const std::string& bytes, bool head_only) {
  std::vector<RawResponse> responses;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    RawResponse response;
    auto used = parse_one(bytes, offset, head_only, response);
    if (used == 0) break;
    if (response.status >= 200) responses.push_back(std::move(response));  // 100 Continue is not a reply
    offset += used;
  }
  return responses;
}

LoopbackListener listen_on_loopback() {
  LoopbackListener listener;
  listener.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener.fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener.fd, 16) != 0 ||
      ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener.fd);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  listener.port = ntohs(address.sin_port);
  return listener;
}

RawConnection::RawConnection(std::uint16_t port, const std::string& host) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd_);
    throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

void RawConnection::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

std::string RawConnection::read_until_close(std::chrono::milliseconds timeout, bool* closed) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string data = std::move(pending_);
  pending_.clear();
  if (closed) *closed = false;
  char buffer[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) break;
    auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    data.append(buffer, static_cast<std::size_t>(n));
  }
  return data;
}

std::optional<RawResponse> RawConnection::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (true) {
    RawResponse response;
    auto used = parse_one(pending_, 0, false, response);
    if (used > 0) {
      pending_.erase(0, used);
      if (response.status >= 200) return response;
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending_.append(buffer, static_cast<std::size_t>(n));
  }
}

bool RawConnection::peer_closed(std::chrono::milliseconds timeout) {
  bool closed = false;
  pending_ += read_until_close(timeout, &closed);
  return closed;
}

std::optional<RawResponse> request(std::uint16_t port, const std::string& method, const std::string& target,
                                   const std::string& body, const std::map<std::string, std::string>& headers) {
  RawConnection connection(port);
  std::string bytes = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) bytes += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  bytes += "\r\n" + body;
  if (!connection.send(bytes)) return std::nullopt;
  return connection.read_response();
}

}  // namespace intercab::testing
