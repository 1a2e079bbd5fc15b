import { it } from "node:test";
import { FinchServer } from "./finchServer";
import { statusBarText } from "../src/messages";
it("train", async () => {
  const { server } = await FinchServer.start({ finch: { model: "tiny-qwen2" } });
  const progress: any[] = [];
  (server as any).connection.onNotification("$/progress", (p: any) => progress.push(p));
  await server.openPython("file:///tmp/x.py", "def add(a, b):\n    return ");
  await server.waitForModel(60000);
  const items = await server.inlineCompletion("file:///tmp/x.py", { line: 1, character: 11 });
  const id = items[0].command!.arguments![0];
  console.log(JSON.stringify(await server.execute("finch.feedback", [{ rating: "critical", suggestionId: id, correction: "a + b" }])));
  const t0 = Date.now();
  console.log(JSON.stringify(await server.execute("finch.train", [])));
  let s: any;
  for (let i = 0; i < 300; i++) { s = await server.execute("finch.status", []); if (s.training.state !== "running" && i > 2) break; console.log(statusBarText(s)); await new Promise(d => setTimeout(d, 1000)); }
  console.log("train s", (Date.now() - t0) / 1000, JSON.stringify(s).slice(0, 600));
  console.log(JSON.stringify(progress).slice(0, 3000));
  console.log(JSON.stringify(await server.execute("finch.adapters.list", [])));
  console.log(JSON.stringify(server.messages));
  for (const [c, a] of [["finch.adapters.rollback", []], ["finch.adapters.use", [null]], ["finch.adapters.use", [1]], ["finch.adapters.delete", [1]]] as const) {
    try { console.log(c, JSON.stringify(await server.execute(c, a as any))); } catch (e: any) { console.log(c, "ERR", e.code, e.message); }
  }
  await server.shutdown();
});
