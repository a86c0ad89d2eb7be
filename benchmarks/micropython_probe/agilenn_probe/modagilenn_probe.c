/*
 * agilenn_probe: the measuring aid of benchmarks/micropython_module.py (not part of any product).
 *
 * agilenn_probe_start() and agilenn_probe_stop() are marker functions: the emulator counts the
 * instructions executed from one to the other (agilenn_codegen.targets.instructions_between). From
 * Python, start(); <call>; stop() brackets a call through a generated module; the *_direct()
 * functions bracket the same C calls made directly from C, on the same input, in the same firmware
 * (so the library's code is byte for byte the one the module calls).
 */
#include <string.h>

#include "py/runtime.h"

#include "agilenn_fashion_mnist_agilenn.h"
#include "tiny_cnn_int8.h"

/* Distinct bodies and noipa: identical empty functions would be folded into one by the compiler. */
volatile uint32_t agilenn_probe_state;

__attribute__((noinline, noipa, used)) void agilenn_probe_start(void) {
    agilenn_probe_state = 1u;
}

__attribute__((noinline, noipa, used)) void agilenn_probe_stop(void) {
    agilenn_probe_state = 2u;
}

static float probe_tiny_input[TINY_CNN_INT8_INPUT0_SIZE];
static float probe_tiny_output[TINY_CNN_INT8_OUTPUT0_SIZE];
static float probe_image[AGILENN_FASHION_MNIST_IMAGE_SIZE];
static uint8_t probe_frame[AGILENN_FASHION_MNIST_FRAME_MAX_BYTES];
static float probe_logits[AGILENN_FASHION_MNIST_NUM_CLASSES];

static mp_obj_t probe_start(void) {
    agilenn_probe_start();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_start_obj, probe_start);

static mp_obj_t probe_stop(void) {
    agilenn_probe_stop();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_stop_obj, probe_stop);

/* load(tiny_input, image): the inputs of the direct calls (the same bytes the Python calls get) */
static mp_obj_t probe_load(mp_obj_t tiny_in, mp_obj_t image_in) {
    mp_buffer_info_t tiny, image;
    mp_get_buffer_raise(tiny_in, &tiny, MP_BUFFER_READ);
    mp_get_buffer_raise(image_in, &image, MP_BUFFER_READ);
    if (tiny.len != sizeof probe_tiny_input || image.len != sizeof probe_image) {
        mp_raise_ValueError(MP_ERROR_TEXT("load: wrong sizes"));
    }
    memcpy(probe_tiny_input, tiny.buf, tiny.len);
    memcpy(probe_image, image.buf, image.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(probe_load_obj, probe_load);

static mp_obj_t probe_empty_direct(void) {
    agilenn_probe_start();
    agilenn_probe_stop();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_empty_direct_obj, probe_empty_direct);

static mp_obj_t probe_tiny_direct(void) {
    agilenn_status_t status;
    agilenn_probe_start();
    status = tiny_cnn_int8_run(probe_tiny_input, probe_tiny_output);
    agilenn_probe_stop();
    return mp_obj_new_int(status);
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_tiny_direct_obj, probe_tiny_direct);

static mp_obj_t probe_begin_direct(void) {
    int32_t i, count, bytes = 0;
    agilenn_probe_start();
    if (agilenn_fashion_mnist_begin(probe_image) == AGILENN_OK) {
        count = agilenn_fashion_mnist_fragment_count();
        for (i = 0; i < count; i++) {
            bytes += agilenn_fashion_mnist_fragment(i, probe_frame, (int32_t)sizeof probe_frame);
        }
    }
    agilenn_probe_stop();
    return mp_obj_new_int(bytes);
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_begin_direct_obj, probe_begin_direct);

static mp_obj_t probe_local_direct(void) {
    int32_t predicted;
    agilenn_probe_start();
    predicted = agilenn_fashion_mnist_local_only(probe_logits);
    agilenn_probe_stop();
    return mp_obj_new_int(predicted);
}
static MP_DEFINE_CONST_FUN_OBJ_0(probe_local_direct_obj, probe_local_direct);

static const mp_rom_map_elem_t probe_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_agilenn_probe) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&probe_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_stop), MP_ROM_PTR(&probe_stop_obj) },
    { MP_ROM_QSTR(MP_QSTR_load), MP_ROM_PTR(&probe_load_obj) },
    { MP_ROM_QSTR(MP_QSTR_empty_direct), MP_ROM_PTR(&probe_empty_direct_obj) },
    { MP_ROM_QSTR(MP_QSTR_tiny_direct), MP_ROM_PTR(&probe_tiny_direct_obj) },
    { MP_ROM_QSTR(MP_QSTR_begin_direct), MP_ROM_PTR(&probe_begin_direct_obj) },
    { MP_ROM_QSTR(MP_QSTR_local_direct), MP_ROM_PTR(&probe_local_direct_obj) },
};
static MP_DEFINE_CONST_DICT(probe_globals, probe_globals_table);

const mp_obj_module_t agilenn_probe_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&probe_globals,
};
MP_REGISTER_MODULE(MP_QSTR_agilenn_probe, agilenn_probe_user_cmodule);
