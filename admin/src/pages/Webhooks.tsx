/**
 * The `[[webhooks]]` targets with their outbox counts and last error, and the deliveries, failed
 * ones first in view (the filter starts on "failed": what did not arrive).
 */
import { Schema } from "effect"
import { useState } from "preact/hooks"
import { DeliveryStatus } from "../../../src/webhooks/WebhookOutbox.ts"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const isStatus = Schema.is(DeliveryStatus)

export const WebhooksPage = () => {
  const targets = useLoad(() => call((c) => c.webhooks.list()), [])
  const [status, setStatus] = useState("failed")
  const deliveries = useLoad(
    () => call((c) => c.webhooks.deliveries({ urlParams: { limit: 100, ...(isStatus(status) ? { status } : {}) } })),
    [status]
  )
  const reloadTargets = useThrottled(targets.reload, 2000)
  const reloadDeliveries = useThrottled(deliveries.reload, 2000)
  useEvents(() => {
    reloadTargets()
    reloadDeliveries()
  })

  const items = targets.data?.items ?? []
  const sent = deliveries.data?.items ?? []
  return (
    <>
      <h1>Webhooks</h1>
      <ErrorNote error={targets.error ?? deliveries.error} />
      <Table caption="Webhook targets" head={["URL", "Events", "Pending", "Delivered", "Failed", "Last error"]}>
        {items.length === 0
          ? <Empty columns={6}>{targets.loading ? "Loading…" : "No webhook is configured ([[webhooks]])."}</Empty>
          : items.map((t) => (
            <tr key={t.url}>
              <td class="details">
                <code>{t.url}</code>
                {t.configured ? null : <small class="muted">no longer configured</small>}
              </td>
              <td class="details">{t.events.join(", ")}</td>
              <td>{t.pending}</td>
              <td>{t.delivered}</td>
              <td>{t.failed}</td>
              <td class="details">
                {t.lastError === null ? "—" : <span class="error">{t.lastError}</span>}
                {t.lastErrorAt === null ? null : <small>{` ${formatTime(t.lastErrorAt)}`}</small>}
              </td>
            </tr>
          ))}
      </Table>
      <h2>Deliveries</h2>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {DeliveryStatus.literals.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
      </form>
      <Table
        caption="Webhook deliveries"
        head={["Event", "Kind", "URL", "Status", "Attempts", "Last answer", "Updated"]}
      >
        {sent.length === 0
          ? <Empty columns={7}>{deliveries.loading ? "Loading…" : "Nothing here."}</Empty>
          : sent.map((d) => (
            <tr key={`${d.url}/${d.eventId}`}>
              <td>
                <code>{d.eventId}</code>
              </td>
              <td>{d.kind}</td>
              <td class="details">{d.url}</td>
              <td>
                <span class={`status ${d.status}`}>{d.status}</span>
              </td>
              <td>{d.attempts}</td>
              <td class="details">
                {d.lastStatus === null ? "" : `HTTP ${d.lastStatus} `}
                {d.lastError ?? ""}
              </td>
              <td>{formatTime(d.updatedAt)}</td>
            </tr>
          ))}
      </Table>
    </>
  )
}
