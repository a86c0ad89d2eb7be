"""Key files for authenticated devices: `agilenn keys`, their checks, and `agilenn serve --auth-keys` /
`agilenn device --keys` refusing bad ones with one clear message (exit 2)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.errors import UserError
from agilenn_codegen.offload.keys import device_key, keys_json, load_keys, new_keys, permissions_warning
from tests.offload.fixtures import build_model_dir


def _error(capsys: pytest.CaptureFixture[str], argv: list[str], *fragments: str) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == 2, captured.out + captured.err
    assert len([line for line in captured.err.splitlines() if line.startswith("error:")]) == 1, captured.err
    for fragment in fragments:
        assert fragment in captured.out + captured.err, (fragment, captured.err)


def test_keys_command_writes_a_private_file_and_shows_one_key(tmp_path: Path, capsys):
    path = tmp_path / "keys.json"
    assert main(["keys", str(path), "--devices", "5", "--first-id", "10"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and permissions_warning(path) is None
    keys = load_keys(path)
    assert sorted(keys) == list(range(10, 15)) and len(set(keys.values())) == 5
    assert all(len(k) == 16 for k in keys.values())
    capsys.readouterr()
    assert main(["keys", str(path), "--show", "12"]) == 0
    out = capsys.readouterr().out
    assert keys[12].hex() in out and "0x" + f"{keys[12][0]:02x}" in out
    _error(capsys, ["keys", str(path), "--devices", "2"], "exists", "not overwritten")
    _error(capsys, ["keys", str(path), "--show", "99"], "no key for device id 99")
    _error(capsys, ["keys", str(tmp_path / "k2.json")], "--devices", "--show")
    _error(capsys, ["keys", str(tmp_path / "k2.json"), "--devices", "0"], "--devices")
    _error(capsys, ["keys", str(tmp_path / "no" / "k.json"), "--devices", "1"], "existing folder")
    os.chmod(path, 0o644)
    assert "readable by other users" in (permissions_warning(path) or "")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not a readable JSON key file"),
        ('{"format": "other"}', "not an agilenn key file"),
        ('{"format": "agilenn-keys", "version": 2, "devices": []}', "version 2"),
        ('{"format": "agilenn-keys", "version": 1, "devices": []}', "non-empty list"),
        ('{"format": "agilenn-keys", "version": 1, "devices": [{"id": 1}]}', "devices[0]"),
        ('{"format": "agilenn-keys", "version": 1, "devices": [{"id": 0, "key": "00"}]}', "devices[0].id"),
        ('{"format": "agilenn-keys", "version": 1, "devices": [{"id": true, "key": "00"}]}', "devices[0].id"),
        ('{"format": "agilenn-keys", "version": 1, "devices": [{"id": 1, "key": "abcd"}]}', "32 hex digits"),
        ('{"format": "agilenn-keys", "version": 1, "devices": [{"id": 1, "key": "zz"}]}', "32 hex digits"),
    ],
)
def test_bad_key_files_are_refused_by_name(tmp_path: Path, content: str, fragment: str):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(UserError) as info:
        load_keys(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_duplicate_ids_and_missing_files(tmp_path: Path):
    keys = new_keys([1, 2])
    data = json.loads(keys_json(keys))
    data["devices"].append({"id": 1, "key": "00" * 16})
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="listed twice"):
        load_keys(path)
    with pytest.raises(UserError, match="not found"):
        load_keys(tmp_path / "missing.json")
    with pytest.raises(UserError, match="distinct"):
        new_keys([3, 3])
    good = tmp_path / "good.json"
    good.write_text(keys_json(keys))
    assert device_key(good, 2) == keys[2]


def test_serve_and_device_refuse_bad_key_options(tmp_path: Path, capsys):
    folder = build_model_dir(tmp_path / "m").folder
    _error(capsys, ["serve", str(folder), "--port", "0", "--auth-keys", str(tmp_path / "none.json")], "not found")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    _error(capsys, ["serve", str(folder), "--port", "0", "--auth-keys", str(bad)], "not an agilenn key file")
    _error(capsys, ["device", str(tmp_path), "--keys", str(bad)], "--keys and --device-id")
    _error(capsys, ["serve", str(folder), "--workers", "0"], "--workers")
    _error(capsys, ["serve", str(folder), "--deadline-ms", "0"], "--deadline-ms")
    _error(capsys, ["serve", str(folder), "--max-wait-ms", "0"], "--max-wait-ms")
    _error(capsys, ["serve", str(folder), "--replay-window", "0"], "--replay-window")
