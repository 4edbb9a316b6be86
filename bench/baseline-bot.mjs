// The bot a user would write instead of minibot: grammY long polling, the openai SDK, and the
// history of each chat in one JSON file. `npm run bench` measures minibot against it through the
// same loopback fakes. Configured by the environment: TELEGRAM_BOT_TOKEN, TELEGRAM_API_ROOT,
// OPENAI_API_KEY, OPENAI_BASE_URL, MODEL, ALLOWED_USER_IDS, HISTORY_FILE.
import { Bot } from "grammy"
import * as fs from "node:fs"
import OpenAI from "openai"

const env = process.env
const historyFile = env.HISTORY_FILE ?? "history.json"
const allowed = new Set((env.ALLOWED_USER_IDS ?? "").split(",").filter(Boolean).map(Number))
const systemPrompt = "You are a helpful personal assistant. Answer concisely."
const historyWindow = 12

/** chat id -> the messages of that chat, oldest first. */
const history = fs.existsSync(historyFile) ? JSON.parse(fs.readFileSync(historyFile, "utf8")) : {}
const save = () => fs.promises.writeFile(historyFile, JSON.stringify(history))

const bot = new Bot(env.TELEGRAM_BOT_TOKEN, {
  client: { apiRoot: env.TELEGRAM_API_ROOT ?? "https://api.telegram.org" }
})
const openai = new OpenAI({ apiKey: env.OPENAI_API_KEY, baseURL: env.OPENAI_BASE_URL, maxRetries: 2, timeout: 60_000 })

bot.command("reset", async (ctx) => {
  delete history[ctx.chat.id]
  await save()
  await ctx.reply("History cleared.")
})

bot.on("message:text", async (ctx) => {
  if (!allowed.has(ctx.from.id)) return
  const past = (history[ctx.chat.id] ??= [])
  past.push({ role: "user", content: ctx.message.text })
  let answer
  try {
    const completion = await openai.chat.completions.create({
      model: env.MODEL ?? "gpt-4o-mini",
      messages: [{ role: "system", content: systemPrompt }, ...past.slice(-historyWindow)]
    })
    answer = completion.choices[0]?.message?.content || "(empty answer)"
  } catch (error) {
    console.error(`llm error: ${error.message}`)
    answer = "Sorry, the model is not answering right now."
  }
  past.push({ role: "assistant", content: answer })
  await save()
  await ctx.reply(answer)
})

bot.catch((error) => console.error(`telegram error: ${error.message}`))

const stop = () => bot.stop()
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
await bot.start()
