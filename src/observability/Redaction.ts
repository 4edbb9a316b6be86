/**
 * Masking of secrets in text that leaves the process (log lines, configuration errors). A secret
 * reaches a line in many spellings: as given, URL-encoded by an SDK or an upstream server that
 * echoes a request URL, JSON-escaped inside an error body. Each spelling is masked.
 */

export const redactedMark = "<redacted>"

/** Telegram bot tokens (`id:secret`, the colon possibly URL-encoded) and OpenAI-style keys. */
const shapedSecrets = [
  /(?<!\d)\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}/g,
  /\bsk-[A-Za-z0-9_-]{20,}/g
]

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1)

/** Every spelling of a secret that a line may carry. */
export const encodings = (secret: string): Array<string> => {
  const url = encodeURIComponent(secret)
  const once = jsonEscaped(secret)
  return [...new Set([secret, url, url.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()), once, jsonEscaped(once)])]
}

/** A function masking the given secrets (in every spelling) and anything shaped like a token or key. */
export const makeRedactor = (secrets: ReadonlyArray<string>): (line: string) => string => {
  const values = [...new Set(secrets.filter((s) => s.length >= 4).flatMap(encodings))].sort((a, b) =>
    b.length - a.length
  )
  const pattern = values.length > 0 ? new RegExp(values.map(escapeRegExp).join("|"), "g") : undefined
  return (line) => {
    let masked = pattern ? line.replace(pattern, redactedMark) : line
    for (const shape of shapedSecrets) masked = masked.replace(shape, redactedMark)
    return masked
  }
}
