"""SQL over a store, read-only: the table ``results`` (the store's chunks) and nothing else.

A connection made by :func:`connect` is an in-memory DuckDB whose only view is ``results``
over the store's own chunk files; then external access is switched off
(``enable_external_access=false``, so no file outside those chunks is read or written: no
``read_text``, ``COPY … TO``, ``ATTACH``, ``EXPORT``, ``INSTALL``) and the configuration is
locked (no ``SET`` turns it back on). :func:`one_select` lets through exactly one statement,
a ``SELECT`` (``WITH``, ``FROM``-first, ``DESCRIBE`` and ``SUMMARIZE`` are SELECTs), so nothing
is created, dropped or injected after a ``;``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise ConfigError("explore query needs duckdb (a hetsim dependency): pip install duckdb") from None
    return duckdb


def _literal(text: str) -> str:
    """A SQL string literal of ``text`` (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def connect(store_dir: Path) -> Any:
    """A sandboxed DuckDB connection whose table ``results`` is the store's rows."""
    from hetsim.explore.store import open_existing

    duckdb = _duckdb()
    files = [str(f.resolve()) for f in open_existing(store_dir).files()]
    listed = "[" + ", ".join(_literal(f) for f in files) + "]"
    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet({listed})")
    con.execute(f"SET allowed_paths = {listed}")  # the view's own files stay readable
    con.execute("SET temp_directory = ''")  # no spill files in the working folder
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_select(con: Any, sql: str, what: str = "query") -> str:
    """``sql`` when it is exactly one SELECT statement; else one :class:`ConfigError` line."""
    duckdb = _duckdb()
    text = sql.strip()
    if not text.rstrip(";").strip():
        raise ConfigError(f"the {what} is empty; write one SELECT over `results` (SELECT * FROM results)")
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise ConfigError(f"the {what} is not valid SQL: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise ConfigError(f"give one SQL statement, not {len(statements)} (no ';' between statements)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = str(getattr(kind, "name", kind)).rsplit(".", 1)[-1]
        raise ConfigError(f"only SELECT queries over `results` are run (this one is {name})")
    return text


def execute(con: Any, sql: str, what: str = "query") -> Any:
    """Run one checked SELECT; DuckDB's errors (including a refused file access) as one line."""
    duckdb = _duckdb()
    text = one_select(con, sql, what)
    try:
        return con.execute(text)
    except duckdb.Error as exc:
        raise ConfigError(f"{what} failed: {_first_line(exc)}") from None


def select_where(con: Any, where: str | None) -> dict[str, Any]:
    """The rows of ``results`` that satisfy the condition ``where`` (all rows when None), as
    NumPy columns."""
    duckdb = _duckdb()
    if where is not None and not where.strip():
        raise ConfigError("--where is empty; give a condition such as 'tpot_s <= 0.05'")
    sql = "SELECT * FROM results" + (f" WHERE ({where})" if where is not None else "")
    cur = execute(con, sql, "--where" if where is not None else "query")
    try:
        table: dict[str, Any] = cur.fetchnumpy()
    except duckdb.Error as exc:
        raise ConfigError(f"query failed: {_first_line(exc)}") from None
    return table


def fetch_rows(cur: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of an executed query."""
    duckdb = _duckdb()
    try:
        return [d[0] for d in cur.description or []], cur.fetchall()
    except duckdb.Error as exc:
        raise ConfigError(f"query failed: {_first_line(exc)}") from None
