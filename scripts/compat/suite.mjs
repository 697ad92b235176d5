// scripts/compat/suite.mjs - the official TypeScript SDK (@opencomputer/sdk,
// pinned in package.json) against `oclua serve`: does our server speak the
// protocol the SDK was written for? Every check goes through the SDK's own
// calls. OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY name the server
// (scripts/compat/run.sh starts one on 127.0.0.1). Ends with the line
// "N passed, N failed" and a non-zero exit status on failure.

import assert from "node:assert/strict";
import "./websocket.mjs";	// Node 20 has no global WebSocket

const { Sandbox } = await import("@opencomputer/sdk");

const text = (u8) => Buffer.from(u8).toString("utf8");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

// one sandbox for most checks; the lifecycle check makes its own
let sb;

test("sandbox: create, connect, isRunning, kill", async () => {
  const s = await Sandbox.create({ envs: { FROM_CREATE: "yes" } });
  assert.match(s.sandboxId, /^sb-[0-9a-f]+$/);
  assert.equal(s.status, "running");
  const again = await Sandbox.connect(s.sandboxId);
  assert.equal(again.sandboxId, s.sandboxId);
  assert.equal(await again.isRunning(), true);
  assert.equal((await s.exec.run("echo $FROM_CREATE")).stdout, "yes\n");
  await s.kill();
  assert.equal(await again.isRunning(), false);
  await assert.rejects(Sandbox.connect(s.sandboxId), /404/);
});

test("exec.run: stdout, stderr, exit codes", async () => {
  const r = await sb.exec.run("echo out; echo err >&2; exit 3");
  assert.deepEqual(r, { exitCode: 3, stdout: "out\n", stderr: "err\n" });
  assert.equal((await sb.exec.run("true")).exitCode, 0);
});

test("exec.run: env and cwd", async () => {
  const r = await sb.exec.run("echo $GREETING; pwd", { env: { GREETING: "hi" }, cwd: "/tmp" });
  assert.equal(r.stdout, "hi\n/tmp\n");
});

test("exec.run: output past 1 MiB and a slow command (polled)", async () => {
  const r = await sb.exec.run("sleep 0.6; head -c 2000000 /dev/zero | tr '\\0' x");
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.length, 2000000);
});

test("exec.run: timeout kills the command", async () => {
  const t0 = Date.now();
  const r = await sb.exec.run("echo started; sleep 30", { timeout: 1 });
  assert.equal(r.exitCode, -1);
  assert.equal(r.stdout, "started\n");
  assert.ok(Date.now() - t0 < 5000, "took " + (Date.now() - t0) + " ms");
});

test("exec.start: stdout, stderr and exit callbacks, done", async () => {
  const out = [], err = [];
  let exitCode = null;
  const s = await sb.exec.start("sh", {
    args: ["-c", "echo one; echo two >&2; exit 5"],
    onStdout: (d) => out.push(text(d)),
    onStderr: (d) => err.push(text(d)),
    onExit: (c) => { exitCode = c; },
  });
  assert.equal(await s.done, 5);
  assert.equal(out.join(""), "one\n");
  assert.equal(err.join(""), "two\n");
  assert.equal(exitCode, 5);
});

test("exec.start: sendStdin, kill", async () => {
  const out = [];
  const s = await sb.exec.start("cat", { onStdout: (d) => out.push(text(d)) });
  s.sendStdin("ping\n");
  for (let i = 0; i < 100 && out.join("") !== "ping\n"; i++) await sleep(20);
  assert.equal(out.join(""), "ping\n");
  await s.kill(15);
  assert.equal(await s.done, -1);
});

test("exec.attach: scrollback replay, then live output; exec.list", async () => {
  const first = [];
  const s = await sb.exec.start("sh", {
    args: ["-c", "echo early; read line; echo late $line"],
    onStdout: (d) => first.push(text(d)),
  });
  for (let i = 0; i < 100 && first.join("") !== "early\n"; i++) await sleep(20);
  s.close();
  const listed = (await sb.exec.list()).find((e) => e.sessionID === s.sessionId);
  assert.ok(listed, "session listed");
  assert.equal(listed.running, true);
  const seen = [];
  let replayEnded = false;
  const a = await sb.exec.attach(s.sessionId, {
    onStdout: (d) => seen.push(text(d)),
    onScrollbackEnd: () => { replayEnded = true; },
  });
  for (let i = 0; i < 100 && !replayEnded; i++) await sleep(20);
  assert.ok(replayEnded, "scrollback end");
  assert.equal(seen.join(""), "early\n");
  a.sendStdin("now\n");
  assert.equal(await a.done, 0);
  assert.equal(seen.join(""), "early\nlate now\n");
  const after = (await sb.exec.list()).find((e) => e.sessionID === s.sessionId);
  assert.equal(after.running, false);
  assert.equal(after.exitCode, 0);
});

test("exec.kill by session id", async () => {
  const s = await sb.exec.start("sleep", { args: ["30"] });
  await sb.exec.kill(s.sessionId, 9);
  assert.equal(await s.done, -1);
});

test("exec.shell: state persists between runs", async () => {
  const sh = await sb.exec.shell({ cwd: "/tmp" });
  await sh.run("cd /srv && export KEPT=yes && f() { echo f:$1; }");
  const r = await sh.run('echo "$(pwd) $KEPT $(f x)"; echo e >&2; false');
  assert.deepEqual(r, { exitCode: 1, stdout: "/srv yes f:x\n", stderr: "e\n" });
  await sh.close();
});

test("exec.shell: busy and closed errors", async () => {
  const sh = await sb.exec.shell();
  const slow = sh.run("sleep 0.5; echo done");
  await assert.rejects(sh.run("true"), (e) => e.name === "ShellBusyError");
  assert.equal((await slow).stdout, "done\n");
  await assert.rejects(sh.run("exit 3"), (e) => e.name === "ShellClosedError");
  await assert.rejects(sh.run("true"), (e) => e.name === "ShellClosedError");
});

test("files: write, read, readBytes, exists", async () => {
  await sb.files.write("/tmp/compat/hello.txt", "hello from node\n");
  assert.equal(await sb.files.read("/tmp/compat/hello.txt"), "hello from node\n");
  assert.equal(text(await sb.files.readBytes("/tmp/compat/hello.txt")), "hello from node\n");
  assert.equal(await sb.files.exists("/tmp/compat/hello.txt"), true);
  assert.equal(await sb.files.exists("/tmp/compat/nope.txt"), false);
});

test("files: every byte value round-trips", async () => {
  const all = new Uint8Array(256 * 4);
  for (let i = 0; i < all.length; i++) all[i] = i % 256;
  await sb.files.write("/tmp/compat/all.bin", all);
  assert.deepEqual(Buffer.from(await sb.files.readBytes("/tmp/compat/all.bin")), Buffer.from(all));
  assert.equal((await sb.exec.run("wc -c < /tmp/compat/all.bin")).stdout.trim(), "1024");
});

test("files: list, makeDir, remove", async () => {
  await sb.files.makeDir("/tmp/compat/dir/sub");
  await sb.files.write("/tmp/compat/dir/f.txt", "abc");
  const entries = await sb.files.list("/tmp/compat/dir");
  const f = entries.find((e) => e.name === "f.txt");
  const d = entries.find((e) => e.name === "sub");
  assert.deepEqual(f, { name: "f.txt", isDir: false, path: "/tmp/compat/dir/f.txt", size: 3 });
  assert.equal(d.isDir, true);
  await sb.files.remove("/tmp/compat/dir");
  assert.equal(await sb.files.exists("/tmp/compat/dir/f.txt"), false);
  await assert.rejects(sb.files.read("/tmp/compat/dir/f.txt"));
});

let passed = 0, failed = 0;
try {
  sb = await Sandbox.create();
  for (const t of tests) {
    try {
      await t.fn();
      passed++;
      console.log("ok     " + t.name);
    } catch (e) {
      failed++;
      console.log("FAILED " + t.name + "\n       " + String(e && e.stack || e).split("\n").join("\n       "));
    }
  }
} catch (e) {
  failed++;
  console.log("FAILED setting up: " + (e && e.stack || e));
} finally {
  if (sb) await sb.kill().catch(() => {});
}
console.log(`compat: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
