// argon2id password hashing (libsodium) and the password policy with its bundled common-password list.
#include "platform/auth/password.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <unordered_set>

#include "platform/auth/sodium.hpp"
#include "platform/text/text.hpp"

namespace intercab::embedded {
std::string_view common_passwords();  // data/common_passwords.txt, compiled in by CMake
}

namespace intercab::auth {
namespace {

constexpr std::string_view kArgon2idPrefix = "$argon2id$";
// A common password with digits or symbols around it is about as guessable as the word itself
// (cracking rules try those decorations first); shorter cores would reject too many passwords.
constexpr std::size_t kMinDecoratedCore = 4;
constexpr std::size_t kMinPhoneDigits = 7;
constexpr std::size_t kMinEmailLocalPart = 4;

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

const std::unordered_set<std::string_view>& common_password_set() {
  static const auto set = [] {
    std::unordered_set<std::string_view> words;
    const auto list = embedded::common_passwords();
    words.reserve(40000);
    for (std::size_t at = 0; at < list.size();) {
      auto end = list.find('\n', at);
      if (end == std::string_view::npos) end = list.size();
      if (end > at) words.insert(list.substr(at, end - at));
      at = end + 1;
    }
    return words;
  }();
  return set;
}

// The password without leading and trailing digits, symbols and spaces: "**Sunshine2024!" -> "sunshine".
std::string_view decorated_core(std::string_view lower) {
  const auto first = std::find_if(lower.begin(), lower.end(), is_ascii_letter);
  const auto last = std::find_if(lower.rbegin(), lower.rend(), is_ascii_letter);
  if (first == lower.end()) return {};
  return lower.substr(static_cast<std::size_t>(first - lower.begin()), static_cast<std::size_t>(last.base() - first));
}

// "aaaaaaaaaa", "1234567890", "zyxwvutsrq": one character, or a run stepping by one throughout.
bool is_repeated_or_sequential(std::string_view lower) {
  if (lower.size() < 2) return false;
  const int step = static_cast<unsigned char>(lower[1]) - static_cast<unsigned char>(lower[0]);
  if (step < -1 || step > 1) return false;
  for (std::size_t i = 2; i < lower.size(); ++i) {
    if (static_cast<unsigned char>(lower[i]) - static_cast<unsigned char>(lower[i - 1]) != step) return false;
  }
  return true;
}

std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < text.size(); at += text::decode_utf8(text, at).size) ++count;
  return count;
}

std::string digits_of(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c >= '0' && c <= '9') out.push_back(c);
  }
  return out;
}

}  // namespace

// --- Hashing

PasswordHashing PasswordHashing::production() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordHashing PasswordHashing::minimum() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

PasswordHasher::PasswordHasher(PasswordHashing parameters) : parameters_(parameters) {
  ensure_sodium_initialized();
  if (parameters_.ops_limit < crypto_pwhash_OPSLIMIT_MIN || parameters_.ops_limit > crypto_pwhash_OPSLIMIT_MAX ||
      parameters_.mem_limit_bytes < crypto_pwhash_MEMLIMIT_MIN ||
      parameters_.mem_limit_bytes > crypto_pwhash_MEMLIMIT_MAX) {
    throw std::invalid_argument("argon2id parameters outside libsodium's limits");
  }
}

std::string PasswordHasher::hash(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) {
    throw std::invalid_argument("passwords longer than " + std::to_string(kMaxPasswordBytes) + " bytes are not hashed");
  }
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), parameters_.ops_limit,
                            parameters_.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id could not allocate " + std::to_string(parameters_.mem_limit_bytes) + " bytes");
  }
  return out.data();
}

bool PasswordHasher::verify(std::string_view password, std::string_view stored_hash) const {
  // Nothing longer could ever have been hashed, and refusing early bounds the work per request.
  if (password.size() > kMaxPasswordBytes) return false;
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string terminated(stored_hash);  // libsodium reads a NUL-terminated string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view stored_hash) const {
  if (!stored_hash.starts_with(kArgon2idPrefix) || stored_hash.size() >= crypto_pwhash_STRBYTES) return true;
  const std::string terminated(stored_hash);
  // 0: same algorithm and parameters; 1: other parameters; -1: not a valid hash.
  return crypto_pwhash_str_needs_rehash(terminated.c_str(), parameters_.ops_limit, parameters_.mem_limit_bytes) != 0;
}

void PasswordHasher::verify_without_account(std::string_view password) const {
  std::call_once(dummy_hash_once_, [this] {
    std::array<unsigned char, 32> random{};
    randombytes_buf(random.data(), random.size());
    dummy_hash_ = hash({reinterpret_cast<const char*>(random.data()), random.size()});
  });
  static_cast<void>(verify(password, dummy_hash_));
}

// --- Policy

bool is_common_password(std::string_view password) { return common_password_set().contains(ascii_lower(password)); }

std::vector<errors::FieldError> check_password_policy(std::string_view password, const PasswordContext& context,
                                                      std::string_view field) {
  std::vector<errors::FieldError> problems;
  const auto add = [&](std::string reason) { problems.push_back({std::string(field), std::move(reason)}); };
  if (!text::is_valid_utf8(password)) {
    add("must be valid UTF-8 text");
    return problems;
  }
  if (count_code_points(password) < kMinPasswordCharacters) {
    add("must be at least " + std::to_string(kMinPasswordCharacters) + " characters");
  }
  if (password.size() > kMaxPasswordBytes) add("must be at most " + std::to_string(kMaxPasswordBytes) + " bytes");

  const auto lower = ascii_lower(password);
  const auto& common = common_password_set();
  const auto core = decorated_core(lower);
  if (common.contains(lower) || (core.size() >= kMinDecoratedCore && common.contains(core))) {
    add("is too common; choose a password that others are unlikely to use (a few unrelated words work well)");
  } else if (is_repeated_or_sequential(lower)) {
    add("must not be a repeated or sequential run of characters");
  }

  const auto at = context.email.rfind('@');
  const auto local_part = ascii_lower(context.email.substr(0, at == std::string_view::npos ? 0 : at));
  if (local_part.size() >= kMinEmailLocalPart && lower.find(local_part) != std::string::npos) {
    add("must not contain your email address");
  }
  const auto phone_digits = digits_of(context.phone);
  if (phone_digits.size() >= kMinPhoneDigits) {
    // The national number (last 10 digits) catches the number written with or without +91.
    const auto national = phone_digits.substr(phone_digits.size() > 10 ? phone_digits.size() - 10 : 0);
    if (password.find(national) != std::string_view::npos) add("must not contain your phone number");
  }
  return problems;
}

void require_password_policy(std::string_view password, const PasswordContext& context, std::string_view field) {
  auto problems = check_password_policy(password, context, field);
  if (!problems.empty()) throw errors::Invalid(std::move(problems));
}

}  // namespace intercab::auth
