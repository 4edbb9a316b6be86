/** Every owner's scheduled jobs, with cancel. */
import { Schema } from "effect"
import { useState } from "preact/hooks"
import { JobStatus } from "../../../src/scheduler/Job.ts"
import type { Job } from "../../../src/scheduler/Job.ts"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const isStatus = Schema.is(JobStatus)

const recurrenceText = (job: Job) =>
  job.recurrence.kind === "none"
    ? "once"
    : job.recurrence.kind === "interval"
    ? `every ${job.recurrence.seconds} s`
    : `cron ${job.recurrence.expression}`

export const SchedulesPage = () => {
  const [status, setStatus] = useState("")
  const jobs = useLoad(
    () => call((c) => c.schedules.list({ urlParams: { limit: 500, ...(isStatus(status) ? { status } : {}) } })),
    [status]
  )
  const reload = useThrottled(jobs.reload, 1000)
  useEvents(reload)
  const [error, setError] = useState<string | undefined>(undefined)

  const cancel = async (id: string) => {
    setError(undefined)
    try {
      await call((c) => c.schedules.cancel({ path: { id } }))
      jobs.reload()
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    }
  }

  const items = jobs.data?.items ?? []
  return (
    <>
      <h1>Schedules</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {JobStatus.literals.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
      </form>
      <ErrorNote error={jobs.error ?? error} />
      <Table
        caption="Scheduled jobs"
        head={["Job", "Conversation", "What", "When", "Next run", "Status", "Runs", ""]}
      >
        {items.length === 0
          ? <Empty columns={8}>{jobs.loading ? "Loading…" : "No scheduled job."}</Empty>
          : items.map((job) => (
            <tr key={job.id}>
              <td>
                <code>{job.id}</code>
              </td>
              <td>{`${job.conversation.channel}:${job.conversation.chatId}`}</td>
              <td class="details">
                <small>{job.strategy}</small> {job.payload}
              </td>
              <td>{recurrenceText(job)}</td>
              <td>{formatTime(job.nextRunAt)}</td>
              <td>
                <span class={`status ${job.status}`}>{job.status}</span>
                {job.lastError === null ? null : <small class="error">{job.lastError}</small>}
              </td>
              <td>{job.runs}</td>
              <td>
                {job.status === "pending" || job.status === "running"
                  ? (
                    <button
                      type="button"
                      class="secondary outline small"
                      aria-label={`Cancel ${job.id}`}
                      onClick={() => void cancel(job.id)}
                    >
                      Cancel
                    </button>
                  )
                  : null}
              </td>
            </tr>
          ))}
      </Table>
    </>
  )
}
