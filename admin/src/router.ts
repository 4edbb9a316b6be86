/**
 * Routing by the path under `/admin/` (the server answers every such path with the app), with the
 * History API: links are real links (keyboard, new tab), and a click changes the page without a reload.
 */
import { useEffect, useState } from "preact/hooks"

export const base = "/admin"

const changeListeners = new Set<() => void>()
window.addEventListener("popstate", () => changeListeners.forEach((l) => l()))

/** The current path relative to `/admin`, always starting with `/`. */
export const currentPath = () => {
  const path = window.location.pathname.startsWith(base) ? window.location.pathname.slice(base.length) : "/"
  return path === "" ? "/" : path
}

export const navigate = (path: string) => {
  window.history.pushState(null, "", base + path)
  changeListeners.forEach((l) => l())
  window.scrollTo(0, 0)
}

export const usePath = () => {
  const [path, setPath] = useState(currentPath)
  useEffect(() => {
    const update = () => setPath(currentPath())
    changeListeners.add(update)
    return () => void changeListeners.delete(update)
  }, [])
  return path
}

/** `/conversations/:id` against `/conversations/telegram%3A42` → `{ id: "telegram:42" }`, or undefined. */
export const match = (pattern: string, path: string): Record<string, string> | undefined => {
  const want = pattern.split("/").filter(Boolean)
  const have = path.split("/").filter(Boolean)
  if (want.length !== have.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i++) {
    const segment = want[i]!
    if (segment.startsWith(":")) params[segment.slice(1)] = decodeURIComponent(have[i]!)
    else if (segment !== have[i]) return undefined
  }
  return params
}

/** A link inside the app: a normal `<a href>` whose plain left click is handled here. */
export const onLinkClick = (path: string) => (event: MouseEvent) => {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  event.preventDefault()
  navigate(path)
}
