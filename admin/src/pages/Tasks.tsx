/**
 * Jobs seen as tasks through their lifecycle (queued, running, paused, completed, failed,
 * cancelled), filtered by status, kind and owner; each with its audit trail of runs, Cancel while
 * it may still run and Retry once it failed.
 */
import { Schema } from "effect"
import { useState } from "preact/hooks"
import { TaskStatusSchema } from "../../../src/control/api/Api.ts"
import type { Task } from "../../../src/control/api/Api.ts"
import { StrategyName } from "../../../src/scheduler/Job.ts"
import { call } from "../api.ts"
import { formatTime, useLoad, useThrottled } from "../data.ts"
import { useEvents } from "../events.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const isStatus = Schema.is(TaskStatusSchema)
const isKind = Schema.is(StrategyName)
type TaskView = typeof Task.Type

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

const AuditTrail = (props: { task: TaskView; columns: number }) => {
  const detail = useLoad(
    () => call((c) => c.tasks.get({ path: { id: props.task.id } })),
    [props.task.id, props.task.runs, props.task.taskStatus]
  )
  const runs = detail.data?.runs ?? []
  return (
    <tr class="history">
      <td colSpan={props.columns}>
        <ErrorNote error={detail.error} />
        <Table caption={`Runs of ${props.task.id}`} head={["Due", "Fired", "Finished", "Outcome", "Result or error"]}>
          {runs.length === 0
            ? <Empty columns={5}>{detail.loading ? "Loading…" : "Not run yet."}</Empty>
            : runs.map((run) => (
              <tr key={`${run.dueAt}/${run.firedAt}`}>
                <td>{formatTime(run.dueAt)}</td>
                <td>{formatTime(run.firedAt)}</td>
                <td>{formatTime(run.finishedAt)}</td>
                <td>
                  <span class={`status ${run.outcome}`}>{run.outcome}</span>
                  {run.attempts > 1 ? <small>{` ${run.attempts} attempts`}</small> : null}
                </td>
                <td class="details">{run.error ?? run.result ?? "—"}</td>
              </tr>
            ))}
        </Table>
      </td>
    </tr>
  )
}

export const TasksPage = () => {
  const [status, setStatus] = useState("")
  const [kind, setKind] = useState("")
  const [owner, setOwner] = useState("")
  const tasks = useLoad(
    () =>
      call((c) =>
        c.tasks.list({
          urlParams: {
            limit: 200,
            ...(isStatus(status) ? { status } : {}),
            ...(isKind(kind) ? { kind } : {}),
            ...(owner.trim() === "" ? {} : { owner: owner.trim() })
          }
        })
      ),
    [status, kind, owner]
  )
  const reload = useThrottled(tasks.reload, 1000)
  useEvents(reload)
  const [error, setError] = useState<string | undefined>(undefined)
  const [open, setOpen] = useState<string | undefined>(undefined)

  const act = async (action: "cancel" | "retry", id: string) => {
    setError(undefined)
    try {
      await call((c) => (action === "cancel" ? c.tasks.cancel : c.tasks.retry)({ path: { id } }))
    } catch (e) {
      setError(messageOf(e))
    }
    tasks.reload()
  }

  const items = tasks.data?.items ?? []
  const columns = 7
  return (
    <>
      <h1>Tasks</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {TaskStatusSchema.literals.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">any</option>
            {StrategyName.literals.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Owner
          <input
            type="search"
            name="owner"
            placeholder="any"
            value={owner}
            onChange={(e) => setOwner(e.currentTarget.value)}
          />
        </label>
      </form>
      <ErrorNote error={tasks.error ?? error} />
      <Table caption="Tasks" head={["Task", "Owner", "Kind", "What", "Updated", "Status", ""]}>
        {items.length === 0
          ? <Empty columns={columns}>{tasks.loading ? "Loading…" : "No task."}</Empty>
          : items.flatMap((task) => [
            <tr key={task.id}>
              <td>
                <button
                  type="button"
                  class="secondary outline small"
                  aria-expanded={open === task.id}
                  aria-label={`Runs of ${task.id}`}
                  onClick={() => setOpen((o) => (o === task.id ? undefined : task.id))}
                >
                  <code>{task.id}</code>
                </button>
              </td>
              <td>{task.ownerId}</td>
              <td>{task.strategy}</td>
              <td class="details">{task.payload}</td>
              <td>{formatTime(task.updatedAt)}</td>
              <td>
                <span class={`status ${task.taskStatus}`}>{task.taskStatus}</span>
                {task.lastError === null ? null : <small class="error">{task.lastError}</small>}
              </td>
              <td>
                <div class="actions">
                  {task.taskStatus === "queued" || task.taskStatus === "running" || task.taskStatus === "paused"
                    ? (
                      <button
                        type="button"
                        class="secondary outline small"
                        aria-label={`Cancel ${task.id}`}
                        onClick={() => void act("cancel", task.id)}
                      >
                        Cancel
                      </button>
                    )
                    : null}
                  {task.taskStatus === "failed"
                    ? (
                      <button
                        type="button"
                        class="small"
                        aria-label={`Retry ${task.id}`}
                        onClick={() => void act("retry", task.id)}
                      >
                        Retry
                      </button>
                    )
                    : null}
                </div>
              </td>
            </tr>,
            open === task.id ? <AuditTrail key={`${task.id}/runs`} task={task} columns={columns} /> : null
          ])}
      </Table>
    </>
  )
}
