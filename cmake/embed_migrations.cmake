# Writes OUTPUT: a C++ file defining intercab::embedded::SYMBOL(), the .sql files named in LIST_FILE (the *.sql of
# DIR, as a CMake list) as intercab::db::MigrationFile entries. Run by intercab_migrations() in cmake/Intercab.cmake.
file(READ ${LIST_FILE} sql_files)
set(arrays "")
set(entries "")
set(index 0)
foreach(sql_file IN LISTS sql_files)
  get_filename_component(file_name ${sql_file} NAME)
  file(READ ${sql_file} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR byte_count "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(APPEND arrays "constexpr char kFile${index}[] = {${bytes} '\\0'};\n")
  string(APPEND entries "    {\"${file_name}\", {kFile${index}, ${byte_count}}},\n")
  math(EXPR index "${index} + 1")
endforeach()
if(index EQUAL 0)
  set(body "  return {};\n")
else()
  set(body "  static constexpr intercab::db::MigrationFile kFiles[] = {\n${entries}  };\n  return kFiles;\n")
endif()
file(WRITE ${OUTPUT} "// Generated from ${DIR} by cmake/embed_migrations.cmake; do not edit.\n"
  "#include <span>\n"
  "#include \"platform/db/migrations.hpp\"\n"
  "namespace intercab::embedded {\n"
  "namespace {\n${arrays}}  // namespace\n"
  "std::span<const intercab::db::MigrationFile> ${SYMBOL}() {\n${body}}\n"
  "}  // namespace intercab::embedded\n")
