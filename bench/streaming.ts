/**
 * Streamed replies as a person sees them: `minibot run` (dist/) against the loopback fake Bot API
 * (flood limits on) and a fake LLM that streams an answer of about 60 tokens over about 2 s.
 *
 * - first token to first preview: when the fake LLM wrote the answer's first content chunk, until
 *   the first preview of that reply reached the fake Bot API (a `sendMessageDraft` in a private
 *   chat, the placeholder `sendMessage` in a group);
 * - Bot API calls per streamed reply: previews (drafts, or the placeholder and its edits) and the
 *   final sends (`sendMessage`, or the placeholder's last edit into the reply).
 *
 * Each reply is asked in a chat of its own (a person takes longer to type than a chat's flood
 * allowance takes to refill), `parallel` chats at a time. `BENCH_STREAM_REPLIES` sets how many
 * replies per kind of chat (default 20).
 */
import * as fs from "node:fs"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../test/support/FakeLlm.ts"
import { type ApiCall, type FakeTelegramServer, startFakeTelegram } from "../test/support/FakeTelegram.ts"
import { median, printRows, quantile, spawnDaemon, stopDaemon, telegramDaemonToml, tmp } from "./support.ts"

const replies = Number(process.env.BENCH_STREAM_REPLIES ?? 20)
const parallel = 4
const tokenDelayMs = 33

/** About 60 tokens of Markdown, as a model would answer a short question. */
const answer = (n: number) =>
  `Here is a short answer to question ${n}. **Streaming** shows the reply while the model writes it, ` +
  "so the person reads the first words at once instead of waiting for the whole text.\n\n" +
  "- in a private chat, a draft grows in place;\n- in a group, a placeholder message is edited;\n" +
  "- the final reply is sent once, complete, with its formatting."

const privateChat = (i: number) => 50_000 + i
const groupChat = (i: number) => -100_000 - i
const previewMethods = new Set(["sendMessageDraft", "sendMessage", "editMessageText"])

interface Sample {
  /** First content token written by the fake LLM until the first preview reached the fake Bot API. */
  readonly firstPreviewMs: number
  readonly previews: number
  readonly finals: number
}

/** The calls that showed reply `i` in its chat, in order. */
const callsIn = (tg: FakeTelegramServer, chatId: number): Array<ApiCall> =>
  tg.calls.filter((c) => previewMethods.has(c.method) && Number(c.params.chat_id) === chatId)

/** Asks question `i` in `chatId`; resolves with the sample once the complete reply is in the chat. */
const ask = async (tg: FakeTelegramServer, llm: FakeLlmServer, kind: "private" | "group", i: number) => {
  const chatId = kind === "private" ? privateChat(i) : groupChat(i)
  const question = `question ${i}`
  tg.pushText({
    chatId,
    userId: privateChat(i),
    text: kind === "private" ? question : `@minibot_test_bot ${question}`,
    chatType: kind === "private" ? "private" : "group"
  })
  const final = answer(i).split("\n")[0]!.replace(/\*\*/g, "")
  await tg.waitFor((f) =>
    f.sent.some((m) =>
      m.chat_id === chatId && m.visibleText.startsWith(final) &&
      m.visibleText.endsWith("with its formatting.")
    ), 30_000)
  const request = llm.completions().find((r) => lastUserContent(r.body).endsWith(question))
  if (request?.firstTokenAt === undefined) throw new Error(`the fake LLM did not stream an answer to "${question}"`)
  // The stream ended when the fake finished its response: what reached the chat after is the final reply.
  const streamEnd = request.receivedAt + request.handledMs!
  const calls = callsIn(tg, chatId)
  const isFinal = (c: ApiCall) => kind === "private" ? c.method === "sendMessage" : c.at >= streamEnd
  const previews = calls.filter((c) => !isFinal(c))
  return {
    firstPreviewMs: previews.length === 0 ? Number.NaN : previews[0]!.at - request.firstTokenAt,
    previews: previews.length,
    finals: calls.length - previews.length
  } satisfies Sample
}

const run = async (tg: FakeTelegramServer, llm: FakeLlmServer, kind: "private" | "group", from: number) => {
  const samples: Array<Sample> = []
  let next = from
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < from + replies) samples.push(await ask(tg, llm, kind, next++))
  }))
  return samples
}

const ms = (n: number) => `${n.toFixed(0)} ms`
const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / values.length

/** Rows of `| measure | value |`. */
export const main = async (): Promise<Array<[string, string]>> => {
  const llm = await startFakeLlm({ tokenDelayMs })
  const tg = await startFakeTelegram()
  llm.script((request) => ({ content: answer(Number(/(\d+)$/.exec(lastUserContent(request))?.[1])) }))
  const dir = tmp("minibot-bench-stream-")
  const chats = Array.from({ length: replies * 2 + 2 }, (_, i) => [privateChat(i), groupChat(i)]).flat()
  const child = spawnDaemon(
    dir,
    telegramDaemonToml({ dir, tg, llm, access: `allowed_chat_ids = [${chats.join(", ")}]` }),
    "inherit"
  )
  try {
    await tg.waitFor((f) => f.callsOf("getUpdates").length > 0, 30_000)
    // Warm-up: the first reply of each kind loads what a turn needs.
    await ask(tg, llm, "private", replies * 2)
    await ask(tg, llm, "group", replies * 2 + 1)
    const rows: Array<[string, string]> = []
    const tokens = answer(0).match(/\S+\s*|\s+/g)!.length
    const shape = `${tokens} tokens over ${((tokens * tokenDelayMs) / 1000).toFixed(1)} s`
    for (
      const [kind, label, from] of [["private", "private chat (draft)", 0], [
        "group",
        "group (placeholder)",
        replies
      ]] as const
    ) {
      const samples = await run(tg, llm, kind, from)
      const first = samples.map((s) => s.firstPreviewMs).filter((n) => !Number.isNaN(n))
      rows.push([
        `streamed reply (${shape}), ${label}: first token to first preview p50 / p99`,
        `${ms(median(first))} / ${ms(quantile(first, 0.99))}${
          first.length < samples.length
            ? ` (${samples.length - first.length} of ${samples.length} without a preview)`
            : ""
        }`
      ])
      rows.push([
        `streamed reply (${shape}), ${label}: Bot API calls per reply (previews + final)`,
        `${mean(samples.map((s) => s.previews)).toFixed(1)} + ${mean(samples.map((s) => s.finals)).toFixed(1)}`
      ])
    }
    return rows
  } finally {
    await stopDaemon(child)
    await tg.close()
    await llm.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printRows(main, ["measure", "value"])
