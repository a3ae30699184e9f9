// Runs the official @microsoft/signalr client against the hubwire reference
// hub and prints one JSON line per scenario: {"scenario", "ok", "result"} or
// {"scenario", "ok": false, "error"}.
//
// Usage: node interop.js HUB_URL [json|messagepack] [SCENARIO...]
//
// HUBWIRE_INTEROP_LOG=1 prints the client's debug log to stderr.
"use strict";

const signalR = require("@microsoft/signalr");

const hubURL = process.argv[2];
const protocolName = process.argv[3] || "json";
const only = process.argv.slice(4);

if (!hubURL) {
  console.error("usage: node interop.js HUB_URL [json|messagepack] [SCENARIO...]");
  process.exit(2);
}

function connect(scenario, configure) {
  const url = hubURL + (hubURL.includes("?") ? "&" : "?") + "scenario=" + encodeURIComponent(scenario);
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(url, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(process.env.HUBWIRE_INTEROP_LOG === "1" ? signalR.LogLevel.Debug : signalR.LogLevel.None);
  if (protocolName === "messagepack") {
    const msgpack = require("@microsoft/signalr-protocol-msgpack");
    builder = builder.withHubProtocol(new msgpack.MessagePackHubProtocol());
  }
  if (builders[scenario]) {
    builder = builders[scenario](builder);
  }
  const connection = builder.build();
  if (configure) {
    configure(connection);
  }
  return connection;
}

// closed resolves with the error a connection closed with.
function closed(connection) {
  return new Promise((resolve) => connection.onclose((err) => resolve(err ? String(err.message || err) : null)));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// reconnected resolves with the new connection ID once automatic reconnect
// has started a new connection.
function reconnected(connection) {
  return new Promise((resolve) => connection.onreconnected((id) => resolve(id)));
}

const scenarios = {
  echo: async (c) => c.invoke("Echo", { text: "héllo", list: [1, 2.5, null, true] }),
  add: async (c) => c.invoke("Add", 40, 2),
  fail: async (c) => {
    try {
      await c.invoke("Fail", "bad input");
      return "no error";
    } catch (err) {
      return { error: String(err.message) };
    }
  },
  void: async (c) => {
    const result = await c.invoke("Void");
    return result === undefined ? "void" : result;
  },
  counter: async (c) =>
    new Promise((resolve, reject) => {
      const items = [];
      c.stream("Counter", 5, 0).subscribe({
        next: (item) => items.push(item),
        error: reject,
        complete: () => resolve(items),
      });
    }),
  cancel: async (c) =>
    new Promise((resolve, reject) => {
      const items = [];
      const subscription = c.stream("Counter", 1000, 20).subscribe({
        next: (item) => {
          items.push(item);
          if (items.length === 2) {
            subscription.dispose();
            setTimeout(() => resolve(items), 100);
          }
        },
        error: reject,
        complete: () => reject(new Error("stream completed before cancel")),
      });
    }),
  sum: async (c) => {
    const subject = new signalR.Subject();
    const result = c.invoke("Sum", subject);
    for (const n of [1, 2, 3, 4]) {
      subject.next(n);
    }
    subject.complete();
    return result;
  },
  callme_result: async (c) => c.invoke("CallMe", "Shout", "quiet", true),
  callme_noresult: async (c) => {
    const got = new Promise((resolve) => c.on("Notify", (arg) => resolve(arg)));
    await c.invoke("CallMe", "Notify", "fire and forget", false);
    return got;
  },
  callme_missing: async (c) => {
    try {
      return await c.invoke("CallMe", "NoSuchHandler", 1, true);
    } catch (err) {
      return { error: String(err.message) };
    }
  },
  closeme_error: async (c) => {
    const done = closed(c);
    c.invoke("CloseMe", "maintenance", false).catch(() => {});
    return { closedWith: await done };
  },
  closeme_reconnect: async (c) => {
    const done = closed(c);
    c.invoke("CloseMe", "deploying", true).catch(() => {});
    return { closedWith: await done };
  },
  big: async (c) => {
    const text = await c.invoke("Big", 40000);
    return { length: JSON.stringify(text).length >= 40000 };
  },

  // The scenarios below drop the WebSocket on purpose. Their traffic
  // depends on timing, so they have no captures.

  // The server drops the WebSocket in the middle of a stream. The client
  // reattaches with stateful reconnect, and the stream goes on.
  stateful_stream: async (c) => {
    const items = await new Promise((resolve, reject) => {
      const received = [];
      c.stream("Counter", 30, 10).subscribe({
        next: (item) => {
          received.push(item);
          if (item === 10) {
            c.invoke("DropMe", 0).catch(reject);
          }
        },
        error: reject,
        complete: () => resolve(received),
      });
    });
    return { items, reattaches: await c.invoke("Reattaches") };
  },
  // The server drops the WebSocket in the middle of a run of non-blocking
  // invocations. Each must arrive once and in order.
  stateful_invocations: async (c) => {
    const sends = [];
    for (let i = 0; i < 40; i++) {
      sends.push(c.send("Mark", i));
      if (i === 10) {
        sends.push(c.invoke("DropMe", 0));
      }
      await sleep(5);
    }
    await Promise.all(sends);
    return { marks: await c.invoke("Marks"), reattaches: await c.invoke("Reattaches") };
  },
  // Close with allowReconnect makes automatic reconnect start a new
  // connection.
  autoreconnect_closeme: async (c) => {
    const firstId = c.connectionId;
    const newId = reconnected(c);
    c.invoke("CloseMe", "restarting", true).catch(() => {});
    const id = await newId;
    return { newConnection: Boolean(id) && id !== firstId, sum: await c.invoke("Add", 1, 2) };
  },
  // A dropped WebSocket without stateful reconnect makes automatic
  // reconnect start a new connection.
  autoreconnect_drop: async (c) => {
    const firstId = c.connectionId;
    const newId = reconnected(c);
    await c.invoke("DropMe", 0);
    const id = await newId;
    return { newConnection: Boolean(id) && id !== firstId, sum: await c.invoke("Add", 1, 2) };
  },
};

// builders configure the client of a scenario beyond the defaults.
const builders = {
  stateful_stream: (b) => b.withStatefulReconnect(),
  stateful_invocations: (b) => b.withStatefulReconnect(),
  autoreconnect_closeme: (b) => b.withAutomaticReconnect(),
  autoreconnect_drop: (b) => b.withAutomaticReconnect(),
};

const configure = {
  callme_result: (c) => c.on("Shout", (s) => String(s).toUpperCase()),
};

async function run(name) {
  const connection = connect(name, configure[name]);
  try {
    await connection.start();
    const result = await scenarios[name](connection);
    return { scenario: name, ok: true, result };
  } catch (err) {
    return { scenario: name, ok: false, error: String((err && err.message) || err) };
  } finally {
    await connection.stop().catch(() => {});
  }
}

(async () => {
  const names = only.length > 0 ? only : Object.keys(scenarios);
  let failed = 0;
  for (const name of names) {
    if (!scenarios[name]) {
      console.log(JSON.stringify({ scenario: name, ok: false, error: "unknown scenario" }));
      failed++;
      continue;
    }
    const line = await run(name);
    if (!line.ok) {
      failed++;
    }
    console.log(JSON.stringify(line));
  }
  process.exit(failed === 0 ? 0 : 1);
})();
