# rg_module(NAME DEPS <modules/libs...>)
#   Builds src/NAME/**/*.c into the static library rg_NAME and each
#   tests/unit/NAME/test_*.c into its own test binary registered with CTest
#   (one process per test, with a timeout). Sources are globbed so that adding a
#   file never means editing a shared list.
function(rg_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.c)
  if(srcs)
    add_library(rg_${name} STATIC ${srcs})
    target_include_directories(rg_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(rg_${name} PUBLIC ${M_DEPS})
  else()
    add_library(rg_${name} INTERFACE)
    target_include_directories(rg_${name} INTERFACE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(rg_${name} INTERFACE ${M_DEPS})
  endif()
  rg_unit_tests(${name} rg_${name})
endfunction()

# rg_unit_tests(DIR LIB): every tests/unit/DIR/test_*.c is a test binary.
function(rg_unit_tests dir lib)
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/${dir}/test_*.c)
  foreach(t ${tests})
    get_filename_component(tn ${t} NAME_WE)
    set(exe unit_${dir}_${tn})
    add_executable(${exe} ${t})
    target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
    target_link_libraries(${exe} PRIVATE ${lib} PkgConfig::CMOCKA m)
    add_test(NAME unit/${dir}/${tn} COMMAND ${exe})
    set_tests_properties(unit/${dir}/${tn} PROPERTIES
      TIMEOUT 600 LABELS unit
      ENVIRONMENT "RG_TESTDATA=${RG_TESTDATA};RG_SOURCE_DIR=${CMAKE_SOURCE_DIR};RG_BUILD_DIR=${CMAKE_BINARY_DIR}")
  endforeach()
endfunction()
