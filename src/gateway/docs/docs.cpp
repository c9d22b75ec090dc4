// Merges the services' OpenAPI documents into the gateway's one, and serves Swagger UI over it.
#include "gateway/docs/docs.hpp"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/docs/embedded_files.hpp"

namespace intercab::gateway::docs {
namespace {

namespace json = boost::json;

constexpr std::string_view kGatewayTag = "gateway";
constexpr std::string_view kGatewayTagDescription =
    "The gateway's own endpoints: liveness, readiness, metrics, version and its OpenAPI document.";
constexpr std::array<std::string_view, 5> kOperationalPaths = {"/health", "/ready", "/metrics", "/version",
                                                               "/openapi.json"};
constexpr std::array<std::string_view, 8> kHttpMethods = {"get",     "put",  "post",  "delete",
                                                          "options", "head", "patch", "trace"};

bool is_operational_path(std::string_view path) {
  return std::find(kOperationalPaths.begin(), kOperationalPaths.end(), path) != kOperationalPaths.end();
}

bool is_http_method(std::string_view key) {
  return std::find(kHttpMethods.begin(), kHttpMethods.end(), key) != kHttpMethods.end();
}

char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_alphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// "driver-pool" -> "DriverPool": the prefix of a renamed component.
std::string pascal_case(std::string_view text) {
  std::string result;
  bool word_start = true;
  for (char c : text) {
    if (!is_alphanumeric(c)) {
      word_start = true;
      continue;
    }
    result += word_start ? to_upper(c) : c;
    word_start = false;
  }
  return result;
}

// ("Booking", "money") -> "BookingMoney".
std::string join_capitalized(std::string prefix, std::string_view name) {
  const auto prefix_length = prefix.size();
  prefix += name;
  if (prefix.size() > prefix_length) prefix[prefix_length] = to_upper(prefix[prefix_length]);
  return prefix;
}

// ("driver-pool", "getMe") -> "driverPoolGetMe": camel case like the operationIds it stands beside.
std::string prefixed_operation_id(std::string_view service, std::string_view operation_id) {
  auto prefix = pascal_case(service);
  if (!prefix.empty()) prefix[0] = to_lower(prefix[0]);
  return join_capitalized(std::move(prefix), operation_id);
}

const json::object* object_member(const json::object& object, std::string_view key) {
  const auto* member = object.if_contains(key);
  return member != nullptr && member->is_object() ? &member->as_object() : nullptr;
}

json::object* object_member(json::object& object, std::string_view key) {
  auto* member = object.if_contains(key);
  return member != nullptr && member->is_object() ? &member->as_object() : nullptr;
}

std::string string_member(const json::object& object, std::string_view key) {
  const auto* member = object.if_contains(key);
  return member != nullptr && member->is_string() ? std::string(member->as_string()) : std::string();
}

// Component section ("schemas", "securitySchemes"...) -> old name -> new name, for one service.
using NameMap = std::map<std::string, std::string, std::less<>>;
using Renames = std::map<std::string, NameMap, std::less<>>;

// "#/components/schemas/Money/properties/amount" -> "#/components/schemas/BookingMoney/properties/amount" when Money
// was renamed; nullopt when the reference is not to a renamed component.
std::optional<std::string> renamed_reference(std::string_view reference, const Renames& renames) {
  constexpr std::string_view kComponents = "#/components/";
  if (!reference.starts_with(kComponents)) return std::nullopt;
  const auto section_and_rest = reference.substr(kComponents.size());
  const auto section_end = section_and_rest.find('/');
  if (section_end == std::string_view::npos) return std::nullopt;
  const auto section = renames.find(section_and_rest.substr(0, section_end));
  if (section == renames.end()) return std::nullopt;
  const auto name_and_rest = section_and_rest.substr(section_end + 1);
  const auto name_end = name_and_rest.find('/');
  const auto renamed = section->second.find(name_and_rest.substr(0, name_end));
  if (renamed == section->second.end()) return std::nullopt;
  std::string result(kComponents);
  result += section->first;
  result += '/';
  result += renamed->second;
  if (name_end != std::string_view::npos) result += name_and_rest.substr(name_end);
  return result;
}

void rewrite_reference(json::value& reference, const Renames& renames) {
  if (!reference.is_string()) return;
  if (auto renamed = renamed_reference(reference.as_string(), renames)) reference = *renamed;
}

// Every $ref and discriminator mapping below `value` that points at a renamed component.
void rewrite_references(json::value& value, const Renames& renames) {
  if (auto* array = value.if_array()) {
    for (auto& item : *array) rewrite_references(item, renames);
    return;
  }
  auto* object = value.if_object();
  if (object == nullptr) return;
  for (auto& [key, member] : *object) {
    if (key == "$ref" && member.is_string()) {
      rewrite_reference(member, renames);
      continue;
    }
    if (key == "discriminator" && member.is_object()) {
      if (auto* mapping = object_member(member.as_object(), "mapping")) {
        for (auto& [mapped_value, target] : *mapping) rewrite_reference(target, renames);
      }
    }
    rewrite_references(member, renames);
  }
}

// Security requirements name their schemes by key, not by $ref.
void rename_security_schemes(json::value& requirements, const NameMap& scheme_renames) {
  if (!requirements.is_array()) return;
  for (auto& requirement : requirements.as_array()) {
    if (!requirement.is_object()) continue;
    json::object renamed;
    for (const auto& [scheme, scopes] : requirement.as_object()) {
      const auto found = scheme_renames.find(std::string_view(scheme));
      renamed[found == scheme_renames.end() ? scheme : json::string_view(found->second)] = scopes;
    }
    requirement = std::move(renamed);
  }
}

template <typename Visit>
void for_each_operation(json::object& path_items, Visit&& visit) {
  for (auto& [path, item] : path_items) {
    if (!item.is_object()) continue;
    for (auto& [method, operation] : item.as_object()) {
      if (is_http_method(method) && operation.is_object()) visit(operation.as_object());
    }
  }
}

// A free name for a component of `service` that clashes with another service's: "BookingMoney", then
// "BookingMoney2"... if even that is taken.
std::string free_component_name(std::string_view service, std::string_view name, const json::object& merged_section,
                                const json::object& own_section, const NameMap& section_renames) {
  const auto base = join_capitalized(pascal_case(service), name);
  auto taken = [&](const std::string& candidate) {
    return merged_section.contains(candidate) || own_section.contains(candidate) ||
           std::any_of(section_renames.begin(), section_renames.end(),
                       [&](const auto& rename) { return rename.second == candidate; });
  };
  auto candidate = base;
  for (int suffix = 2; taken(candidate); ++suffix) candidate = base + std::to_string(suffix);
  return candidate;
}

// The components of `service` to rename: those whose name an earlier service already uses for a different
// definition. Definitions are compared after their own references are rewritten, so renaming one component can make
// another that refers to it differ too; hence the loop until nothing changes.
Renames plan_component_renames(std::string_view service, const json::object& components,
                               const json::object& merged_components) {
  Renames renames;
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [section, entries] : components) {
      const auto* merged_section = object_member(merged_components, section);
      if (!entries.is_object() || merged_section == nullptr) continue;
      for (const auto& [name, definition] : entries.as_object()) {
        auto& section_renames = renames[std::string(section)];
        if (section_renames.contains(std::string_view(name))) continue;
        const auto* existing = merged_section->if_contains(name);
        if (existing == nullptr) continue;
        json::value rewritten = definition;
        rewrite_references(rewritten, renames);
        if (*existing == rewritten) continue;
        section_renames.emplace(std::string(name), free_component_name(service, name, *merged_section,
                                                                       entries.as_object(), section_renames));
        changed = true;
      }
    }
  }
  return renames;
}

void apply_renames(json::object& document, const Renames& renames) {
  for (auto& [key, member] : document) rewrite_references(member, renames);

  const auto scheme_renames = renames.find(std::string_view("securitySchemes"));
  if (scheme_renames != renames.end()) {
    if (auto* security = document.if_contains("security")) rename_security_schemes(*security, scheme_renames->second);
    for (const auto* collection : {"paths", "webhooks"}) {
      auto* path_items = object_member(document, collection);
      if (path_items == nullptr) continue;
      for_each_operation(*path_items, [&](json::object& operation) {
        if (auto* security = operation.if_contains("security")) {
          rename_security_schemes(*security, scheme_renames->second);
        }
      });
    }
  }

  auto* components = object_member(document, "components");
  if (components == nullptr) return;
  for (auto& [section, entries] : *components) {
    const auto section_renames = renames.find(std::string_view(section));
    if (section_renames == renames.end() || !entries.is_object()) continue;
    json::object renamed_entries;
    for (auto& [name, definition] : entries.as_object()) {
      const auto found = section_renames->second.find(std::string_view(name));
      renamed_entries[found == section_renames->second.end() ? name : json::string_view(found->second)] =
          std::move(definition);
    }
    entries = std::move(renamed_entries);
  }
}

// Adds the components the merged document lacks; after apply_renames, any name already present there has the same
// definition.
void add_components(json::object& merged_components, const json::object& components) {
  for (const auto& [section, entries] : components) {
    if (!entries.is_object()) continue;
    auto* merged_section = object_member(merged_components, section);
    if (merged_section == nullptr) merged_section = &merged_components[section].emplace_object();
    for (const auto& [name, definition] : entries.as_object()) {
      if (!merged_section->contains(name)) (*merged_section)[name] = definition;
    }
  }
}

// The service's tag first, so that Swagger UI groups operations by service; the operation's own tags stay.
void tag_operation(json::object& operation, std::string_view service_tag, bool keep_own_tags) {
  json::array tags{json::string(service_tag)};
  const auto* own_tags = operation.if_contains("tags");
  if (keep_own_tags && own_tags != nullptr && own_tags->is_array()) {
    for (const auto& tag : own_tags->as_array()) {
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
  }
  operation["tags"] = std::move(tags);
}

struct OperationSite {
  std::string service;
  std::string collection;  // "paths" or "webhooks"
  std::string path;
  std::string method;
};

class DocumentMerger {
 public:
  void add_service(const std::string& service, const json::object& original) {
    json::object document = original;
    if (const auto* components = object_member(document, "components")) {
      apply_renames(document, plan_component_renames(service, *components, components_));
      add_components(components_, *object_member(document, "components"));
    }
    const auto* security = document.if_contains("security");
    if (auto* paths = object_member(document, "paths")) add_path_items(service, "paths", *paths, security);
    if (auto* webhooks = object_member(document, "webhooks")) add_path_items(service, "webhooks", *webhooks, security);

    const auto* info = object_member(document, "info");
    auto description = info != nullptr ? string_member(*info, "description") : std::string();
    if (description.empty() && service == kGatewayTag) description = kGatewayTagDescription;
    if (description.empty() && info != nullptr) description = string_member(*info, "title");
    service_tags_.emplace_back(service, std::move(description));

    if (const auto* tags = document.if_contains("tags"); tags != nullptr && tags->is_array()) {
      for (const auto& tag : tags->as_array()) {
        if (tag.is_object() && !string_member(tag.as_object(), "name").empty()) declared_tags_.push_back(tag);
      }
    }
  }

  json::object finish(const std::string& gateway_version) && {
    make_operation_ids_unique();
    auto tags = top_level_tags();  // before paths_ is moved: it lists only tags that operations use
    json::object merged{
        {"openapi", "3.1.0"},
        {"info",
         {{"title", "intercab API"},
          {"version", gateway_version},
          {"description",
           "Every intercab service's API as routed by the gateway; each operation is tagged with the service that "
           "implements it."}}},
        {"servers", json::array{json::object{{"url", "/"}}}},
        {"tags", std::move(tags)},
        {"paths", std::move(paths_)},
    };
    if (!webhooks_.empty()) merged["webhooks"] = std::move(webhooks_);
    if (!components_.empty()) merged["components"] = std::move(components_);
    return merged;
  }

 private:
  void add_path_items(const std::string& service, const std::string& collection, json::object& path_items,
                      const json::value* service_security) {
    auto& merged_items = collection == "paths" ? paths_ : webhooks_;
    for (auto& [path, item] : path_items) {
      if (!item.is_object()) continue;
      const bool operational = collection == "paths" && is_operational_path(path);
      if (operational && merged_items.contains(path)) continue;  // the gateway's copy is already listed
      const std::string owner = operational ? std::string(kGatewayTag) : service;
      auto* merged_item = object_member(merged_items, path);
      if (merged_item == nullptr) merged_item = &merged_items[path].emplace_object();
      for (auto& [key, member] : item.as_object()) {
        if (merged_item->contains(key)) continue;  // another service declared it first; see the header
        if (is_http_method(key) && member.is_object()) {
          auto& operation = member.as_object();
          tag_operation(operation, owner, !operational);
          if (!operational && service_security != nullptr && !operation.contains("security")) {
            operation["security"] = *service_security;
          }
          operations_.push_back({owner, collection, path, key});
        }
        (*merged_item)[key] = std::move(member);
      }
    }
  }

  json::object& operation_at(const OperationSite& site) {
    auto& merged_items = site.collection == "paths" ? paths_ : webhooks_;
    return merged_items.at(site.path).as_object().at(site.method).as_object();
  }

  // Client generators name methods after operationIds, so one shared by two services gets each service's name in
  // front; ids used by a single service stay as they are.
  void make_operation_ids_unique() {
    std::map<std::string, std::set<std::string>> services_by_id;
    std::set<std::string> ids_in_use;
    for (const auto& site : operations_) {
      auto id = string_member(operation_at(site), "operationId");
      if (id.empty()) continue;
      services_by_id[id].insert(site.service);
      ids_in_use.insert(std::move(id));
    }
    for (const auto& site : operations_) {
      auto& operation = operation_at(site);
      const auto id = string_member(operation, "operationId");
      if (id.empty() || services_by_id[id].size() < 2) continue;
      const auto base = prefixed_operation_id(site.service, id);
      auto candidate = base;
      for (int suffix = 2; ids_in_use.contains(candidate); ++suffix) candidate = base + std::to_string(suffix);
      ids_in_use.insert(candidate);
      operation["operationId"] = candidate;
    }
  }

  // One tag per service, in the order given, then the services' own tags that some operation still uses.
  json::array top_level_tags() const {
    json::array tags;
    std::set<std::string, std::less<>> listed;
    for (const auto& [service, description] : service_tags_) {
      if (!listed.insert(service).second) continue;
      json::object tag{{"name", service}};
      if (!description.empty()) tag["description"] = description;
      tags.push_back(std::move(tag));
    }
    const bool gateway_operations_listed = std::any_of(
        operations_.begin(), operations_.end(), [](const OperationSite& site) { return site.service == kGatewayTag; });
    if (gateway_operations_listed && listed.insert(std::string(kGatewayTag)).second) {
      tags.push_back(json::object{{"name", kGatewayTag}, {"description", kGatewayTagDescription}});
    }

    std::set<std::string, std::less<>> used;
    for (const auto& collection : {&paths_, &webhooks_}) {
      for (const auto& [path, item] : *collection) {
        for (const auto& [method, operation] : item.as_object()) {
          const auto* operation_tags = operation.is_object() ? operation.as_object().if_contains("tags") : nullptr;
          if (operation_tags == nullptr || !operation_tags->is_array()) continue;
          for (const auto& tag : operation_tags->as_array()) {
            if (tag.is_string()) used.insert(std::string(tag.as_string()));
          }
        }
      }
    }
    for (const auto& tag : declared_tags_) {
      const auto name = string_member(tag.as_object(), "name");
      if (used.contains(name) && listed.insert(name).second) tags.push_back(tag);
    }
    return tags;
  }

  json::object paths_;
  json::object webhooks_;
  json::object components_;
  std::vector<std::pair<std::string, std::string>> service_tags_;  // service name, description
  std::vector<json::value> declared_tags_;
  std::vector<OperationSite> operations_;
};

// ---------------------------------------------------------------------------------------------
// Serving Swagger UI

// Long enough that moving around the docs does not refetch 1.7 MB of JavaScript, short enough that a gateway upgrade
// reaches browsers within the hour.
constexpr std::string_view kAssetCaching = "public, max-age=3600";
// index.html names the other files and the document's URL: always revalidated (cheap, thanks to the ETag).
constexpr std::string_view kPageCaching = "no-cache";

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";  // RFC 9239
  if (name.ends_with(".png")) return "image/png";
  return "text/plain; charset=utf-8";  // LICENSE, NOTICE, *.txt
}

// Strong validator from the content (FNV-1a 64): the same build always gives the same tag, on every instance.
std::string entity_tag(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char byte : bytes) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 1099511628211ULL;
  }
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  std::string tag(18, '"');
  for (std::size_t i = 16; i > 0; --i, hash >>= 4) tag[i] = kHexDigits[hash & 0xf];
  return tag;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2): "W/" prefixes do not matter.
bool matches_if_none_match(std::string_view if_none_match, std::string_view tag) {
  auto opaque = [](std::string_view candidate) {
    return candidate.starts_with("W/") ? candidate.substr(2) : candidate;
  };
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    const auto candidate = trim(if_none_match.substr(0, comma));
    if (candidate == "*" || opaque(candidate) == opaque(tag)) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

http::Handler static_file_handler(std::string_view bytes, std::string_view content_type,
                                  std::string_view cache_control) {
  return [bytes, content_type, cache_control, tag = entity_tag(bytes)](http::Request& request) {
    auto response = matches_if_none_match(request.header("If-None-Match"), tag)
                        ? http::Response::empty(304)
                        : http::Response::text(std::string(bytes), std::string(content_type));
    response.headers.set("ETag", tag);
    response.headers.set("Cache-Control", std::string(cache_control));
    response.headers.set("X-Content-Type-Options", "nosniff");
    return response;
  };
}

}  // namespace

boost::json::object merge_openapi(const std::vector<std::pair<std::string, boost::json::object>>& service_documents,
                                  const std::string& gateway_version) {
  DocumentMerger merger;
  for (const auto& [service, document] : service_documents) merger.add_service(service, document);
  return std::move(merger).finish(gateway_version);
}

void add_docs_routes(http::Router& router, std::function<boost::json::object()> merged_document) {
  if (!merged_document) throw std::invalid_argument("add_docs_routes needs a function giving the merged document");

  // Swagger UI's files are named relative to the page, so the page must be at /docs/, not /docs.
  router.add("GET", "/docs", [](http::Request&) {
    auto response = http::Response::empty(301);
    response.headers.set("Location", "/docs/");
    return response;
  });

  for (const auto& file : embedded_files()) {
    if (file.name == "index.html") {
      auto handler = static_file_handler(file.bytes, content_type_of(file.name), kPageCaching);
      router.add("GET", "/docs/", handler);
      router.add("GET", "/docs/index.html", std::move(handler));
    } else {
      router.add("GET", "/docs/" + std::string(file.name),
                 static_file_handler(file.bytes, content_type_of(file.name), kAssetCaching));
    }
  }

  router.add("GET", "/docs/openapi.json", [merged_document = std::move(merged_document)](http::Request&) {
    auto response = http::Response::json(merged_document());
    // The caller caches the services' documents and knows when they change; the browser always asks.
    response.headers.set("Cache-Control", "no-cache");
    return response;
  });
}

}  // namespace intercab::gateway::docs
