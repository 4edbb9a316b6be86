/**
 * What `[[webhooks]]` may subscribe to: the kinds of the event stream, derived from the bus's
 * events through the stream's own mapping (`kindOf`), so a kind added to the bus is accepted here
 * with no edit. Kept out of `WebhooksConfig.ts`: the bus module needs the config module, and the
 * config Schema must load first.
 */
import { Redacted } from "effect"
import { type BusEvent, busEventTags } from "../bus/BusEvent.ts"
import type { MinibotConfig } from "../config/Config.ts"
import { suggest } from "../config/ConfigProblems.ts"
import { kindOf } from "../control/api/EventStream.ts"
import { allEvents } from "./WebhooksConfig.ts"

/** `kindOf` reads only the tag, so a bare tag stands for an event of that kind. */
export const eventKinds: ReadonlyArray<string> = busEventTags.map((tag) => kindOf({ _tag: tag } as BusEvent))

/** A secret shorter than this is guessable enough to forge signatures. */
export const minSecretChars = 16

/** Problems of the `[[webhooks]]` entries the Schema cannot see, each naming its key. */
export const webhookProblems = (config: MinibotConfig): Array<string> => {
  const problems: Array<string> = []
  const seen = new Map<string, number>()
  config.webhooks.forEach((webhook, i) => {
    const at = `webhooks[${i}]`
    const first = seen.get(webhook.url)
    if (first !== undefined) problems.push(`${at}.url: the same URL as webhooks[${first}]; list its events there`)
    else seen.set(webhook.url, i)
    const parsed = new URL(webhook.url)
    if (parsed.username !== "" || parsed.password !== "") {
      problems.push(`${at}.url: credentials in the URL are not sent; put a token in the path or query instead`)
    }
    webhook.events.forEach((kind, j) => {
      if (kind === allEvents || eventKinds.includes(kind)) return
      const close = suggest(kind, eventKinds)
      problems.push(
        `${at}.events[${j}]: unknown event kind ${JSON.stringify(kind)}` +
          (close !== undefined
            ? `; did you mean "${close}"?`
            : ` (known: ${eventKinds.join(", ")}, or "${allEvents}" for all)`)
      )
    })
    if (Redacted.value(webhook.secret).length < minSecretChars) {
      problems.push(
        `${at}.secret: must be at least ${minSecretChars} characters (for example the output of \`openssl rand -hex 32\`)`
      )
    }
  })
  return problems
}
