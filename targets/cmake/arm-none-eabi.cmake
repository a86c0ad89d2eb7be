# CMake toolchain file for cross-compiling a firmware project for Cortex-M cores with the GNU Arm
# Embedded toolchain (arm-none-eabi-gcc + newlib).
#
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=<agilenn-codegen>/targets/cmake/arm-none-eabi.cmake
#
# Only the compilers and the search behaviour are set here. CPU and ABI flags (-mcpu, -mthumb,
# -mfloat-abi, -mfpu), -ffp-contract=off, the linker script and the startup code belong to the
# project: copy them from the matching targets/<name>.json. Set ARM_NONE_EABI_PREFIX to use a
# toolchain that is not on PATH, e.g. -DARM_NONE_EABI_PREFIX=/opt/arm/bin/arm-none-eabi-
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

if(NOT DEFINED ARM_NONE_EABI_PREFIX)
    set(ARM_NONE_EABI_PREFIX "arm-none-eabi-")
endif()

set(CMAKE_C_COMPILER "${ARM_NONE_EABI_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${ARM_NONE_EABI_PREFIX}g++")
set(CMAKE_ASM_COMPILER "${ARM_NONE_EABI_PREFIX}gcc")
set(CMAKE_OBJCOPY "${ARM_NONE_EABI_PREFIX}objcopy" CACHE FILEPATH "objcopy")
set(CMAKE_SIZE "${ARM_NONE_EABI_PREFIX}size" CACHE FILEPATH "size")

# A bare-metal executable cannot link without a linker script and startup code, so CMake's
# compiler checks build a static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Search headers and libraries only in the target environment, programs only on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_EXECUTABLE_SUFFIX_C ".elf")
set(CMAKE_EXECUTABLE_SUFFIX_CXX ".elf")
