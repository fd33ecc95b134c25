"""Reading many inputs on a Ray cluster: Ray Data over the source paths, ``map_batches`` with
an actor pool of engines (each actor loads one engine once), rows back to the driver, which
journals them exactly as the local pool does (so resume and the Parquet output are the same).

Paths must be visible to every node (a shared file system); ``ray`` is the optional extra
``openread[ray]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, fields

from ..settings import Settings
from .local import Task
from .output import Row

__all__ = ["run"]


class _Reader:
    """One Ray actor: one engine, reading a batch of source paths into row columns."""

    def __init__(self, settings: Settings) -> None:
        from ..engine import Engine

        self._engine = Engine.load(settings)

    def __call__(self, batch: dict[str, object]) -> object:
        import pyarrow as pa

        from .local import read_source
        from .output import arrow_schema

        sources = batch["source"]
        skips = batch["skip"]
        rows = [
            asdict(row)
            for source, skip in zip(sources, skips, strict=True)  # type: ignore[call-overload]
            for row in read_source(self._engine, str(source), frozenset(int(n) for n in skip))
        ]
        return pa.Table.from_pylist(rows, schema=arrow_schema())


def run(
    tasks: Sequence[Task],
    settings: Settings,
    address: str,
    concurrency: int,
    batch_size: int,
) -> Iterator[Row]:
    """The rows of every task (a source and its pages already done), read on the cluster at
    ``address``; the rows of one source come together, when its batch is done."""
    if not tasks:
        return
    import ray
    import ray.data

    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        items = [{"source": source, "skip": sorted(skip)} for source, skip in tasks]
        dataset = ray.data.from_items(items)
        mapped = dataset.map_batches(
            _Reader,
            fn_constructor_args=(settings,),
            batch_size=batch_size,
            concurrency=concurrency,
            batch_format="numpy",
        )
        names = [f.name for f in fields(Row)]
        for batch in mapped.iter_batches(batch_size=1, batch_format="pyarrow"):
            for record in batch.to_pylist():  # type: ignore[union-attr]
                yield Row(**{n: record[n] for n in names})
    finally:
        ray.shutdown()
