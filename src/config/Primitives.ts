/**
 * The building blocks of every config section's Schema, in one place: a key with a default, a
 * section whose keys all have defaults, and the value types the sections share.
 */
import { DateTime, Option, Schema } from "effect"

/** A key that may be absent; absent decodes as `value()`. */
export const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value, exact: true })

/** A section whose every key has a default: an absent section decodes as `{}`. */
export const section = <A, I>(struct: Schema.Schema<A, I>) => {
  const defaults = () => Schema.decodeUnknownSync(struct)({})
  return Schema.optionalWith(struct, { default: defaults, exact: true })
}

export const PositiveInt = Schema.Int.pipe(Schema.positive())
export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
export const PositiveSeconds = Schema.Number.pipe(Schema.positive(), Schema.lessThanOrEqualTo(3600))
export const Port = Schema.Int.pipe(Schema.between(0, 65535))
export const Secret = Schema.Redacted(Schema.String)
export const IdList = Schema.Array(Schema.Int)

/**
 * The zone names Intl lists, read once. Checking a zone by building a formatter for it (what
 * `DateTime.zoneMakeNamed` does) loads ICU's date formatting: about 40 ms and 8 MB at every start,
 * for a config that names the default zone. Names Intl accepts but does not list (aliases such as
 * "Asia/Kolkata", other spellings) are still checked that way.
 */
let listedZones: ReadonlySet<string> | undefined
const isZoneName = (zone: string) =>
  zone === "UTC" ||
  (listedZones ??= new Set(Intl.supportedValuesOf("timeZone"))).has(zone) ||
  Option.isSome(DateTime.zoneMakeNamed(zone))

/** An IANA zone name that this Node's Intl knows. */
export const ZoneName = Schema.NonEmptyString.pipe(
  Schema.filter(isZoneName, {
    message: (issue) => `expected an IANA time zone such as "Europe/Madrid", got ${JSON.stringify(issue.actual)}`
  })
)

const isHttpUrl = (text: string) => {
  if (!URL.canParse(text)) return false
  const { protocol, hostname } = new URL(text)
  return (protocol === "http:" || protocol === "https:") && hostname !== ""
}

/** An absolute http(s) URL. */
export const HttpUrl = Schema.String.pipe(
  Schema.filter(isHttpUrl, {
    message: (issue) => `expected an http(s) URL, got ${JSON.stringify(issue.actual)}`
  })
)
