/*
 * Example application: run one inference of an agilenn-codegen model on a built-in sample image
 * and print the predicted class and the logits.
 *
 * The same file builds for the STM32F746 (examples/firmware, output through semihosting under
 * qemu, or a UART on a real board: see README.md) and for a PC (examples/host_app).
 *
 * It does not name the generated library: CMake passes the generated names in
 *   MODEL_HEADER       the generated header, e.g. "tiny_cnn_int8.h"
 *   MODEL_RUN          the run function, e.g. tiny_cnn_int8_run
 *   MODEL_INPUT_SIZE   floats in input 0, e.g. TINY_CNN_INT8_INPUT0_SIZE
 *   MODEL_OUTPUT_SIZE  floats in output 0, e.g. TINY_CNN_INT8_OUTPUT0_SIZE
 *   MODEL_NAME         the library name as a string, for the banner
 * so a model generated with another --name only needs -DAGILENN_MODEL_NAME=... at configure time.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if !defined(MODEL_HEADER) || !defined(MODEL_RUN) || !defined(MODEL_INPUT_SIZE) || !defined(MODEL_OUTPUT_SIZE)
#error "MODEL_HEADER, MODEL_RUN, MODEL_INPUT_SIZE and MODEL_OUTPUT_SIZE must be defined (CMakeLists.txt does it)"
#endif
#ifndef MODEL_NAME
#define MODEL_NAME "model"
#endif

#include MODEL_HEADER

#include "sample_image.h"

/* Compile-time check that the sample fits the model's input (C99 has no _Static_assert). */
typedef char sample_size_matches_model_input[(SAMPLE_IMAGE_SIZE == MODEL_INPUT_SIZE) ? 1 : -1];

/* Output buffer: static, so it is counted in .bss by arm-none-eabi-size rather than on the stack. */
static float logits[MODEL_OUTPUT_SIZE];

/* The IEEE-754 bits of a float, for an exact, locale- and libc-independent printout. */
static uint32_t float_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

int main(void) {
    /* The input is read straight from flash: the run function takes a const pointer. */
    agilenn_status_t status = MODEL_RUN(sample_image, logits);
    int best = 0;
    int i;

    if (status != AGILENN_OK) {
        printf("%s: inference failed with status %d\n", MODEL_NAME, (int)status);
        return 1;
    }
    printf("model %s, sample %d\n", MODEL_NAME, SAMPLE_IMAGE_INDEX);
    for (i = 0; i < MODEL_OUTPUT_SIZE; ++i) {
        if (logits[i] > logits[best]) {
            best = i;
        }
        /* Raw bits for exact comparison; the decimal value for people. */
        printf("logit %d: 0x%08lx %.6f\n", i, (unsigned long)float_bits(logits[i]), (double)logits[i]);
    }
    printf("class: %d\n", best);
    return 0;
}
