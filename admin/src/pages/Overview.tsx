/** What runs, and what happens right now: the status, counters since the page opened, the live feed. */
import { useEffect, useState } from "preact/hooks"
import { call } from "../api.ts"
import { ChannelFacts } from "../ChannelFacts.tsx"
import { formatBytes, formatClock, formatDuration, formatTime, useLoad, useThrottled } from "../data.ts"
import { type LiveEvent, useEvents } from "../events.ts"
import { ErrorNote, Link, Table } from "../ui.tsx"

/** Events kept in the feed. */
const feedSize = 100
const statusRefreshMs = 10_000

const counted = [
  ["inbound.received", "Messages in"],
  ["reply.sent", "Replies sent"],
  ["turn.failed", "Failed turns"],
  ["duplicate.ignored", "Duplicates ignored"]
] as const

/** The fields of an event worth a glance, as `key=value` (ids and kind are in their own columns). */
const details = (event: LiveEvent) =>
  Object.entries(event)
    .filter(([key]) => !["id", "kind", "at", "conversationId", "requestId"].includes(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ")

export const OverviewPage = () => {
  const status = useLoad(() => call((c) => c.status.status()), [])
  const [feed, setFeed] = useState<ReadonlyArray<LiveEvent>>([])
  const [counts, setCounts] = useState<Record<string, number>>({})
  const refresh = useThrottled(status.reload, 1000)

  useEffect(() => {
    const timer = setInterval(status.reload, statusRefreshMs)
    return () => clearInterval(timer)
  }, [status.reload])

  useEvents((event) => {
    setFeed((f) => [event, ...f].slice(0, feedSize))
    setCounts((c) => ({ ...c, [event.kind]: (c[event.kind] ?? 0) + 1 }))
    refresh()
  })

  const s = status.data
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={status.error} />
      <section class="grid cards" aria-label="Status">
        <article>
          <h2>Daemon</h2>
          {s === undefined ? <p aria-busy="true">Loading…</p> : (
            <dl>
              <dt>Version</dt>
              <dd>{s.version}</dd>
              <dt>Up for</dt>
              <dd>{formatDuration(s.uptimeSeconds)}</dd>
              <dt>Memory</dt>
              <dd>{formatBytes(s.memory.rssBytes)} resident, {formatBytes(s.memory.heapUsedBytes)} heap</dd>
              <dt>Next job due</dt>
              <dd>{formatTime(s.nextJobDueAt)}</dd>
            </dl>
          )}
        </article>
        <article>
          <h2>Channels</h2>
          {s === undefined ? <p aria-busy="true">Loading…</p> : (
            <ul class="channels">
              {Object.entries(s.channels).map(([name, channel]) => (
                <li data-channel={name}>
                  <strong>{name}</strong> <span class={`status ${channel.state}`}>{channel.state}</span>
                  {channel.enabled ? <ChannelFacts channel={channel} /> : null}
                </li>
              ))}
            </ul>
          )}
        </article>
      </section>
      <section aria-label="Since this page opened">
        <h2>Since this page opened</h2>
        <div class="grid counters">
          {counted.map(([kind, label]) => (
            <article class="counter">
              <span class="value" data-kind={kind}>{counts[kind] ?? 0}</span>
              <span class="label">{label}</span>
            </article>
          ))}
        </div>
      </section>
      <section>
        <h2 id="feed">Live feed</h2>
        <div role="log" aria-labelledby="feed">
          <Table caption="Live events, newest first" head={["Time", "Event", "Conversation", "Details"]}>
            {feed.length === 0
              ? (
                <tr>
                  <td colSpan={4} class="muted">Waiting for events…</td>
                </tr>
              )
              : feed.map((event) => (
                <tr key={event.id} data-kind={event.kind}>
                  <td>{formatClock(event.at)}</td>
                  <td>
                    <span class={`kind ${event.kind.replace(".", "-")}`}>{event.kind}</span>
                  </td>
                  <td>
                    {event.conversationId === undefined
                      ? "—"
                      : (
                        <Link to={`/conversations/${encodeURIComponent(event.conversationId)}`}>
                          {event.conversationId}
                        </Link>
                      )}
                  </td>
                  <td class="details">{details(event)}</td>
                </tr>
              ))}
          </Table>
        </div>
      </section>
    </>
  )
}
