// Generates testdata/describe_chdb_26.7.jsonl: DESCRIBE TABLE output of a modern
// ClickHouse (chDB 26.7, in-process) for a table with every column type family.
//   npm install chdb@3.4.0 && node gen_describe_chdb.js > describe_chdb_26.7.jsonl
// (run it from the directory holding node_modules).
const { query, Session } = require("chdb");
const s = new Session();
const ddl = `CREATE TABLE t (
  i8 Int8, i16 Int16, i32 Int32, i64 Int64, i128 Int128, i256 Int256,
  u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, u128 UInt128, u256 UInt256,
  f32 Float32, f64 Float64, b Bool,
  d1 Decimal(9,2), d2 Decimal32(4), d3 Decimal64(6), d4 Decimal128(10), d5 Decimal256(20), d6 Decimal(76, 38),
  s String, fs FixedString(16), u UUID,
  e8 Enum8('a' = 1, 'b c' = 2, 'it''s' = -3), e16 Enum16('x' = 1000, 'y' = -1000),
  dt Date, dt32 Date32, ts DateTime, tstz DateTime('Europe/Berlin'), t64 DateTime64(3), t64tz DateTime64(9, 'Asia/Tokyo'), t64_6 DateTime64(6, 'UTC'),
  ip4 IPv4, ip6 IPv6,
  n Nullable(Int32), lc LowCardinality(String), lcn LowCardinality(Nullable(String)), lcfs LowCardinality(FixedString(4)),
  a Array(Int64), aa Array(Array(Nullable(String))), an Array(Nullable(Float64)),
  m Map(String, UInt64), mm Map(LowCardinality(String), Array(Map(String, Nullable(Int32)))),
  tu Tuple(Int32, String), tn Tuple(x Int32, y Nullable(String)), tnn Tuple(a Tuple(b Int32, c Array(String)), d DateTime64(3, 'UTC')),
  at Array(Tuple(id UInt64, name String)),
  nest Nested(k String, v Float64),
  j JSON, jt JSON(max_dynamic_paths = 10, a.b UInt32, SKIP c),
  var Variant(String, UInt64), dyn Dynamic,
  ts_mat DateTime MATERIALIZED now(), al String ALIAS s, def UInt32 DEFAULT 7,
  low_card_date LowCardinality(Date)
) ENGINE = MergeTree ORDER BY tuple()`;
s.query("SET allow_experimental_json_type=1, allow_experimental_variant_type=1, allow_experimental_dynamic_type=1, allow_suspicious_low_cardinality_types=1");
s.query("CREATE DATABASE IF NOT EXISTS db");
s.query("USE db");
try { s.query(ddl); } catch (e) { console.error("DDL", e.message); process.exit(1); }
process.stdout.write(s.query("SELECT version()", "JSONCompactEachRow"));
process.stdout.write(s.query("DESCRIBE TABLE t", "JSONCompactEachRow"));
s.query("SET flatten_nested=0"); s.query("CREATE TABLE t2 (nest Nested(k String, v Nullable(Float64)), ts DateTime64(3)) ENGINE=Memory"); process.stdout.write(s.query("DESCRIBE TABLE t2", "JSONCompactEachRow"));
s.cleanup();
