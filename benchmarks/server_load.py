"""Load-and-attack benchmark of `agilenn serve` (issue 11), on loopback only; it stops by itself.

    .venv/bin/python benchmarks/server_load.py examples/agilenn_fmnist

Every server is started as a user would (`agilenn serve MODEL --port 0 ...`, a separate process) and driven by
the load generator (agilenn_codegen/server/loadgen.py: one UDP socket per simulated device, real payloads of
the test set, the device timeout as each request's deadline, replies timed with the kernel's receive
timestamps). All traffic goes to 127.0.0.0/8. Sections, each bounded in time and count:

1. capacity: 100 devices, each with one request outstanding (closed loop), 10 s: replies per second;
2. overload: 100 devices offering twice that capacity for 20 s (open loop, Poisson), 500 ms timeout: the share
   of requests answered in time or told "busy" within 50 ms, goodput against the capacity, replies that came
   after the device had given up. Capacity and overload are measured in rounds, one right after the other
   (three by default): the machine is shared, its load moves, and the figures with it; every round is
   recorded and the goals are judged on the median round;
3. hostile: 50 honest devices at half the capacity (half of them sending multi-fragment requests) while one
   source sends 2,000 datagrams/s of one kind (replays of a captured request, invalid payloads with a valid CRC,
   valid requests, first fragments that never complete, then all four mixed): the honest devices' success;
4. workers: the capacity of `--workers 2` against `--workers 1`, measured the same way, alternately (two
   rounds each by default; the ratio of the medians);
5. authentication: `--auth-keys` with 100 device keys: the honest devices' capacity, >= 10,000 forged
   requests of every kind sent while they run (served: must be 0), >= 10,000 forged replies fed to the
   generated C of an --auth library (accepted: must be 0), and the tags' cost on the emulated Cortex-M7
   (and M3) in instructions per frame, counted by qemu.

Writes docs/results/server-load.{md,json} with the command and the machine's load while it ran (this machine
is shared: figures move with what else runs on it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from agilenn_codegen.offload import (  # noqa: E402
    KIND_REQUEST,
    ContextCodec,
    encode_frames,
    encode_payload,
)
from agilenn_codegen.offload.forgery import forged_replies, forged_requests  # noqa: E402
from agilenn_codegen.offload.keys import keys_json, new_keys  # noqa: E402
from agilenn_codegen.paths import RUNTIME_C_DIR  # noqa: E402
from agilenn_codegen.pipeline.exported import ExportedModel, load_exported  # noqa: E402
from agilenn_codegen.server.loadgen import Attack, LoadGenerator, LoadResult  # noqa: E402
from agilenn_codegen.targets import build_program, instructions_executed, load_target, run_program  # noqa: E402

TIMEOUT_S = 0.5
BUSY_FAST_S = 0.05
DEVICES = 100
HOSTILE_RATE = 2000.0
HONEST_DEVICES = 50
MULTI_FRAGMENT = 128  # the honest devices' fragment size for multi-fragment requests


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ---- servers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def served(model: Path, *extra: str, stats: Path | None = None) -> Iterator[tuple[tuple[str, int], dict]]:
    """`agilenn serve MODEL --port 0 ...` in its own process; yields its address and, once it has stopped (SIGINT),
    fills the dict with its final counters (from --json-stats)."""
    final: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        stats = stats or Path(tmp) / "stats.json"
        command = [str(ROOT / ".venv" / "bin" / "agilenn"), "serve", str(model), "--port", "0", "--stats-every", "0"]
        command += ["--json-stats", str(stats), *extra]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        address = None
        try:
            deadline = time.monotonic() + 180
            while address is None and time.monotonic() < deadline:
                line = process.stdout.readline() if process.stdout else ""
                if not line:
                    break
                lines.append(line)
                found = re.search(r"udp://([\d.]+):(\d+)", line)
                if found:
                    address = (found.group(1), int(found.group(2)))
            if address is None:
                raise RuntimeError("the server did not start:\n" + "".join(lines))
            time.sleep(0.5)  # the last start-up lines; workers listen before the address is printed
            final["pid"] = process.pid
            yield address, final
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{''.join(lines)}{out}")
            final.update(json.loads(stats.read_text()))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# ---- payloads and requests -------------------------------------------------------------------


def real_payloads(exported: ExportedModel, count: int) -> list[bytes]:
    from offload_coder import dataset_symbols

    codec = ContextCodec(exported.coder, *exported.feature_shape[1:]) if exported.coder else None
    symbols = dataset_symbols(exported, count, None)
    return [encode_payload(s.reshape(-1), exported.alphabet, 12, context=codec) for s in symbols]


def summarise(result: LoadResult, server: dict) -> dict:
    return {"client": result.summary(), "server": server}


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its live children (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process has gone
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def capacity(model: Path, payloads: list[bytes], model_id: int, *extra: str, seconds: float = 10.0) -> dict:
    with (
        served(model, *extra) as (address, final),
        LoadGenerator(address, model_id, payloads, DEVICES, timeout_s=TIMEOUT_S) as load,
    ):
        load.run_closed(1.0)  # warm-up: batching, the cost estimate
        before = load_average()
        server_cpu, own_cpu, wall = process_tree_cpu_s(final["pid"]), time.process_time(), time.monotonic()
        result = load.run_closed(seconds)
        wall = time.monotonic() - wall
        cores = {
            "server": (process_tree_cpu_s(final["pid"]) - server_cpu) / wall,
            "load_generator": (time.process_time() - own_cpu) / wall,
        }
    out = summarise(result, final)
    out["load_average"] = {"before": before, "after": load_average()}
    out["replies_per_s"] = result.answered / seconds
    out["cores_used"] = cores
    return out


def overload(model: Path, payloads: list[bytes], model_id: int, rate: float, seconds: float, *extra: str) -> dict:
    with (
        served(model, *extra) as (address, final),
        LoadGenerator(address, model_id, payloads, DEVICES, timeout_s=TIMEOUT_S, busy_fast_s=BUSY_FAST_S) as load,
    ):
        load.run_closed(1.0)
        before = load_average()
        result = load.run_open(rate, seconds, seed=1, drain_s=1.5)
    out = summarise(result, final)
    out["load_average"] = {"before": before, "after": load_average()}
    out["offered_per_s"] = rate
    return out


def attack_makers(model_id: int, payloads: list[bytes]) -> dict[str, Any]:
    """Datagram makers of the hostile source, one per kind (each call: the i-th datagram)."""
    captured = encode_frames(KIND_REQUEST, model_id, 12345, payloads[0], deadline_ms=500)[0]
    rng = np.random.default_rng(7)
    header = payloads[0][:7]  # this model's payload header (context coder): the body is what is wrong
    invalid = [rng.bytes(max(8, len(payloads[i % len(payloads)]) - 7)) for i in range(512)]

    def replay(i: int) -> bytes:
        return captured

    def invalid_payload(i: int) -> bytes:
        body = header + invalid[i % len(invalid)]
        return encode_frames(KIND_REQUEST, model_id, 10**8 + i, body, deadline_ms=500)[0]

    def valid(i: int) -> bytes:
        return encode_frames(KIND_REQUEST, model_id, 10**8 + i, payloads[i % len(payloads)], deadline_ms=500)[0]

    def first_fragment(i: int) -> bytes:
        payload = payloads[i % len(payloads)]
        return encode_frames(KIND_REQUEST, model_id, 10**8 + i, payload, MULTI_FRAGMENT, deadline_ms=500)[0]

    makers = {"replays": replay, "invalid payloads": invalid_payload, "valid requests": valid}
    makers["unfinished first fragments"] = first_fragment
    kinds = list(makers.values())
    makers["all four mixed"] = lambda i: kinds[i % 4](i)
    return makers


def hostile(model: Path, payloads: list[bytes], model_id: int, honest_rate: float, seconds: float) -> dict:
    out = {}
    for name, make in attack_makers(model_id, payloads).items():
        sizes = [1428, MULTI_FRAGMENT]
        attack = Attack(name, HOSTILE_RATE, make, "127.0.0.2")
        with (
            served(model) as (address, final),
            LoadGenerator(address, model_id, payloads, HONEST_DEVICES, timeout_s=TIMEOUT_S, max_fragment=sizes) as load,
        ):
            before = load_average()
            result = load.run_open(honest_rate, seconds, seed=2, attacks=[attack])
        entry = summarise(result, final)
        entry["load_average"] = {"before": before, "after": load_average()}
        entry["honest_success"] = result.answered / max(1, result.sent)
        out[name] = entry
        print(f"  {name}: honest success {entry['honest_success']:.2%}", flush=True)
    return out


# ---- authentication --------------------------------------------------------------------------


def authentication(model: Path, payloads: list[bytes], exported: ExportedModel, seconds: float, forgeries: int) -> dict:
    keys = new_keys(range(1, DEVICES + 1))
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys.json"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(keys_json(keys))
        rng = np.random.default_rng(3)
        forged: list[tuple[str, bytes]] = []
        while len(forged) < forgeries:
            payload = payloads[len(forged) % len(payloads)]
            forged += forged_requests(rng, exported.model_id, payload, keys, seq=int(rng.integers(0, 2**32)))
        rate = 1.05 * len(forged) / seconds  # every forgery at least once
        attack = Attack("forged requests", rate, lambda i: forged[i % len(forged)][1], "127.0.0.3")
        with (
            served(model, "--auth-keys", str(key_file)) as (address, final),
            LoadGenerator(address, exported.model_id, payloads, DEVICES, timeout_s=TIMEOUT_S, keys=keys) as load,
        ):
            warm = load.run_closed(1.0)
            honest = load.run_closed(seconds)
            under_attack = load.run_closed(seconds, attacks=[attack])
        drops = final["drops"]
        expected: dict[str, int] = {}
        for reason, _ in forged:
            expected[reason] = expected.get(reason, 0) + 1
        sent = under_attack.attack_datagrams
        out["server"] = final
        out["honest_replies_per_s"] = honest.answered / seconds
        out["honest_under_attack"] = under_attack.summary()
        out["forged_requests"] = {
            "sent": sent,
            "kinds": expected,
            "refused": {r: drops.get(r, 0) for r in ("unauthenticated", "unknown_device", "bad_tag")},
            "replies_to_the_forger": under_attack.attack_replies,
            "server_requests": final["requests"],
            "honest_requests": warm.sent + honest.sent + under_attack.sent,
        }
    out["forged_replies"] = forged_replies_in_c(exported, forgeries)
    return out


DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "{name}_agilenn.h"
/* for each image: begin, fragment 0 (the request tag), then its replies: replies.bin holds u32 count, per reply
   u32 image, u32 length, bytes. out.bin: per reply i32 status */
static float image[{NAME}_IMAGE_SIZE];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
int main(void)
{{
    FILE *images = fopen("images.bin", "rb"), *replies = fopen("replies.bin", "rb"), *out = fopen("out.bin", "wb");
    FILE *key_file = fopen("key.bin", "rb");
    uint32_t n, i, current = 0xFFFFFFFFu, id = 0;
    uint8_t key[16];
    if (images == NULL || replies == NULL || out == NULL || key_file == NULL || fread(&n, 4, 1, replies) != 1 ||
        fread(&id, 4, 1, key_file) != 1 || fread(key, 1, 16, key_file) != 16 ||
        {name}_provision(id, key) != AGILENN_OK) return 3;
    {name}_set_sequence(0u);
    for (i = 0; i < n; i++) {{
        uint32_t which, length;
        uint8_t *reply;
        int32_t status, predicted;
        float logits[{NAME}_NUM_CLASSES];
        if (fread(&which, 4, 1, replies) != 1 || fread(&length, 4, 1, replies) != 1) return 4;
        while (current != which) {{
            if (fread(image, sizeof image, 1, images) != 1 || {name}_begin(image) != AGILENN_OK ||
                {name}_fragment(0, frame, (int32_t)sizeof frame) < 0) return 5;
            current = current + 1u;
        }}
        reply = (uint8_t *)malloc(length ? length : 1u);
        if (reply == NULL || fread(reply, 1, length, replies) != length) return 6;
        status = (int32_t){name}_finish(reply, (int32_t)length, &predicted, logits);
        free(reply);
        fwrite(&status, 4, 1, out);
    }}
    return fclose(out) == 0 ? 0 : 7;
}}
"""


def forged_replies_in_c(exported: ExportedModel, count: int) -> dict:
    """>= `count` forged replies (and the genuine one) for requests of an --auth library built for the host: how
    many the generated C took."""
    from agilenn_codegen.cli import main as cli
    from agilenn_codegen.pipeline.device_model import dataset_images
    from agilenn_codegen.pipeline.device_run import library_build_inputs, load_library, reference_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        code = cli(["codegen", str(exported.folder), "--target", "host", "--out", str(work / "lib"), "--auth"])
        if code != 0:
            raise RuntimeError("codegen --auth failed")
        lib = load_library(work / "lib")
        key, device = bytes(range(200, 216)), 42
        reference = reference_pipeline(lib)
        rng = np.random.default_rng(9)
        images, _ = dataset_images(lib.exported, "test", 64)
        chunks, labels = [], []
        image = 0
        while sum(1 for label in labels if label == "forged") < count:
            seq = image + 1
            step = reference.device(images[image % len(images)])
            tag = reference.frames(seq, step.payload, device_id=device, key=key)[0][-8:]
            replies = forged_replies(rng, lib.exported.model_id, seq, device, key, tag, classes=lib.num_classes)
            genuine, busy = replies[0], replies[1]
            for reply in [*replies[2:], busy, genuine]:  # forgeries first, then the genuine busy and reply
                label = "genuine_busy" if reply is busy else "genuine" if reply is genuine else "forged"
                chunks.append(struct.pack("<II", image, len(reply)) + reply)
                labels.append(label)
            image += 1
        source = work / "driver.c"
        source.write_text(DRIVER.format(name=lib.name, NAME=lib.name.upper()))
        sources, includes = library_build_inputs(lib)
        exe = build_program(load_target("host"), [*sources, source], includes, work / "build", output_name="driver")
        run = work / "run"
        run.mkdir()
        used = np.stack([images[i % len(images)] for i in range(image)])
        (run / "images.bin").write_bytes(np.ascontiguousarray(used, np.float32).tobytes())
        (run / "replies.bin").write_bytes(struct.pack("<I", len(chunks)) + b"".join(chunks))
        (run / "key.bin").write_bytes(struct.pack("<I", device) + key)
        result = run_program(load_target("host"), exe, run, timeout_s=600)
        if result.returncode != 0:
            raise RuntimeError(f"the reply driver failed: {result.stdout}{result.stderr}")
        statuses = np.frombuffer((run / "out.bin").read_bytes(), "<i4")
    labels_arr = np.asarray(labels)
    forged = statuses[labels_arr == "forged"]
    # a forged reply is "accepted" when _finish returns OK (remote logits taken) or BUSY (local answer forced)
    return {
        "requests": image,
        "forged": int(forged.size),
        "forged_accepted": int(np.sum(forged != 4)),
        "genuine_replies_accepted": int(np.sum(statuses[labels_arr == "genuine"] == 0)),
        "genuine_busy_accepted": int(np.sum(statuses[labels_arr == "genuine_busy"] == 5)),
    }


HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "agilenn_offload.h"
#define COUNT {count}u
static uint8_t payloads[COUNT][{payload_max}u];
static uint32_t lengths[COUNT];
static uint8_t frames[COUNT][{frame_max}u];
static uint8_t replies[COUNT][{reply_max}u];
static uint32_t reply_lengths[COUNT];
static uint8_t tags[COUNT][8];
static const uint8_t key[16] = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
static const void *volatile keep[3]; /* every stage keeps every buffer: the same .bss for the startup code */
int main(void)
{{
    FILE *f = fopen("data.bin", "rb");
    uint32_t i, total = 0u;
    keep[0] = key;
    keep[1] = frames;
    keep[2] = tags;
    if (f == NULL) return 3;
    for (i = 0; i < COUNT; i++) {{
        if (fread(&lengths[i], 4, 1, f) != 1 || fread(payloads[i], 1, lengths[i], f) != lengths[i]) return 4;
        if (fread(&reply_lengths[i], 4, 1, f) != 1 || fread(replies[i], 1, reply_lengths[i], f) != reply_lengths[i])
            return 4;
        if (fread(tags[i], 1, 8, f) != 8) return 4;
    }}
    fclose(f);
    for (i = 0; i < COUNT; i++) {{
#if STAGE == 1 || STAGE == 2
        agilenn_frame_params_t p = {{AGILENN_OFFLOAD_KIND_REQUEST, 0x7916f5ddu, 42u, i + 1u, 500u, 1428u,
                                    STAGE == 2 ? key : NULL, NULL}};
        size_t n = 0u;
        if (agilenn_frame_write(&p, payloads[i], lengths[i], 0u, frames[i], sizeof frames[i], &n) != AGILENN_OK)
            return 5;
        total += (uint32_t)n + frames[i][n - 1u];
#elif STAGE == 3 || STAGE == 4
        agilenn_reply_params_t r = {{0x7916f5ddu, 42u, i + 1u, STAGE == 4 ? key : NULL, STAGE == 4 ? tags[i] : NULL}};
        uint8_t kind = 0u;
        const uint8_t *payload = NULL;
        size_t n = 0u;
        if (agilenn_frame_read_reply(&r, replies[i], reply_lengths[i], &kind, &payload, &n) != AGILENN_OK) return 6;
        total += (uint32_t)n + kind;
#endif
    }}
    f = fopen("result.txt", "w");
    fprintf(f, "%lu\n", (unsigned long)total);
    fclose(f);
    return 0;
}}
"""


def mac_cost(payloads: list[bytes], target_name: str, work: Path, count: int = 64) -> dict:
    """Instructions per request frame and per reply check, with and without tags, on an emulated core (qemu counts
    them; stage 0 only reads the data)."""
    from agilenn_codegen.offload import KIND_REPLY, encode_reply

    target = load_target(target_name)
    work.mkdir(parents=True, exist_ok=True)
    key = bytes(range(1, 17))
    chunks = []
    reply_sizes = {}
    for i in range(count):
        payload = payloads[i % len(payloads)][:1428]
        request = encode_frames(KIND_REQUEST, 0x7916F5DD, i + 1, payload, device_id=42, deadline_ms=500, key=key)[0]
        tag = request[-8:]
        for keyed in (False, True):
            options = {"key": key, "request_tag": tag} if keyed else {}
            reply = encode_frames(KIND_REPLY, 0x7916F5DD, i + 1, encode_reply(np.ones(10)), device_id=42, **options)
            reply_sizes["tagged" if keyed else "plain"] = len(reply[0])
        reply = encode_frames(
            KIND_REPLY, 0x7916F5DD, i + 1, encode_reply(np.ones(10)), device_id=42, key=key, request_tag=tag
        )[0]
        chunks.append(struct.pack("<I", len(payload)) + payload + struct.pack("<I", len(reply)) + reply + tag)
    (work / "data.bin").write_bytes(b"".join(chunks))
    (work / "agilenn_config.h").write_text(
        f"#define AGILENN_NO_FPU {0 if target.fpu else 1}\n#define AGILENN_USE_DSP {1 if target.dsp else 0}\n"
    )
    source = work / "harness.c"
    payload_max = max(len(p[:1428]) for p in payloads)
    source.write_text(HARNESS.format(count=count, payload_max=payload_max, frame_max=payload_max + 44, reply_max=96))
    sources = [source, *sorted((RUNTIME_C_DIR / "offload").glob("*.c"))]
    includes = [work, RUNTIME_C_DIR / "offload", RUNTIME_C_DIR / "common"]
    counts = {}
    for stage in (0, 1, 2):
        elf = build_program(target, sources, includes, work / f"b{stage}", defines={"STAGE": str(stage)})
        result = run_program(target, elf, work, timeout_s=600)
        if result.returncode != 0:
            raise RuntimeError(f"stage {stage} on {target_name}: exit {result.returncode} {result.stderr}")
        counts[stage] = instructions_executed(target, elf, work)
    for stage in (3, 4):  # the reply checks need the keyed replies; the unkeyed check reads the same bytes
        elf = build_program(target, sources, includes, work / f"b{stage}", defines={"STAGE": str(stage)})
        if stage == 3:  # without a key the device expects untagged replies: give it those
            plain = []
            for i in range(count):
                payload = payloads[i % len(payloads)][:1428]
                reply = encode_frames(KIND_REPLY, 0x7916F5DD, i + 1, encode_reply(np.ones(10)), device_id=42)[0]
                plain.append(struct.pack("<I", len(payload)) + payload + struct.pack("<I", len(reply)) + reply)
                plain[-1] += bytes(8)
            (work / "data.bin").write_bytes(b"".join(plain))
        else:
            (work / "data.bin").write_bytes(b"".join(chunks))
        result = run_program(target, elf, work, timeout_s=600)
        if result.returncode != 0:
            raise RuntimeError(f"stage {stage} on {target_name}: exit {result.returncode} {result.stderr}")
        counts[stage] = instructions_executed(target, elf, work)
    if any(v is None for v in counts.values()):
        raise RuntimeError(f"qemu could not count instructions on {target_name}")
    mean_payload = float(np.mean([len(payloads[i % len(payloads)][:1428]) for i in range(count)]))
    request_plain = (counts[1] - counts[0]) / count
    request_tagged = (counts[2] - counts[0]) / count
    reply_plain = (counts[3] - counts[0]) / count
    reply_tagged = (counts[4] - counts[0]) / count
    return {
        "target": target_name,
        "cpu": target.cpu,
        "frames": count,
        "request_frame_bytes_mean": HEADER_BYTES + mean_payload,
        "reply_frame_bytes": reply_sizes,
        "request_frame_instructions": {"plain": request_plain, "tagged": request_tagged},
        "reply_check_instructions": {"plain": reply_plain, "tagged": reply_tagged},
        "tag_cost_per_request": request_tagged - request_plain,
        "tag_cost_per_reply": reply_tagged - reply_plain,
        "tag_cost_per_inference": request_tagged - request_plain + reply_tagged - reply_plain,
    }


HEADER_BYTES = 36


# ---- report ----------------------------------------------------------------------------------


def markdown(r: dict) -> str:
    cap = r["capacity"]["replies_per_s"]
    ov = r["overload"]
    oc = ov["client"]
    goodput = ov["goodput_ratio"]
    rounds = r["rounds"]
    lines = [
        "# `agilenn serve` under overload and attack: measured figures",
        "",
        f"Produced by `{r['command']}` on {r['machine']}; loopback only. The load generator shares the cores with "
        "the server, and this machine is shared with other work: the load average (1/5/15 min) is recorded per "
        "section. Requests carry real payloads (the context coder, "
        f"{r['payload_bytes_mean']:.0f} B on average, one fragment unless stated), the device timeout of "
        f"{TIMEOUT_S * 1000:.0f} ms as their deadline; replies are timed by the kernel's receive timestamps.",
        "",
        "## Goals",
        "",
        "| goal | measured | holds |",
        "|---|---|---|",
        f"| overload (2x capacity, 20 s, 100 devices): >= 95 % answered in time or busy within 50 ms | "
        f"median round {oc['answered_or_fast_busy_fraction']:.2%} (rounds: "
        + ", ".join(f"{x['overload']['client']['answered_or_fast_busy_fraction']:.2%}" for x in rounds)
        + f") | {_yes(oc['answered_or_fast_busy_fraction'] >= 0.95)} |",
        f"| overload: goodput >= 90 % of the measured capacity | median round {oc['answered_per_s']:,.0f}/s of "
        f"{cap:,.0f}/s = {goodput:.1%} (rounds: "
        + ", ".join(f"{x['overload']['goodput_ratio']:.1%}" for x in rounds)
        + f") | {_yes(goodput >= 0.9)} |",
        f"| overload: 0 replies to expired requests | {sum(x['overload']['client']['late_replies'] for x in rounds)} "
        f"in all rounds | {_yes(all(x['overload']['client']['late_replies'] == 0 for x in rounds))} |",
    ]
    worst = min(v["honest_success"] for v in r["hostile"].values())
    lines.append(
        f"| one hostile source at 2,000 datagrams/s: honest success >= 95 % | worst kind {worst:.2%} | "
        f"{'yes' if worst >= 0.95 else 'NO'} |"
    )
    ratio = r["workers"]["ratio"]
    cores_one = float(np.median([e["cores_used"]["server"] for e in r["workers"]["one"] if "cores_used" in e] or [0]))
    cores_two = float(
        np.median([e["cores_used"]["server"] for e in r["workers"]["two_runs"] if "cores_used" in e] or [0])
    )
    lines.append(
        f"| two workers >= 1.5x one | {ratio:.2f}x (medians; the server's processes used {cores_one:.2f} cores "
        f"with one worker, {cores_two:.2f} with two, of 2) | {_yes(ratio >= 1.5)} |"
    )
    fr = r["auth"]["forged_requests"]
    rp = r["auth"]["forged_replies"]
    served_forged = fr["replies_to_the_forger"]
    lines.append(
        f"| authentication: 0 forged requests served (>= 10,000 sent) | {served_forged} served of {fr['sent']:,} | "
        f"{'yes' if served_forged == 0 and fr['sent'] >= 10000 else 'NO'} |"
    )
    lines.append(
        f"| authentication: 0 forged replies accepted (>= 10,000) | {rp['forged_accepted']} of {rp['forged']:,} | "
        f"{'yes' if rp['forged_accepted'] == 0 and rp['forged'] >= 10000 else 'NO'} |"
    )
    lines += ["", "## Capacity and overload, round by round", ""]
    lines += [
        "Capacity: closed loop, 100 devices with one request outstanding each. Overload: twice that round's "
        "capacity, open loop.",
        "",
        "| round | capacity (replies/s) | load average | overload: answered/s | goodput | answered or busy <= 50 ms "
        "| late replies | load average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, x in enumerate(rounds, start=1):
        c, o = x["capacity"], x["overload"]
        lines.append(
            f"| {number} | {c['replies_per_s']:,.0f} | {c['load_average']['before']} | "
            f"{o['client']['answered_per_s']:,.0f} | {o['goodput_ratio']:.1%} | "
            f"{o['client']['answered_or_fast_busy_fraction']:.2%} | {o['client']['late_replies']} | "
            f"{o['load_average']['before']} |"
        )
    lines += ["", "## Workers (capacity, closed loop, alternately)", ""]
    lines += [
        "CPU: the cores the server's processes and the load generator used while it ran (CPU seconds per second,",
        "from /proc and the generator's own process time; the machine has 2).",
        "",
        "| run | replies/s | latency p50 / p95 (ms) | cores used: server + load generator "
        "| load average before -> after |",
        "|---|---|---|---|---|",
    ]
    for number, (a, b) in enumerate(zip(r["workers"]["one"], r["workers"]["two_runs"], strict=True), start=1):
        for label, entry in (("1 worker", a), ("2 workers", b)):
            lat = entry["client"]["latency_ms"]
            la = entry["load_average"]
            lines.append(
                f"| {number}: {label} | {entry['replies_per_s']:,.0f} | {lat['p50']:.1f} / {lat['p95']:.1f} | "
                f"{_cores(entry)} | {la['before']} -> {la['after']} |"
            )
    lines += [
        "",
        "One worker runs its event loop and its inference thread in parallel (onnxruntime, the C decoder and the "
        "socket calls release Python's lock), so it already keeps more than one of the two cores busy; a second "
        "worker can only add what the cores have left. The ratio is bounded by about (2 - the load generator's "
        "cores) / one worker's cores.",
    ]
    sv = ov["server"]
    lines += [
        "",
        f"## Overload, the median round: {ov['offered_per_s']:,.0f} requests/s offered for {oc['duration_s']:.0f} s "
        "(2x capacity)",
        "",
        "| requests | answered in time | busy | busy within 50 ms | busy p50 / p95 / max (ms) | late replies | "
        "unanswered | answered latency p50 / p95 / max (ms) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {oc['requests']:,} | {oc['answered']:,} | {oc['busy']:,} | {oc['busy_within_limit']:,} | "
        f"{_f(oc['busy_ms']['p50'])} / {_f(oc['busy_ms']['p95'])} / {_f(oc['busy_ms']['max'])} | "
        f"{oc['late_replies']} | {oc['unanswered']:,} | {_f(oc['latency_ms']['p50'])} / "
        f"{_f(oc['latency_ms']['p95'])} / {_f(oc['latency_ms']['max'])} |",
        "",
        f"Server: {sv['requests']:,} requests, {sv['replies']:,} replies, {sv['busy']:,} busy "
        f"({sv['busy_reasons']}), drops {sv['drops']}; load average {ov['load_average']}.",
        "",
        f"## One hostile source at {HOSTILE_RATE:,.0f} datagrams/s, {HONEST_DEVICES} honest devices at half the "
        f"capacity ({r['hostile_honest_rate']:,.0f} requests/s; half of them in {MULTI_FRAGMENT}-byte fragments)",
        "",
        "| attack | honest requests | answered in time | busy | unanswered | honest success | hostile datagrams | "
        "server drops |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in r["hostile"].items():
        c = entry["client"]
        drops = {k: v for k, v in entry["server"]["drops"].items() if v}
        lines.append(
            f"| {name} | {c['requests']:,} | {c['answered']:,} | {c['busy']:,} | {c['unanswered']:,} | "
            f"{entry['honest_success']:.2%} | {c['attack_datagrams']:,} | {drops} |"
        )
    auth = r["auth"]
    lines += [
        "",
        "## Authentication (`--auth-keys`, 100 device keys)",
        "",
        f"- Honest authenticated devices (closed loop): {auth['honest_replies_per_s']:,.0f} replies/s "
        f"(without authentication: {cap:,.0f}/s).",
        f"- Forged requests: {fr['sent']:,} sent from one source while the honest devices ran ({fr['kinds']}); "
        f"refused by reason {fr['refused']}; replies to the forger: {fr['replies_to_the_forger']}; requests the "
        f"server accepted: {fr['server_requests']:,} = the honest devices' {fr['honest_requests']:,}.",
        f"- Forged replies into the generated C of an --auth library (host build): {rp['forged']:,} forgeries over "
        f"{rp['requests']:,} requests (other keys, other requests' tags, stripped or random tags, every header "
        f"field rewritten, damage): {rp['forged_accepted']} accepted; the genuine reply of each request accepted "
        f"{rp['genuine_replies_accepted']:,} times, its genuine busy reply {rp['genuine_busy_accepted']:,} times.",
        "",
        "### Cost of the tags on the device (instructions counted by qemu; per frame)",
        "",
        "| core | request frame, plain / tagged | tag per request | reply check, plain / tagged | tag per reply | "
        "tags per inference |",
        "|---|---|---|---|---|---|",
    ]
    for d in auth["device_cost"]:
        q, p = d["request_frame_instructions"], d["reply_check_instructions"]
        lines.append(
            f"| {d['target']} ({d['cpu']}) | {q['plain']:,.0f} / {q['tagged']:,.0f} | "
            f"{d['tag_cost_per_request']:,.0f} | {p['plain']:,.0f} / {p['tagged']:,.0f} | "
            f"{d['tag_cost_per_reply']:,.0f} | {d['tag_cost_per_inference']:,.0f} |"
        )
    d0 = auth["device_cost"][0]
    lines += [
        "",
        f"Request frames of {d0['request_frame_bytes_mean']:.0f} bytes on average (36-byte header + the test set's "
        f"payloads), replies of {d0['reply_frame_bytes']['plain']} / {d0['reply_frame_bytes']['tagged']} bytes "
        "(plain / tagged, 10 classes); a request frame "
        "includes its CRC-32, a reply check its CRC-32 and field checks.",
        "",
    ]
    return "\n".join(lines)


def _cores(entry: dict) -> str:
    cores = entry.get("cores_used")
    return f"{cores['server']:.2f} + {cores['load_generator']:.2f}" if cores else "-"


def _yes(holds: bool) -> str:
    return "yes" if holds else "NO"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path)
    parser.add_argument("--payloads", type=int, default=256, help="test images whose payloads the devices send")
    parser.add_argument("--seconds", type=float, default=10.0, help="each capacity and hostile run")
    parser.add_argument("--overload-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3, help="capacity + overload rounds")
    parser.add_argument("--worker-rounds", type=int, default=2, help="1-worker / 2-worker capacity rounds")
    parser.add_argument("--forgeries", type=int, default=10000)
    parser.add_argument("--targets", default="stm32f746,stm32f103")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the saved .json")
    args = parser.parse_args()
    if args.markdown_only:
        (args.out / "server-load.md").write_text(markdown(json.loads((args.out / "server-load.json").read_text())))
        return 0
    started = time.monotonic()
    exported = load_exported(args.export)
    payloads = real_payloads(exported, args.payloads)
    result: dict[str, Any] = {
        "command": "python benchmarks/server_load.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": f"{platform.machine()} host, {os.cpu_count()} cores, Python {platform.python_version()}",
        "payload_bytes_mean": float(np.mean([len(p) for p in payloads])),
        "load_average_start": load_average(),
    }
    rounds = []
    for number in range(args.rounds):
        print(f"round {number + 1}: capacity, 1 worker...", flush=True)
        cap_round = capacity(args.export, payloads, exported.model_id, seconds=args.seconds)
        cap = cap_round["replies_per_s"]
        print(f"  {cap:,.0f} replies/s; overload at {2 * cap:,.0f}/s...", flush=True)
        over = overload(args.export, payloads, exported.model_id, 2 * cap, args.overload_seconds)
        over["goodput_ratio"] = over["client"]["answered_per_s"] / cap
        print(
            f"  {over['client']['answered_or_fast_busy_fraction']:.2%} answered or fast busy, goodput "
            f"{over['goodput_ratio']:.1%}",
            flush=True,
        )
        rounds.append({"capacity": cap_round, "overload": over})
    result["rounds"] = rounds
    median = sorted(rounds, key=lambda r: r["overload"]["goodput_ratio"])[len(rounds) // 2]
    result["capacity"] = median["capacity"]
    result["overload"] = median["overload"]
    cap = float(np.median([r["capacity"]["replies_per_s"] for r in rounds]))
    result["hostile_honest_rate"] = cap / 2
    print("hostile source...", flush=True)
    result["hostile"] = hostile(args.export, payloads, exported.model_id, cap / 2, args.seconds)
    ones, twos = [], []
    for number in range(args.worker_rounds):
        print(f"workers round {number + 1}: 1 worker, then 2...", flush=True)
        ones.append(capacity(args.export, payloads, exported.model_id, seconds=args.seconds))
        twos.append(capacity(args.export, payloads, exported.model_id, "--workers", "2", seconds=args.seconds))
    one = float(np.median([r["replies_per_s"] for r in ones]))
    two_rate = float(np.median([r["replies_per_s"] for r in twos]))
    two = sorted(twos, key=lambda r: r["replies_per_s"])[len(twos) // 2]
    result["workers"] = {"one": ones, "two_runs": twos, "two": two, "one_median": one, "ratio": two_rate / one}
    print(f"  {two_rate:,.0f} against {one:,.0f} replies/s ({result['workers']['ratio']:.2f}x)", flush=True)
    print("authentication...", flush=True)
    result["auth"] = authentication(args.export, payloads, exported, args.seconds, args.forgeries)
    with tempfile.TemporaryDirectory() as tmp:
        result["auth"]["device_cost"] = [
            mac_cost(payloads, name, Path(tmp) / name) for name in args.targets.split(",") if name
        ]
    result["load_average_end"] = load_average()
    result["wall_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "server-load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "server-load.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
