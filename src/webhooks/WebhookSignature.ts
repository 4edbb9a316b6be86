/**
 * The signature of a webhook request: `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
 * over the exact bytes sent, with the Unix time (seconds) of the attempt, so a receiver can check
 * both who sent it and that it is fresh (the README shows how).
 */
import { createHmac } from "node:crypto"

export const signatureHeader = "X-Minibot-Signature"
export const timestampHeader = "X-Minibot-Timestamp"
export const eventIdHeader = "X-Minibot-Event-Id"
export const eventKindHeader = "X-Minibot-Event"

export const sign = (secret: string, timestamp: number, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`
