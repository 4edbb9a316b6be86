/**
 * The fake LLM as its own process, for end-to-end tests of the CLI and for the benchmark:
 *
 *   node --import tsx test/support/fake-llm-main.ts [--port N] [--latency-ms N] [--api-key KEY] [--report-handled]
 *
 * Prints `{"url":"http://127.0.0.1:N/v1"}` as one line on stdout once listening, then serves
 * (echoing the last user message) until SIGTERM/SIGINT. With `--report-handled`, one more line
 * per chat completion answered: `{"user":"<last user message>","handledMs":N}` (the benchmark
 * subtracts the fake's own time from a reply's).
 */
import { lastUserContent, type RecordedRequest, startFakeLlm } from "./FakeLlm.ts"

const usage = "usage: fake-llm-main.ts [--port N] [--latency-ms N] [--api-key KEY] [--report-handled]"

const report = (request: RecordedRequest) => {
  if (request.path !== "/v1/chat/completions" || !Array.isArray(request.body?.messages)) return
  process.stdout.write(JSON.stringify({ user: lastUserContent(request.body), handledMs: request.handledMs }) + "\n")
}

const parseArgs = (argv: ReadonlyArray<string>) => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--report-handled") {
      values.set(arg, "")
      continue
    }
    const [name, inline] = arg.split("=", 2) as [string, string | undefined]
    if (!["--port", "--latency-ms", "--api-key"].includes(name)) throw new Error(`unknown argument ${arg}\n${usage}`)
    const value = inline ?? argv[++i]
    if (value === undefined) throw new Error(`${name} needs a value\n${usage}`)
    values.set(name, value)
  }
  const int = (name: string) => {
    const raw = values.get(name)
    if (raw === undefined) return undefined
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${raw}`)
    return n
  }
  const port = int("--port")
  const latencyMs = int("--latency-ms")
  const apiKey = values.get("--api-key")
  return {
    ...(port === undefined ? {} : { port }),
    ...(latencyMs === undefined ? {} : { latencyMs }),
    ...(apiKey === undefined ? {} : { expectedApiKey: apiKey }),
    ...(values.has("--report-handled") ? { onHandled: report } : {})
  }
}

const main = async () => {
  let options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`)
    process.exit(2)
  }
  const fake = await startFakeLlm(options)
  process.stdout.write(JSON.stringify({ url: fake.url }) + "\n")
  const stop = () => {
    fake.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}

void main()
