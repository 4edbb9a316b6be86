/** What the status says of one channel beyond its state: mode, last poll or update, back-off, last error. */
import type { ChannelHealthView } from "../../src/control/api/Api.ts"
import { formatClock, formatDuration } from "./data.ts"

export type ChannelView = typeof ChannelHealthView.Type

export const ChannelFacts = (props: { channel: ChannelView }) => {
  const c = props.channel
  return (
    <dl class="facts">
      {c.mode === undefined ? null : (
        <>
          <dt>Mode</dt>
          <dd>{c.mode === "webhook" ? "webhook" : "long polling"}</dd>
        </>
      )}
      {c.lastPollAgeSeconds === undefined || c.lastPollAgeSeconds === null ? null : (
        <>
          <dt>Last getUpdates answer</dt>
          <dd>{formatDuration(c.lastPollAgeSeconds)} ago</dd>
        </>
      )}
      {c.lastWebhookUpdateAgeSeconds === undefined || c.lastWebhookUpdateAgeSeconds === null ? null : (
        <>
          <dt>Last update through the webhook</dt>
          <dd>{formatDuration(c.lastWebhookUpdateAgeSeconds)} ago</dd>
        </>
      )}
      {c.retryAfterUntil === undefined || c.retryAfterUntil === null ? null : (
        <>
          <dt>Back-off (429)</dt>
          <dd class="backoff">until {formatClock(c.retryAfterUntil)}</dd>
        </>
      )}
      {c.lastError === null ? null : (
        <>
          <dt>Last error</dt>
          <dd class="last-error">
            {c.lastError.message} <span class="muted">({formatClock(c.lastError.at)})</span>
          </dd>
        </>
      )}
    </dl>
  )
}
