/**
 * The fake LLM as its own process, for end-to-end tests of the CLI and for the benchmark:
 *
 *   node --import tsx test/support/fake-llm-main.ts [--port N] [--latency-ms N] [--api-key KEY]
 *
 * Prints `{"url":"http://127.0.0.1:N/v1"}` as one line on stdout once listening, then serves
 * (echoing the last user message) until SIGTERM/SIGINT.
 */
import { startFakeLlm } from "./FakeLlm.ts"

const usage = "usage: fake-llm-main.ts [--port N] [--latency-ms N] [--api-key KEY]"

const parseArgs = (argv: ReadonlyArray<string>) => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
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
    ...(apiKey === undefined ? {} : { expectedApiKey: apiKey })
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
