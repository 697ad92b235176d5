// scripts/bench/node/sdk.mjs - the Node side of the SDK benchmarks: the
// workloads of scripts/bench/sdk.lua through the official TypeScript SDK
// (@opencomputer/sdk, installed in scripts/compat). Prints one JSON line.
//
//   node scripts/bench/node/sdk.mjs run N | tti N seq|par | stream MIB |
//                                   fanout N KIB

import "../../compat/websocket.mjs";	// Node 20 has no global WebSocket
const { Sandbox } = await import("../../compat/node_modules/@opencomputer/sdk/dist/index.js");

const now = () => performance.now();

function stats(ms) {
  ms.sort((a, b) => a - b);
  const pct = (p) => ms[Math.max(0, Math.ceil(ms.length * p) - 1)];
  const sum = ms.reduce((a, b) => a + b, 0);
  return { n: ms.length, median: pct(0.5), p95: pct(0.95), p99: pct(0.99),
    min: ms[0], max: ms[ms.length - 1], mean: sum / ms.length };
}

const workloads = {
  async run(n) {
    const sb = await Sandbox.create();
    await sb.exec.run("true");
    const ms = [];
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const t = now();
      const r = await sb.exec.run("true");
      if (r.exitCode !== 0) throw new Error("exit " + r.exitCode);
      ms.push(now() - t);
    }
    const r = stats(ms);
    r.total_s = (now() - t0) / 1000;
    await sb.kill();
    return r;
  },

  async tti(n, mode) {
    const one = async () => {
      const t = now();
      const sb = await Sandbox.create();
      const r = await sb.exec.run('echo "benchmark"');
      if (r.stdout !== "benchmark\n") throw new Error("got " + r.stdout);
      const ms = now() - t;	// teardown not counted
      await sb.kill();
      return ms;
    };
    const ms = [];
    let ok = 0;
    if (mode === "par") {
      const all = await Promise.allSettled(Array.from({ length: n }, one));
      for (const r of all) if (r.status === "fulfilled") { ok++; ms.push(r.value); }
    } else {
      for (let i = 0; i < n; i++) {
        try { ms.push(await one()); ok++; } catch (e) { /* counted as a failure */ }
      }
    }
    const r = stats(ms);
    r.success = ok / n;
    return r;
  },

  async stream(mib) {
    const sb = await Sandbox.create();
    const n = mib * 1048576;
    let got = 0;
    const t = now();
    const s = await sb.exec.start("head", { args: ["-c", String(n), "/dev/zero"],
      onStdout: (d) => { got += d.length; } });
    const code = await s.done;
    if (code !== 0 || got !== n) throw new Error(`exit ${code}, got ${got}`);
    const secs = (now() - t) / 1000;
    await sb.kill();
    return { mib, seconds: secs, mib_per_s: mib / secs };
  },

  // session i prints "i\n" over and over; every chunk is checked against
  // where it falls in that pattern
  async fanout(n, kib) {
    const size = kib * 1024, per = 10;
    const sbs = [];
    for (let i = 0; i < Math.ceil(n / per); i++) sbs.push(await Sandbox.create());
    let total = 0, wrong = 0;
    const t = now();
    await Promise.all(Array.from({ length: n }, async (_, k) => {
      const i = k + 1, pat = Buffer.from(i + "\n");
      let got = 0;
      const s = await sbs[k % sbs.length].exec.start("sh", {
        args: ["-c", `yes ${i} | head -c ${size}`],
        onStdout: (d) => {
          const phase = got % pat.length;
          const want = Buffer.alloc(phase + d.length, pat).subarray(phase);
          if (!want.equals(Buffer.from(d.buffer, d.byteOffset, d.length))) wrong++;
          got += d.length;
        } });
      if (await s.done !== 0) throw new Error("session " + i + " failed");
      total += got;
    }));
    const secs = (now() - t) / 1000;
    for (const sb of sbs) await sb.kill();
    return { sessions: n, bytes: total, expected: n * size, wrong_chunks: wrong, seconds: secs };
  },
};

const [name, a, b] = process.argv.slice(2);
if (!workloads[name]) {
  console.error("usage: node scripts/bench/node/sdk.mjs run|tti|stream|fanout ...");
  process.exit(2);
}
console.log(JSON.stringify(await workloads[name](Number(a), name === "fanout" ? Number(b) : b)));
process.exit(0);
