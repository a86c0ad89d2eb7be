# Out-of-tree board for MicroPython 1.25's qemu port (ports/qemu): the Arm MPS2 AN500 image, a
# Cortex-M7 with the single-precision FPU (the core of the STM32F746 target), emulated by
# qemu-system-arm -M mps2-an500. MicroPython 1.25 ships no M7 board and its startup never enables
# the FPU, so this board puts its own reset handler first: it sets CPACR (CP10/CP11 full access)
# and then runs the port's Reset_Handler.
#
#     make -C ports/qemu BOARD=MPS2_AN500 BOARD_DIR=<this folder> FROZEN_MANIFEST= USER_C_MODULES=...
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an500

CFLAGS += -mthumb -mcpu=cortex-m7 -mfpu=fpv5-sp-d16 -mfloat-abi=hard
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M7"'

LDSCRIPT = $(BOARD_DIR)/mps2-an500.ld
SRC_C += $(BOARD_DIR)/board_reset.c
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

MPY_CROSS_FLAGS += -march=armv7emsp
