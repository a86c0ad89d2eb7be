"""MicroPython's source, from Debian's source package, pinned and cached in the work tree's build folder.

Debian's trixie has MicroPython 1.25 (bookworm has none). The archive is reached through a
temporary apt list: a ``deb-src`` entry for trixie on the Debian archive URI that the machine's own
apt configuration already names (read from ``/etc/apt/sources.list.d/*.sources`` or the one-line
lists at run time), with its own lists and cache folders under ``build/micropython/apt/``, so the
machine's apt state is left alone. The orig tarball's sha256 is pinned; it is unpacked once into
``build/micropython/micropython-1.25.0/`` and reused until the pin changes.

Run ``python -m agilenn_codegen.micropython.source`` (scripts/setup.sh does) to fetch it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError
from agilenn_codegen.paths import BUILD_DIR

SUITE = "trixie"
PACKAGE = "micropython"
UPSTREAM_VERSION = "1.25.0+ds"  # Debian repacks the release without the bundled submodules' content
ORIG_TARBALL = f"{PACKAGE}_{UPSTREAM_VERSION}.orig.tar.xz"
ORIG_SHA256 = "7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea"
SOURCE_FOLDER = "micropython-1.25.0"
CACHE_DIR = BUILD_DIR / "micropython"
STAMP = ".agilenn-source"
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
FETCH_HINT = "run `bash scripts/setup.sh` (it fetches MicroPython's Debian source package into build/micropython/)"


@dataclass(frozen=True)
class AptEntry:
    """One archive entry of the machine's apt configuration."""

    uri: str
    suites: tuple[str, ...]
    signed_by: str | None


def parse_deb822(text: str) -> list[AptEntry]:
    """Entries of a ``.sources`` file (deb822 stanzas separated by blank lines)."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key is not None:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "uris" not in fields:
            continue
        if "deb" not in fields.get("types", "").split() and "deb-src" not in fields.get("types", "").split():
            continue
        signed = fields.get("signed-by")
        signed = signed if signed and signed.startswith("/") else None  # an inline key block is not reused
        for uri in fields["uris"].split():
            entries.append(AptEntry(uri, tuple(fields.get("suites", "").split()), signed))
    return entries


def parse_one_line(text: str) -> list[AptEntry]:
    """Entries of a one-line ``sources.list`` (``deb [options] uri suite components...``)."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith(("deb ", "deb-src ")):
            continue
        options: dict[str, str] = {}
        match = re.match(r"(deb|deb-src)\s+\[([^\]]*)\]\s+(.*)", line)
        if match:
            for option in match.group(2).split():
                key, _, value = option.partition("=")
                options[key.lower()] = value
            rest = match.group(3).split()
        else:
            rest = line.split()[1:]
        if len(rest) >= 2:
            entries.append(AptEntry(rest[0], (rest[1],), options.get("signed-by")))
    return entries


def configured_entries(sources: tuple[Path, ...] = APT_SOURCES) -> list[AptEntry]:
    """Every archive entry the machine's apt configuration names, in apt's reading order."""
    entries: list[AptEntry] = []
    files: list[Path] = []
    for path in sources:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".sources", ".list"))
        elif path.is_file():
            files.append(path)
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        entries += parse_deb822(text) if file.suffix == ".sources" else parse_one_line(text)
    return entries


def debian_archive(entries: list[AptEntry]) -> AptEntry:
    """The entry of Debian's main archive: one serving a plain release suite (not -security, -updates)."""
    for entry in entries:
        plain = [s for s in entry.suites if "-" not in s and "/" not in s]
        if plain and entry.uri.rstrip("/").endswith("/debian"):
            return entry
    for entry in entries:
        if any("-" not in s for s in entry.suites) and "security" not in entry.uri:
            return entry
    raise ToolError(
        "no Debian archive is configured for apt (looked in /etc/apt/sources.list.d/*.sources and sources.list); "
        "MicroPython's source comes from Debian's source package"
    )


def source_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """The unpacked, verified MicroPython source tree; ToolError with the fix when it is missing."""
    tree = cache_dir / SOURCE_FOLDER
    stamp = tree / STAMP
    if not stamp.is_file() or stamp.read_text().strip() != ORIG_SHA256:
        raise ToolError(f"MicroPython {UPSTREAM_VERSION} source is missing from {cache_dir}; {FETCH_HINT}")
    return tree


def _apt_options(apt_dir: Path) -> list[str]:
    return [
        "-o",
        f"Dir::Etc::SourceList={apt_dir / 'sources' / f'{SUITE}-src.sources'}",
        "-o",
        f"Dir::Etc::SourceParts={apt_dir / 'sources.d'}",
        "-o",
        f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o",
        f"Dir::Cache={apt_dir / 'cache'}",
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Debug::NoLocking=1",
        "-qq",
    ]


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"{' '.join(cmd[:2])} failed (exit {proc.returncode}):\n{(proc.stderr + proc.stdout).strip()}")
    return proc.stdout


def source_version(showsrc: str) -> str:
    """The Debian version of the source package whose upstream part is the pinned one."""
    versions = re.findall(r"^Version:\s*(\S+)", showsrc, flags=re.MULTILINE)
    for version in versions:
        if version.rsplit("-", 1)[0] == UPSTREAM_VERSION:
            return version
    raise ToolError(f"{SUITE} has no {PACKAGE} {UPSTREAM_VERSION} source package (found: {', '.join(versions)})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(cache_dir: Path = CACHE_DIR, log: object = print) -> Path:
    """Download (through a temporary apt list), verify and unpack the source; returns the tree. Idempotent."""
    try:
        return source_dir(cache_dir)
    except ToolError:
        pass
    say = log if callable(log) else print
    tarball = cache_dir / ORIG_TARBALL
    if not tarball.is_file() or sha256_of(tarball) != ORIG_SHA256:
        archive = debian_archive(configured_entries())
        apt_dir = cache_dir / "apt"
        for sub in ("sources", "sources.d", "lists/partial", "cache/archives/partial"):
            (apt_dir / sub).mkdir(parents=True, exist_ok=True)
        stanza = ["Types: deb-src", f"URIs: {archive.uri}", f"Suites: {SUITE}", "Components: main"]
        if archive.signed_by:
            stanza.append(f"Signed-By: {archive.signed_by}")
        (apt_dir / "sources" / f"{SUITE}-src.sources").write_text("\n".join(stanza) + "\n")
        options = _apt_options(apt_dir)
        say(f"micropython: reading {SUITE}'s source index from the configured Debian archive")
        _run(["apt-get", *options, "update"], cache_dir)
        version = source_version(_run(["apt-cache", *options, "showsrc", PACKAGE], cache_dir))
        say(f"micropython: downloading the {PACKAGE} {version} source package")
        download = cache_dir / "download"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir()
        _run(["apt-get", *options, "source", "--download-only", f"{PACKAGE}={version}"], download)
        got = download / ORIG_TARBALL
        if not got.is_file():
            raise ToolError(f"apt-get source did not produce {ORIG_TARBALL} in {download}")
        digest = sha256_of(got)
        if digest != ORIG_SHA256:
            raise ToolError(f"{ORIG_TARBALL}: sha256 {digest}, expected the pinned {ORIG_SHA256}")
        got.replace(tarball)
        shutil.rmtree(download, ignore_errors=True)
    tree = cache_dir / SOURCE_FOLDER
    shutil.rmtree(tree, ignore_errors=True)
    say(f"micropython: unpacking {ORIG_TARBALL}")
    with tarfile.open(tarball) as archive_file:
        archive_file.extractall(cache_dir, filter="tar")
    if not (tree / "py" / "mpconfig.h").is_file():
        raise ToolError(f"{ORIG_TARBALL} did not unpack into {tree}")
    (tree / STAMP).write_text(ORIG_SHA256 + "\n")
    return tree


def main() -> int:
    try:
        tree = fetch()
    except ToolError as exc:
        print(f"micropython: {exc}", file=sys.stderr)
        return 1
    print(f"micropython: source ready in {tree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
