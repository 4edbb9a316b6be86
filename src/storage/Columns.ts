/**
 * Schemas of column values as the drivers return them, shared by every store. SQLite gives
 * integers as numbers; Postgres gives BIGINT (and `COUNT(*)`) as text, so an integer column
 * accepts a number or a numeric string and always decodes to a number. Anything else is a
 * `ParseError`, never a wrong value.
 */
import { Schema } from "effect"

/** An INTEGER or BIGINT column (epoch ms, ids, counts): a number, from a number or numeric text. */
export const SqlInt = Schema.Union(Schema.Int, Schema.compose(Schema.NumberFromString, Schema.Int)).annotations({
  identifier: "SqlInt"
})

/** A 0/1 flag column as a boolean (written back as 0/1; a Postgres BOOLEAN also decodes). */
export const SqlBool = Schema.transform(Schema.Literal(0, 1, "0", "1", false, true), Schema.Boolean, {
  strict: true,
  decode: (value) => value === 1 || value === "1" || value === true,
  encode: (flag) => (flag ? 1 : 0)
}).annotations({ identifier: "SqlBool" })

/** A `SELECT COUNT(*) AS n` row. */
export const CountRow = Schema.Struct({ n: SqlInt })
