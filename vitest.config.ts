import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: keep process-spawning suites from starving each other.
    maxWorkers: 2,
    minWorkers: 1
  }
})
