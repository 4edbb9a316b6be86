/**
 * The channels with their state, paused and resumed by the operator (a paused channel keeps its
 * messages and answers them after resume), and Telegram's pairing: codes waiting for approval and
 * the people already paired.
 */
import { useEffect, useState } from "preact/hooks"
import type { ChannelName } from "../../../src/domain/Conversation.ts"
import { call } from "../api.ts"
import { ChannelFacts, type ChannelView } from "../ChannelFacts.tsx"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
/** The age of the last poll moves on; changes of state come as events. */
const statusRefreshMs = 10_000

export const ChannelsPage = () => {
  const status = useLoad(() => call((c) => c.status.status()), [])
  const pairing = useLoad(() => call((c) => c.pairing.list()), [])
  const reloadStatus = useThrottled(status.reload, 500)
  const reloadPairing = useThrottled(pairing.reload, 1000)
  useEffect(() => {
    const timer = setInterval(status.reload, statusRefreshMs)
    return () => clearInterval(timer)
  }, [status.reload])
  useEvents((event) => {
    if (event.kind === "channel.state") reloadStatus()
    // A new code arrives with a message from someone unknown.
    if (event.kind === "inbound.received") reloadPairing()
  })
  const [error, setError] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)

  const act = async (what: () => Promise<string>, reload: () => void) => {
    setError(undefined)
    setNotice(undefined)
    try {
      setNotice(await what())
    } catch (e) {
      setError(messageOf(e))
    }
    reload()
  }

  const setState = (name: ChannelName, pause: boolean) =>
    act(async () => {
      const result = await call((c) => (pause ? c.channels.pause : c.channels.resume)({ path: { name } }))
      return `${result.channel} is ${result.state}.`
    }, status.reload)

  const approve = (code: string) =>
    act(async () => {
      const person = await call((c) => c.pairing.approve({ payload: { code } }))
      return `Approved ${person.userName ?? person.userId}.`
    }, pairing.reload)

  const revoke = (userId: number) =>
    act(async () => {
      const result = await call((c) => c.pairing.revoke({ payload: { user_id: userId } }))
      return `Revoked ${result.userId}; ${result.cancelledJobs} job(s) cancelled.`
    }, pairing.reload)

  const channels = Object.entries(status.data?.channels ?? {}) as Array<[ChannelName, ChannelView]>
  const pending = pairing.data?.pending ?? []
  const paired = pairing.data?.paired ?? []
  return (
    <>
      <h1>Channels</h1>
      <div aria-live="polite">{notice === undefined ? null : <p class="notice">{notice}</p>}</div>
      <ErrorNote error={status.error ?? pairing.error ?? error} />
      <Table caption="Channels" head={["Channel", "State", "Details", ""]}>
        {channels.length === 0
          ? <Empty columns={4}>{status.loading ? "Loading…" : "No channel."}</Empty>
          : channels.map(([name, channel]) => (
            <tr key={name} data-channel={name}>
              <td>
                <strong>{name}</strong>
              </td>
              <td>
                <span class={`status ${channel.state}`}>{channel.state}</span>
              </td>
              <td>{channel.enabled ? <ChannelFacts channel={channel} /> : null}</td>
              <td>
                {channel.state === "running" || channel.state === "failing"
                  ? (
                    <button
                      type="button"
                      class="secondary outline small"
                      aria-label={`Pause ${name}`}
                      onClick={() => void setState(name, true)}
                    >
                      Pause
                    </button>
                  )
                  : channel.state === "paused"
                  ? (
                    <button
                      type="button"
                      class="small"
                      aria-label={`Resume ${name}`}
                      onClick={() => void setState(name, false)}
                    >
                      Resume
                    </button>
                  )
                  : null}
              </td>
            </tr>
          ))}
      </Table>

      <h2>Pairing</h2>
      <p class="muted">
        With <code>dm_policy = "pairing"</code>, someone unknown who writes to the bot gets a code; approve it here.
      </p>
      <h3>Waiting for approval</h3>
      <Table caption="Codes waiting for approval" head={["Code", "User", "Chat", "Asked", "Expires", ""]}>
        {pending.length === 0
          ? <Empty columns={6}>{pairing.loading ? "Loading…" : "No code is waiting."}</Empty>
          : pending.map((p) => (
            <tr key={p.code}>
              <td>
                <code>{p.code}</code>
              </td>
              <td>{p.userName === null ? p.userId : `${p.userName} (${p.userId})`}</td>
              <td>{p.chatId}</td>
              <td>{formatTime(p.createdAt)}</td>
              <td>{formatTime(p.expiresAt)}</td>
              <td>
                <button
                  type="button"
                  class="small"
                  aria-label={`Approve ${p.code}`}
                  onClick={() => void approve(p.code)}
                >
                  Approve
                </button>
              </td>
            </tr>
          ))}
      </Table>
      <h3>Paired</h3>
      <Table caption="Paired people" head={["User", "Approved", ""]}>
        {paired.length === 0
          ? <Empty columns={3}>{pairing.loading ? "Loading…" : "Nobody is paired."}</Empty>
          : paired.map((p) => (
            <tr key={p.userId}>
              <td>{p.userName === null ? p.userId : `${p.userName} (${p.userId})`}</td>
              <td>{formatTime(p.approvedAt)}</td>
              <td>
                <button
                  type="button"
                  class="secondary outline small"
                  aria-label={`Revoke ${p.userId}`}
                  onClick={() => void revoke(p.userId)}
                >
                  Revoke
                </button>
              </td>
            </tr>
          ))}
      </Table>
    </>
  )
}
