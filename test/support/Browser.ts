/**
 * A real browser for the dashboard's tests: Debian's Chromium (`/usr/bin/chromium`) driven by
 * playwright-core, never a browser that Playwright downloads. Each browser gets a fresh profile
 * directory. A missing Chromium fails the test, saying how to install it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { tempDir } from "./Harness.ts"

export const chromiumPath = process.env.MINIBOT_CHROMIUM ?? "/usr/bin/chromium"

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

export const requireChromium = () => {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is missing (${chromiumPath}): the dashboard's tests drive a real browser. ` +
        "Install Debian's package: `sudo apt-get install -y chromium` (or set MINIBOT_CHROMIUM to a Chromium binary)."
    )
  }
}

export interface Browser {
  readonly context: BrowserContext
  readonly page: Page
  readonly close: () => Promise<void>
}

/** A browser with a fresh profile and one page; `viewport` defaults to a laptop's. */
export const openBrowser = async (
  options: { readonly viewport?: { width: number; height: number } } = {}
): Promise<Browser> => {
  requireChromium()
  const profile = tempDir("minibot-chromium-")
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: options.viewport ?? { width: 1280, height: 860 }
  })
  // Generous: it only matters when a test fails.
  context.setDefaultTimeout(15_000)
  const page = context.pages()[0] ?? (await context.newPage())
  return {
    context,
    page,
    close: async () => {
      await context.close()
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }
}

const screenshotDir = path.resolve(import.meta.dirname, "../../docs/screenshots")

/** Saves `docs/screenshots/<name>.png` when `MINIBOT_SCREENSHOTS=1` (the README shows them). */
export const screenshot = async (page: Page, name: string) => {
  if (process.env.MINIBOT_SCREENSHOTS !== "1") return
  fs.mkdirSync(screenshotDir, { recursive: true })
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true })
}
