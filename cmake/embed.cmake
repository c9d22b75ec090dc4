# Writes OUTPUT: a C++ file defining intercab::embedded::SYMBOL() returning INPUT's bytes.
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE ${OUTPUT} "// Generated from ${INPUT} by cmake/embed.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace intercab::embedded {\n"
  "namespace { constexpr char kData[] = {${bytes} '\\0'}; }\n"
  "std::string_view ${SYMBOL}() { return {kData, ${byte_count}}; }\n"
  "}  // namespace intercab::embedded\n")
