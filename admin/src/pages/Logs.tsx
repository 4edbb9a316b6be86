/**
 * The daemon's recent log lines (the API's bounded, redacted ring), newest last, read again every
 * two seconds while "Follow" is on, filtered by level and component.
 */
import { Schema } from "effect"
import { useEffect, useState } from "preact/hooks"
import { LogLevelName } from "../../../src/control/api/Api.ts"
import { call } from "../api.ts"
import { formatClock, useLoad } from "../data.ts"
import { ErrorNote } from "../ui.tsx"

const pollMs = 2000
const lines = 300
const isLevel = Schema.is(LogLevelName)

export const LogsPage = () => {
  const [level, setLevel] = useState("info")
  const [component, setComponent] = useState("")
  const [follow, setFollow] = useState(true)
  const logs = useLoad(
    () =>
      call((c) =>
        c.logs.logs({
          urlParams: {
            limit: lines,
            ...(isLevel(level) ? { level } : {}),
            ...(component.trim() === "" ? {} : { component: component.trim() })
          }
        })
      ),
    [level, component]
  )

  useEffect(() => {
    if (!follow) return
    const timer = setInterval(logs.reload, pollMs)
    return () => clearInterval(timer)
  }, [follow, logs.reload])

  const items = logs.data?.items ?? []
  const components = [...new Set(items.flatMap((i) => (i.component === null ? [] : [i.component])))].sort()
  return (
    <>
      <h1>Logs</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Level
          <select name="level" value={level} onChange={(e) => setLevel(e.currentTarget.value)}>
            {LogLevelName.literals.map((l) => (
              <option value={l}>{l === "trace" ? "trace (all)" : `${l} and above`}</option>
            ))}
          </select>
        </label>
        <label>
          Component
          <input
            type="search"
            name="component"
            list="log-components"
            placeholder="any"
            value={component}
            onChange={(e) => setComponent(e.currentTarget.value)}
          />
          <datalist id="log-components">{components.map((c) => <option value={c} />)}</datalist>
        </label>
        <label class="follow">
          <input type="checkbox" role="switch" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
          Follow
        </label>
      </form>
      <ErrorNote error={logs.error} />
      <div class="logs" role="log" aria-label="Log lines" tabIndex={0}>
        <ol>
          {items.length === 0
            ? <li class="muted">{logs.loading ? "Loading…" : "No line matches."}</li>
            : items.map((item, i) => (
              <li key={`${item.at}/${i}`} class={`log ${item.level}`}>
                <span class="meta">
                  {formatClock(item.at)} <span class="status">{item.level}</span>
                  {item.component === null ? null : <span class="component">{` ${item.component}`}</span>}
                </span>{" "}
                <span class="line">{item.line}</span>
              </li>
            ))}
        </ol>
      </div>
    </>
  )
}
