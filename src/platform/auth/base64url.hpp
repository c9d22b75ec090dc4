// Strict base64url (RFC 4648 §5, no padding) as JWS (RFC 7515) and our API keys use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace intercab::auth {

std::string base64url_encode(std::string_view bytes);

// Decodes only the canonical unpadded form: the alphabet A-Z a-z 0-9 '-' '_', no '=', no
// whitespace, no length that leaves a lone character, and zero bits after the last byte. Each
// encoded value therefore has exactly one accepted spelling, so a token cannot be altered without
// breaking its signature. Returns nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace intercab::auth
