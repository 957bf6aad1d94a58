"""HDF5 tables read through h5py, one slice of each dataset per batch.

The public interface is :mod:`site_builder.tables.reader`; this module holds the HDF5
part. HDF5 has no notion of a table, so this module decides what one is:

- a compound dataset, whose fields are the columns, or
- a group of datasets of one length, each dataset a column named after it;
  a dataset with more than one dimension is an array column (a PDF per row).

With no 'table' given, the reader starts at the root and walks down through
groups that hold nothing but a single subgroup, and takes the first level that
is unambiguous (one compound dataset, or plain datasets only); anything else
is an error that lists the candidate tables and their lengths, so the user
can set 'table' to a group or dataset path. A dataset named directly is read
as it is.

h5py reads hyperslabs, so a batch costs one ``dataset[start:stop]`` per
dataset (shared by all the fields of a compound one) and memory stays bounded.
h5py returns variable-length strings as ``bytes``; they are decoded to ``str``
here, while fixed-length strings stay ``bytes`` (see the conventions in
:mod:`site_builder.tables.reader`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from site_builder.errors import DataFileError
from site_builder.tables.info import TableInfo, column_info, finish, label_list

if TYPE_CHECKING:
    import h5py


def get_hdf5_info(path: Path, table: str | None) -> TableInfo:
    """Schema and row count of an HDF5 table, from dataset shapes and the first row.

    ``table`` is a group or dataset path; None finds the only table. Raises
    :class:`DataFileError` if there is none or several.
    """
    with _h5_open(path) as f:
        t = _h5_table(f, table)
        sample = _h5_read(f, t, [c[0] for c in t.columns], 0, 1)
    columns = tuple(column_info(name, arr) for name, arr in sample.items())
    return TableInfo("hdf5", columns, t.num_rows, t.label)


def iter_hdf5_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``columns`` of the table ``info`` describes, ``batch_rows`` rows at a time."""
    with _h5_open(path) as f:
        t = _h5_table(f, info.table)
        for start in range(0, t.num_rows, batch_rows):
            batch = _h5_read(f, t, columns, start, start + batch_rows)
            yield {name: finish(arr) for name, arr in batch.items()}


@dataclass(frozen=True)
class _H5Table:
    """Where each column lives: (column name, dataset path, compound field or None)."""

    label: str
    columns: tuple[tuple[str, str, str | None], ...]
    num_rows: int


def _h5_open(path: Path) -> h5py.File:
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataFileError(f"cannot open the HDF5 file ({err})") from None


def _h5_members(group: h5py.Group) -> tuple[list[Any], list[Any], list[Any]]:
    """Compound datasets, other datasets with rows, and subgroups of a group."""
    import h5py

    compound, plain, groups = [], [], []
    for obj in group.values():
        if isinstance(obj, h5py.Group):
            groups.append(obj)
        elif isinstance(obj, h5py.Dataset) and obj.ndim >= 1:
            (compound if obj.dtype.names else plain).append(obj)
    return compound, plain, groups


def _h5_label(obj: Any) -> str:
    return obj.name.strip("/") or "/"


def _h5_table(f: h5py.File, table: str | None) -> _H5Table:
    import h5py

    node = f
    if table is not None:
        key = table.strip("/") or "/"
        if key != "/" and key not in f:
            raise DataFileError(
                f"no group or dataset {table!r} in the HDF5 file; set 'table' to one of: "
                f"{label_list(_h5_candidates(f))}"
            )
        node = f[key]
        if isinstance(node, h5py.Dataset):
            return _h5_from_dataset(node)
    while True:
        compound, plain, groups = _h5_members(node)
        if len(compound) == 1 and not plain:
            return _h5_from_dataset(compound[0])
        if plain and not compound:
            return _h5_from_group(node, plain)
        if compound or plain or len(groups) != 1:
            break
        node = groups[0]
    found = _h5_candidates(node)
    if not found:
        raise DataFileError(f"no datasets in HDF5 group {_h5_label(node)!r}; there is no table to read")
    raise DataFileError(
        f"the HDF5 file holds several tables: {label_list(found)}; set 'table' to the one to read"
    )


def _h5_from_dataset(ds: h5py.Dataset) -> _H5Table:
    if ds.ndim == 0:
        raise DataFileError(f"HDF5 dataset {_h5_label(ds)!r} is a scalar, not a table")
    if ds.dtype.names:
        columns = tuple((field, ds.name, field) for field in ds.dtype.names)
    else:
        columns = ((ds.name.rpartition("/")[2], ds.name, None),)
    return _H5Table(_h5_label(ds), columns, ds.shape[0])


def _h5_from_group(group: h5py.Group, datasets: list[h5py.Dataset]) -> _H5Table:
    lengths = {ds.shape[0] for ds in datasets}
    if len(lengths) > 1:
        sizes = ", ".join(f"{ds.name.rpartition('/')[2]!r}: {ds.shape[0]}" for ds in datasets)
        raise DataFileError(
            f"the datasets of HDF5 group {_h5_label(group)!r} have different lengths ({sizes}); "
            "set 'table' to a group whose datasets share one length, or to one dataset"
        )
    columns = tuple((ds.name.rpartition("/")[2], ds.name, None) for ds in datasets)
    return _H5Table(_h5_label(group), columns, lengths.pop())


def _h5_candidates(node: h5py.Group) -> list[str]:
    """Groups of datasets and compound datasets under ``node``, with their lengths."""
    import h5py

    found: list[str] = []

    def add(obj: Any, rows: int) -> None:
        found.append(f"{_h5_label(obj)!r} ({rows} row{'s' * (rows != 1)})")

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            plain = _h5_members(obj)[1]
            if plain:
                add(obj, plain[0].shape[0])
        elif obj.dtype.names and obj.ndim >= 1:
            add(obj, obj.shape[0])

    visit("", node)
    node.visititems(visit)
    return found


def _h5_column(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    import h5py

    info = h5py.check_string_dtype(dtype)
    if info is not None and info.length is None:  # variable-length text comes as bytes
        flat = [v.decode(info.encoding, "replace") if isinstance(v, bytes) else v for v in arr.flat]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape)
    return arr


def _h5_read(f: h5py.File, t: _H5Table, names: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
    where = {name: (path, field) for name, path, field in t.columns}
    cache: dict[str, np.ndarray] = {}
    out = {}
    for name in names:
        path, field = where[name]
        if path not in cache:
            cache[path] = f[path][start:stop]
        arr, dtype = cache[path], f[path].dtype
        if field is not None:
            arr, dtype = arr[field], dtype.fields[field][0].base
        out[name] = _h5_column(arr, dtype)
    return out
