# The benchmark probe of benchmarks/micropython_module.py, built into the firmware beside the
# generated modules tiny_cnn_int8 and agilenn_fashion_mnist (whose include folders it uses).
SRC_USERMOD_C += $(USERMOD_DIR)/modagilenn_probe.c
