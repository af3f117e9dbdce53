"""Database capability client: self.db (db:read, db:write, db:rawsql).

`DbClient(call)` wraps `call`, an async function `await call(op, params)`
that sends one capability call to the broker and returns its JSON result or
raises the MagicError subclass of the broker's E-code. The client only
shapes arguments (None arguments are left out); the broker enforces every
rule: declared tables (E2003), columns checked against the live catalog,
values always bound (E1005), max_rows (E2004), the deadline (E3001).
Arguments of the wrong Python type fail here, before any round trip, with
RequestError (E1005).

    rows = await self.db.query("orders", where={"status": "open", "total": {"$gt": 100}},
                               columns=["id", "total"], order_by="-total", limit=10)
    row = await self.db.query_one("customers", where={"id": customer_id})   # None if no row
    out = await self.db.insert("invoices", {"customer_id": 7, "amount": "12.50"},
                               returning=["id"])                # {"row_count": 1, "rows": [...]}
    await self.db.update("invoices", where={"id": 3}, values={"status": "paid"})
    await self.db.delete("invoice_events", where={"created": {"$lt": "2024-01-01"}})
    out = await self.db.raw("SELECT count(*) AS n FROM invoices WHERE amount > $1", [100])

`where` maps a column to a value (equality; None means IS NULL) or to
operators: {"$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$like", "$is_null"}.
`order_by` is "col", "-col" (descending) or a list of those.
"""

from .errors import RequestError


def _bad(message, **details):
    return RequestError(message, details=details)


def _check_str(name, value):
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string", argument=name)


def _check_names(name, value):
    """None, or a list/tuple of strings (sent as a JSON array)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _bad(f"{name} must be a list of column names", argument=name)
    for item in value:
        _check_str(name, item)
    return list(value)


def _check_mapping(name, value, required=False):
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise _bad(f"{name} must be a dict", argument=name)
    return value


def _check_int(name, value):
    # bool is an int in Python but not in JSON.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(f"{name} must be an integer", argument=name)
    return value


def _check_all(value):
    if not isinstance(value, bool):
        raise _bad("all must be True or False", argument="all")
    return value


def _params(**params):
    return {k: v for k, v in params.items() if v is not None}


class DbClient:
    """self.db: structured queries and writes, and the raw SQL escape hatch."""

    def __init__(self, call):
        self._call = call

    async def query(self, table, where=None, columns=None, order_by=None, limit=None, offset=None):
        """Rows as a list of dicts (at most `limit`, default and cap: the policy's max_rows)."""
        _check_str("table", table)
        return await self._call(
            "query",
            _params(
                table=table,
                where=_check_mapping("where", where),
                columns=_check_names("columns", columns),
                order_by=self._order_by(order_by),
                limit=_check_int("limit", limit),
                offset=_check_int("offset", offset),
            ),
        )

    async def query_one(self, table, where=None, columns=None, order_by=None):
        """The first matching row as a dict, or None."""
        _check_str("table", table)
        return await self._call(
            "query_one",
            _params(
                table=table,
                where=_check_mapping("where", where),
                columns=_check_names("columns", columns),
                order_by=self._order_by(order_by),
            ),
        )

    async def insert(self, table, values, returning=None):
        """Inserts one row (a dict) or several (a list of dicts, one statement).

        Returns {"row_count": n}, plus "rows" (the `returning` columns of the
        new rows) when `returning` is given."""
        _check_str("table", table)
        if isinstance(values, tuple):
            values = list(values)
        if not isinstance(values, (dict, list)):
            raise _bad("values must be a dict or a list of dicts", argument="values")
        return await self._call(
            "insert",
            _params(table=table, values=values, returning=_check_names("returning", returning)),
        )

    async def update(self, table, where, values, returning=None, all=False):
        """Sets `values` on the rows matching `where`; an empty `where` is
        refused unless all=True. Returns {"row_count", "rows"?} like insert."""
        _check_str("table", table)
        params = _params(
            table=table,
            where=_check_mapping("where", where),
            values=_check_mapping("values", values, required=True),
            returning=_check_names("returning", returning),
        )
        if _check_all(all):
            params["all"] = True
        return await self._call("update", params)

    async def delete(self, table, where, returning=None, all=False):
        """Deletes the rows matching `where`; an empty `where` is refused
        unless all=True. Returns {"row_count", "rows"?}."""
        _check_str("table", table)
        params = _params(
            table=table,
            where=_check_mapping("where", where),
            returning=_check_names("returning", returning),
        )
        if _check_all(all):
            params["all"] = True
        return await self._call("delete", params)

    async def raw(self, sql, params=None):
        """One SQL statement with $1.. placeholders bound to `params`
        (db:rawsql). Returns {"row_count": n, "rows": [...]}."""
        _check_str("sql", sql)
        if params is not None:
            if isinstance(params, (str, bytes, dict)) or not isinstance(params, (list, tuple)):
                raise _bad("params must be a list", argument="params")
            params = list(params)
        return await self._call("raw", _params(sql=sql, params=params))

    @staticmethod
    def _order_by(value):
        if value is None or isinstance(value, str):
            return value
        return _check_names("order_by", value)
