// Auth library costs per request: JWT signing and verification (HS256 vs EdDSA), the service token
// cache, and argon2id password hashing with the production parameters.
#include <benchmark/benchmark.h>

#include <string>

#include "platform/auth/api_key.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/auth/password.hpp"

namespace {

using namespace intercab::auth;

std::shared_ptr<const KeySet> keys_for(Algorithm algorithm) {
  if (algorithm == Algorithm::hs256) return std::make_shared<KeySet>(SigningKey::hs256(std::string(48, 's')));
  return std::make_shared<KeySet>(SigningKey::generate_ed25519());
}

const AccessTokenGrant kGrant{"usr_01J9ZQ4W7N5V2K8M3R6T0Y1X2C", "rider-web", {"rider"}, true};

void sign_access_token(benchmark::State& state, Algorithm algorithm) {
  const AccessTokenIssuer issuer(keys_for(algorithm), {"intercab", "intercab-api"});
  for (auto _ : state) benchmark::DoNotOptimize(issuer.issue(kGrant));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(to_string(algorithm)));
}

void verify_access_token(benchmark::State& state, Algorithm algorithm) {
  const auto keys = keys_for(algorithm);
  const auto token = AccessTokenIssuer(keys, {"intercab", "intercab-api"}).issue(kGrant).token;
  const TokenVerifier verifier(keys, VerifierSettings::access_tokens("intercab", "intercab-api"));
  for (auto _ : state) benchmark::DoNotOptimize(verifier.verify(token));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(to_string(algorithm)) + ", " + std::to_string(token.size()) + "-byte token");
}

void BM_SignAccessToken_HS256(benchmark::State& state) { sign_access_token(state, Algorithm::hs256); }
void BM_SignAccessToken_EdDSA(benchmark::State& state) { sign_access_token(state, Algorithm::eddsa); }
void BM_VerifyAccessToken_HS256(benchmark::State& state) { verify_access_token(state, Algorithm::hs256); }
void BM_VerifyAccessToken_EdDSA(benchmark::State& state) { verify_access_token(state, Algorithm::eddsa); }

// What a service pays per outgoing internal call: a cache hit.
void BM_ServiceToken_CachedEdDSA(benchmark::State& state) {
  ServiceTokenIssuer issuer(keys_for(Algorithm::eddsa), {"intercab-internal", "booking"});
  for (auto _ : state) benchmark::DoNotOptimize(issuer.token_for("payment"));
  state.SetItemsProcessed(state.iterations());
}

void BM_ApiKey_HashAndCompare(benchmark::State& state) {
  const auto key = generate_api_key();
  const auto stored = hash_api_key(key);
  for (auto _ : state) benchmark::DoNotOptimize(api_key_matches(key, stored));
  state.SetItemsProcessed(state.iterations());
}

std::string parameters_label(const PasswordHashing& parameters) {
  return "argon2id t=" + std::to_string(parameters.ops_limit) +
         " m=" + std::to_string(parameters.mem_limit_bytes / (1024 * 1024)) + "MiB p=1";
}

void BM_Argon2idHash_Production(benchmark::State& state) {
  const PasswordHasher hasher(PasswordHashing::production());
  for (auto _ : state) benchmark::DoNotOptimize(hasher.hash("plinth-orbit-mango-47"));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(parameters_label(hasher.parameters()));
}

void BM_Argon2idVerify_Production(benchmark::State& state) {
  const PasswordHasher hasher(PasswordHashing::production());
  const auto stored = hasher.hash("plinth-orbit-mango-47");
  for (auto _ : state) benchmark::DoNotOptimize(hasher.verify("plinth-orbit-mango-47", stored));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(parameters_label(hasher.parameters()));
}

void BM_PasswordPolicy(benchmark::State& state) {
  const PasswordContext context{"asha.rao@example.com", "+91 98765 43210"};
  static_cast<void>(check_password_policy("warm-up-the-list", context));  // loads the common list once
  for (auto _ : state) benchmark::DoNotOptimize(check_password_policy("plinth-orbit-mango-47", context));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_SignAccessToken_HS256);
BENCHMARK(BM_SignAccessToken_EdDSA);
BENCHMARK(BM_VerifyAccessToken_HS256);
BENCHMARK(BM_VerifyAccessToken_EdDSA);
BENCHMARK(BM_ServiceToken_CachedEdDSA);
BENCHMARK(BM_ApiKey_HashAndCompare);
BENCHMARK(BM_PasswordPolicy);
BENCHMARK(BM_Argon2idHash_Production)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Argon2idVerify_Production)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
