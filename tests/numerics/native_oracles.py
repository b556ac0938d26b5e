"""Native reference implementations that *are* what torch runs: the Sleef vector functions linked
into ``libtorch_cpu.so`` and the host glibc's libm, called on NumPy arrays.

A vector function such as ``Sleef_expf16_u10`` takes and returns ``__m512`` in a register, which
ctypes cannot express, so a small loop is JIT-compiled with llvmlite (already a numba
dependency) for the host CPU and calls the function through its address. Tests and
``tools/exhaustive_unary.py`` use these; nothing under ``qemu/`` does.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

_LOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


@functools.cache
def _llvm():
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    machine = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=2
    )
    return llvm, machine


_engines = []  # keep JIT engines (and their code) alive


def _jit_loop(address: int, elem, width: int):
    """Compile ``for i in 0..n step width: y[i:i+width] = f(x[i:i+width])`` calling ``address``."""
    from llvmlite import ir

    llvm, machine = _llvm()
    i64 = ir.IntType(64)
    arg_t = elem if width == 1 else ir.VectorType(elem, width)
    mod = ir.Module(name=f"oracle_{address:x}")
    mod.triple = llvm.get_process_triple()
    loop_fn = ir.Function(
        mod, ir.FunctionType(ir.VoidType(), [elem.as_pointer(), elem.as_pointer(), i64]), "loop"
    )
    x, y, n = loop_fn.args
    entry, body, done = (loop_fn.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    callee = b.inttoptr(ir.Constant(i64, address), ir.FunctionType(arg_t, [arg_t]).as_pointer())
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b = ir.IRBuilder(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    px = b.bitcast(b.gep(x, [i]), arg_t.as_pointer())
    py = b.bitcast(b.gep(y, [i]), arg_t.as_pointer())
    b.store(b.call(callee, [b.load(px, align=4)]), py, align=4)
    nxt = b.add(i, ir.Constant(i64, width))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    ir.IRBuilder(done).ret_void()
    module = llvm.parse_assembly(str(mod))
    module.verify()
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    _engines.append(engine)
    return _LOOP(engine.get_function_address("loop"))


def _wrap(loop, dtype, width: int):
    def apply(x) -> np.ndarray:
        x = np.asarray(x, dtype=dtype)
        flat = x.reshape(-1)
        pad = (-flat.size) % width
        buf = np.ascontiguousarray(np.concatenate([flat, np.zeros(pad, dtype)]) if pad else flat)
        out = np.empty_like(buf)
        loop(buf.ctypes.data, out.ctypes.data, buf.size)
        return out[: flat.size].reshape(x.shape)

    return apply


@functools.cache
def torch_cpu_library() -> ctypes.CDLL:
    import torch

    return ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))


@functools.cache
def sleef(symbol: str):
    """Array function calling the Sleef vector function ``symbol`` exported by libtorch_cpu,
    e.g. ``sleef("Sleef_expf16_u10")`` (16 lanes) or ``sleef("Sleef_tanhf8_u10")`` (8 lanes)."""
    from llvmlite import ir

    width = 16 if "f16_" in symbol else 8
    address = ctypes.cast(getattr(torch_cpu_library(), symbol), ctypes.c_void_p).value
    return _wrap(_jit_loop(address, ir.FloatType(), width), np.float32, width)


@functools.cache
def libm(symbol: str, double: bool = False):
    """Array function calling the host libm's scalar ``symbol`` (``expf``; ``exp``, ``erf`` with
    ``double=True``), through the address the dynamic linker resolved (the ifunc-selected
    variant)."""
    from llvmlite import ir

    address = ctypes.cast(getattr(ctypes.CDLL("libm.so.6"), symbol), ctypes.c_void_p).value
    elem = ir.DoubleType() if double else ir.FloatType()
    return _wrap(_jit_loop(address, elem, 1), np.float64 if double else np.float32, 1)


def glibc_version() -> str:
    libc = ctypes.CDLL("libc.so.6")
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    return libc.gnu_get_libc_version().decode()
