/* agilenn_config.h for the host library of agilenn_codegen.offload.native (the generated libraries write their own). */
#define AGILENN_NO_FPU 0
#define AGILENN_USE_DSP 0
