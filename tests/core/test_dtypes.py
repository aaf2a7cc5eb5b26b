"""The dtype table (infra/dtypes.py): its rows agree with numpy and ml_dtypes,
widening and narrowing stay in a category, and the module stays embeddable
(standard library and numpy only, ml_dtypes imported lazily).  No framework
is imported here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from infra import dtypes
from infra.dtypes import (
    CATEGORIES,
    DTYPES,
    bits,
    complex_component,
    dtype_category,
    dtype_info,
    in_framework,
    is_numpy_native,
    is_signed,
    is_torch_bitcast,
    known_dtypes,
    narrower,
    same_width_int,
    storable_dtypes,
    storage_dtype,
    wider,
)

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = [n for n, r in DTYPES.items() if r.category != "other"]


def test_names_are_sorted_unique_and_rows_name_themselves():
    assert list(DTYPES) == sorted(DTYPES)
    assert known_dtypes() == tuple(DTYPES)
    for name, row in DTYPES.items():
        assert row.name == name and row.category in CATEGORIES


def test_the_table_covers_every_dtype_the_project_used_to_list():
    expected = {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "bfloat16", "float32", "float64", "complex32", "complex64", "complex128",
        "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
        "int4", "uint4", "qint8", "quint8", "qint32", "string", "resource",
    }  # fmt: skip
    assert expected <= set(DTYPES)


@pytest.mark.parametrize("name", NUMERIC)
def test_storage_width_matches_bits(name):
    dt = storage_dtype(name)
    if bits(name) < 8:  # sub-byte types: one value per byte
        assert dt.itemsize == 1
    else:
        assert dt.itemsize * 8 == bits(name)


@pytest.mark.parametrize("name", NUMERIC)
def test_category_matches_what_numpy_and_ml_dtypes_say(name):
    row, dt = dtype_info(name), storage_dtype(name)
    if row.numpy_native:
        assert dt == np.dtype(name)
        assert dt.kind == {"bool": "b", "float": "f", "complex": "c"}.get(
            row.category, "i" if row.signed else "u")
    elif row.category == "float":
        info = ml_dtypes.finfo(dt)
        assert info.bits == bits(name)
        assert (float(info.min) < 0) == is_signed(name)
    elif row.category == "int":
        info = ml_dtypes.iinfo(dt)
        assert (int(info.min) < 0) == is_signed(name)
        assert int(info.max) == (2 ** (bits(name) - is_signed(name)) - 1)
    else:
        assert row.category == "complex" and dt.itemsize * 8 == bits(name)


def test_other_dtypes_have_no_storage():
    for name, row in DTYPES.items():
        if row.category == "other":
            assert bits(name) == 0 and name not in storable_dtypes()
            with pytest.raises(ValueError, match="no numpy array"):
                storage_dtype(name)


@pytest.mark.parametrize("name", NUMERIC)
def test_widening_and_narrowing_stay_in_the_category(name):
    cat = dtype_category(name)
    wide, narrow = wider(name), narrower(name)
    if wide is not None:
        assert dtype_category(wide) == cat and bits(wide) > bits(name)
        assert wide == {"float": "float64", "complex": "complex128"}[cat]
    else:
        assert cat not in ("float", "complex") or name in ("float64", "complex128")
    if narrow is not None:
        assert dtype_category(narrow) == cat and bits(narrow) < bits(name)
        assert is_signed(narrow) == is_signed(name)


def test_widening_holds_every_value_exactly():
    for name in NUMERIC:
        wide = wider(name)
        if wide is None or name == "complex32":  # numpy cannot cast complex32 itself
            continue
        dt = storage_dtype(name)
        finfo = ml_dtypes.finfo(dt)
        values = np.array([finfo.max, finfo.tiny, finfo.eps, float(finfo.min)]).astype(dt)
        assert np.array_equal(values.astype(storage_dtype(wide)).astype(dt), values)


def test_complex_components():
    for name in NUMERIC:
        comp = complex_component(name)
        if dtype_category(name) == "complex":
            assert dtype_category(comp) == "float" and 2 * bits(comp) == bits(name)
        else:
            assert comp is None


def test_framework_membership():
    torch, tf = set(known_dtypes("torch")), set(known_dtypes("tensorflow"))
    numpy = set(known_dtypes("numpy"))
    assert {"bfloat16", "complex32", "float8_e4m3fn", "float8_e8m0fnu", "uint16"} <= torch
    assert {"bfloat16", "float8_e4m3b11fnuz", "qint16", "string", "int4"} <= tf
    assert "complex32" not in tf and "string" not in torch and "qint16" not in torch
    assert numpy == {n for n in DTYPES if is_numpy_native(n)}
    assert "bfloat16" not in numpy and "qint8" not in numpy
    assert in_framework("tf", "tf") is False  # not a dtype at all
    with pytest.raises(ValueError, match="unknown framework"):
        in_framework("float32", "jax")


def test_torch_bitcast_types_are_torch_dtypes_numpy_lacks():
    for name in DTYPES:
        if is_torch_bitcast(name):
            assert in_framework(name, "torch") and not is_numpy_native(name)
            assert same_width_int(name).itemsize == storage_dtype(name).itemsize
            assert same_width_int(name).kind == "i"
    assert same_width_int("complex32") == np.dtype(np.int32)


def test_unknown_names_raise_value_error():
    for fn in (dtype_info, storage_dtype, dtype_category, bits, wider, narrower):
        with pytest.raises(ValueError, match="unknown dtype name 'half'"):
            fn("half")


def test_the_module_imports_only_stdlib_numpy_and_lazily_ml_dtypes():
    tree = ast.parse((ROOT / "infra" / "dtypes.py").read_text())
    top = {a.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
           for a in node.names}
    top |= {node.module.split(".")[0] for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module}
    assert top <= {"__future__", "dataclasses", "typing", "numpy"}
    nested = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
              for a in node.names} - top
    assert nested <= {"ml_dtypes"}
    # Importing it and using numpy's own dtypes does not load ml_dtypes.
    code = ("import sys; from infra import dtypes as d; d.storage_dtype('int8'); "
            "d.storage_dtype('qint8'); d.wider('float32'); "
            "assert 'ml_dtypes' not in sys.modules, 'eager'; "
            "d.storage_dtype('bfloat16'); assert 'ml_dtypes' in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_module_level_names_are_exported():
    assert set(dtypes.__all__) <= set(dir(dtypes))
