# Helpers shared by every target of the project: warnings, libraries, tests, embedded files.

# Warnings for our own code only (third-party headers are included as SYSTEM by their targets).
function(intercab_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(INTERCAB_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# intercab_library(NAME SOURCES ... DEPS ...): a static library rooted at src/ for includes.
function(intercab_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  intercab_warnings(${name})
endfunction()

# intercab_test(NAME SOURCES ... DEPS ... LABELS ... [TIMEOUT s]): a GoogleTest executable run by ctest.
function(intercab_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  intercab_warnings(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "INTERCAB_SOURCE_DIR=${PROJECT_SOURCE_DIR};INTERCAB_BINARY=$<TARGET_FILE:intercab>")
endfunction()

# intercab_embed(TARGET SYMBOL FILE): compiles FILE into TARGET as `std::string_view SYMBOL()`
# declared in namespace intercab::embedded, regenerated whenever FILE changes.
function(intercab_embed target symbol file)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${file} -DOUTPUT=${out} -DSYMBOL=${symbol} -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${file}")
  target_sources(${target} PRIVATE ${out})
endfunction()

# intercab_migrations(TARGET SYMBOL DIR): compiles every DIR/*.sql into TARGET as
# `std::span<const intercab::db::MigrationFile> SYMBOL()` in namespace intercab::embedded (declare it where it is
# used). Adding or removing a file re-runs CMake (CONFIGURE_DEPENDS), which rewrites the list file the generated
# source depends on; editing a file regenerates the source too.
function(intercab_migrations target symbol dir)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/migrations_${symbol}.list)
  file(CONFIGURE OUTPUT ${list_file} CONTENT "${sql_files}")  # touched only when the list changes
  set(out ${CMAKE_CURRENT_BINARY_DIR}/migrations_${symbol}.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DLIST_FILE=${list_file} -DDIR=${dir} -DOUTPUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    DEPENDS ${list_file} ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    COMMENT "Embedding the migrations in ${dir}")
  target_sources(${target} PRIVATE ${out})
endfunction()
