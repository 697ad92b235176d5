-- spec/json_spec.lua - opencomputer.runtime.json: what it writes is valid
-- JSON whatever a string holds, whole or in pieces.

local json = require("opencomputer.runtime.json")

describe("json", function()
  it("writes invalid UTF-8 as U+FFFD, valid UTF-8 as it is", function()
    assert.are.equal('"a\u{FFFD}\u{FFFD}b"', json.encode("a\xFF\xFEb"))
    -- a surrogate's encoding is not UTF-8: each of its bytes, as Go does
    assert.are.equal('"' .. ("\u{FFFD}"):rep(3) .. '"', json.encode("\xED\xA0\x80"))
    assert.are.equal('"é€😀"', json.encode("é€😀"))
    assert.are.same({ ["\u{FFFD}k"] = "v" }, json.decode(json.encode({ ["\xC3k"] = "v" })))
  end)

  it("writes a string fed in pieces as it writes it whole, at every split", function()
    local s = "aé€😀\xFF\xC3(b\xE2\x82x\"\\\0" .. ("😀"):rep(3)
    local whole = json.encode(s)
    for cut1 = 0, #s do
      for cut2 = cut1, #s do
        local out = {}
        local w = json.string_writer(function(t) out[#out + 1] = t end)
        w.add(s:sub(1, cut1)); w.add(s:sub(cut1 + 1, cut2)); w.add(s:sub(cut2 + 1))
        w.finish()
        assert.are.equal(whole, '"' .. table.concat(out) .. '"',
          "cut at " .. cut1 .. ", " .. cut2)
      end
    end
  end)
end)
