/**
 * One owner's notes (memory entries): every owner's notes are private to them, so the page asks
 * whose first. Search words find the best matches with the passage around the first one; Delete
 * asks once more.
 */
import { useState } from "preact/hooks"
import { call } from "../api.ts"
import { useLoad } from "../data.ts"
import { Empty, ErrorNote, Table } from "../ui.tsx"

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

const NotesOf = (props: { owner: string; q: string }) => {
  const notes = useLoad(
    () =>
      call((c) =>
        c.notes.list({ urlParams: { owner: props.owner, limit: 200, ...(props.q === "" ? {} : { q: props.q }) } })
      ),
    [props.owner, props.q]
  )
  const [confirm, setConfirm] = useState<string | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)

  const remove = async (title: string) => {
    setError(undefined)
    setConfirm(undefined)
    try {
      await call((c) => c.notes.delete({ path: { title }, urlParams: { owner: props.owner } }))
    } catch (e) {
      setError(messageOf(e))
    }
    notes.reload()
  }

  const items = notes.data?.items ?? []
  return (
    <>
      <ErrorNote error={notes.error ?? error} />
      <Table
        caption={`Notes of ${props.owner}`}
        head={["Title", props.q === "" ? "Expires" : "Passage", "Updated", ""]}
      >
        {items.length === 0
          ? <Empty columns={4}>{notes.loading ? "Loading…" : props.q === "" ? "No note." : "No note matches."}</Empty>
          : items.map((note) => (
            <tr key={note.title}>
              <td>
                <strong>{note.title}</strong>
              </td>
              <td class="details">{props.q === "" ? note.expiresAt ?? "never" : note.snippet ?? "—"}</td>
              <td>{note.updatedAt}</td>
              <td>
                {confirm === note.title
                  ? (
                    <div class="actions">
                      <button type="button" class="danger small" onClick={() => void remove(note.title)}>
                        Delete it
                      </button>
                      <button type="button" class="secondary outline small" onClick={() => setConfirm(undefined)}>
                        Keep
                      </button>
                    </div>
                  )
                  : (
                    <button
                      type="button"
                      class="secondary outline small"
                      aria-label={`Delete ${note.title}`}
                      onClick={() => setConfirm(note.title)}
                    >
                      Delete…
                    </button>
                  )}
              </td>
            </tr>
          ))}
      </Table>
    </>
  )
}

export const NotesPage = () => {
  const [owner, setOwner] = useState("")
  const [q, setQ] = useState("")
  const [shown, setShown] = useState<{ owner: string; q: string } | undefined>(undefined)
  return (
    <>
      <h1>Notes</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          if (owner.trim() !== "") setShown({ owner: owner.trim(), q: q.trim() })
        }}
      >
        <label>
          Owner
          <input
            name="owner"
            required
            placeholder="telegram:42"
            value={owner}
            onInput={(e) => setOwner(e.currentTarget.value)}
          />
        </label>
        <label>
          Search
          <input
            type="search"
            name="q"
            maxLength={500}
            placeholder="words"
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="follow">Show</button>
      </form>
      {shown === undefined
        ? (
          <p class="muted">
            Notes belong to one owner (a person, <code>telegram:42</code>, or a group chat): name one.
          </p>
        )
        : <NotesOf key={`${shown.owner}/${shown.q}`} owner={shown.owner} q={shown.q} />}
    </>
  )
}
