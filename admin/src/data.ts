/** Loading what a page shows from the API, and showing times and sizes. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks"
import { ApiError } from "./api.ts"

export interface Loaded<A> {
  readonly data: A | undefined
  readonly error: string | undefined
  readonly loading: boolean
  /** Loads again, keeping what is shown until the answer arrives (no flicker on live updates). */
  readonly reload: () => void
}

/** Calls `load` now and whenever `deps` change; `reload` calls it again. Late answers of older calls are dropped. */
export const useLoad = <A>(load: () => Promise<A>, deps: ReadonlyArray<unknown>): Loaded<A> => {
  const [state, setState] = useState<{ data: A | undefined; error: string | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true
  })
  const generation = useRef(0)
  const run = useCallback(() => {
    const mine = ++generation.current
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => mine === generation.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) =>
        mine === generation.current &&
        setState((s) => ({
          ...s,
          error: error instanceof ApiError ? error.message : String(error),
          loading: false
        }))
    )
  }, deps)
  useEffect(run, [run])
  return { ...state, reload: run }
}

/** Calls `f` at most once per `ms`, at the end of a burst (many events → one reload). */
export const useThrottled = (f: () => void, ms = 250) => {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const latest = useRef(f)
  latest.current = f
  useEffect(() => () => clearTimeout(timer.current), [])
  return useCallback(() => {
    if (timer.current !== undefined) return
    timer.current = setTimeout(() => {
      timer.current = undefined
      latest.current()
    }, ms)
  }, [ms])
}

export const formatTime = (epochMs: number | null | undefined) =>
  epochMs === null || epochMs === undefined ? "—" : new Date(epochMs).toLocaleString()

export const formatClock = (epochMs: number) => new Date(epochMs).toLocaleTimeString()

export const formatDuration = (seconds: number) => {
  const d = Math.floor(seconds / 86400)
  const h = Math.floor((seconds % 86400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = Math.floor(seconds % 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`
}

export const formatBytes = (bytes: number) =>
  bytes >= 1 << 30
    ? `${(bytes / (1 << 30)).toFixed(1)} GB`
    : bytes >= 1 << 20
    ? `${(bytes / (1 << 20)).toFixed(1)} MB`
    : `${Math.round(bytes / 1024)} kB`
