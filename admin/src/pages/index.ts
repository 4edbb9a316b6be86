/**
 * The pages, one per API group: a page is a component and the paths it answers. Adding one is a
 * file in this folder and a line here; `nav` puts it in the menu.
 */
import type { FunctionComponent } from "preact"
import { ChannelsPage } from "./Channels.tsx"
import { ConfigPage } from "./Config.tsx"
import { ConversationPage, ConversationsPage } from "./Conversations.tsx"
import { DeliveriesPage } from "./Deliveries.tsx"
import { LogsPage } from "./Logs.tsx"
import { NotesPage } from "./Notes.tsx"
import { OverviewPage } from "./Overview.tsx"
import { SchedulesPage } from "./Schedules.tsx"
import { TasksPage } from "./Tasks.tsx"
import { WebhooksPage } from "./Webhooks.tsx"

export interface Page {
  readonly path: string
  readonly title: string
  readonly component: FunctionComponent<{ params: Record<string, string> }>
  /** The menu entry, if the page has one. */
  readonly nav?: string
}

export const pages: ReadonlyArray<Page> = [
  { path: "/", title: "Overview", nav: "Overview", component: OverviewPage },
  { path: "/conversations", title: "Conversations", nav: "Conversations", component: ConversationsPage },
  { path: "/conversations/:id", title: "Conversation", component: ConversationPage },
  { path: "/deliveries", title: "Deliveries", nav: "Deliveries", component: DeliveriesPage },
  { path: "/schedules", title: "Schedules", nav: "Schedules", component: SchedulesPage },
  { path: "/tasks", title: "Tasks", nav: "Tasks", component: TasksPage },
  { path: "/notes", title: "Notes", nav: "Notes", component: NotesPage },
  { path: "/channels", title: "Channels", nav: "Channels", component: ChannelsPage },
  { path: "/webhooks", title: "Webhooks", nav: "Webhooks", component: WebhooksPage },
  { path: "/logs", title: "Logs", nav: "Logs", component: LogsPage },
  { path: "/config", title: "Config", nav: "Config", component: ConfigPage }
]
