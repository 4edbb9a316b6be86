/**
 * The delivery ledger: for each message or job firing, whether its reply reached the chat, and
 * Resend for one whose stored reply did not (the daemon refuses, saying why, when it did).
 */
import { Schema } from "effect"
import { useState } from "preact/hooks"
import type { Delivery } from "../../../src/control/api/Api.ts"
import { TurnStatus } from "../../../src/runtime/TurnLedger.ts"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Link, Table } from "../ui.tsx"

const statuses = TurnStatus.literals
const isStatus = Schema.is(TurnStatus)
const pageSize = 50

export const DeliveriesPage = () => {
  const [conversation, setConversation] = useState("")
  const [status, setStatus] = useState("")
  const [pages, setPages] = useState(1)
  const ledger = useLoad(
    () =>
      call((c) =>
        c.deliveries.list({
          urlParams: {
            limit: pageSize * pages,
            ...(conversation.trim() === "" ? {} : { conversation: conversation.trim() }),
            ...(isStatus(status) ? { status } : {})
          }
        })
      ),
    [conversation, status, pages]
  )
  const reload = useThrottled(ledger.reload, 500)
  useEvents(reload)
  const items: ReadonlyArray<typeof Delivery.Type> = ledger.data?.items ?? []
  /** What the last Resend of each delivery said, by delivery id. */
  const [outcomes, setOutcomes] = useState<Record<string, { ok: boolean; text: string }>>({})

  const resend = async (id: string) => {
    setOutcomes((o) => ({ ...o, [id]: { ok: true, text: "Sending…" } }))
    try {
      const result = await call((c) => c.deliveries.resend({ path: { id } }))
      setOutcomes((o) => ({ ...o, [id]: { ok: true, text: `Resent (${result.chunks} message(s)).` } }))
      ledger.reload()
    } catch (e) {
      setOutcomes((o) => ({
        ...o,
        [id]: { ok: false, text: `Refused: ${e instanceof Error ? e.message : String(e)}` }
      }))
    }
  }

  return (
    <>
      <h1>Deliveries</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Conversation
          <input
            type="search"
            name="conversation"
            placeholder="telegram:42"
            value={conversation}
            onChange={(e) => setConversation(e.currentTarget.value)}
          />
        </label>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {statuses.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
      </form>
      <ErrorNote error={ledger.error} />
      <Table
        caption="Deliveries, newest first"
        head={["Updated", "Conversation", "Message", "Status", "Reply or error", ""]}
      >
        {items.length === 0
          ? <Empty columns={6}>{ledger.loading ? "Loading…" : "Nothing recorded."}</Empty>
          : items.map((d) => (
            <tr key={`${d.conversationId}/${d.messageId}`}>
              <td>{formatTime(d.updatedAt)}</td>
              <td>
                <Link to={`/conversations/${encodeURIComponent(d.conversationId)}`}>{d.conversationId}</Link>
              </td>
              <td>
                <code>{d.messageId}</code>
              </td>
              <td>
                <span class={`status ${d.status}`}>{d.status}</span>
              </td>
              <td class="details">{d.error ?? d.reply ?? "—"}</td>
              <td>
                {d.status === "delivered" ? null : (
                  <button
                    type="button"
                    class="secondary outline small"
                    aria-label={`Resend ${d.messageId}`}
                    onClick={() => void resend(d.id)}
                  >
                    Resend
                  </button>
                )}
                {outcomes[d.id] === undefined ?
                  null :
                  <small class={outcomes[d.id]!.ok ? "notice" : "error"} role="status">{outcomes[d.id]!.text}</small>}
              </td>
            </tr>
          ))}
      </Table>
      {ledger.data?.nextCursor == null ?
        null :
        <button type="button" class="secondary outline" onClick={() => setPages((p) => p + 1)}>Show more</button>}
    </>
  )
}
