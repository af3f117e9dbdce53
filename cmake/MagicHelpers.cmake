# magic_cc_library / magic_cc_test / magic_cc_binary: one component = one
# library `magic::<name>`, tests beside the code, binaries in build/bin.

set(MAGIC_WARNINGS -Wall -Wextra -Werror -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wformat=2 -Wimplicit-fallthrough
    # -Wnull-dereference is left out: at -O2 GCC 12 reports false positives
    # inside libstdc++ (istreambuf_iterator).
    # Designated initializers that leave defaulted members out are intended.
    -Wno-missing-field-initializers)

if(MAGIC_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(magic_apply_warnings target)
  target_compile_options(${target} PRIVATE ${MAGIC_WARNINGS})
endfunction()

# magic_cc_library(NAME n [HDRS ...] SRCS ... [DEPS ...] [PRIVATE_DEPS ...])
function(magic_cc_library)
  cmake_parse_arguments(L "" "NAME" "HDRS;SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target magic_${L_NAME})
  add_library(${target} STATIC ${L_SRCS} ${L_HDRS})
  add_library(magic::${L_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  target_link_libraries(${target} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS})
  magic_apply_warnings(${target})
endfunction()

# magic_cc_test(NAME n SRCS ... [DEPS ...] [LABELS ...] [ARGS ...])
function(magic_cc_test)
  cmake_parse_arguments(T "" "NAME" "SRCS;DEPS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gmock GTest::gtest_main)
  magic_apply_warnings(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  # `cmake --build B --target magic_unit_tests` builds just what `ctest -L unit` runs.
  if("unit" IN_LIST T_LABELS)
    if(NOT TARGET magic_unit_tests)
      add_custom_target(magic_unit_tests)
    endif()
    add_dependencies(magic_unit_tests ${T_NAME})
  endif()
endfunction()

# magic_cc_binary(NAME n SRCS ... [DEPS ...])
function(magic_cc_binary)
  cmake_parse_arguments(B "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${B_NAME} ${B_SRCS})
  target_link_libraries(${B_NAME} PRIVATE ${B_DEPS})
  magic_apply_warnings(${B_NAME})
endfunction()
