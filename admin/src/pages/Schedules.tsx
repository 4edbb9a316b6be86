/**
 * Every owner's scheduled jobs: a new one (a prompt run in a conversation, at a time or after a
 * delay, once or repeating), and for each job run now, pause, resume, a new prompt, cancel and its
 * run history.
 */
import { Schema } from "effect"
import { useState } from "preact/hooks"
import { JobStatus } from "../../../src/scheduler/Job.ts"
import type { Job } from "../../../src/scheduler/Job.ts"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const isStatus = Schema.is(JobStatus)
const historySize = 20

const recurrenceText = (job: Job) =>
  job.recurrence.kind === "none"
    ? "once"
    : job.recurrence.kind === "interval"
    ? `every ${job.recurrence.seconds} s`
    : `cron ${job.recurrence.expression}`

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

type Start = "delay" | "at"
type Repeat = "once" | "interval" | "cron"

/** The form of `POST /api/schedules`: the API checks every field and names the one at fault. */
const NewScheduleForm = (props: { onCreated: (job: Job) => void }) => {
  const conversations = useLoad(() => call((c) => c.conversations.list({ urlParams: { limit: 200 } })), [])
  const [conversation, setConversation] = useState("")
  const [prompt, setPrompt] = useState("")
  const [start, setStart] = useState<Start>("delay")
  const [when, setWhen] = useState("60")
  const [repeat, setRepeat] = useState<Repeat>("once")
  const [every, setEvery] = useState("")
  const [timezone, setTimezone] = useState("")
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const job = await call((c) =>
        c.schedules.create({
          payload: {
            conversation_id: conversation.trim(),
            prompt,
            ...(start === "delay" ? { delay_seconds: Number(when) } : { run_at: when.trim() }),
            ...(repeat === "interval" ? { interval_seconds: Number(every) } : {}),
            ...(repeat === "cron" ? { cron: every.trim() } : {}),
            ...(timezone.trim() === "" ? {} : { timezone: timezone.trim() })
          }
        })
      )
      setPrompt("")
      props.onCreated(job)
    } catch (e) {
      setError(messageOf(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <details>
      <summary role="button" class="secondary outline">New schedule</summary>
      <form onSubmit={submit} aria-label="New schedule">
        <label>
          Conversation
          <input
            name="conversation_id"
            list="known-conversations"
            placeholder="telegram:42"
            required
            value={conversation}
            onInput={(e) => setConversation(e.currentTarget.value)}
          />
          <datalist id="known-conversations">
            {(conversations.data?.items ?? []).map((c) => <option value={c.id} />)}
          </datalist>
        </label>
        <label>
          Prompt
          <textarea
            name="prompt"
            rows={2}
            required
            maxLength={4000}
            value={prompt}
            onInput={(e) => setPrompt(e.currentTarget.value)}
          />
        </label>
        <div class="grid">
          <label>
            First run
            <select
              name="start"
              value={start}
              onChange={(e) => {
                const value = e.currentTarget.value as Start
                setStart(value)
                setWhen(value === "delay" ? "60" : "")
              }}
            >
              <option value="delay">after a delay (seconds)</option>
              <option value="at">at a time (ISO-8601)</option>
            </select>
          </label>
          <label>
            {start === "delay" ? "Delay in seconds" : "Run at"}
            <input
              name="when"
              required
              {...(start === "delay"
                ? { type: "number", min: "1", step: "any" }
                : { type: "text", placeholder: "2026-11-25T09:00" })}
              value={when}
              onInput={(e) => setWhen(e.currentTarget.value)}
            />
          </label>
        </div>
        <div class="grid">
          <label>
            Repeat
            <select name="repeat" value={repeat} onChange={(e) => setRepeat(e.currentTarget.value as Repeat)}>
              <option value="once">once</option>
              <option value="interval">every … seconds</option>
              <option value="cron">on a cron schedule</option>
            </select>
          </label>
          {repeat === "once" ? null : (
            <label>
              {repeat === "interval" ? "Interval in seconds" : "Cron expression"}
              <input
                name="every"
                required
                {...(repeat === "interval"
                  ? { type: "number", min: "1", step: "1" }
                  : { type: "text", placeholder: "30 8 * * 1-5" })}
                value={every}
                onInput={(e) => setEvery(e.currentTarget.value)}
              />
            </label>
          )}
          <label>
            Time zone
            <input
              name="timezone"
              placeholder="the user's, else the configured one"
              value={timezone}
              onInput={(e) => setTimezone(e.currentTarget.value)}
            />
          </label>
        </div>
        <ErrorNote error={error} />
        <button type="submit" aria-busy={busy} disabled={busy}>Create</button>
      </form>
    </details>
  )
}

/** A new prompt for a job (`PATCH /api/schedules/{id}`); its timing stays as it is. */
const EditPrompt = (props: { job: Job; columns: number; onDone: (saved: boolean) => void }) => {
  const [prompt, setPrompt] = useState(props.job.payload)
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const save = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await call((c) => c.schedules.update({ path: { id: props.job.id }, payload: { prompt } }))
      props.onDone(true)
    } catch (e) {
      setError(messageOf(e))
    } finally {
      setBusy(false)
    }
  }
  return (
    <tr class="history">
      <td colSpan={props.columns}>
        <form onSubmit={save} aria-label={`Edit ${props.job.id}`}>
          <label>
            New prompt
            <textarea
              name="prompt"
              rows={2}
              required
              maxLength={4000}
              value={prompt}
              onInput={(e) => setPrompt(e.currentTarget.value)}
            />
          </label>
          <ErrorNote error={error} />
          <div class="actions">
            <button type="submit" class="small" aria-busy={busy} disabled={busy}>Save</button>
            <button type="button" class="secondary outline small" onClick={() => props.onDone(false)}>Keep it</button>
          </div>
        </form>
      </td>
    </tr>
  )
}

/** A job's firings, newest first: when each was due and ran, and what came of it. */
const RunHistory = (props: { job: Job; columns: number }) => {
  const runs = useLoad(
    () => call((c) => c.schedules.runs({ path: { id: props.job.id }, urlParams: { limit: historySize } })),
    [props.job.id, props.job.runs, props.job.status]
  )
  const items = runs.data?.items ?? []
  return (
    <tr class="history">
      <td colSpan={props.columns}>
        <ErrorNote error={runs.error} />
        <Table caption={`Runs of ${props.job.id}`} head={["Due", "Fired", "Late", "Outcome", "Delivered", "Result"]}>
          {items.length === 0
            ? <Empty columns={6}>{runs.loading ? "Loading…" : "Not run yet."}</Empty>
            : items.map((run) => (
              <tr key={`${run.dueAt}/${run.firedAt}`}>
                <td>{formatTime(run.dueAt)}</td>
                <td>{formatTime(run.firedAt)}</td>
                <td>{run.missed ? <strong>missed</strong> : `${(run.lateMs / 1000).toFixed(1)} s`}</td>
                <td>
                  <span class={`status ${run.outcome}`}>{run.outcome}</span>
                  {run.attempts > 1 ? <small>{` ${run.attempts} attempts`}</small> : null}
                </td>
                <td>
                  {run.deliveredMessageIds.length === 0 ? "—" : run.deliveredMessageIds.map((id) => <code>{id}</code>)}
                </td>
                <td class="details">{run.error ?? run.result ?? "—"}</td>
              </tr>
            ))}
        </Table>
      </td>
    </tr>
  )
}

type Action = "run" | "pause" | "resume" | "cancel"

export const SchedulesPage = () => {
  const [status, setStatus] = useState("")
  const jobs = useLoad(
    () => call((c) => c.schedules.list({ urlParams: { limit: 500, ...(isStatus(status) ? { status } : {}) } })),
    [status]
  )
  const reload = useThrottled(jobs.reload, 1000)
  useEvents(reload)
  const [error, setError] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set())
  const [editing, setEditing] = useState<string | undefined>(undefined)

  const act = async (action: Action, id: string) => {
    setError(undefined)
    setNotice(undefined)
    try {
      if (action === "run") {
        await call((c) => c.schedules.run({ path: { id } }))
        setNotice(`${id} runs now.`)
      } else if (action === "pause") await call((c) => c.schedules.pause({ path: { id } }))
      else if (action === "resume") await call((c) => c.schedules.resume({ path: { id } }))
      else await call((c) => c.schedules.cancel({ path: { id } }))
      jobs.reload()
    } catch (e) {
      setError(messageOf(e))
    }
  }

  const toggle = (id: string) =>
    setOpen((o) => {
      const next = new Set(o)
      if (!next.delete(id)) next.add(id)
      return next
    })

  const button = (action: Action, label: string, job: Job, style = "secondary outline small") => (
    <button
      type="button"
      class={style}
      aria-label={`${label} ${job.id}`}
      onClick={() => void act(action, job.id)}
    >
      {label}
    </button>
  )

  const items = jobs.data?.items ?? []
  const columns = 8
  return (
    <>
      <h1>Schedules</h1>
      <NewScheduleForm
        onCreated={(job) => {
          setNotice(`Created ${job.id}, first run ${formatTime(job.nextRunAt)}.`)
          jobs.reload()
        }}
      />
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {JobStatus.literals.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
      </form>
      <div aria-live="polite">{notice === undefined ? null : <p class="notice">{notice}</p>}</div>
      <ErrorNote error={jobs.error ?? error} />
      <Table
        caption="Scheduled jobs"
        head={["Job", "Conversation", "What", "When", "Next run", "Status", "Runs", ""]}
      >
        {items.length === 0
          ? <Empty columns={columns}>{jobs.loading ? "Loading…" : "No scheduled job."}</Empty>
          : items.flatMap((job) => [
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
              <td>
                <button
                  type="button"
                  class="secondary outline small"
                  aria-expanded={open.has(job.id)}
                  aria-label={`History of ${job.id}`}
                  onClick={() => toggle(job.id)}
                >
                  {job.runs}
                </button>
              </td>
              <td>
                <div class="actions">
                  {job.status === "pending" || job.status === "paused" ? button("run", "Run now", job) : null}
                  {job.status === "pending" ? button("pause", "Pause", job) : null}
                  {job.status === "paused" ? button("resume", "Resume", job) : null}
                  {job.status === "pending" || job.status === "paused"
                    ? (
                      <button
                        type="button"
                        class="secondary outline small"
                        aria-label={`Edit ${job.id}`}
                        aria-expanded={editing === job.id}
                        onClick={() => setEditing((e) => (e === job.id ? undefined : job.id))}
                      >
                        Edit
                      </button>
                    )
                    : null}
                  {job.status === "pending" || job.status === "running" || job.status === "paused"
                    ? button("cancel", "Cancel", job)
                    : null}
                </div>
              </td>
            </tr>,
            editing === job.id
              ? (
                <EditPrompt
                  key={`${job.id}/edit`}
                  job={job}
                  columns={columns}
                  onDone={(saved) => {
                    setEditing(undefined)
                    if (saved) {
                      setNotice(`${job.id} has a new prompt.`)
                      jobs.reload()
                    }
                  }}
                />
              )
              : null,
            open.has(job.id) ? <RunHistory key={`${job.id}/runs`} job={job} columns={columns} /> : null
          ])}
      </Table>
    </>
  )
}
