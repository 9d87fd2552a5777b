"""Reference reader for the lancedb output's tests: Python lancedb (PyPI).

Usage: lancecheck.py '<json request>'  ->  prints one JSON object.

Request fields: op ("read", "create" or "optimize"), uri, table, storage_options
(for s3:// URIs), and per op:
  read:     ids_and_vectors (bool: return every row's id and vector),
            query (a vector) and k: nearest neighbours of query, as ids
  create:   rows (list of objects), schema ([[name, type, nullable], ...] with
            type one of: string, int64, float64, vector:<dim>), data_storage_version
  optimize: compacts the table (the documented maintenance job)
"""
import json
import sys

import lancedb
import pyarrow as pa


def arrow_type(t):
    if t.startswith("vector:"):
        return pa.list_(pa.float32(), int(t.split(":")[1]))
    return {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64()}[t]


def main():
    req = json.loads(sys.argv[1])
    db = lancedb.connect(req["uri"], storage_options=req.get("storage_options"))
    op = req["op"]
    out = {}
    if op == "create":
        schema = pa.schema([pa.field(n, arrow_type(t), nullable=nl) for n, t, nl in req["schema"]])
        tbl = db.create_table(req["table"], data=pa.Table.from_pylist(req["rows"], schema=schema),
                              data_storage_version=req.get("data_storage_version"))
        out["count"] = tbl.count_rows()
    elif op == "optimize":
        tbl = db.open_table(req["table"])
        before = tbl.stats()["fragment_stats"]["num_fragments"]
        tbl.optimize()
        out["fragments_before"] = before
        out["fragments_after"] = tbl.stats()["fragment_stats"]["num_fragments"]
        out["count"] = tbl.count_rows()
    elif op == "read":
        tbl = db.open_table(req["table"])
        out["tables"] = list(db.list_tables().tables) if hasattr(db, "list_tables") else list(db.table_names())
        out["count"] = tbl.count_rows()
        out["version"] = tbl.version
        out["schema"] = [[f.name, str(f.type), f.nullable] for f in tbl.schema]
        out["indices"] = [{"columns": list(i.columns), "type": str(i.index_type)} for i in tbl.list_indices()]
        if req.get("ids_and_vectors"):
            data = tbl.to_arrow()
            cols = {}
            for f in tbl.schema:
                col = data.column(f.name)
                if pa.types.is_fixed_size_list(f.type):
                    cols[f.name] = [None if v is None else [float(x) for x in v] for v in col.to_pylist()]
                elif pa.types.is_timestamp(f.type):
                    cols[f.name] = [None if v is None else v.isoformat() for v in col.to_pylist()]
                else:
                    cols[f.name] = col.to_pylist()
            out["columns"] = cols
        if "query" in req:
            vcol = req.get("vector_column", "vector")
            q = tbl.search(req["query"], vector_column_name=vcol).limit(req.get("k", 1))
            if out["indices"]:
                q = q.refine_factor(50)  # re-rank exactly: PQ distances are approximate
            res = q.to_arrow()
            out["nearest"] = res.column(req.get("id_column", "id")).to_pylist()
    else:
        raise SystemExit("unknown op " + op)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
