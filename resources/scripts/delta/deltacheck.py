#!/usr/bin/env python3
"""Reference checks of Delta tables with delta-rs (the Python `deltalake` package).

Used by the Go tests of the delta_lake output and by the benchmark; run it with
$DC_PYTHON (a venv with deltalake==1.6.6 and pyarrow, set up by
`resources/scripts/services.sh up`). Every command prints one JSON document.

  deltacheck.py read URI [--rows] [--sort COL] [--app APP_ID ...] [--version N]
  deltacheck.py append URI JSONL [--partition-by COL ...] [--mode append|overwrite]
  deltacheck.py checkpoint URI
  deltacheck.py vacuum URI [--dry-run] [--retention-hours H]
  deltacheck.py bench-write JSONL URI

Object store credentials come from the DC_S3_* / DC_AZURE_* environment
variables (see services.sh); local paths need none.
"""
import argparse
import datetime
import decimal
import json
import os
import sys
import time


def storage_options(uri):
    if uri.startswith("s3://") or uri.startswith("s3a://"):
        opts = {
            "AWS_ACCESS_KEY_ID": os.environ.get("DC_S3_ACCESS_KEY_ID", ""),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("DC_S3_SECRET_ACCESS_KEY", ""),
            "AWS_REGION": os.environ.get("DC_S3_REGION", "us-east-1"),
        }
        endpoint = os.environ.get("DC_S3_ENDPOINT", "")
        if endpoint:
            opts["AWS_ENDPOINT_URL"] = endpoint
            opts["AWS_ALLOW_HTTP"] = "true"
            opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        return opts
    if uri.startswith("az://") or uri.startswith("abfs"):
        opts = {
            "AZURE_STORAGE_ACCOUNT_NAME": os.environ.get("DC_AZURE_ACCOUNT", ""),
            "AZURE_STORAGE_ACCOUNT_KEY": os.environ.get("DC_AZURE_KEY", ""),
        }
        endpoint = os.environ.get("DC_AZURE_ENDPOINT", "")
        if endpoint:
            opts["AZURE_STORAGE_USE_EMULATOR"] = "true"
            opts["AZURE_ALLOW_HTTP"] = "true"
            opts["AZURE_ENDPOINT"] = endpoint
        return opts
    return None


def plain(v):
    """Turns Arrow values into JSON-friendly ones."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def open_table(uri, version=None):
    from deltalake import DeltaTable

    return DeltaTable(uri, version=version, storage_options=storage_options(uri))


def cmd_read(a):
    dt = open_table(a.uri, a.version)
    tbl = dt.to_pyarrow_table()
    meta = dt.metadata()
    proto = dt.protocol()
    out = {
        "version": dt.version(),
        "num_rows": tbl.num_rows,
        "partition_columns": list(meta.partition_columns),
        "schema": json.loads(dt.schema().to_json()),
        "arrow_schema": {f.name: str(f.type) for f in tbl.schema},
        "protocol": {"min_reader_version": proto.min_reader_version, "min_writer_version": proto.min_writer_version},
        "history": [
            {"version": h.get("version"), "operation": h.get("operation"), "offsets": h.get("danubeOffsets")}
            for h in dt.history()
        ],
        "files": len(dt.file_uris()),
        "txn": {app: dt.transaction_version(app) for app in (a.app or [])},
    }
    if a.rows:
        rows = tbl.to_pylist()
        if a.sort:
            rows.sort(key=lambda r: (r.get(a.sort) is None, r.get(a.sort)))
        out["rows"] = plain(rows)
    import pyarrow as pa

    adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    out["add_actions"] = plain(adds)
    json.dump(out, sys.stdout, default=str)


def read_jsonl(path):
    import pyarrow.json as pj

    return pj.read_json(path)


def cmd_append(a):
    from deltalake import write_deltalake

    tbl = read_jsonl(a.jsonl)
    write_deltalake(a.uri, tbl, mode=a.mode, partition_by=a.partition_by or None,
                    storage_options=storage_options(a.uri))
    dt = open_table(a.uri)
    json.dump({"version": dt.version(), "rows_written": tbl.num_rows}, sys.stdout)


def cmd_checkpoint(a):
    dt = open_table(a.uri)
    dt.create_checkpoint()
    json.dump({"version": dt.version()}, sys.stdout)


def cmd_vacuum(a):
    dt = open_table(a.uri)
    files = dt.vacuum(retention_hours=a.retention_hours, dry_run=a.dry_run, enforce_retention_duration=False)
    json.dump({"files": sorted(files)}, sys.stdout)


def cmd_bench_write(a):
    """Baseline (c): pyarrow reads the whole JSON-lines file, delta-rs writes it as one batch."""
    from deltalake import write_deltalake

    start = time.perf_counter()
    tbl = read_jsonl(a.jsonl)
    parsed = time.perf_counter()
    write_deltalake(a.uri, tbl, mode="append", storage_options=storage_options(a.uri))
    done = time.perf_counter()
    json.dump({"rows": tbl.num_rows, "read_seconds": parsed - start, "write_seconds": done - parsed,
               "seconds": done - start}, sys.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("uri")
    r.add_argument("--rows", action="store_true")
    r.add_argument("--sort")
    r.add_argument("--app", action="append")
    r.add_argument("--version", type=int)
    r.set_defaults(fn=cmd_read)
    w = sub.add_parser("append")
    w.add_argument("uri")
    w.add_argument("jsonl")
    w.add_argument("--partition-by", action="append")
    w.add_argument("--mode", default="append")
    w.set_defaults(fn=cmd_append)
    c = sub.add_parser("checkpoint")
    c.add_argument("uri")
    c.set_defaults(fn=cmd_checkpoint)
    v = sub.add_parser("vacuum")
    v.add_argument("uri")
    v.add_argument("--dry-run", action="store_true")
    v.add_argument("--retention-hours", type=int, default=0)
    v.set_defaults(fn=cmd_vacuum)
    b = sub.add_parser("bench-write")
    b.add_argument("jsonl")
    b.add_argument("uri")
    b.set_defaults(fn=cmd_bench_write)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    # deltalake's native runtime can abort the interpreter at exit
    # ("terminate called without an active exception") after all output was
    # written; leave without running the interpreter's teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
