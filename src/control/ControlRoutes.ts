/** The router of the `[http]` server: each subsystem adds its routes to it before the server starts. */
import * as HttpRouter from "@effect/platform/HttpRouter"

export class ControlRoutes extends HttpRouter.Tag("minibot/ControlRoutes")<ControlRoutes>() {}
