// scripts/compat/suite.mjs - the official TypeScript SDK (@opencomputer/sdk,
// pinned in package.json) against `oclua serve`: does our server speak the
// protocol the SDK was written for? Every check goes through the SDK's own
// calls and asserts exact results. OPENCOMPUTER_API_URL and
// OPENCOMPUTER_API_KEY name the server (scripts/compat/run.sh starts one on
// 127.0.0.1). Ends with the line "compat: N passed, N failed" and a
// non-zero exit status on failure.
//
// Where a check asserts a choice of ours rather than of protocol.md (the
// reference server would answer otherwise), its comment says so.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "./websocket.mjs";	// Node 20 has no global WebSocket

const { Sandbox, ExecTimeoutError, ShellBusyError, ShellClosedError, Templates } =
  await import("@opencomputer/sdk");
// Image and Snapshots are exported by the package's "./node" entry only
const { Image, Snapshots } = await import("@opencomputer/sdk/node");

const text = (u8) => Buffer.from(u8).toString("utf8");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TEST_TIMEOUT = 60_000;	// a check that hangs fails instead

// wait until pred() holds (polled every 10 ms), at most `ms`
async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
  return pred();
}

// bytes 0..255, `times` over
function allBytes(times = 1) {
  const b = new Uint8Array(256 * times);
  for (let i = 0; i < b.length; i++) b[i] = i % 256;
  return b;
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

// one sandbox for most checks; lifecycle checks make their own
let sb;

// -- sandboxes --------------------------------------------------------------

test("sandbox: create with envs and metadata, connect, isRunning, kill", async () => {
  const s = await Sandbox.create({ envs: { FROM_CREATE: "yes" }, metadata: { team: "compat" } });
  assert.match(s.sandboxId, /^sb-[0-9a-f]{8}$/);
  assert.equal(s.id, s.sandboxId);
  assert.equal(s.status, "running");
  const again = await Sandbox.connect(s.sandboxId);
  assert.equal(again.sandboxId, s.sandboxId);
  assert.equal(again.status, "running");
  assert.equal(await again.isRunning(), true);
  assert.equal((await s.exec.run("echo $FROM_CREATE")).stdout, "yes\n");
  // a command's own env wins over the sandbox's (protocol.md 3.1)
  assert.equal((await s.exec.run("echo $FROM_CREATE", { env: { FROM_CREATE: "no" } })).stdout, "no\n");
  await s.kill();
  assert.equal(s.status, "stopped");
  assert.equal(await again.isRunning(), false);
  // ours: a killed sandbox is gone (404); the hosted service keeps a
  // "stopped" record
  await assert.rejects(Sandbox.connect(s.sandboxId), /: 404/);
  await assert.rejects(s.exec.run("true"), /Failed to run command: 404/);
});

test("sandbox: resources, setTimeout", async () => {
  const s = await Sandbox.create({ cpuCount: 2, timeout: 0 });
  try {
    await s.setTimeout(300);
    await s.setTimeout(0);
    await assert.rejects(s.setTimeout(-1), /Failed to set timeout: 400/);
    // ours: the sandbox's hostname is its id
    assert.equal((await s.exec.run("hostname")).stdout, s.sandboxId + "\n");
  } finally {
    await s.kill();
  }
});

test("sandbox: hibernate, wake, and auto-wake by a command", async () => {
  const s = await Sandbox.create({ timeout: 0 });
  try {
    await s.files.write("/home/sandbox/kept", "still here");
    await s.hibernate();
    assert.equal(s.status, "hibernated");
    assert.equal((await Sandbox.connect(s.sandboxId)).status, "hibernated");
    assert.equal(await s.isRunning(), false);
    await s.wake();
    assert.equal(s.status, "running");
    assert.equal(await s.files.read("/home/sandbox/kept"), "still here");
    // a wake of a running sandbox is fine too
    await s.wake();
    assert.equal(s.status, "running");
    // any data-plane call wakes a hibernated sandbox (protocol.md 2.7)
    await s.hibernate();
    assert.equal((await s.exec.run("cat /home/sandbox/kept")).stdout, "still here");
    assert.equal(await s.isRunning(), true);
  } finally {
    await s.kill();
  }
});

test("sandbox: refused creates (unknown template, wrong key)", async () => {
  await assert.rejects(Sandbox.create({ template: "no-such-template" }),
    /Failed to create sandbox: 404 .*template not found: no-such-template/);
  await assert.rejects(Sandbox.create({ apiKey: "wrong-key" }),
    /Failed to create sandbox: 401/);
  await assert.rejects(Sandbox.create({ memoryMB: 3000 }), /Failed to create sandbox: 400/);
});

// -- exec.run -----------------------------------------------------------------

test("exec.run: stdout, stderr, exit codes", async () => {
  const r = await sb.exec.run("echo out; echo err >&2; exit 3");
  assert.deepEqual(r, { exitCode: 3, stdout: "out\n", stderr: "err\n" });
  assert.deepEqual(await sb.exec.run("true"), { exitCode: 0, stdout: "", stderr: "" });
  assert.equal((await sb.exec.run("exit 255")).exitCode, 255);
  assert.deepEqual(await sb.exec.run("no-such-program-here"),
    { exitCode: 127, stdout: "", stderr: "sh: 1: no-such-program-here: not found\n" });
  // death by a signal is -1, not 128+n (protocol.md 3.8)
  assert.equal((await sb.exec.run("kill -9 $$")).exitCode, -1);
});

test("exec.run: env, cwd, the default environment", async () => {
  const r = await sb.exec.run("echo $GREETING; pwd", { env: { GREETING: "hi there" }, cwd: "/tmp" });
  assert.equal(r.stdout, "hi there\n/tmp\n");
  const d = await sb.exec.run('echo "$HOME|$USER|$LOGNAME|$(id -u):$(id -g)"; pwd');
  assert.equal(d.stdout, "/home/sandbox|sandbox|sandbox|1000:1000\n/home/sandbox\n");
  await assert.rejects(sb.exec.run("pwd", { cwd: "/no/such/dir" }), /Failed to run command: 400/);
});

test("exec.run: output that is not UTF-8 arrives as U+FFFD", async () => {
  const r = await sb.exec.run("printf 'a\\377b\\n'; printf '\\303\\251\\n' >&2");
  assert.equal(r.stdout, "a\uFFFDb\n");
  assert.equal(r.stderr, "\u00e9\n");
});

test("exec.run: output past 1 MiB and a slow command (polled)", async () => {
  const r = await sb.exec.run("sleep 0.6; head -c 2000000 /dev/zero | tr '\\0' x; echo e >&2");
  assert.equal(r.exitCode, 0);
  // ours: the whole output (the reference keeps the last MiB)
  assert.equal(r.stdout, "x".repeat(2000000));
  assert.equal(r.stderr, "e\n");
});

test("exec.run: 30 at once in one sandbox", async () => {
  const rs = await Promise.all(Array.from({ length: 30 },
    (_, i) => sb.exec.run(`sleep 0.0${i % 10}; echo ${i}; echo -${i} >&2; exit ${i}`)));
  rs.forEach((r, i) => assert.deepEqual(r, { exitCode: i, stdout: `${i}\n`, stderr: `-${i}\n` }));
});

test("exec.run: timeout kills the command", async () => {
  const t0 = Date.now();
  const r = await sb.exec.run("echo started; sleep 30", { timeout: 1 });
  const took = Date.now() - t0;
  assert.deepEqual(r, { exitCode: -1, stdout: "started\n", stderr: "" });
  assert.ok(took >= 900 && took < 5000, "took " + took + " ms");
});

test("exec.run: client-side timeoutMs, then exec.result and attach by execId", async () => {
  const t0 = Date.now();
  let err;
  try {
    await sb.exec.run("echo begun; sleep 2; echo ended", { timeoutMs: 300 });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ExecTimeoutError, "ExecTimeoutError: " + err);
  // the SDK checks its deadline between polls; the server holds the
  // dispatch up to 400 ms and a poll up to 500 ms (protocol.md 3.7)
  assert.ok(Date.now() - t0 < 1800, "threw after " + (Date.now() - t0) + " ms");
  assert.match(err.execId, /^[0-9a-f]{8}$/);
  const polled = await sb.exec.result(err.execId);
  assert.equal(polled.running, true);
  assert.equal(polled.stdout, "begun\n");
  assert.equal("exitCode" in polled, false);
  // single-process rule: the execId is a session id, so it can be attached
  const out = [];
  const a = await sb.exec.attach(err.execId, { onStdout: (d) => out.push(text(d)) });
  assert.equal(await a.done, 0);
  assert.equal(out.join(""), "begun\nended\n");
  const res = await sb.exec.result(err.execId);
  assert.equal(res.running, false);
  assert.equal(res.exitCode, 0);
  assert.equal(res.stdout, "begun\nended\n");
  assert.equal(res.stderr, "");
  // commandMs: the command's whole run, in milliseconds
  assert.ok(res.commandMs >= 1900 && res.commandMs < 5000, "commandMs " + res.commandMs);
  await sleep(1100);	// and it stays that, once the command has ended
  assert.equal((await sb.exec.result(err.execId)).commandMs, res.commandMs);
  await assert.rejects(sb.exec.result("00000000"), /Failed to fetch exec result: 404/);
});

// -- exec.start, attach, list, kill ------------------------------------------------

test("exec.start: stdout, stderr and exit callbacks, done", async () => {
  const out = [], err = [];
  let exitCode = null;
  const s = await sb.exec.start("sh", {
    args: ["-c", "echo one; echo two >&2; exit 5"],
    onStdout: (d) => out.push(text(d)),
    onStderr: (d) => err.push(text(d)),
    onExit: (c) => { exitCode = c; },
  });
  assert.match(s.sessionId, /^[0-9a-f]{8}$/);
  assert.equal(await s.done, 5);
  assert.equal(out.join(""), "one\n");
  assert.equal(err.join(""), "two\n");
  assert.equal(exitCode, 5);
});

test("exec.start: env, cwd, timeout", async () => {
  const out = [];
  const t0 = Date.now();
  const s = await sb.exec.start("sh", {
    args: ["-c", "echo $X; pwd; sleep 30"], env: { X: "y" }, cwd: "/srv", timeout: 1,
    onStdout: (d) => out.push(text(d)),
  });
  assert.equal(await s.done, -1);
  assert.ok(Date.now() - t0 < 5000, "took " + (Date.now() - t0) + " ms");
  assert.equal(out.join(""), "y\n/srv\n");
});

test("exec.start: sendStdin, kill", async () => {
  const out = [];
  const s = await sb.exec.start("cat", { onStdout: (d) => out.push(text(d)) });
  s.sendStdin("ping\n");
  assert.ok(await until(() => out.join("") === "ping\n"), "echoed: " + JSON.stringify(out.join("")));
  s.sendStdin(new TextEncoder().encode("pong\n"));
  assert.ok(await until(() => out.join("") === "ping\npong\n"), "echoed: " + JSON.stringify(out.join("")));
  await s.kill(15);
  assert.equal(await s.done, -1);
});

test("exec.start: every byte value through stdin and stdout", async () => {
  const all = allBytes(4);
  const got = [];
  const s = await sb.exec.start("head", { args: ["-c", String(all.length)], onStdout: (d) => got.push(Buffer.from(d)) });
  s.sendStdin(all.subarray(0, 300));
  s.sendStdin(all.subarray(300));
  assert.equal(await s.done, 0);
  assert.deepEqual(Buffer.concat(got), Buffer.from(all));
});

test("exec.start: a fast command's first MiBs all reach the client", async () => {
  // ours: until its first client attaches, a session holds the process
  // back instead of evicting (the reference evicts past 1 MiB)
  let n = 0, e = 0;
  const s = await sb.exec.start("sh", {
    args: ["-c", "head -c 3000000 /dev/zero; head -c 1500000 /dev/zero >&2"],
    onStdout: (d) => { n += d.length; }, onStderr: (d) => { e += d.length; },
  });
  assert.equal(await s.done, 0);
  assert.equal(n, 3000000);
  assert.equal(e, 1500000);
});

test("exec.start: a program that does not exist is refused", async () => {
  // ours: 400 (the reference answers 500)
  await assert.rejects(sb.exec.start("no-such-program-here", {}), /Failed to create exec session: 400/);
});

test("exec.background and the exec.commands alias", async () => {
  const s = await sb.exec.background("sh", { args: ["-c", "exit 7"] });
  assert.equal(await s.done, 7);
  assert.equal(sb.commands, sb.exec);
  assert.deepEqual(await sb.commands.run("echo alias"), { exitCode: 0, stdout: "alias\n", stderr: "" });
});

test("exec.attach: scrollback replay, then live output; exec.list", async () => {
  const first = [];
  const s = await sb.exec.start("sh", {
    args: ["-c", "echo early; echo early-err >&2; read line; echo late $line"],
    onStdout: (d) => first.push(text(d)),
  });
  assert.ok(await until(() => first.join("") === "early\n"), "first output");
  s.close();
  const listed = (await sb.exec.list()).find((e) => e.sessionID === s.sessionId);
  assert.ok(listed, "session listed");
  assert.equal(listed.sandboxID, sb.sandboxId);
  assert.equal(listed.command, "sh");
  assert.deepEqual(listed.args, ["-c", "echo early; echo early-err >&2; read line; echo late $line"]);
  assert.equal(listed.running, true);
  assert.equal("exitCode" in listed, false);
  assert.match(listed.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const seen = [], seenErr = [];
  let replayEnded = false, errAtEnd = null;
  const a = await sb.exec.attach(s.sessionId, {
    onStdout: (d) => seen.push(text(d)),
    onStderr: (d) => seenErr.push(text(d)),
    onScrollbackEnd: () => { replayEnded = true; errAtEnd = seenErr.join(""); },
  });
  assert.ok(await until(() => replayEnded), "scrollback end");
  assert.equal(seen.join(""), "early\n");
  assert.equal(errAtEnd, "early-err\n");
  a.sendStdin("now\n");
  assert.equal(await a.done, 0);
  assert.equal(seen.join(""), "early\nlate now\n");
  const after = (await sb.exec.list()).find((e) => e.sessionID === s.sessionId);
  assert.equal(after.running, false);
  assert.equal(after.exitCode, 0);
  // attaching to a finished session: the replay, then its exit code
  const again = [];
  let ended = false;
  const b = await sb.exec.attach(s.sessionId, {
    onStdout: (d) => again.push(text(d)), onScrollbackEnd: () => { ended = true; },
  });
  assert.equal(await b.done, 0);
  assert.equal(ended, true);
  assert.equal(again.join(""), "early\nlate now\n");
});

test("exec.attach: two clients share output and stdin", async () => {
  const a = [], b = [];
  const s1 = await sb.exec.start("sh", {
    args: ["-c", "echo one; read x; echo two $x"], onStdout: (d) => a.push(text(d)),
  });
  assert.ok(await until(() => a.join("") === "one\n"), "first client output");
  const s2 = await sb.exec.attach(s1.sessionId, { onStdout: (d) => b.push(text(d)) });
  assert.ok(await until(() => b.join("") === "one\n"), "second client replay");
  s2.sendStdin("from-b\n");
  assert.equal(await s1.done, 0);
  assert.equal(await s2.done, 0);
  assert.equal(a.join(""), "one\ntwo from-b\n");
  assert.equal(b.join(""), "one\ntwo from-b\n");
});

test("exec.attach: an unknown session is refused", async () => {
  await assert.rejects(sb.exec.attach("00000000"), /WebSocket connection failed/);
});

test("exec.start: maxRunAfterDisconnect ends the process after the last client left", async () => {
  const s = await sb.exec.start("sleep", { args: ["30"], maxRunAfterDisconnect: 1 });
  s.close();
  const info = async () => (await sb.exec.list()).find((e) => e.sessionID === s.sessionId);
  assert.equal((await info()).running, true);
  let last;
  const end = Date.now() + 5000;
  while (Date.now() < end && (last = await info()).running) await sleep(100);
  assert.equal(last.running, false);
  assert.equal(last.exitCode, -1);
});

test("exec.kill by session id; unknown ids refused", async () => {
  const s = await sb.exec.start("sleep", { args: ["30"] });
  await sb.exec.kill(s.sessionId);	// no signal: SIGKILL
  assert.equal(await s.done, -1);
  const t = await sb.exec.start("sh", { args: ["-c", "trap 'echo got TERM; exit 4' TERM; while :; do sleep 0.05; done"] });
  await sleep(200);
  await sb.exec.kill(t.sessionId, 15);
  assert.equal(await t.done, 4);
  await assert.rejects(sb.exec.kill("00000000"), /Failed to kill exec session/);
});

// -- exec.shell ---------------------------------------------------------------------

test("exec.shell: state persists between runs", async () => {
  const sh = await sb.exec.shell({ cwd: "/tmp", env: { SHELL_ENV: "from-open" } });
  assert.deepEqual(await sh.run("pwd; echo $SHELL_ENV"), { exitCode: 0, stdout: "/tmp\nfrom-open\n", stderr: "" });
  await sh.run("cd /srv && export KEPT=yes && f() { echo f:$1; }");
  const r = await sh.run('echo "$(pwd) $KEPT $(f x)"; echo e >&2; false');
  assert.deepEqual(r, { exitCode: 1, stdout: "/srv yes f:x\n", stderr: "e\n" });
  const chunks = [];
  const s = await sh.run("echo streamed", { onStdout: (d) => chunks.push(text(d)) });
  assert.equal(s.stdout, "streamed\n");
  assert.equal(chunks.join(""), "streamed\n");
  await sh.close();
  await assert.rejects(sh.run("true"), ShellClosedError);
});

test("exec.shell: reattachShell skips history and keeps state", async () => {
  const sh = await sb.exec.shell();
  await sh.run("X=kept; echo old-output");
  const again = await sb.exec.reattachShell(sh.sessionId);
  assert.deepEqual(await again.run("echo $X"), { exitCode: 0, stdout: "kept\n", stderr: "" });
  await again.close();
});

test("exec.shell: busy and closed errors", async () => {
  const sh = await sb.exec.shell();
  const slow = sh.run("sleep 0.5; echo done");
  await assert.rejects(sh.run("true"), ShellBusyError);
  assert.equal((await slow).stdout, "done\n");
  await assert.rejects(sh.run("exit 3"), (e) => e instanceof ShellClosedError && /code 3/.test(e.message));
  await assert.rejects(sh.run("true"), ShellClosedError);
});

// -- files ------------------------------------------------------------------------

test("files: write, read, readBytes, exists", async () => {
  await sb.files.write("/tmp/compat/hello.txt", "hello from node \u00e9\n");
  assert.equal(await sb.files.read("/tmp/compat/hello.txt"), "hello from node \u00e9\n");
  assert.deepEqual(Buffer.from(await sb.files.readBytes("/tmp/compat/hello.txt")),
    Buffer.from("hello from node \u00e9\n"));
  assert.equal(await sb.files.exists("/tmp/compat/hello.txt"), true);
  assert.equal(await sb.files.exists("/tmp/compat/nope.txt"), false);
  assert.equal(await sb.files.exists("/tmp/compat"), false);	// a directory is not readable
  // parents created (0755), the file 0644 (protocol.md 5), the sandbox
  // user can read it
  assert.equal((await sb.exec.run("cat /tmp/compat/hello.txt; stat -c %a /tmp/compat /tmp/compat/hello.txt")).stdout,
    "hello from node \u00e9\n755\n644\n");
  // overwrite truncates
  await sb.files.write("/tmp/compat/hello.txt", "short");
  assert.equal(await sb.files.read("/tmp/compat/hello.txt"), "short");
  // ours: a missing file is a 404 (the reference answers 500)
  await assert.rejects(sb.files.read("/tmp/compat/nope.txt"), /Failed to read \/tmp\/compat\/nope.txt: 404/);
  await assert.rejects(sb.files.readBytes("/tmp/compat/nope.txt"), /: 404/);
});

test("files: an empty file", async () => {
  await sb.files.write("/tmp/compat/empty", "");
  assert.equal(await sb.files.read("/tmp/compat/empty"), "");
  assert.equal((await sb.files.readBytes("/tmp/compat/empty")).length, 0);
  assert.equal(await sb.files.exists("/tmp/compat/empty"), true);
});

test("files: every byte value round-trips", async () => {
  const all = allBytes(4);
  await sb.files.write("/tmp/compat/all.bin", all);
  assert.deepEqual(Buffer.from(await sb.files.readBytes("/tmp/compat/all.bin")), Buffer.from(all));
  assert.equal((await sb.exec.run("od -An -tx1 -v /tmp/compat/all.bin | tr -d ' \\n' | head -c 64")).stdout,
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  assert.equal((await sb.exec.run("wc -c < /tmp/compat/all.bin")).stdout.trim(), "1024");
  // and a file written in the sandbox reads back the same
  await sb.exec.run("cp /tmp/compat/all.bin /tmp/compat/copy.bin");
  assert.deepEqual(Buffer.from(await sb.files.readBytes("/tmp/compat/copy.bin")), Buffer.from(all));
});

test("files: 5 MiB of binary, and a streamed (ReadableStream) write", async () => {
  const big = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 255;
  await sb.files.write("/tmp/compat/big.bin", big);
  assert.ok(Buffer.from(await sb.files.readBytes("/tmp/compat/big.bin")).equals(Buffer.from(big)), "big.bin");
  const chunk = allBytes(400);	// 100 KiB
  let sent = 0;
  const stream = new ReadableStream({
    pull(c) { if (sent++ < 40) c.enqueue(chunk); else c.close(); },
  });
  await sb.files.write("/tmp/compat/streamed.bin", stream);
  const back = Buffer.from(await sb.files.readBytes("/tmp/compat/streamed.bin"));
  assert.equal(back.length, 40 * chunk.length);
  for (let i = 0; i < 40; i++) {
    assert.ok(back.subarray(i * chunk.length, (i + 1) * chunk.length).equals(Buffer.from(chunk)), "chunk " + i);
  }
});

test("files: list, makeDir, remove", async () => {
  await sb.files.makeDir("/tmp/compat/dir/sub/deeper");
  await sb.files.makeDir("/tmp/compat/dir/sub");	// an existing directory is fine
  await sb.files.write("/tmp/compat/dir/f.txt", "abc");
  await sb.files.write("/tmp/compat/dir/empty.txt", "");
  const entries = await sb.files.list("/tmp/compat/dir");
  assert.deepEqual(entries.map((e) => e.name), ["empty.txt", "f.txt", "sub"]);
  assert.deepEqual(entries[0], { name: "empty.txt", isDir: false, path: "/tmp/compat/dir/empty.txt" });
  assert.deepEqual(entries[1], { name: "f.txt", isDir: false, path: "/tmp/compat/dir/f.txt", size: 3 });
  assert.equal(entries[2].isDir, true);
  assert.equal(entries[2].path, "/tmp/compat/dir/sub");
  assert.equal((await sb.exec.run("test -d /tmp/compat/dir/sub/deeper && echo yes")).stdout, "yes\n");
  await sb.files.remove("/tmp/compat/dir");	// recursive
  assert.equal(await sb.files.exists("/tmp/compat/dir/f.txt"), false);
  assert.equal((await sb.exec.run("test -e /tmp/compat/dir || echo gone")).stdout, "gone\n");
  await sb.files.remove("/tmp/compat/dir");	// a missing path is not an error
  await assert.rejects(sb.files.read("/tmp/compat/dir/f.txt"), /Failed to read/);
  await assert.rejects(sb.files.list("/tmp/compat/dir"), /Failed to list \/tmp\/compat\/dir: 404/);
});

test("files: list defaults to /, relative paths are in /home/sandbox", async () => {
  const root = (await sb.files.list()).map((e) => e.name);
  for (const name of ["etc", "home", "tmp", "usr"]) assert.ok(root.includes(name), name + " in /");
  assert.deepEqual([...root].sort(), root);
  await sb.files.write("compat-relative.txt", "rel");
  assert.equal(await sb.files.read("/home/sandbox/compat-relative.txt"), "rel");
  const home = await sb.files.list("/home/sandbox");
  assert.deepEqual(home.find((e) => e.name === "compat-relative.txt"),
    { name: "compat-relative.txt", isDir: false, path: "/home/sandbox/compat-relative.txt", size: 3 });
  assert.equal((await sb.exec.run("cat compat-relative.txt")).stdout, "rel");
});

test("files: names with spaces, +, & and non-ASCII", async () => {
  const name = "\u00e4 b+c&d=e?.txt";
  await sb.files.write("/tmp/compat/odd/" + name, "odd");
  assert.equal(await sb.files.read("/tmp/compat/odd/" + name), "odd");
  assert.deepEqual(await sb.files.list("/tmp/compat/odd"),
    [{ name, isDir: false, path: "/tmp/compat/odd/" + name, size: 3 }]);
  assert.equal((await sb.exec.run("ls /tmp/compat/odd")).stdout, name + "\n");
});

// -- checkpoints, forks, patches (protocol.md 8.1, 8.2, 8.4) ----------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// the checkpoint `id` of sandbox `s` once listCheckpoints shows it ready
async function checkpointReady(s, id) {
  const end = Date.now() + 30_000;
  for (;;) {
    const cp = (await s.listCheckpoints()).find((c) => c.id === id);
    assert.ok(cp, "checkpoint " + id + " is listed");
    if (cp.status === "ready") return cp;
    assert.equal(cp.status, "processing");
    assert.ok(Date.now() < end, "checkpoint still processing after 30 s");
    await sleep(20);
  }
}

test("checkpoints: createCheckpoint, listCheckpoints, restoreCheckpoint, deleteCheckpoint", async () => {
  const s = await Sandbox.create({ envs: { CP_ENV: "kept" }, metadata: { who: "compat" } });
  try {
    await s.files.write("/home/sandbox/state.txt", "at the checkpoint");
    const cp = await s.createCheckpoint("first");
    assert.match(cp.id, UUID);
    const { id, createdAt, sizeBytes, ...rest } = cp;
    assert.equal(typeof createdAt, "string");
    assert.equal(typeof sizeBytes, "number");
    assert.deepEqual(rest, {
      sandboxId: s.sandboxId, orgId: "", name: "first", kind: "full",
      status: "processing", isPublic: false,
      sandboxConfig: { cpuCount: 1, diskMB: 20480, envs: { CP_ENV: "kept" },
        memoryMB: 4096, metadata: { who: "compat" }, networkEnabled: true,
        templateID: "base", timeout: 0 },
    });
    const ready = await checkpointReady(s, id);
    assert.equal(ready.name, "first");
    assert.ok(ready.sizeBytes > 0);
    assert.deepEqual((await s.listCheckpoints()).map((c) => c.id), [id]);
    // a name is unique per sandbox; an id that is not a UUID is refused
    await assert.rejects(s.createCheckpoint("first"),
      /Failed to create checkpoint: 409 .*checkpoint name already exists for this sandbox/);
    await assert.rejects(s.restoreCheckpoint("not-a-uuid"),
      /Failed to restore checkpoint: 400 .*invalid checkpoint ID/);
    // restore: the files revert, the id stays; the SDK's next calls wait for it
    await s.files.write("/home/sandbox/state.txt", "changed");
    await s.files.write("/home/sandbox/new.txt", "after");
    await s.restoreCheckpoint(id);
    assert.equal(s.sandboxId, rest.sandboxId);
    assert.equal(await s.files.read("/home/sandbox/state.txt"), "at the checkpoint");
    assert.equal(await s.files.exists("/home/sandbox/new.txt"), false);
    assert.equal((await s.exec.run("echo $CP_ENV; hostname")).stdout, `kept\n${s.sandboxId}\n`);
    // delete; a second delete is a 404, which the SDK ignores
    await s.deleteCheckpoint(id);
    assert.deepEqual(await s.listCheckpoints(), []);
    await s.deleteCheckpoint(id);
    await assert.rejects(s.restoreCheckpoint(id), /Failed to restore checkpoint: 404/);
  } finally {
    await s.kill();
  }
});

test("checkpoints: createFromCheckpoint forks, and the fork diverges", async () => {
  const s = await Sandbox.create({ envs: { ORIGIN: "origin", BOTH: "origin" } });
  try {
    await s.files.write("/home/sandbox/shared.txt", "from the checkpoint");
    const cp = await s.createCheckpoint("fork-me");
    await checkpointReady(s, cp.id);
    const f = await Sandbox.createFromCheckpoint(cp.id, { envs: { BOTH: "fork" }, timeout: 0 });
    try {
      assert.match(f.sandboxId, /^sb-[0-9a-f]{8}$/);
      assert.notEqual(f.sandboxId, s.sandboxId);
      assert.equal(f.status, "running");
      assert.equal(await f.files.read("/home/sandbox/shared.txt"), "from the checkpoint");
      assert.deepEqual(await f.exec.run('echo "$ORIGIN $BOTH"'),
        { exitCode: 0, stdout: "origin fork\n", stderr: "" });
      await f.files.write("/home/sandbox/shared.txt", "fork's");
      await s.files.write("/home/sandbox/origin-only.txt", "origin's");
      assert.equal(await s.files.read("/home/sandbox/shared.txt"), "from the checkpoint");
      assert.equal(await f.files.exists("/home/sandbox/origin-only.txt"), false);
    } finally {
      await f.kill();
    }
    await assert.rejects(Sandbox.createFromCheckpoint("00000000-0000-4000-8000-000000000000"),
      /Failed to create sandbox from checkpoint: 404 .*checkpoint not found/);
  } finally {
    await s.kill();
  }
});

test("checkpoints: createCheckpointPatch, listCheckpointPatches, deleteCheckpointPatch", async () => {
  const s = await Sandbox.create();
  try {
    const cp = await s.createCheckpoint("patched");
    await checkpointReady(s, cp.id);
    const { patch: p1 } = await Sandbox.createCheckpointPatch(cp.id,
      { script: "echo one >> /home/sandbox/log", description: "first" });
    assert.match(p1.id, UUID);
    const { id: _id, createdAt, ...rest } = p1;
    assert.equal(typeof createdAt, "string");
    assert.deepEqual(rest, { checkpointId: cp.id, sequence: 1,
      script: "echo one >> /home/sandbox/log", description: "first", strategy: "on_wake" });
    const { patch: p2 } = await Sandbox.createCheckpointPatch(cp.id,
      { script: "echo two >> /home/sandbox/log" });
    assert.equal(p2.sequence, 2);
    assert.equal(p2.description, "");
    assert.deepEqual(await Sandbox.listCheckpointPatches(cp.id), [p1, p2]);
    // a fork runs them, in order, before it is answered
    const f = await Sandbox.createFromCheckpoint(cp.id);
    try {
      assert.equal(await f.files.read("/home/sandbox/log"), "one\ntwo\n");
    } finally {
      await f.kill();
    }
    // the running origin is not touched
    assert.equal(await s.files.exists("/home/sandbox/log"), false);
    await Sandbox.deleteCheckpointPatch(cp.id, p1.id);
    await Sandbox.deleteCheckpointPatch(cp.id, p1.id);	// 404 ignored
    assert.deepEqual(await Sandbox.listCheckpointPatches(cp.id), [p2]);
    await assert.rejects(Sandbox.createCheckpointPatch(cp.id, { script: "" }),
      /Failed to create checkpoint patch: 400/);
  } finally {
    await s.kill();
  }
});

// -- images, snapshots, templates (protocol.md 2.2.1, 8.5, 8.6, 8.7) --------------

test("snapshots: create with onBuildLogs, get, list, Sandbox.create({ snapshot }), delete", async () => {
  const snaps = new Snapshots();
  const name = "compat-snap-" + Date.now().toString(16);
  const image = Image.base()
    .runCommands("echo step-output", "sleep 1")
    .addFile("/home/sandbox/from-image.txt", "image file\n")
    .env({ FROM_IMAGE: "yes" });
  const logs = [];
  let whileBuilding = null;
  const t0 = Date.now();
  const snap = await snaps.create({ name, image, onBuildLogs: (m) => {
    logs.push(m);
    if (m === "step-output") whileBuilding = Date.now() - t0;
  } });
  const total = Date.now() - t0;
  try {
    // the command's output arrived as a log line while the build still ran
    assert.ok(whileBuilding !== null, "no step-output line in " + JSON.stringify(logs));
    assert.ok(whileBuilding < total - 500, `step-output after ${whileBuilding} ms of ${total}`);
    assert.equal(logs[0], "building image " + image.cacheKey().slice(0, 12) + ": 3 steps");
    const { id, checkpointId, createdAt, lastUsedAt, ...rest } = snap;
    assert.match(id, UUID);
    assert.match(checkpointId, UUID);
    // the cache key is the SDK's own Image.cacheKey(); ours: the manifest
    // comes back in its stored form (add_file without its "encoding",
    // which is always base64: protocol.md 8.6)
    const steps = image.toJSON().steps.map((st) => st.type === "add_file"
      ? { type: st.type, args: { path: st.args.path, content: st.args.content } } : st);
    assert.deepEqual(rest, { name, orgId: "", status: "ready",
      contentHash: image.cacheKey(), manifest: { base: "base", steps } });
    assert.deepEqual(await snaps.get(name), snap);
    assert.ok((await snaps.list()).some((x) => x.name === name && x.id === id));
    await assert.rejects(snaps.create({ name, image }), /Failed to create snapshot: 409/);
    const s = await Sandbox.create({ snapshot: name, envs: { MINE: "mine" } });
    try {
      assert.equal(s.status, "running");
      assert.equal(await s.files.read("/home/sandbox/from-image.txt"), "image file\n");
      assert.equal((await s.exec.run("bash -lc 'echo $FROM_IMAGE $MINE'")).stdout, "yes mine\n");
    } finally {
      await s.kill();
    }
  } finally {
    await snaps.delete(name);
  }
  await assert.rejects(snaps.get(name), /Failed to get snapshot: 404/);
  await snaps.delete(name);	// 404 ignored
  // a failing step: the SSE error event
  await assert.rejects(snaps.create({ name: name + "-bad", image: Image.base().runCommands("exit 3") }),
    /^Error: Build failed: image build failed: step 0 \(run\) failed \(exit 3\)/);
  await snaps.delete(name + "-bad");
});

test("images: Sandbox.create({ image, onBuildLog }) builds once, then hits the cache", async () => {
  const image = Image.base().addFile("/home/sandbox/built.txt", "built " + Date.now() + "\n")
    .runCommands("echo built-by-run > /home/sandbox/run.txt");
  const logs = [];
  const a = await Sandbox.create({ image, onBuildLog: (m) => logs.push(m) });
  const logs2 = [];
  const b = await Sandbox.create({ image, onBuildLog: (m) => logs2.push(m) });
  try {
    assert.equal(a.status, "running");
    assert.ok(logs.includes("checkpointing the image"), JSON.stringify(logs));
    assert.ok(!logs2.includes("checkpointing the image"), JSON.stringify(logs2));
    assert.equal(await a.files.read("/home/sandbox/run.txt"), "built-by-run\n");
    assert.equal(await b.files.read("/home/sandbox/run.txt"), "built-by-run\n");
    await b.files.write("/home/sandbox/run.txt", "b's own");
    assert.equal(await a.files.read("/home/sandbox/run.txt"), "built-by-run\n");
  } finally {
    await a.kill();
    await b.kill();
  }
  await assert.rejects(Sandbox.create({ snapshot: "no-such-snapshot" }), /^Error: Build failed: .*no-such-snapshot/);
});

test("templates: build, get, list, Sandbox.create({ template }), delete", async () => {
  const templates = new Templates(process.env.OPENCOMPUTER_API_URL.replace(/\/+$/, "") + "/api",
    process.env.OPENCOMPUTER_API_KEY);
  const name = "compat-tpl-" + Date.now().toString(16);
  const t = await templates.build(name, "FROM base\nRUN echo from-template > /opt/t.txt\n");
  const { buildID, imageID, createdAt, ...rest } = t;
  assert.match(buildID, UUID);
  assert.match(imageID, UUID);
  assert.equal(typeof createdAt, "string");
  assert.deepEqual(rest, { templateID: name, name, tag: "latest", status: "ready" });
  assert.deepEqual(await templates.get(name), t);
  assert.ok((await templates.list()).some((x) => x.name === name));
  const s = await Sandbox.create({ template: name });
  try {
    assert.equal((await s.exec.run("cat /opt/t.txt")).stdout, "from-template\n");
  } finally {
    await s.kill();
  }
  await assert.rejects(templates.build(name + "-x", "FROM base\nEXPOSE 80\n"),
    /Failed to build template: 400/);
  await templates.delete(name);
  await assert.rejects(templates.get(name), /Failed to get template: 404/);
  await assert.rejects(templates.delete(name), /Failed to delete template: 404/);
});

// -- terminals (protocol.md 6) ----------------------------------------------------

test("pty: create, output, send typed text, Ctrl-C, close (the shell lives on)", async () => {
  const chunks = [];
  const out = () => chunks.join("");
  // the SDK sends cols and rows only; it returns before its socket is open
  const t = await sb.pty.create({ cols: 100, rows: 30, onOutput: (d) => chunks.push(text(d)) });
  assert.match(t.sessionId, /^[0-9a-f]{8}$/);
  // the prompt shows that the socket is open: then send works
  assert.ok(await until(() => /\$ $/.test(out()), 10000), "no prompt: " + JSON.stringify(out()));
  t.send("stty size; tty; echo $TERM; echo ok-$((6*7))\n");
  assert.ok(await until(() => out().includes("ok-42"), 10000), JSON.stringify(out()));
  assert.match(out(), /30 100\r\n\/dev\/pts\/\d+\r\nxterm-256color\r\nok-42/);
  // Ctrl-C reaches the foreground job; bytes given as a Uint8Array too
  t.send("sleep 100\n");
  await sleep(300);
  t.send(new Uint8Array([3]));
  t.send("echo rc=$?\n");
  assert.ok(await until(() => out().includes("rc=130"), 10000), JSON.stringify(out()));
  t.close();
  // closing the socket does not end the shell (protocol.md 6.2): it still
  // answers resize, and DELETE ends it (neither is in the SDK)
  const base = `${process.env.OPENCOMPUTER_API_URL}/api/sandboxes/${sb.sandboxId}/pty/${t.sessionId}`;
  const headers = { "X-API-Key": process.env.OPENCOMPUTER_API_KEY, "Content-Type": "application/json" };
  let r = await fetch(base + "/resize", { method: "POST", headers, body: JSON.stringify({ cols: 80, rows: 24 }) });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "");
  r = await fetch(base, { method: "DELETE", headers });
  assert.equal(r.status, 204);
  r = await fetch(base, { method: "DELETE", headers });
  assert.equal(r.status, 404);
});

test("pty: the shell's exit closes the socket; a sandbox that is gone refuses create", async () => {
  const chunks = [];
  const t = await sb.pty.create({ onOutput: (d) => chunks.push(text(d)) });
  assert.ok(await until(() => /\$ $/.test(chunks.join("")), 10000));
  t.send("stty size; exit\n");
  assert.ok(await until(() => chunks.join("").includes("24 80"), 10000), JSON.stringify(chunks.join("")));
  const s = await Sandbox.create();
  await s.kill();
  await assert.rejects(s.pty.create(), /Failed to create PTY: 404/);
});

// -- a server restart: hibernated sandboxes, woken by the next call ----------------

// `oclua serve --data-dir dir` (OCLUA_BIN, from run.sh) on 127.0.0.1; its
// URL and a stop() that waits for it to exit
async function serve(dir, key) {
  const proc = spawn(process.env.OCLUA_BIN, ["serve", "--listen", "127.0.0.1:0", "--exit-with-parent", "--data-dir", dir],
    { env: { ...process.env, OCLUA_SERVE_API_KEY: key }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise((r) => proc.on("exit", r));
  let seen = "";
  const url = await new Promise((resolve, reject) => {
    const read = (d) => {
      seen += d;
      const m = seen.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    };
    proc.stdout.on("data", read);
    proc.stderr.on("data", read);
    exited.then((code) => reject(new Error("oclua serve exited with " + code + ": " + seen)));
  });
  return { url, stop: () => { proc.kill("SIGTERM"); return exited; } };
}

test("sandbox: after a server restart it is hibernated; files and exec wake it", async () => {
  assert.ok(process.env.OCLUA_BIN, "OCLUA_BIN names the oclua binary");
  const dir = mkdtempSync(join(tmpdir(), "oclua-compat-"));
  const key = process.env.OPENCOMPUTER_API_KEY;
  let srv = await serve(dir, key);
  try {
    const opts = () => ({ apiUrl: srv.url, apiKey: key });
    const s = await Sandbox.create({ ...opts(), envs: { KEPT_ENV: "kept" } });
    await s.files.write("/home/sandbox/state.txt", "before restart");
    await s.exec.start("sleep", { args: ["300"] });
    await srv.stop();
    srv = await serve(dir, key);
    const again = await Sandbox.connect(s.sandboxId, opts());
    assert.equal(again.status, "hibernated");
    assert.equal(await again.isRunning(), false);
    // the files call carries X-OSB-Async-Wake: ours wakes inline (200)
    assert.equal(await again.files.read("/home/sandbox/state.txt"), "before restart");
    assert.equal(await again.isRunning(), true);
    assert.deepEqual(await again.exec.list(), []);	// processes are gone
    assert.deepEqual(await again.exec.run("cat state.txt; echo \" $KEPT_ENV\"; pgrep -c sleep"),
      { exitCode: 1, stdout: "before restart kept\n0\n", stderr: "" });
    await again.kill();
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// -- agent sessions (protocol.md 7) -------------------------------------------------

// the tests' own claude-agent-wrapper (spec/support/claude-agent-wrapper.sh
// says what it answers), installed in `s`
const WRAPPER = readFileSync(new URL("../../spec/support/claude-agent-wrapper.sh",
  import.meta.url), "utf8");
async function installWrapper(s) {
  await s.files.write("/tmp/claude-agent-wrapper", WRAPPER);
  const r = await s.exec.run("sudo install -m 755 /tmp/claude-agent-wrapper /usr/local/bin/");
  assert.equal(r.exitCode, 0, r.stderr);
}

test("agent: start, onEvent in order, sendPrompt, configure, interrupt, list, attach replay, kill", async () => {
  await installWrapper(sb);
  const events = [], errors = [];
  const types = (evs) => evs.map((e) => e.type);
  const count = (t) => events.filter((e) => e.type === t).length;
  const session = await sb.agent.start({
    prompt: "hello", model: "claude-test", maxTurns: 3, allowedTools: ["Read"],
    mcpServers: { fs: { command: "npx", args: ["-y", "srv"] } },
    onEvent: (e) => events.push(e), onError: (e) => errors.push(e),
  });
  assert.match(session.sessionId, /^[0-9a-f]{8}$/);
  assert.ok(await until(() => count("turn_complete") === 1), "first turn: " + JSON.stringify(events));
  assert.deepEqual(types(events), ["ready", "configured", "assistant", "turn_complete"]);
  // the configure line held exactly the fields the SDK set
  assert.deepEqual(events[1].got, { type: "configure", model: "claude-test", maxTurns: 3,
    allowedTools: ["Read"], mcpServers: { fs: { command: "npx", args: ["-y", "srv"] } } });
  assert.deepEqual(events[2].got, { type: "prompt", text: "hello" });
  assert.equal(events[3].claude_session_id, null);
  // lines split across frames, a UTF-8 character too, arrive whole
  session.sendPrompt("split");
  assert.ok(await until(() => count("turn_complete") === 2), "split: " + JSON.stringify(events));
  assert.deepEqual(types(events.slice(4)), ["assistant", "second", "assistant", "turn_complete"]);
  assert.equal(events[4].text, "café");
  // a non-JSON line goes to onError (the SDK's words); blank lines are skipped
  session.sendPrompt("noise");
  assert.ok(await until(() => count("turn_complete") === 3), "noise");
  assert.deepEqual(errors.filter((e) => e.startsWith("non-JSON")), ["non-JSON stdout: not json at all"]);
  session.configure({ model: "other", maxTurns: 1 });
  assert.ok(await until(() => count("configured") === 2), "configured");
  assert.deepEqual(events.filter((e) => e.type === "configured")[1].got,
    { type: "configure", model: "other", maxTurns: 1 });
  session.interrupt();
  assert.ok(await until(() => count("interrupted") === 1), "interrupted");
  const listed = (await sb.agent.list()).find((a) => a.sessionID === session.sessionId);
  assert.deepEqual(Object.keys(listed).sort(), ["running", "sandboxID", "sessionID", "startedAt"]);
  assert.equal(listed.running, true);
  assert.equal(listed.sandboxID, sb.sandboxId);
  // a second client: the scrollback replays every event so far
  const replayed = [];
  let replayEnded = false;
  const other = await sb.agent.attach(session.sessionId, {
    onEvent: (e) => replayed.push(e), onScrollbackEnd: () => { replayEnded = true; },
  });
  assert.ok(await until(() => replayEnded), "scrollback end");
  assert.deepEqual(types(replayed), types(events));	// [1,2] included: JSON to this SDK
  other.close();
  await session.kill();
  assert.equal(await session.done, -1);
  assert.equal((await sb.agent.list()).find((a) => a.sessionID === session.sessionId).running, false);
  // an unknown session: the attach ends at once (-1); ours: its kill is a
  // 404 (the reference answers 500)
  const ghost = await sb.agent.attach("abcdef12");
  assert.equal(await ghost.done, -1);
  await assert.rejects(ghost.kill(), /Failed to kill agent session: 404/);
  await sb.exec.run("sudo rm -f /usr/local/bin/claude-agent-wrapper");
});

test("agent: without a wrapper the session fails with an error event and exit 1", async () => {
  const s = await Sandbox.create();
  try {
    const events = [];
    const session = await s.agent.start({ prompt: "x", onEvent: (e) => events.push(e) });
    assert.equal(await session.done, 1);
    assert.equal(events.length, 1);
    assert.equal(events[0].type, "error");
    assert.match(events[0].message, /^claude-agent-wrapper is not installed in this sandbox: .*\/usr\/local\/bin\/claude-agent-wrapper/);
    const listed = await s.agent.list();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].running, false);
    assert.equal((await s.exec.list())[0].command, "claude-agent-wrapper");
  } finally {
    await s.kill();
  }
});

// -- last: a sandbox killed under an attached session --------------------------

test("sandbox: kill ends attached sessions (done gives -1)", async () => {
  const s = await Sandbox.create();
  const sess = await s.exec.start("sleep", { args: ["30"] });
  await s.kill();
  const code = await Promise.race([sess.done, sleep(5000).then(() => "still waiting")]);
  assert.equal(code, -1);
});

// -- the runner ------------------------------------------------------------------------

let passed = 0, failed = 0;
try {
  sb = await Sandbox.create();
  for (const t of tests) {
    const t0 = Date.now();
    let timer;
    try {
      await Promise.race([t.fn(), new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result after ${TEST_TIMEOUT} ms`)), TEST_TIMEOUT);
      })]);
      passed++;
      console.log(`ok     ${t.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log("FAILED " + t.name + "\n       " + String(e && e.stack || e).split("\n").join("\n       "));
    } finally {
      clearTimeout(timer);
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
