// The console's catalogue, as the command-center serves it, for tests of pure functions.
import { readFileSync } from "node:fs";
import { setLang, setMessages } from "../lib/text.js";

export const catalogue = JSON.parse(readFileSync(new URL("../../../crates/domain/messages/console.json", import.meta.url), "utf8"));

/** @param {"zh-CN" | "en"} lang */
export function useCatalogue(lang = "zh-CN") {
  setMessages(catalogue);
  setLang(lang);
}
