/**
 * The chats the daemon has talked in, and one chat's transcript with what an operator may do in
 * it: write as its user (a turn, answered in the chat), write as the bot, stop the running turn,
 * forget the history. Both views reload when an event of theirs arrives.
 */
import { useState } from "preact/hooks"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Link, Table } from "../ui.tsx"

/** Transcript pages read at most (500 messages each). */
const maxTranscriptPages = 10

export const ConversationsPage = () => {
  const list = useLoad(() => call((c) => c.conversations.list({ urlParams: { limit: 200 } })), [])
  const reload = useThrottled(list.reload)
  useEvents(reload)
  const items = list.data?.items ?? []
  return (
    <>
      <h1>Conversations</h1>
      <ErrorNote error={list.error} />
      <Table caption="Conversations, most recent first" head={["Conversation", "Channel", "Last activity", "Messages"]}>
        {items.length === 0
          ? <Empty columns={4}>{list.loading ? "Loading…" : "No conversation yet."}</Empty>
          : items.map((c) => (
            <tr key={c.id}>
              <td>
                <Link to={`/conversations/${encodeURIComponent(c.id)}`}>{c.id}</Link>
              </td>
              <td>{c.channel}</td>
              <td>{formatTime(c.lastActivityAt)}</td>
              <td>{c.messageCount}</td>
            </tr>
          ))}
      </Table>
    </>
  )
}

/** The whole stored history of a conversation, oldest first (the API pages from the oldest). */
const transcript = async (id: string) => {
  const messages = []
  let cursor: string | null = null
  for (let page = 0; page < maxTranscriptPages; page++) {
    const result: Awaited<ReturnType<typeof readPage>> = await readPage(id, cursor)
    messages.push(...result.items)
    cursor = result.nextCursor
    if (cursor === null) break
  }
  return messages
}

const readPage = (id: string, cursor: string | null) =>
  call((c) =>
    c.conversations.messages({
      path: { id },
      urlParams: { limit: 500, ...(cursor === null ? {} : { cursor }) }
    })
  )

const roleLabel: Record<string, string> = { user: "User", assistant: "Bot", tool: "Tool", system: "System" }

export const ConversationPage = (props: { params: Record<string, string> }) => {
  const id = props.params.id!
  const messages = useLoad(() => transcript(id), [id])
  const reload = useThrottled(messages.reload)
  useEvents((event) => {
    if (event.conversationId === id) reload()
  }, [id])

  const [text, setText] = useState("")
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [confirmReset, setConfirmReset] = useState(false)

  const act = async (what: () => Promise<string>) => {
    setBusy(true)
    setError(undefined)
    setNotice(undefined)
    try {
      setNotice(await what())
      messages.reload()
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setBusy(false)
    }
  }

  const send = (as: "user" | "bot") =>
    act(async () => {
      const result = await call((c) => c.conversations.inject({ path: { id }, payload: { text, as } }))
      setText("")
      return as === "bot"
        ? `Sent as the bot (${result.chunks ?? 0} message${result.chunks === 1 ? "" : "s"}).`
        : `Stored as message ${result.messageId}: the reply will follow.`
    })

  const stop = () =>
    act(async () => {
      const { stopped } = await call((c) => c.conversations.stop({ path: { id } }))
      return stopped ? "The running turn was stopped." : "No turn was running."
    })

  const reset = () =>
    act(async () => {
      setConfirmReset(false)
      const { removedMessages } = await call((c) => c.conversations.reset({ path: { id } }))
      return `History forgotten (${removedMessages} messages).`
    })

  const items = messages.data ?? []
  return (
    <>
      <nav aria-label="Breadcrumb">
        <ul>
          <li>
            <Link to="/conversations">Conversations</Link>
          </li>
          <li>{id}</li>
        </ul>
      </nav>
      <h1>{id}</h1>
      <ErrorNote error={messages.error} />
      <section aria-label="Transcript">
        <ol class="transcript" aria-live="polite">
          {items.length === 0
            ? <li class="muted">{messages.loading ? "Loading…" : "No stored messages."}</li>
            : items.map((m) => (
              <li key={m.id} class={`message ${m.role}`}>
                <span class="meta">
                  {roleLabel[m.role] ?? m.role} · <time>{formatTime(m.createdAt)}</time>
                </span>
                {m.role === "tool"
                  ? (
                    <details>
                      <summary>Result</summary>
                      <pre class="text">{m.content}</pre>
                    </details>
                  )
                  : <span class="text">{m.content ?? (m.role === "assistant" ? "(calls a tool)" : "(no text)")}</span>}
              </li>
            ))}
        </ol>
      </section>
      <section aria-label="Act in this conversation">
        <form
          onSubmit={(e) => {
            e.preventDefault()
            void send("user")
          }}
        >
          <label>
            Message
            <textarea
              name="text"
              rows={3}
              required
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                  e.preventDefault()
                  void send("user")
                }
              }}
            />
            <small>Ctrl+Enter sends as the user.</small>
          </label>
          <div class="actions" role="group">
            <button type="submit" disabled={busy || text.trim() === ""}>Send as user</button>
            <button
              type="button"
              class="secondary"
              disabled={busy || text.trim() === ""}
              onClick={() => void send("bot")}
            >
              Send as bot
            </button>
          </div>
        </form>
        <div class="actions" role="group">
          <button type="button" class="contrast" disabled={busy} onClick={() => void stop()}>Stop</button>
          {confirmReset
            ? (
              <>
                <button type="button" class="danger" onClick={() => void reset()}>Forget the history</button>
                <button type="button" class="secondary outline" onClick={() => setConfirmReset(false)}>Keep it</button>
              </>
            )
            : (
              <button type="button" class="secondary outline" disabled={busy} onClick={() => setConfirmReset(true)}>
                Reset…
              </button>
            )}
        </div>
        <div aria-live="polite">
          {notice === undefined ? null : <p class="notice">{notice}</p>}
        </div>
        <ErrorNote error={error} />
      </section>
    </>
  )
}
