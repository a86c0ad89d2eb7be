/*
 * agilenn_icount - a qemu TCG plugin that counts executed guest instructions exactly, and records
 * the running count each time the guest reaches one of a set of marked addresses.
 *
 *   qemu-system-arm ... -plugin libagilenn_icount.so,out=counts.txt[,marks=marks.txt]
 *
 * marks.txt holds guest addresses, one hexadecimal number a line. counts.txt gets one line
 * "mark <address> <count>" per execution of a marked instruction, in execution order, where
 * <count> is the number of instructions executed before it; then one line "total <count>".
 *
 * Every translated instruction gets its own counter update, so the count is exact whatever ends a
 * translation block early (an exception, an interrupt, a fault). A Thumb instruction inside an IT
 * block whose condition fails is counted: it issues. Written against the plugin API version 1 of
 * qemu 7.2 (the declarations below; Debian's qemu ships the plugin loader but not its header).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the part of qemu's plugin API (version 1) this plugin uses ---------------------------- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

/* ---- state ------------------------------------------------------------------------------------ */
#define MAX_MARKS 4096

static uint64_t total; /* instructions executed so far (one vCPU: the boards are single-core) */
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static struct {
    uint64_t vaddr;
    uint64_t count;
} *events;
static size_t n_events, cap_events;
static char out_path[4096];
static int failed; /* out of memory: the log would be incomplete, so write no total */

static int is_marked(uint64_t vaddr)
{
    size_t i;
    for (i = 0; i < n_marks; i++) {
        if (marks[i] == vaddr) {
            return 1;
        }
    }
    return 0;
}

static void on_mark(unsigned int vcpu, void *userdata)
{
    const uint64_t vaddr = (uint64_t)(uintptr_t)userdata;
    (void)vcpu;
    if (n_events == cap_events) {
        size_t cap = cap_events ? 2 * cap_events : 1024;
        void *grown = realloc(events, cap * sizeof *events);
        if (grown == NULL) {
            failed = 1;
            total++;
            return;
        }
        events = grown;
        cap_events = cap;
    }
    events[n_events].vaddr = vaddr;
    events[n_events].count = total; /* before this instruction */
    n_events++;
    total++; /* a marked instruction is counted here, not by an inline update */
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        if (n_marks != 0 && is_marked(vaddr)) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)vaddr);
        } else {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        }
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    FILE *f = fopen(out_path, "w");
    size_t i;
    (void)id;
    (void)userdata;
    if (f == NULL) {
        return;
    }
    for (i = 0; i < n_events; i++) {
        fprintf(f, "mark 0x%" PRIx64 " %" PRIu64 "\n", events[i].vaddr, events[i].count);
    }
    if (!failed) {
        fprintf(f, "total %" PRIu64 "\n", total);
    }
    fclose(f);
    free(events);
}

static int read_marks(const char *path)
{
    char line[64];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *end;
        unsigned long long v = strtoull(line, &end, 16);
        if (end == line) {
            continue;
        }
        if (n_marks == MAX_MARKS) {
            fclose(f);
            return -1;
        }
        marks[n_marks++] = (uint64_t)v;
    }
    fclose(f);
    return 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strncmp(argv[i], "marks=", 6) == 0) {
            if (read_marks(argv[i] + 6) != 0) {
                fprintf(stderr, "agilenn_icount: cannot read marks file %s\n", argv[i] + 6);
                return -1;
            }
        } else {
            fprintf(stderr, "agilenn_icount: unknown option %s\n", argv[i]);
            return -1;
        }
    }
    if (out_path[0] == '\0') {
        fprintf(stderr, "agilenn_icount: out=<file> is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
