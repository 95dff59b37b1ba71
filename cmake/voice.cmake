# voice.cmake - what the voice loop (src/voice/) links and embeds: libsndfile
# (decoding uploads), speexdsp (resampling), espeak-ng (embedded TTS), libcurl
# (remote STT/TTS/LLM engines), and the web page under web/, turned into a C
# array at build time so the binary serves `/` with no installed files.
# Included from the top-level CMakeLists.txt after voxfit_core is defined.
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(SPEEXDSP REQUIRED IMPORTED_TARGET speexdsp)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
find_library(ESPEAK_NG_LIB espeak-ng REQUIRED)
find_path(ESPEAK_NG_INC espeak-ng/speak_lib.h REQUIRED)
target_include_directories(voxfit_core SYSTEM PRIVATE ${ESPEAK_NG_INC})
target_link_libraries(voxfit_core PUBLIC PkgConfig::SNDFILE PkgConfig::SPEEXDSP PkgConfig::CURL
                      ${ESPEAK_NG_LIB})

# web/*.{html,js,css} -> ${CMAKE_BINARY_DIR}/gen/voice_web.c (vf__voice_web_files[]).
file(GLOB VF_WEB_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/*.html
     ${CMAKE_SOURCE_DIR}/web/*.js ${CMAKE_SOURCE_DIR}/web/*.css)
set(VF_WEB_C ${CMAKE_BINARY_DIR}/gen/voice_web.c)
add_custom_command(
  OUTPUT ${VF_WEB_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${VF_WEB_C} -DDIR=${CMAKE_SOURCE_DIR}/web
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  DEPENDS ${VF_WEB_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  COMMENT "Embedding web/ into the binary")
target_sources(voxfit_core PRIVATE ${VF_WEB_C})
