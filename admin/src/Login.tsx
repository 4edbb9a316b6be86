/** Asks for `[http] api_token` once; the daemon trades it for a session cookie (12 hours). */
import { useState } from "preact/hooks"
import { ApiError, call } from "./api.ts"
import { ErrorNote } from "./ui.tsx"

export const Login = (props: { onLogin: () => void; expired: boolean }) => {
  const [token, setToken] = useState("")
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await call((c) => c.session.open({ payload: { token: token.trim() } }))
      setToken("")
      props.onLogin()
    } catch (e) {
      setError(
        e instanceof ApiError && e.unauthorized ? "That token is not the daemon's api_token." : String(
          e instanceof Error ? e.message : e
        )
      )
    } finally {
      setBusy(false)
    }
  }

  return (
    <main class="container login">
      <article>
        <header>
          <h1>minibot</h1>
          <p>
            {props.expired ? "Your session ended. " : ""}Enter the API token (<code>[http] api_token</code>).
          </p>
        </header>
        <form onSubmit={submit}>
          <label>
            API token
            <input
              type="password"
              name="token"
              autocomplete="current-password"
              required
              autofocus
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
              {...(error === undefined ? {} : { "aria-invalid": "true", "aria-describedby": "login-error" })}
            />
          </label>
          <div id="login-error">
            <ErrorNote error={error} />
          </div>
          <button type="submit" aria-busy={busy} disabled={busy}>Sign in</button>
        </form>
      </article>
    </main>
  )
}
