"""Reading and writing a golden directory: ``manifest.json`` plus ``.npz`` array files.

The manifest lists every case with its op, engine, thread count, arguments and
expected result (encoded by :mod:`qemu.serialize`, arrays referenced by name) and the
array file that holds its arrays, with that file's sha256. Arrays are read with
``allow_pickle=False``; a file that is missing, unreadable or whose hash differs is
reported by name and its cases are not run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qemu import serialize

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass
class Case:
    """One golden case: ``getattr(qemu.ops, op)(*args, **kwargs, engine=engine)`` run with
    ``threads`` emulated threads must return ``expected``."""

    id: str
    op: str
    engine: str
    threads: int
    args: list[Any]
    kwargs: dict[str, Any]
    expected: Any
    file: str = ""


@dataclass
class GoldenSet:
    """A manifest's generator record and its cases."""

    generator: dict[str, Any]
    cases: list[Case] = field(default_factory=list)


@dataclass
class FileProblem:
    """An array file that could not be used: ``reason`` says why."""

    file: str
    reason: str
    case_ids: list[str]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _remove_previous_set(directory: Path) -> None:
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_text()).get("files", {})
    except (json.JSONDecodeError, AttributeError) as error:
        raise ValueError(
            f"out: {manifest} is not a golden manifest ({error}); choose another directory"
        ) from error
    root = directory.resolve()
    for relative in listed:
        path = (directory / relative).resolve()
        if root in path.parents and path.suffix == ".npz":
            path.unlink(missing_ok=True)
            if path.parent != root and not any(path.parent.iterdir()):
                path.parent.rmdir()
    manifest.unlink()


def write(directory: Path, golden: GoldenSet) -> None:
    """Write ``golden`` to ``directory``: one ``.npz`` per (op, engine), then the manifest.

    A set already in ``directory`` is replaced: the files its manifest lists are removed
    first, so regenerating in place leaves no stale arrays (other files are left alone).
    """
    directory.mkdir(parents=True, exist_ok=True)
    _remove_previous_set(directory)
    groups: dict[str, list[Case]] = {}
    for case in golden.cases:
        groups.setdefault(f"{case.op}/{case.engine}.npz", []).append(case)
    entries = []
    files = {}
    for relative, group in sorted(groups.items()):
        arrays: dict[str, Any] = {}
        for case in group:
            encoder = serialize.Encoder(prefix=f"{case.id}/")
            encoded = {
                "args": encoder.encode(list(case.args)),
                "kwargs": encoder.encode(dict(case.kwargs)),
                "expected": encoder.encode(case.expected),
            }
            arrays.update(encoder.arrays)
            entries.append(
                {
                    "id": case.id,
                    "op": case.op,
                    "engine": case.engine,
                    "threads": case.threads,
                    "file": relative,
                    **encoded,
                }
            )
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize.arrays_to_npz(arrays, compressed=True))
        files[relative] = _sha256(path)
        for entry in entries[-len(group) :]:
            entry["sha256"] = files[relative]
    head = {"schema": SCHEMA_VERSION, "generator": golden.generator, "files": files}
    # One case per line: a few MB smaller than indented JSON, still line-diffable.
    text = json.dumps(head, indent=1)[:-2] + ',\n "cases": [\n'
    text += ",\n".join("  " + json.dumps(entry) for entry in entries)
    (directory / MANIFEST).write_text(text + "\n ]\n}\n")


def read(directory: Path) -> tuple[GoldenSet, list[FileProblem]]:
    """Load a golden directory. Cases whose array file is missing, unreadable or does not
    match its sha256 are left out and reported as :class:`FileProblem`."""
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{manifest_path}: no golden manifest here") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA_VERSION:
        raise ValueError(
            f"{manifest_path}: expected schema {SCHEMA_VERSION}, got {manifest.get('schema')!r}"
        )
    by_file: dict[str, list[dict]] = {}
    for entry in manifest["cases"]:
        by_file.setdefault(entry["file"], []).append(entry)
    golden = GoldenSet(generator=manifest["generator"])
    problems = []
    for relative, entries in sorted(by_file.items()):
        ids = [e["id"] for e in entries]
        path = directory / relative
        expected_hash = manifest["files"].get(relative)
        if any(entry.get("sha256") != expected_hash for entry in entries):
            problems.append(
                FileProblem(relative, "the manifest's case and file hashes disagree", ids)
            )
            continue
        if not path.is_file():
            problems.append(FileProblem(relative, "missing", ids))
            continue
        if expected_hash is None or _sha256(path) != expected_hash:
            problems.append(
                FileProblem(
                    relative, "sha256 differs from the manifest (truncated or modified)", ids
                )
            )
            continue
        try:
            arrays = serialize.npz_to_arrays(path.read_bytes())
            loaded = [
                Case(
                    id=entry["id"],
                    op=entry["op"],
                    engine=entry["engine"],
                    threads=int(entry["threads"]),
                    args=serialize.decode(entry["args"], arrays, f"{entry['id']}.args"),
                    kwargs=serialize.decode(entry["kwargs"], arrays, f"{entry['id']}.kwargs"),
                    expected=serialize.decode(entry["expected"], arrays, f"{entry['id']}.expected"),
                    file=relative,
                )
                for entry in entries
            ]
        except (ValueError, OSError, KeyError) as error:
            problems.append(FileProblem(relative, f"unreadable: {error}", ids))
            continue
        golden.cases.extend(loaded)
    return golden, problems
