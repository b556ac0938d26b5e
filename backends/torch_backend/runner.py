"""Run a torch-backend kernel where its engine's numerics are available.

In this process when the engine is qnnpack or the fbgemm variant this host runs
natively; otherwise in a worker subprocess started with the engine's
``reproduce_env`` (``FBGEMM_ENABLE_INSTRUCTIONS=AVX2`` etc.), which then runs it
natively. Arguments and results cross the pipe in the :mod:`qemu.serialize` format.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from typing import Any, BinaryIO

from qemu import dispatch, engines, serialize
from qemu.dispatch import BackendUnavailable, Context

_workers: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def runs_in_process(engine: engines.Engine) -> bool:
    """True if this process's torch computes ``engine`` as it is."""
    return engine.is_qnnpack or engines.host() == engine.name


def execute(op: str, ctx: Context, args: tuple) -> Any:
    reason = engines.reproducible_here(ctx.engine)
    if reason is not None:
        raise BackendUnavailable(
            f"the torch backend cannot compute {ctx.engine.name} here: {reason}"
        )
    if runs_in_process(ctx.engine):
        return run_here(op, ctx, args)
    return _run_in_worker(op, ctx, args)


def run_here(op: str, ctx: Context, args: tuple) -> Any:
    """Call the registered torch kernel with torch set to the engine and thread count."""
    import torch

    kernel = dispatch.kernel(op, "torch")
    previous_engine = torch.backends.quantized.engine
    previous_threads = torch.get_num_threads()
    torch.backends.quantized.engine = ctx.engine.torch_engine
    torch.set_num_threads(ctx.threads)
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates its quantized dtypes; emulating them is the point.
            warnings.filterwarnings("ignore", message=".*deprecated", category=UserWarning)
            return kernel(ctx, *args)
    finally:
        torch.backends.quantized.engine = previous_engine
        torch.set_num_threads(previous_threads)


# -- the pipe protocol: a frame is an 8-byte little-endian length and that many bytes;
# a message is two frames, a JSON header and the .npz bytes of its arrays.


def _write_message(stream: BinaryIO, header: dict, arrays: dict) -> None:
    for frame in (json.dumps(header).encode(), serialize.arrays_to_npz(arrays)):
        stream.write(struct.pack("<Q", len(frame)))
        stream.write(frame)
    stream.flush()


def _read_frame(stream: BinaryIO) -> bytes:
    size_bytes = stream.read(8)
    if len(size_bytes) != 8:
        raise EOFError("torch worker pipe closed")
    (size,) = struct.unpack("<Q", size_bytes)
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("torch worker pipe closed mid-message")
    return data


def _read_message(stream: BinaryIO) -> tuple[dict, dict]:
    header = json.loads(_read_frame(stream))
    return header, serialize.npz_to_arrays(_read_frame(stream))


def worker_environment(engine: engines.Engine) -> dict[str, str]:
    """The environment of ``engine``'s worker: this process's, without any engine's
    selecting variables, plus ``engine``'s own. This process may itself run under
    another engine's (a native fbgemm-avx2 soak asks an fbgemm worker for the exact
    groupwise result); inherited, they would make the worker that engine too.

    Examples
    --------
    >>> worker_environment(engines.FBGEMM_AVX2)["FBGEMM_ENABLE_INSTRUCTIONS"]
    'AVX2'
    """
    selecting = {key for known in engines.ENGINES.values() for key in known.reproduce_env}
    environment = {key: value for key, value in os.environ.items() if key not in selecting}
    environment.update(engine.reproduce_env)
    return environment


def _worker(engine: engines.Engine) -> subprocess.Popen:
    worker = _workers.get(engine.name)
    if worker is None or worker.poll() is not None:
        worker = subprocess.Popen(
            [sys.executable, "-m", "qemu.backends.torch_backend.runner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=worker_environment(engine),
            # Not the caller's directory: from a source checkout, `-m` would import the
            # checkout's qemu/ (which lacks qemu.backends) instead of the installed one.
            cwd=tempfile.gettempdir(),
        )
        _workers[engine.name] = worker
    return worker


def _run_in_worker(op: str, ctx: Context, args: tuple) -> Any:
    encoder = serialize.Encoder()
    request = {
        "op": op,
        "engine": ctx.engine.name,
        "threads": ctx.threads,
        "args": encoder.encode(args),
    }
    with _lock:
        worker = _worker(ctx.engine)
        try:
            _write_message(worker.stdin, request, encoder.arrays)
            header, arrays = _read_message(worker.stdout)
        except (EOFError, BrokenPipeError) as error:
            _workers.pop(ctx.engine.name, None)
            raise RuntimeError(
                f"the torch worker for {ctx.engine.name} died (exit code {worker.poll()}); "
                "its stderr above says why"
            ) from error
    if "error" in header:
        error_type = {
            "ValueError": ValueError,
            "TypeError": TypeError,
            "BackendUnavailable": BackendUnavailable,
        }.get(header["error_type"], RuntimeError)
        raise error_type(f"torch ({ctx.engine.name}, in a subprocess): {header['error']}")
    return serialize.decode(header["result"], arrays, "result")


def _serve() -> None:
    """Worker main loop: answer requests until stdin closes."""
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything torch prints goes to stderr, not into the protocol
    protocol_in = sys.stdin.buffer
    while True:
        try:
            request, arrays = _read_message(protocol_in)
        except EOFError:
            return
        encoder = serialize.Encoder()
        try:
            ctx = Context(engines.get(request["engine"]), request["threads"])
            if not runs_in_process(ctx.engine):
                raise RuntimeError(
                    f"this worker's torch runs {engines.host()}, not {ctx.engine.name}"
                )
            args = serialize.decode(request["args"], arrays, "args")
            reply = {"result": encoder.encode(run_here(request["op"], ctx, tuple(args)))}
        except Exception as error:  # reported to the caller, which re-raises it
            reply = {"error": str(error), "error_type": type(error).__name__}
            encoder = serialize.Encoder()
        _write_message(protocol_out, reply, encoder.arrays)


if __name__ == "__main__":
    import qemu.backends.torch_backend  # noqa: F401  (registers the torch kernels)

    _serve()
