/** `/api/session`: the token traded for a session cookie, and the cookie cleared (see ApiAuth). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { Api } from "./Api.ts"
import { ApiAuth } from "./ApiAuth.ts"

export const SessionHandlers = HttpApiBuilder.group(Api, "session", (handlers) =>
  Effect.gen(function*() {
    const auth = yield* ApiAuth
    return handlers
      .handle("open", ({ payload }) => auth.openSession(payload.token))
      .handle("close", () => auth.closeSession)
  }))
