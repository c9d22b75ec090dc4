// The intercab command line: serve, migrate, version, token, user create-admin, and --print-config.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "app/backends.hpp"
#include "app/build_info.hpp"
#include "app/modules.hpp"
#include "app/serve.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/auth/keys.hpp"
#include "platform/auth/rbac.hpp"
#include "platform/config/config.hpp"
#include "platform/errors/errors.hpp"
#include "platform/log/log.hpp"
#include "services/user/user_module.hpp"

namespace {

intercab::config::Config load_config(const std::string& config_file) {
  intercab::config::LoadOptions options{intercab::config::process_environment(), std::nullopt};
  if (!config_file.empty()) options.config_file = config_file;
  return intercab::config::load(options);
}

// `intercab user create-admin`: works on the user database directly (migrating it if needed), so it
// needs no running service; the events it writes are relayed when the user service next runs.
int run_create_admin(const intercab::config::Config& config, const std::string& name, const std::string& email) {
  std::string password;
  if (const char* from_environment = std::getenv("INTERCAB_ADMIN_PASSWORD")) {
    password = from_environment;
  } else {
    std::getline(std::cin, password);
  }
  try {
    intercab::app::Backends backends(config);
    const intercab::service::Infrastructure infrastructure{&backends.store("user"), nullptr, &backends.cache()};
    const auto [id, created] = intercab::services::user::create_admin(config, infrastructure, name, email, password);
    std::cout << (created ? "created admin " : "made admin the existing account ") << id << " (" << email << ")\n";
    return 0;
  } catch (const intercab::errors::Problem& problem) {
    std::cerr << "intercab user create-admin: " << problem.detail();
    for (const auto& error : problem.field_errors()) std::cerr << "; " << error.field << " " << error.reason;
    std::cerr << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "intercab user create-admin: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask and sigwait sees the signals.
  intercab::app::block_shutdown_signals();

  CLI::App app{"intercab: interstate cab booking platform (nine services and their gateway in one binary)"};
  app.require_subcommand(0, 1);
  std::string config_file;
  bool print_config = false;

  app.add_option("--config", config_file, "Config file (default: $INTERCAB_HOME/config/intercab.yaml if present)");
  app.add_flag("--print-config", print_config, "Print the effective configuration (secrets masked) and exit");

  intercab::app::ServeOptions serve_options;
  std::string ports_file;
  auto* serve = app.add_subcommand("serve", "Run services: --target=all (default) or a comma list");
  auto* target_option =
      serve->add_option("--target", serve_options.targets, "all, or a comma list of: user, booking, location, ...");
  serve->add_option("--ports-file", ports_file, "Write {\"service\": port, ...} as JSON here once all are listening");
  auto* migrate = app.add_subcommand("migrate", "Create or upgrade the databases of the services");
  std::string migrate_targets = "all";
  migrate->add_option("--target", migrate_targets, "all, or a comma list of services whose databases to migrate");
  auto* user = app.add_subcommand("user", "Manage user accounts from the operator's shell");
  user->require_subcommand(1);
  auto* create_admin =
      user->add_subcommand("create-admin",
                           "Create the first admin (or make an existing account admin); the password is read from "
                           "INTERCAB_ADMIN_PASSWORD or, if unset, from the first line of standard input");
  std::string admin_name = "Administrator";
  std::string admin_email;
  create_admin->add_option("--name", admin_name, "the admin's display name");
  create_admin->add_option("--email", admin_email, "the admin's email address (marked verified)")->required();
  auto* version = app.add_subcommand("version", "Print version, git sha, build type and time");
  auto* token = app.add_subcommand(
      "token", "Print an access token signed with JWT_SECRET, for development and benchmarks (15 minutes)");
  std::string token_subject = "dev-user";
  std::string token_roles = "rider";
  token->add_option("--subject", token_subject, "the user id (sub claim)");
  token->add_option("--roles", token_roles, "comma list of roles: rider, driver, fleet_owner, support, admin");

  CLI11_PARSE(app, argc, argv);

  intercab::config::Config config;
  try {
    config = load_config(config_file);
    intercab::log::init({config.log_level, "intercab", {}});
  } catch (const std::exception& error) {
    std::cerr << "intercab: configuration error: " << error.what() << "\n";
    return 2;
  }

  if (print_config) {
    std::cout << config.describe();
    return 0;
  }
  if (version->parsed()) {
    const auto build = intercab::app::build_info();
    std::cout << "intercab " << build.version << " (git " << build.git_sha << ", " << build.build_type << ", built "
              << build.build_time << ")\n";
    return 0;
  }
  if (token->parsed()) {
    if (config.jwt_secret.empty()) {
      std::cerr << "intercab token: set JWT_SECRET (the HS256 key the gateway verifies access tokens with)\n";
      return 2;
    }
    std::vector<std::string> roles;
    std::stringstream role_list(token_roles);
    for (std::string role; std::getline(role_list, role, ',');) {
      if (!intercab::auth::parse_role(role)) {
        std::cerr << "intercab token: unknown role '" << role << "'; use rider, driver, fleet_owner, support, admin\n";
        return 2;
      }
      roles.push_back(role);
    }
    const auto keys =
        std::make_shared<const intercab::auth::KeySet>(intercab::auth::SigningKey::hs256(config.jwt_secret));
    const intercab::auth::AccessTokenIssuer issuer(keys, {config.auth.issuer, config.auth.audience});
    std::cout << issuer.issue({token_subject, "intercab-cli", roles, true}).token << "\n";
    return 0;
  }
  if (create_admin->parsed()) return run_create_admin(config, admin_name, admin_email);
  if (migrate->parsed()) {
    try {
      return intercab::app::migrate_databases(config, migrate_targets, std::cout);
    } catch (const std::invalid_argument& error) {
      std::cerr << "intercab migrate: " << error.what() << "\n";
      return 2;
    }
  }
  if (serve->parsed()) {
    if (target_option->count() == 0 && !config.service_name.empty()) serve_options.targets = config.service_name;
    if (!ports_file.empty()) serve_options.ports_file = ports_file;
    try {
      intercab::app::resolve_targets(serve_options.targets);
    } catch (const std::invalid_argument& error) {
      std::cerr << "intercab serve: " << error.what() << "\n";
      return 2;
    }
    return intercab::app::serve(config, serve_options);
  }
  std::cout << app.help();
  return 0;
}
