/* agilenn_runtime.h - every kernel family of the agilenn-codegen runtime. */
#ifndef AGILENN_RUNTIME_H
#define AGILENN_RUNTIME_H

#include "agilenn_types.h"
#include "agilenn_requantize.h"
#include "agilenn_conv_s8.h"
#include "agilenn_fully_connected_s8.h"
#include "agilenn_pooling_s8.h"
#include "agilenn_elementwise_s8.h"
#include "agilenn_data_movement.h"
#include "agilenn_quantization.h"

/* the optimized twins, instantiated per layer by generated code */
#include "agilenn_conv_fast.h"
#include "agilenn_data_movement_fast.h"
#include "agilenn_elementwise_fast.h"
#include "agilenn_fully_connected_fast.h"
#include "agilenn_pooling_fast.h"
#include "agilenn_quantization_fast.h"
#include "agilenn_pixels.h"

#endif /* AGILENN_RUNTIME_H */
