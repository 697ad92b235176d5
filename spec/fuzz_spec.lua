-- spec/fuzz_spec.lua - every libFuzzer target (fuzz/NAME.c, built by
-- `make test` as build/fuzz/NAME) replays its kept corpus and then fuzzes
-- a few seconds more, so a crash found once stays found. The long runs
-- are `make fuzz`.

local support = require("spec.support.server")

local SECONDS = tonumber(os.getenv("OCLUA_FUZZ_SECONDS")) or 5

local names = {}
for line in io.popen("ls fuzz/*.c 2>/dev/null"):lines() do
  names[#names + 1] = line:match("fuzz/(.-)%.c$")
end

describe("fuzz target", function()
  for _, name in ipairs(names) do
    it(name .. " replays its corpus and runs " .. SECONDS .. " s clean",
    function()
      local bin = "build/fuzz/" .. name
      assert.is_true(io.open(bin) ~= nil, bin .. " is not built")
      local dict = io.open("fuzz/" .. name .. ".dict") and
        ("-dict=fuzz/" .. name .. ".dict") or ""
      -- the kept corpus is only read: new inputs go to a scratch folder
      local scratch = os.tmpname()
      os.remove(scratch)
      local out, ok = support.output({ "sh", "-c", string.format(
        "mkdir -p %s && %s -max_total_time=%d -timeout=10 %s " ..
        "-artifact_prefix=%s/ %s fuzz/corpus/%s 2>&1; echo \"rc=$?\"; rm -rf %s",
        scratch, bin, SECONDS, dict, scratch, scratch, name, scratch) })
      assert.is_truthy(out:match("rc=0$"), out:sub(-3000))
    end)
  end
end)
