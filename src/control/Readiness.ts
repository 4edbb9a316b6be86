/**
 * What `/readyz` reports: each component that must start says so here once it has.
 */
import { Effect } from "effect"

export class Readiness extends Effect.Service<Readiness>()("minibot/Readiness", {
  sync: () => {
    const components = new Map<string, boolean>()
    return {
      /** Declares a component that is not ready until `ready` is called for it. */
      expect: (name: string) => Effect.sync(() => void components.set(name, components.get(name) ?? false)),
      ready: (name: string) => Effect.sync(() => void components.set(name, true)),
      notReady: (name: string) => Effect.sync(() => void components.set(name, false)),
      snapshot: Effect.sync(() => Object.fromEntries(components) as Record<string, boolean>)
    } as const
  }
}) {}
