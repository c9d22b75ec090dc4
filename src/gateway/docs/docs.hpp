// The gateway's /docs: one OpenAPI document for the whole API, and Swagger UI to browse it.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "platform/http/router.hpp"

namespace intercab::gateway::docs {

// The OpenAPI 3.1 document of the API as clients see it through the gateway, from each service's document as served
// at its /openapi.json, paired with the service name ("booking"), in the order given:
// - every service's paths except its operational endpoints (/health, /ready, /metrics, /version, /openapi.json),
//   which the gateway does not route. The gateway serves the same common endpoints itself: they are listed once,
//   tagged "gateway", as the first document that has them describes them. Pass the gateway's own document first,
//   named "gateway", to have its description and any gateway-only paths listed too.
// - each operation tagged with its service name ahead of its own tags, and given its service's top-level `security`
//   when it has none of its own; operationIds used by more than one service become "<service><OperationId>".
// - components of every kind merged by name; one that an earlier service defines differently is renamed
//   "<Service><Name>" and the later service's references to it ($ref, discriminator mappings, security requirements)
//   are rewritten.
// - a top-level tag per service, described by its info.description.
// When two services declare the same method on the same path the first one is kept: the gateway routes each path
// prefix to one service, so the other could never be reached.
boost::json::object merge_openapi(const std::vector<std::pair<std::string, boost::json::object>>& service_documents,
                                  const std::string& gateway_version);

// GET /docs (redirect to /docs/), /docs/ (Swagger UI), its static files under /docs/, and /docs/openapi.json, which
// calls merged_document() on every request so that the caller decides how fresh the document is.
void add_docs_routes(http::Router& router, std::function<boost::json::object()> merged_document);

}  // namespace intercab::gateway::docs
