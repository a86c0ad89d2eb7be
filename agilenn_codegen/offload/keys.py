"""Device keys for authenticated offloading: the key file `agilenn keys` writes and `agilenn serve --auth-keys`,
`agilenn device --keys` and the MicroPython tests read (docs/offload-protocol.md section 6).

A key file is JSON::

    {"format": "agilenn-keys", "version": 1,
     "devices": [{"id": 1, "key": "<32 hex digits>"}, ...]}

Device ids are 1..2^32-1 (0 means "no id"), each listed once; a key is 16 random bytes, one per device, so
that a key read out of one device's flash lets nobody impersonate the others. The server holds the whole
file; a device holds only its own entry, provisioned at run time (`<name>_provision(id, key)`), never
compiled into a library. The file is a secret: it is written readable by its owner only, and a file that
others may read is reported (:func:`permissions_warning`).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload.siphash import KEY_SIZE

FORMAT = "agilenn-keys"
FORMAT_VERSION = 1
MAX_DEVICE_ID = 0xFFFFFFFF


def new_keys(ids: Iterable[int]) -> dict[int, bytes]:
    """A fresh random key (from the operating system's CSPRNG) for each device id."""
    out: dict[int, bytes] = {}
    for device in ids:
        if not 1 <= device <= MAX_DEVICE_ID or device in out:
            raise UserError(f"device id {device}: ids must be distinct and in 1..{MAX_DEVICE_ID}")
        out[device] = secrets.token_bytes(KEY_SIZE)
    return out


def keys_json(keys: Mapping[int, bytes]) -> str:
    """The key file's text."""
    devices = [{"id": device, "key": key.hex()} for device, key in sorted(keys.items())]
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "devices": devices}, indent=2) + "\n"


def write_keys(path: Path, keys: Mapping[int, bytes]) -> None:
    """Write a key file readable by its owner only (mode 0600), atomically; an existing file is not replaced."""
    if path.exists():
        raise UserError(f"{path} exists; keys are not overwritten (delete it first, or pick another name)")
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(keys_json(keys))
    os.replace(tmp, path)


def parse_keys(data: object, where: str) -> dict[int, bytes]:
    """Device id -> key of a parsed key file; UserError naming `where` and the entry at fault."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f'{where}: not an agilenn key file (expected "format": "{FORMAT}")')
    if data.get("version") != FORMAT_VERSION:
        raise UserError(f"{where}: key file version {data.get('version')!r}, expected {FORMAT_VERSION}")
    devices = data.get("devices")
    if not isinstance(devices, list) or not devices:
        raise UserError(f'{where}: "devices" must be a non-empty list of {{"id": ..., "key": ...}}')
    keys: dict[int, bytes] = {}
    for number, entry in enumerate(devices):
        if not isinstance(entry, dict) or set(entry) != {"id", "key"}:
            raise UserError(f'{where}: devices[{number}] must be an object with exactly "id" and "key"')
        device, text = entry["id"], entry["key"]
        if isinstance(device, bool) or not isinstance(device, int) or not 1 <= device <= MAX_DEVICE_ID:
            raise UserError(f"{where}: devices[{number}].id must be an integer in 1..{MAX_DEVICE_ID}, got {device!r}")
        if device in keys:
            raise UserError(f"{where}: device id {device} is listed twice")
        try:
            key = bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            key = b""
        if len(key) != KEY_SIZE:
            raise UserError(f"{where}: devices[{number}].key must be {2 * KEY_SIZE} hex digits ({KEY_SIZE} bytes)")
        keys[device] = key
    return keys


def load_keys(path: Path) -> dict[int, bytes]:
    """Read a key file; UserError when it is missing, not JSON or not a valid key file."""
    if not path.is_file():
        raise UserError(f"key file {path} not found", hint="create one with `agilenn keys FILE --devices N`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON key file ({exc})") from None
    return parse_keys(data, str(path))


def device_key(path: Path, device: int) -> bytes:
    """One device's key from a key file (UserError if the file does not list it)."""
    keys = load_keys(path)
    if device not in keys:
        listed = ", ".join(str(d) for d in sorted(keys)[:8]) + (", ..." if len(keys) > 8 else "")
        raise UserError(f"{path} has no key for device id {device} (it lists {listed})")
    return keys[device]


def permissions_warning(path: Path) -> str | None:
    """A sentence when the key file may be read by users other than its owner, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); `chmod 600 {path}`"
    return None
