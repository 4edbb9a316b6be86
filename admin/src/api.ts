/**
 * The dashboard's client of the control-plane API, derived from the server's own HttpApi
 * definition: the same Schemas validate what the browser sends and decode what it receives.
 * Requests carry the session cookie (same origin); a 401 anywhere sends the app back to the login.
 */
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../../src/control/api/Api.ts"

export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

const makeClient = () =>
  HttpApiClient.make(Api, { baseUrl: window.location.origin }).pipe(Effect.provide(FetchHttpClient.layer))

export const client: Client = Effect.runSync(makeClient())

/** An API failure as the dashboard shows it. */
export class ApiError extends Error {
  constructor(message: string, readonly unauthorized: boolean) {
    super(message)
  }
}

const listeners = new Set<() => void>()
/** Called when the API answers 401: the session expired or the token changed. */
export const onUnauthorized = (listener: () => void) => {
  listeners.add(listener)
  return () => void listeners.delete(listener)
}

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const e = error as { _tag: string; message?: string; field?: string }
    if (e._tag === "InvalidRequest" && e.field !== undefined) return `${e.field}: ${e.message}`
    if (e._tag === "RequestError") return "the daemon cannot be reached"
    if (e.message !== undefined && e.message !== "") return e.message
    return e._tag
  }
  return String(error)
}

/** Runs one call of the client as a promise; a failure becomes an `ApiError` with a readable message. */
export const call = <A, E>(f: (client: Client) => Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromise(
    f(client).pipe(
      Effect.catchAllDefect((defect) => Effect.fail(defect)),
      Effect.mapError((error) => {
        const unauthorized = typeof error === "object" && error !== null && "_tag" in error &&
          error._tag === "Unauthorized"
        if (unauthorized) { for (const listener of listeners) listener() }
        return new ApiError(describe(error), unauthorized)
      }),
      Effect.either
    )
  ).then((result) => {
    if (result._tag === "Left") throw result.left
    return result.right
  })
