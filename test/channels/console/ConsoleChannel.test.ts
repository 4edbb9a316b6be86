/** `minibot console` as a process with piped stdin: the chat commands, /stop, an LLM failure. */
import { describe, expect, it } from "@effect/vitest"
import { type MinibotProcess, processScope, writeConfig } from "../../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { tempDir } from "../../support/Harness.ts"

const { adopt, launch } = processScope()

const consoleSession = async () => {
  const dir = tempDir()
  const fake = adopt(await startFakeLlm())
  const config = writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
api_key = "sk-console-test-key"
model = "fake-model"
request_timeout_seconds = 30
retry_attempts = 1
`
  )
  const p = launch(["console", "--config", config], { cwd: dir })
  return { p, fake }
}

/** Sends a line and waits until stdout has grown by a reply matching `pattern`. */
const exchange = async (p: MinibotProcess, line: string, pattern: RegExp) => {
  const before = p.stdout.length
  p.send(line)
  await p.waitForStdout(new RegExp(`^[\\s\\S]{${before}}[\\s\\S]*${pattern.source}`))
}

describe("minibot console", () => {
  it("/help, /tasks, /status and /reset are answered without the model; piped output is only the replies", async () => {
    const { fake, p } = await consoleSession()
    await exchange(p, "/help", /\/help: this list\n/)
    await exchange(p, "my name is Ada", /echo: my name is Ada\n/)
    await exchange(p, "/tasks", /No tasks\. Ask me to remind you of something, or to check a page later\.\n/)
    await exchange(p, "/status", /Uptime: .*\n/)
    await exchange(p, "/reset", /Done: I forgot this conversation \(2 messages\)\.\n/)
    await exchange(p, "who am I?", /echo: who am I\?\n/)
    p.child.stdin!.end()
    expect((await p.exited).code).toBe(0)

    const lines = p.stdout.split("\n")
    expect(lines.slice(0, 10)).toEqual([
      "Write me anything and I answer.",
      "",
      "/reset: forget this conversation",
      "/status: model, history size, uptime, queue",
      "/stop: stop the answer being prepared",
      "/tasks: your reminders and tasks (/tasks show ID, /tasks cancel ID)",
      "/timezone: your time zone (/timezone Europe/Madrid sets it)",
      "/help: this list",
      "echo: my name is Ada",
      "No tasks. Ask me to remind you of something, or to check a page later."
    ])
    expect(lines.slice(10, 15).join("\n")).toMatch(
      /^Model: fake-model\nHistory: 2 messages \(1 exchange\)\nContext: about \d+ tokens \(no limit set\)\nQueue: 0 messages waiting in this chat\nUptime: \d+s$/
    )
    expect(lines.slice(15)).toEqual(["Done: I forgot this conversation (2 messages).", "echo: who am I?", ""])
    // The model saw two messages, and the second without the forgotten history.
    const asked = fake.completions().map((r) =>
      r.body.messages.filter((m) => m.role !== "system").map((m) => m.content)
    )
    expect(asked).toEqual([["my name is Ada"], ["who am I?"]])
  })

  it("/stop typed while the model works interrupts the turn: \"Stopped.\"", async () => {
    const { fake, p } = await consoleSession()
    fake.enqueue({ delayMs: 20_000 })
    p.send("think very hard")
    await fake.waitFor((f) => f.completions().length === 1, 10_000)
    const started = Date.now()
    p.send("/stop")
    await p.waitForStdout(/^Stopped\.\n$/, 5_000)
    expect(Date.now() - started).toBeLessThan(2_000)
    await fake.waitFor((f) => f.completions()[0]!.aborted, 2_000)
    await exchange(p, "/stop", /Nothing to stop: no answer is being prepared\.\n/)
    await exchange(p, "next", /echo: next\n/)
    p.child.stdin!.end()
    expect((await p.exited).code).toBe(0)
    expect(p.stdout).toBe("Stopped.\nNothing to stop: no answer is being prepared.\necho: next\n")
  })

  it("a reminder that comes due is printed in the session, between the replies", async () => {
    const { fake, p } = await consoleSession()
    fake.enqueue(
      {
        toolCalls: [{ name: "task_create", arguments: { kind: "message", text: "water the plants", delay_seconds: 1 } }]
      },
      { content: "I will remind you." }
    )
    await exchange(p, "remind me to water the plants in a second", /I will remind you\.\n/)
    await p.waitForStdout(/water the plants\n$/, 10_000)
    await exchange(p, "thanks", /echo: thanks\n/)
    // The task belongs to the console's user: /tasks shows it.
    await exchange(p, "/tasks", /Recently finished:\n\S+ \[completed\] message: water the plants/)
    p.child.stdin!.end()
    expect((await p.exited).code).toBe(0)
    expect(p.stdout).toMatch(/^I will remind you\.\nwater the plants\necho: thanks\nNo active tasks\./)
  })

  it("an LLM failure is explained in the terminal, with the details on stderr", async () => {
    const { fake, p } = await consoleSession()
    fake.script((request) =>
      lastUserContent(request) === "hello"
        ? { status: 401, message: "Incorrect API key provided" }
        : { content: "fine" }
    )
    await exchange(p, "hello", /credentials: the owner should check llm\.api_key\.\n/)
    p.child.stdin!.end()
    expect((await p.exited).code).toBe(0)
    expect(p.stdout).toBe(
      "Sorry, the language model rejected minibot's credentials: the owner should check llm.api_key.\n"
    )
    expect(p.stderr).toContain("llm.api_key")
    expect(p.stderr).not.toContain("sk-console-test-key")
  })
})
