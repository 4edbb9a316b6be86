/**
 * How a configuration problem is worded: a misspelt key gets the key it probably meant, a huge
 * value is shortened, and no secret is ever echoed (a secret-named key is described by its type
 * only, and every secret value found in the document is masked in every line).
 */
import { makeRedactor } from "../observability/Redaction.ts"

/** Keys whose values are secrets, wherever they appear (also in tables this version ignores). */
const secretKey = /(token|secret|api_key|password|postgres_url)$/

export const isSecretKey = (key: string): boolean => secretKey.test(key)

/** A key path as the TOML reads: `webhooks[0].events[1]`, `channels.telegram.mode`. */
export const keyPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) =>
      typeof key === "number" || /^\d+$/.test(String(key))
        ? `${text}[${String(key)}]`
        : text === ""
        ? String(key)
        : `${text}.${String(key)}`,
    ""
  )

/** Edit distance with adjacent transpositions (`modle` is one step from `model`). */
const distance = (a: string, b: string): number => {
  const d: Array<Array<number>> = Array.from({ length: a.length + 1 }, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
      }
    }
  }
  return d[a.length]![b.length]!
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export const suggest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  // Long names are not compared: a pasted value is not a typo, and the work stays bounded.
  if (name.length > 64) return undefined
  const lower = name.toLowerCase()
  let best: { key: string; d: number } | undefined
  for (const key of known) {
    const d = distance(lower, key)
    if (d <= Math.max(1, Math.min(2, Math.floor(key.length / 3))) && (best === undefined || d < best.d)) {
      best = { key, d }
    }
  }
  return best?.key
}

const maxValueChars = 60
const maxLineChars = 300

/** A value as it may appear in a message: at most about 60 characters, with the full length said. */
export const shorten = (text: string, max = maxValueChars): string =>
  text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`

/** One problem line, never longer than a screen line or two. */
export const shortenLine = (line: string): string => shorten(line, maxLineChars)

/** What a value is, without saying what it holds. */
export const kindOf = (value: unknown): string =>
  Array.isArray(value)
    ? "an array"
    : value instanceof Date
    ? "a date"
    : value === null
    ? "null"
    : typeof value === "object"
    ? "a table"
    : typeof value === "string"
    ? "a string"
    : `a ${typeof value}`

/** The value at a key path of a parsed document, if any. */
export const valueAt = (document: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>(
    (node, key) => node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined,
    document
  )

/** Every string held under a secret-named key of the document, at any depth and in any shape. */
export const secretValues = (document: unknown): Array<string> => {
  const found: Array<string> = []
  const strings = (value: unknown): void => {
    if (typeof value === "string") found.push(value)
    else if (value !== null && typeof value === "object") Object.values(value).forEach(strings)
  }
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== "object") return
    for (const [key, inner] of Object.entries(value)) {
      if (isSecretKey(key)) strings(inner)
      else walk(inner)
    }
  }
  walk(document)
  return found
}

/** Problem lines as they may be printed: secrets masked, each line bounded. */
export const presentable = (problems: ReadonlyArray<string>, secrets: ReadonlyArray<string>): Array<string> => {
  const redact = makeRedactor(secrets)
  return problems.map((p) => shortenLine(redact(p)))
}
