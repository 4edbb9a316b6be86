/** The effective configuration, as the daemon runs it, every secret replaced by "[redacted]". */
import { call } from "../api.ts"
import { useLoad } from "../data.ts"
import { ErrorNote } from "../ui.tsx"

export const ConfigPage = () => {
  const config = useLoad(() => call((c) => c.config.config()), [])
  return (
    <>
      <h1>Config</h1>
      <p class="muted">The effective configuration (file, environment and defaults). Secrets are never sent.</p>
      <ErrorNote error={config.error} />
      {config.data === undefined ? <p aria-busy="true">Loading…</p> : (
        Object.entries(config.data).map(([section, value]) => (
          <details open>
            <summary>
              <strong>{section}</strong>
            </summary>
            <pre tabIndex={0}>{JSON.stringify(value, null, 2)}</pre>
          </details>
        ))
      )}
    </>
  )
}
