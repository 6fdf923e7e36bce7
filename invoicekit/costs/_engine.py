"""Where the SQL of :mod:`invoicekit.costs.sql` runs: DuckDB (default) or Spark SQL.

Both register the same views (``export_<k>``, ``invoices``, ``coverage``) and return the
result as a ``pyarrow.Table``: the grouped result is small (one row per invoice, or per invoice
and dimension value); the export itself is scanned by the engine, never held in pandas.
"""

from __future__ import annotations

from typing import Any

from invoicekit.costs.read import CostExport
from invoicekit.errors import InvalidArgumentError

ENGINES = ("duckdb", "spark")


def _arrow_inputs(tables: dict[str, Any]) -> dict[str, Any]:
    return tables


class DuckDBEngine:
    """DuckDB in process: local exports through ``read_parquet``, S3 through pyarrow datasets."""

    name = "duckdb"

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        import duckdb

        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self._keep: list[Any] = []

    def register_exports(self, costs: CostExport) -> list[tuple[str, str]]:
        views = []
        for k, export in enumerate(costs.exports):
            files = [f for period in sorted(export.periods) for f in export.periods[period]]
            view = f"export_{k}"
            if costs.filesystem is not None:
                import pyarrow.dataset as ds

                dataset = ds.dataset(files, filesystem=costs.filesystem, format="parquet")
                self._keep.append(dataset)
                self.con.register(view, dataset)
            else:
                listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                self.con.execute(
                    f"CREATE OR REPLACE VIEW {view} AS "
                    f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
                )
            views.append((view, export.format))
        return views

    def register_table(self, name: str, table) -> None:
        self._keep.append(table)
        self.con.register(name, table)

    def query(self, sql: str):
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.con.close()


class SparkEngine:
    """Spark SQL (``pyspark``): the same SQL text; local mode in tests, a cluster elsewhere."""

    name = "spark"

    def __init__(self, spark=None) -> None:
        if spark is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError as exc:  # pragma: no cover - the optional extra
                raise InvalidArgumentError(
                    "engine='spark' needs pyspark: pip install 'invoicekit[spark]'"
                ) from exc
            spark = (
                SparkSession.builder.master("local[2]")
                .appName("invoicekit-costs")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .getOrCreate()
            )
        self.spark = spark

    def register_exports(self, costs: CostExport) -> list[tuple[str, str]]:
        if costs.filesystem is not None:
            raise InvalidArgumentError(
                "engine='spark' reads s3:// exports through the cluster's own S3 connector: "
                "pass the s3a:// paths to Spark, or sync the export locally first"
            )
        views = []
        for k, export in enumerate(costs.exports):
            files = [f for period in sorted(export.periods) for f in export.periods[period]]
            view = f"export_{k}"
            self.spark.read.parquet(*files).createOrReplaceTempView(view)
            views.append((view, export.format))
        return views

    def register_table(self, name: str, table) -> None:
        frame = table.to_pandas()
        schema = _spark_schema(table.schema)
        rows = [tuple(r) for r in frame.itertuples(index=False, name=None)]
        self.spark.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)

    def query(self, sql: str):
        import pyarrow as pa

        df = self.spark.sql(sql)
        rows = df.collect()
        names = df.columns
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def close(self) -> None:
        pass


def _spark_schema(schema):
    import pyarrow as pa
    from pyspark.sql import types as T

    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_decimal(t):
            st = T.DecimalType(t.precision, t.scale)
        elif pa.types.is_integer(t):
            st = T.LongType()
        else:
            st = T.StringType()
        fields.append(T.StructField(f.name, st, True))
    return T.StructType(fields)


def make_engine(engine: Any = "duckdb"):
    """An engine from a name (``"duckdb"``, ``"spark"``), a SparkSession, or an engine."""
    if engine is None or engine == "duckdb":
        return DuckDBEngine()
    if engine == "spark":
        return SparkEngine()
    if hasattr(engine, "register_exports"):
        return engine
    if type(engine).__name__ == "SparkSession":
        return SparkEngine(engine)
    raise InvalidArgumentError(
        f"engine={engine!r}: give 'duckdb' (default), 'spark' or a SparkSession"
    )
