"""Writing export rows to disk: a JSONL or Parquet file, or a Hive-partitioned Parquet dataset
(`repo=…/date=…/part-….parquet`) that DuckDB, Spark and Trino read as one table.

Rows stream through in record batches, so memory stays bounded however many events there are.
A single file is written beside its destination and renamed into place at the end.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_core.export import jsonl_lines, record_batches

__all__ = ["ExportError", "write_dataset", "write_file"]


class ExportError(PrtraceError):
    """The export cannot be written where it was asked to go."""


def _pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ExportError("Parquet needs pyarrow, which is not installed",
                          hint="pip install 'prtrace[export]', or use --format jsonl") from exc


def write_file(rows: Iterable[Mapping[str, Any]], out: Path, fmt: str) -> int:
    """Write every row to one file; the number of rows written."""
    if fmt == "parquet":
        _pyarrow()
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise ExportError(f"cannot write in {parent}: {exc.strerror or exc}") from exc
    tmp = Path(name)
    count = 0
    try:
        with os.fdopen(fd, "wb") as sink:
            if fmt == "jsonl":
                counted = _counting(rows)
                for line in jsonl_lines(counted):
                    sink.write(line)
                count = counted.count
            else:
                import pyarrow.parquet as pq

                from prtrace_core.export import arrow_schema

                with pq.ParquetWriter(sink, arrow_schema(), compression="zstd") as writer:
                    for batch in record_batches(rows):
                        writer.write_batch(batch)
                        count += batch.num_rows
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


class _counting:
    """Counts the rows that pass through."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Any:
        for row in self.rows:
            self.count += 1
            yield row


def write_dataset(rows: Iterable[Mapping[str, Any]], out: str) -> int:
    """Add the rows to a Hive-partitioned Parquet dataset at `out` (a folder, or an
    `s3://bucket/prefix` URI with the usual AWS_* variables); the number of rows written.
    Each export adds files of its own, so exports of different days add up to one table."""
    _pyarrow()
    import pyarrow as pa
    import pyarrow.dataset as ds

    from prtrace_core.export import PARTITION_COLUMNS, arrow_schema

    schema = arrow_schema(partitioned=True)
    counted = _counting(rows)
    reader = pa.RecordBatchReader.from_batches(schema, record_batches(counted, partitioned=True))
    target: Any = out
    if "://" not in out:
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot write the dataset to {out}: {exc.strerror or exc}") from exc
        target = str(Path(out).absolute())
    try:
        ds.write_dataset(
            reader, target, format="parquet",
            partitioning=list(PARTITION_COLUMNS), partitioning_flavor="hive",
            basename_template=f"part-{uuid.uuid4().hex[:12]}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_group=100_000,
            create_dir="://" not in out,  # object stores need no folder markers
        )
    except (OSError, pa.ArrowException) as exc:
        raise ExportError(f"cannot write the dataset to {out}: {exc}") from exc
    return counted.count
