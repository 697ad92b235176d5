-- spec/support/rss.lua - this process's resident set size, for the specs
-- and benchmarks that bound memory.

return function()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end
