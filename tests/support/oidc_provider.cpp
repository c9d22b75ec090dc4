// The oidc-provider fixture: node started and stopped by its pid, and a cookie-keeping redirect follower over
// Beast's synchronous client (independent of the project's http::Client, which the tests exercise).
#include "oidc_provider.hpp"

#include <signal.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace intercab::testing {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

// Generous: node loads oidc-provider and generates an RSA key, on a CI machine that may be running sanitizer
// builds in parallel.
constexpr auto kStartTimeout = 60s;
constexpr int kMaxRedirects = 20;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The cookies of one host, by name. Paths are ignored: sending a cookie to more paths than it was set for is
// harmless against one provider, and each name is used by one path at a time.
class CookieJar {
 public:
  void store(std::string_view set_cookie) {
    const auto pair = set_cookie.substr(0, set_cookie.find(';'));
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) return;
    std::string name(pair.substr(0, equals));
    std::string value(pair.substr(equals + 1));
    std::string attributes(set_cookie.substr(pair.size()));
    for (auto& c : attributes) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Deletion is an empty value or an expiry in the past (oidc-provider uses expires=Thu, 01 Jan 1970).
    if (value.empty() || attributes.find("max-age=0") != std::string::npos ||
        attributes.find("1970") != std::string::npos) {
      cookies_.erase(name);
    } else {
      cookies_[name] = value;
    }
  }

  std::string header() const {
    std::string out;
    for (const auto& [name, value] : cookies_) out += (out.empty() ? "" : "; ") + name + "=" + value;
    return out;
  }

 private:
  std::map<std::string, std::string> cookies_;
};

bhttp::response<bhttp::string_body> get(std::uint16_t port, const std::string& target, const std::string& cookies) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(30s);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, target, 11);
  request.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(bhttp::field::user_agent, "intercab-test-browser");
  request.set(bhttp::field::accept, "text/html");
  if (!cookies.empty()) request.set(bhttp::field::cookie, cookies);
  request.keep_alive(false);
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return response;
}

}  // namespace

OidcProvider::OidcProvider(OidcTestClient client, OidcTestAccount account)
    : client_(std::move(client)), account_(std::move(account)), dir_("intercab-oidc-provider") {
  const auto node = required_program("node", "nodejs");
  const std::filesystem::path source_dir = required_env("INTERCAB_SOURCE_DIR");
  const auto script = source_dir / "tests/support/oidc_provider/provider.mjs";
  // node resolves `import 'oidc-provider'` by walking up from the script to the repository's node_modules.
  if (!std::filesystem::exists(source_dir / "node_modules/oidc-provider/package.json")) {
    throw std::runtime_error("the npm package oidc-provider is not installed in " + source_dir.string() +
                             "/node_modules: run scripts/bootstrap (npm ci at the repository root)");
  }
  const auto config = dir_.path() / "config.json";
  std::ofstream(config) << boost::json::serialize(boost::json::object{{"client",
                                                                       {{"client_id", client_.client_id},
                                                                        {"client_secret", client_.client_secret},
                                                                        {"redirect_uri", client_.redirect_uri}}},
                                                                      {"account",
                                                                       {{"sub", account_.subject},
                                                                        {"email", account_.email},
                                                                        {"email_verified", account_.email_verified},
                                                                        {"name", account_.name}}}});
  const auto port_file = dir_.path() / "port";
  process_ = std::make_unique<ChildProcess>(
      node, std::vector<std::string>{script.string(), config.string(), port_file.string()},
      EnvOverrides{{"NODE_ENV", "test"}}, dir_.path() / "provider.log");
  const bool started =
      eventually([&] { return std::filesystem::exists(port_file) || !process_->running(); }, kStartTimeout, 50ms);
  if (!started || !std::filesystem::exists(port_file)) {
    throw std::runtime_error("oidc-provider did not start: " + log());
  }
  port_ = static_cast<std::uint16_t>(std::stoi(read_text(port_file)));
  issuer_ = "http://127.0.0.1:" + std::to_string(port_);
  if (!wait_for_port(port_, kStartTimeout)) throw std::runtime_error("oidc-provider does not listen: " + log());
}

OidcProvider::~OidcProvider() {
  if (process_ && process_->running()) {
    process_->signal(SIGTERM);
    process_->wait(10s);  // then ChildProcess's destructor kills it
  }
}

std::string OidcProvider::log() const { return read_text(dir_.path() / "provider.log"); }

std::string AuthorizationRedirect::param(const std::string& name) const {
  const auto found = params.find(name);
  return found == params.end() ? std::string() : found->second;
}

AuthorizationRedirect follow_authorization(const OidcProvider& provider, const std::string& authorization_url,
                                           const std::string& redirect_uri) {
  CookieJar cookies;
  std::string url = authorization_url;
  for (int hop = 0; hop < kMaxRedirects; ++hop) {
    const bool at_redirect_uri =
        url.rfind(redirect_uri, 0) == 0 && (url.size() == redirect_uri.size() || url[redirect_uri.size()] == '?');
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) throw std::runtime_error("the flow led to an invalid URL: " + url);
    if (at_redirect_uri) {
      AuthorizationRedirect redirect;
      redirect.url = url;
      for (const auto& param : parsed->params()) redirect.params[param.key] = param.value;
      return redirect;
    }
    if (parsed->host() != "127.0.0.1" || parsed->port_number() != provider.port()) {
      throw std::runtime_error("the flow left the provider for " + url);
    }
    const std::string target(parsed->encoded_target());
    const auto response = get(provider.port(), target.empty() ? "/" : target, cookies.header());
    for (const auto& field : response.base()) {
      if (field.name() == bhttp::field::set_cookie) cookies.store(field.value());
    }
    const auto status = response.result_int();
    if (status != 302 && status != 303 && status != 307) {
      throw std::runtime_error("the flow stopped at " + url + " with HTTP " + std::to_string(status) + ": " +
                               response.body().substr(0, 500));
    }
    // Location may be relative ("/interaction/..."): resolve it against the URL that answered.
    boost::urls::url next;
    const auto location = boost::urls::parse_uri_reference(response[bhttp::field::location]);
    if (!location || !boost::urls::resolve(*parsed, *location, next)) {
      throw std::runtime_error("the provider redirected to an invalid location from " + url);
    }
    url = std::string(next.buffer());
  }
  throw std::runtime_error("more than " + std::to_string(kMaxRedirects) + " redirects from " + authorization_url);
}

}  // namespace intercab::testing
