/**
 * The API on the `[http]` server: the handlers of every group, the OpenAPI document at
 * `/api/openapi.json` and Swagger UI at `/api/docs` (its script is bundled with
 * @effect/platform: no CDN), mounted under `/api` of `ControlRoutes` behind `ApiAuth`.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Layer } from "effect"
import { Pairing } from "../../channels/telegram/Pairing.ts"
import { NotesStore } from "../../tools/notes/NotesStore.ts"
import { ControlRoutes } from "../ControlRoutes.ts"
import { Api } from "./Api.ts"
import { ApiAuth } from "./ApiAuth.ts"
import { ChannelsHandlers } from "./ChannelsHandlers.ts"
import { ConfigHandlers } from "./ConfigHandlers.ts"
import { ConversationsHandlers } from "./ConversationsHandlers.ts"
import { DeliveriesHandlers } from "./DeliveriesHandlers.ts"
import { EventsHandlers } from "./EventsHandlers.ts"
import { EventStream } from "./EventStream.ts"
import { LogsHandlers } from "./LogsHandlers.ts"
import { NotesHandlers } from "./NotesHandlers.ts"
import { PairingHandlers } from "./PairingHandlers.ts"
import { SchedulesHandlers } from "./SchedulesHandlers.ts"
import { SessionHandlers } from "./SessionHandlers.ts"
import { StatusHandlers } from "./StatusHandlers.ts"
import { TasksHandlers } from "./TasksHandlers.ts"
import { WebhooksHandlers } from "./WebhooksHandlers.ts"

const Handlers = Layer.mergeAll(
  SessionHandlers,
  StatusHandlers,
  ChannelsHandlers,
  ConversationsHandlers,
  DeliveriesHandlers,
  SchedulesHandlers,
  TasksHandlers,
  NotesHandlers.pipe(Layer.provide(NotesStore.Default)),
  PairingHandlers.pipe(Layer.provide(Pairing.Default)),
  ConfigHandlers,
  LogsHandlers,
  EventsHandlers.pipe(Layer.provide(EventStream.Default)),
  WebhooksHandlers
)

const ApiLive = Layer.merge(
  HttpApiBuilder.middlewareOpenApi({ path: "/api/openapi.json" }),
  HttpApiSwagger.layer({ path: "/api/docs" })
).pipe(Layer.provideMerge(HttpApiBuilder.api(Api).pipe(Layer.provide(Handlers))))

const isSessionRoute = (request: HttpServerRequest.HttpServerRequest) =>
  request.url.split("?")[0] === "/api/session" && (request.method === "POST" || request.method === "DELETE")

/** Adds `/api/*` to the control routes; needs `ApiAuth` and the services the handlers use. */
export const ApiRoutes = ControlRoutes.use((router) =>
  Effect.gen(function*() {
    const auth = yield* ApiAuth
    const app = yield* HttpApiBuilder.httpApp
    // The session exchange checks the token itself (it is in the body).
    yield* router.mountApp("/api", auth.guard(app, isSessionRoute), { includePrefix: true })
  })
).pipe(
  Layer.provide(ApiLive),
  Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer])
)
