# Cross build for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu, the
# arm64 libraries from Debian multiarch (libjansson-dev:arm64,
# libcmocka-dev:arm64) and qemu-user-static running the tests:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DRG_ENGINE_ONLY=ON && cmake --build build-arm64 && (cd build-arm64 && ctest)
# See docs/internals/arm64.md.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries and pkg-config files of the arm64 multiarch packages only.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# CTest runs every test binary under qemu; -cpu max has NEON, dotprod and
# i8mm. The loader and libc must come from one package: the multiarch
# libc6:arm64 (installed with libjansson-dev:arm64) puts both under /lib, so
# qemu needs no -L then. Its loader with the cross toolchain's
# /usr/aarch64-linux-gnu libc (a different Debian revision) hangs in the first
# pthread_create, so -L /usr/aarch64-linux-gnu is only the fallback.
find_program(RG_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(RG_QEMU_AARCH64)
  if(EXISTS /lib/ld-linux-aarch64.so.1)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${RG_QEMU_AARCH64};-cpu;max)
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${RG_QEMU_AARCH64};-cpu;max;-L;/usr/aarch64-linux-gnu)
  endif()
endif()
