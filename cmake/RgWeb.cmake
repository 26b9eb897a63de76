# The web app, embedded into the binary: scripts/build_web.sh builds web/
# with Vite into <build>/web-dist (npm ci when the lockfile changed), then
# tools/web_embed writes those files as C arrays into <build>/web_assets.c,
# which rg_api links (src/api/web.c serves it). Without npm (or with
# -DRG_WEB_APP=OFF) the binary gets a placeholder page that says so.
option(RG_WEB_APP "Build the web app with npm and embed it" ON)
add_executable(web_embed ${CMAKE_SOURCE_DIR}/tools/web_embed/web_embed.c)
set(RG_WEB_DIST ${CMAKE_BINARY_DIR}/web-dist)
find_program(RG_NPM npm)
set(web_stamp "")
if(RG_WEB_APP AND RG_NPM)
  file(GLOB_RECURSE web_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/src/*)
  add_custom_command(OUTPUT ${RG_WEB_DIST}/index.html
    COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/build_web.sh ${RG_WEB_DIST}
    DEPENDS ${web_srcs} ${CMAKE_SOURCE_DIR}/web/index.html ${CMAKE_SOURCE_DIR}/web/package.json
            ${CMAKE_SOURCE_DIR}/web/package-lock.json ${CMAKE_SOURCE_DIR}/web/vite.config.ts
            ${CMAKE_SOURCE_DIR}/web/tsconfig.json ${CMAKE_SOURCE_DIR}/scripts/build_web.sh
    COMMENT "Building the web app (vite)" VERBATIM)
  set(web_stamp ${RG_WEB_DIST}/index.html)
else()
  message(STATUS "web app: not built (npm not found or RG_WEB_APP=OFF); the binary serves a placeholder page")
endif()
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/web_assets.c
  COMMAND web_embed ${RG_WEB_DIST} ${CMAKE_BINARY_DIR}/web_assets.c
  DEPENDS web_embed ${web_stamp} VERBATIM)
target_sources(rg_api PRIVATE ${CMAKE_BINARY_DIR}/web_assets.c)

# Tests of the web app: its client logic (Vitest) and the whole product in a
# real browser (web/e2e/e2e.mjs: Chromium through playwright-core against
# this build's rustygpt). Exit code 77 means skipped, and says why.
if(RG_WEB_APP AND RG_NPM)
  add_test(NAME web/unit COMMAND node_modules/.bin/vitest run
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/web)
  set_tests_properties(web/unit PROPERTIES TIMEOUT 300 LABELS web)
  add_test(NAME web/e2e COMMAND node ${CMAKE_SOURCE_DIR}/web/e2e/e2e.mjs)
  set_tests_properties(web/e2e PROPERTIES TIMEOUT 600 LABELS web SKIP_RETURN_CODE 77
    ENVIRONMENT "RG_BIN=$<TARGET_FILE:rustygpt>;RG_TESTDATA=${RG_TESTDATA};RG_BUILD_DIR=${CMAKE_BINARY_DIR}")
  # the knowledge library's pages: upload, index, search, a chat citing it (web/e2e/library.mjs)
  add_test(NAME web/e2e-library COMMAND node ${CMAKE_SOURCE_DIR}/web/e2e/library.mjs)
  set_tests_properties(web/e2e-library PROPERTIES TIMEOUT 300 LABELS web SKIP_RETURN_CODE 77
    ENVIRONMENT "RG_BIN=$<TARGET_FILE:rustygpt>;RG_TESTDATA=${RG_TESTDATA};RG_BUILD_DIR=${CMAKE_BINARY_DIR}")
  # memory, thinking tools and survival mode: styles, ratings, flags, the context inspector,
  # the glossary, the survival page, offline mode (web/e2e/e2e-memory.mjs)
  add_test(NAME web/e2e-memory COMMAND node ${CMAKE_SOURCE_DIR}/web/e2e/e2e-memory.mjs)
  set_tests_properties(web/e2e-memory PROPERTIES TIMEOUT 300 LABELS web SKIP_RETURN_CODE 77
    ENVIRONMENT "RG_BIN=$<TARGET_FILE:rustygpt>;RG_TESTDATA=${RG_TESTDATA};RG_BUILD_DIR=${CMAKE_BINARY_DIR}")
endif()
