/** The router of the `[http]` server: each subsystem adds its routes to it before the server starts. */
import { HttpRouter } from "@effect/platform"

export class ControlRoutes extends HttpRouter.Tag("minibot/ControlRoutes")<ControlRoutes>() {}
