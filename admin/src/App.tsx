/** The shell: sign-in when the API asks for it, then the menu and the page of the current path. */
import { useEffect, useState } from "preact/hooks"
import { call, onUnauthorized } from "./api.ts"
import { closeEvents, useConnected } from "./events.ts"
import { Login } from "./Login.tsx"
import { pages } from "./pages/index.ts"
import { match, usePath } from "./router.ts"
import { Link } from "./ui.tsx"

type Session = "checking" | "signed-in" | "signed-out" | "expired"

const LiveBadge = () => {
  const connected = useConnected()
  return (
    <span class={connected ? "live on" : "live off"} role="status">
      {connected ? "live" : "reconnecting…"}
    </span>
  )
}

const Shell = (props: { onLogout: () => void }) => {
  const path = usePath()
  const found = pages.map((page) => ({ page, params: match(page.path, path) })).find((m) => m.params !== undefined)
  useEffect(() => {
    document.title = `${found?.page.title ?? "Not found"} · minibot`
  }, [found?.page])
  const Page = found?.page.component
  return (
    <>
      <a class="skip" href="#content">Skip to content</a>
      <header class="container">
        <nav aria-label="Main">
          <ul>
            <li>
              <strong>minibot</strong> <LiveBadge />
            </li>
          </ul>
          <ul class="menu">
            {pages.filter((p) => p.nav !== undefined).map((p) => (
              <li>
                <Link to={p.path} current={p.path === "/" ? path === "/" : path.startsWith(p.path)}>{p.nav}</Link>
              </li>
            ))}
            <li>
              <button type="button" class="secondary outline small" onClick={props.onLogout}>Sign out</button>
            </li>
          </ul>
        </nav>
      </header>
      <main class="container" id="content" tabIndex={-1}>
        {Page === undefined ? <h1>Not found</h1> : <Page params={found!.params!} />}
      </main>
    </>
  )
}

export const App = () => {
  const [session, setSession] = useState<Session>("checking")

  useEffect(() => {
    // Signed in already (a cookie, or no token configured on a loopback server)?
    call((c) => c.status.status()).then(
      () => setSession("signed-in"),
      () => setSession((s) => (s === "checking" ? "signed-out" : s))
    )
    return onUnauthorized(() => {
      closeEvents()
      setSession((s) => (s === "signed-in" ? "expired" : s === "checking" ? "signed-out" : s))
    })
  }, [])

  const logout = () => {
    closeEvents()
    void call((c) => c.session.close()).finally(() => setSession("signed-out"))
  }

  if (session === "checking") return <main class="container" aria-busy="true">Loading…</main>
  if (session !== "signed-in") return <Login expired={session === "expired"} onLogin={() => setSession("signed-in")} />
  return <Shell onLogout={logout} />
}
