/**
 * `[telemetry]`: the daemon as a process (dist/main.js) against the fake Bot API, the fake LLM and
 * a loopback OTLP receiver. One Telegram message is one trace, from the update to the reply.
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, telegramDaemonConfig } from "../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/OtlpReceiver.ts"

const { adopt, launch } = processScope()
requireBuilt("OtlpTracer", "OTLP exporter chunk")

const headerSecret = "otlp-header-secret-5f3a9c1e"

const setUp = async (telemetry: (receiver: OtlpReceiver) => string) => {
  const dir = tempDir()
  const telegram = adopt(await startFakeTelegram())
  const llm = adopt(await startFakeLlm())
  const receiver = adopt(await startOtlpReceiver())
  const file = telegramDaemonConfig(
    dir,
    telegram,
    llm,
    `allowed_user_ids = [42]\n${telemetry(receiver)}`,
    "request_timeout_seconds = 30"
  )
  return { dir, telegram, llm, receiver, file }
}

/** One message answered, then a clean stop (the exporter's last batch goes out at shutdown). */
const oneMessage = async (setup: Awaited<ReturnType<typeof setUp>>, logLevel?: string) => {
  const daemon = launch(
    ["run", "--config", setup.file],
    { cwd: setup.dir, ...(logLevel ? { env: { MINIBOT_LOG_LEVEL: logLevel } } : {}) }
  )
  setup.telegram.pushText({ chatId: 42, userId: 42, text: "trace me" })
  await setup.telegram.waitForSent(1, 20_000)
  daemon.child.kill("SIGTERM")
  expect((await daemon.exited).code).toBe(0)
  return daemon
}

describe("tracing over OTLP", () => {
  it("one Telegram message: inbound, turn, LLM request, tool call and sendMessage spans in one trace, with the conversation id", async () => {
    const setup = await setUp((receiver) =>
      `[telemetry]
enabled = true
endpoint = "${receiver.url}"
service_name = "minibot-test"
headers = { "x-api-key" = "${headerSecret}" }
`
    )
    setup.llm.enqueue({ toolCalls: [{ name: "current_datetime", arguments: {} }] })
    const daemon = await oneMessage(setup)
    expect(setup.telegram.sent.map((m) => m.visibleText)).toEqual(["echo: trace me"])

    const spans = setup.receiver.spans
    const inbound = spans.find((s) => s.name === "Telegram.inbound" && s.attributes["minibot.message_id"] !== undefined)
    expect(inbound).toBeDefined()
    const trace = spans.filter((s) => s.traceId === inbound!.traceId)
    const names = trace.map((s) => s.name)
    expect(names).toEqual(expect.arrayContaining([
      "Telegram.inbound",
      "Actors.submit",
      "ConversationTurn.handle",
      "Llm.complete",
      "Tool.current_datetime",
      "TelegramApi.sendMessage"
    ]))
    expect(names.filter((name) => name === "Llm.complete")).toHaveLength(2)
    for (
      const name of [
        "Telegram.inbound",
        "ConversationTurn.handle",
        "Llm.complete",
        "Tool.current_datetime",
        "TelegramApi.sendMessage"
      ]
    ) {
      const span = trace.find((s) => s.name === name)!
      expect(span.attributes).toMatchObject({
        "minibot.conversation_id": "telegram:42",
        "minibot.request_id": inbound!.attributes["minibot.request_id"]
      })
    }
    expect(inbound!.attributes["minibot.request_id"]).toMatch(/^tg-\d+$/)
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(["minibot-test"]))
    // The header reached the collector, and never the log.
    expect(setup.receiver.requests[0]!["x-api-key"]).toBe(headerSecret)
    expect(daemon.stderr).toContain("exporting traces")
    expect(daemon.stderr).not.toContain(headerSecret)
  })

  it("the trace context travels with the stored message: after a kill -9, the next process's turn continues the same trace", async () => {
    const setup = await setUp((receiver) => `[telemetry]\nenabled = true\nendpoint = "${receiver.url}"\n`)
    setup.llm.script((request) =>
      setup.llm.completions().length === 1 ? { hang: true } : { content: `answer to ${lastUserContent(request)}` }
    )
    const first = launch(["run", "--config", setup.file], { cwd: setup.dir })
    setup.telegram.pushText({ chatId: 42, userId: 42, text: "slow question" })
    const inbound = await setup.receiver.waitForSpan((s) =>
      s.name === "Telegram.inbound" && s.attributes["minibot.message_id"] !== undefined
    )
    await setup.llm.waitFor((f) => f.completions().length === 1, 15_000)
    first.child.kill("SIGKILL")
    await first.exited

    // The message is read back from the mailbox table by a new process, as another runner would.
    const second = launch(["run", "--config", setup.file], { cwd: setup.dir })
    await setup.telegram.waitForSent(1, 20_000)
    second.child.kill("SIGTERM")
    expect((await second.exited).code).toBe(0)
    expect(setup.telegram.sent.map((m) => m.visibleText)).toEqual(["answer to slow question"])
    const turn = setup.receiver.spans.find((s) =>
      s.name === "ConversationTurn.handle" &&
      s.attributes["minibot.message_id"] === inbound.attributes["minibot.message_id"]
    )
    expect(turn?.traceId).toBe(inbound.traceId)
  })

  it("a collector that refuses every export: the daemon answers, and the header secret stays out of the debug log", async () => {
    const setup = await setUp((receiver) =>
      `[telemetry]
enabled = true
endpoint = "${receiver.url}"
headers = { "x-honeycomb-team" = "${headerSecret}" }
`
    )
    setup.receiver.status = 401
    const daemon = await oneMessage(setup, "debug")
    expect(setup.telegram.sent.map((m) => m.visibleText)).toEqual(["echo: trace me"])
    expect(setup.receiver.requests.length).toBeGreaterThan(0)
    expect(daemon.stderr).toContain("OtlpTracer")
    expect(daemon.stderr).not.toContain(headerSecret)
  })

  it("disabled (the default): nothing is exported, and the exporter never starts", async () => {
    const setup = await setUp((receiver) => `[telemetry]\nenabled = false\nendpoint = "${receiver.url}"\n`)
    const daemon = await oneMessage(setup)
    expect(setup.telegram.sent.map((m) => m.visibleText)).toEqual(["echo: trace me"])
    expect(setup.receiver.requests).toHaveLength(0)
    expect(daemon.stderr).not.toContain("exporting traces")
  })
})
