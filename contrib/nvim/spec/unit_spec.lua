-- The parts that need no daemon: reassembling the event stream's chunks,
-- the `seq` gap rule, completion, the statusline.
local client = require("hpm.client")
local hpm = require("hpm")
local view = require("hpm.view")

describe("the event stream's chunks", function()
  it("are put back together into whole lines, wherever they split", function()
    local lines = client.lines()
    assert.are.same({}, lines:feed({ '{"seq":1,' }))
    assert.are.same({ '{"seq":1,"event":"a"}' }, lines:feed({ '"event":"a"}', '{"seq":2' }))
    assert.are.same({ '{"seq":2,"event":"b"}', '{"seq":3}' }, lines:feed({ ',"event":"b"}', '{"seq":3}', "" }))
    assert.are.same({}, lines:feed({ "" }))
  end)

  it("decode JSON null as nil at any depth", function()
    local value = client.decode('{"a":null,"b":{"c":null,"d":1}}')
    assert.is_nil(value.a)
    assert.is_nil(value.b.c)
    assert.are.equal(1, value.b.d)
  end)
end)

describe("a gap in seq", function()
  it("re-reads the status, and an unbroken run does not", function()
    local state = hpm.state()
    state.root = "/nowhere/workspace"
    state.last_seq = nil
    local reads = 0
    local original = hpm.refresh
    hpm.refresh = function()
      reads = reads + 1
    end
    for seq = 1, 3 do
      hpm.on_event({ seq = seq, workspace = state.root, event = "watch_degraded" })
    end
    vim.wait(400, function()
      return false
    end)
    assert.are.equal(0, reads)
    hpm.on_event({ seq = 7, workspace = state.root, event = "watch_degraded" })
    vim.wait(2000, function()
      return reads > 0
    end)
    assert.are.equal(1, reads)
    hpm.refresh = original
    state.root = nil
  end)
end)

describe(":Hpm completion", function()
  it("offers verbs, then packages and modes where they go", function()
    local state = hpm.state()
    state.status = { mode = "dev", packages = { { name = "plugin-a" }, { name = "plugin-b" } } }
    assert.are.same({ "cancel", "dev", "reset", "status", "switch", "sync", "use" }, hpm.complete("", "Hpm "))
    assert.are.same({ "status", "switch", "sync" }, hpm.complete("s", "Hpm s"))
    assert.are.same({ "plugin-a", "plugin-b" }, hpm.complete("", "Hpm use "))
    assert.are.same({ "dev", "staging", "prod" }, hpm.complete("", "Hpm use plugin-a "))
    assert.are.same({ "prod" }, hpm.complete("p", "Hpm switch p"))
    -- Any mode the workspace names, as its status says.
    state.status.modes = { "dev", "staging", "prod", "qa" }
    assert.are.same({ "qa" }, hpm.complete("q", "Hpm switch q"))
    assert.are.same({ "dev", "staging", "prod", "qa" }, hpm.complete("", "Hpm use plugin-a "))
    state.status = nil
  end)
end)

describe("the statusline", function()
  it("is empty outside a workspace and names the mode inside", function()
    local state = hpm.state()
    assert.are.equal("", hpm.statusline())
    state.root = "/w"
    state.status = { mode = "prod", in_sync = true }
    assert.are.equal("hpm: prod", hpm.statusline())
    state.status.in_sync = false
    assert.are.equal("hpm: prod *", hpm.statusline())
    state.job = { change = {} }
    assert.truthy(hpm.statusline():match("^hpm: prod .+"))
    state.job, state.status, state.root = nil, nil, nil
  end)
end)

describe("the status window", function()
  -- Regression: a multi-line error (the daemon refusing a socket folder,
  -- with its hint) crashed the window: "replacement string item contains
  -- newlines". Each line of the message, its problems and hint is a line.
  it("shows a multi-line error whole, line by line", function()
    local state = {
      failure = {
        message = "hpmd could not start:\nthe socket folder `/run/x` is open to others",
        hint = "make it private: chmod 700 /run/x\nor set HPM_SOCKET",
        problems = { { message = "one\ntwo" } },
      },
    }
    local lines = view.lines(state)
    assert.are.same({
      "hpm: hpmd could not start:",
      "the socket folder `/run/x` is open to others",
      "  one",
      "two",
      "  hint: make it private: chmod 700 /run/x",
      "or set HPM_SOCKET",
    }, lines)
    local buffer = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(buffer, 0, -1, false, lines)
    assert.are.equal(6, vim.api.nvim_buf_line_count(buffer))
  end)
end)

describe("the status window's actions", function()
  it("are <Plug> mappings of its buffer, the default keys mapped to them unless turned off", function()
    local function mapped(buf)
      local found = {}
      for _, map in ipairs(vim.api.nvim_buf_get_keymap(buf, "n")) do
        found[map.lhs] = map.rhs or ""
      end
      return found
    end
    local with_keys = vim.api.nvim_create_buf(false, true)
    view.map_actions(with_keys, hpm)
    local keys = mapped(with_keys)
    for _, name in ipairs({ "close", "refresh", "reset", "use-dev", "use-staging", "use-prod" }) do
      assert.is_not_nil(keys["<Plug>(hpm-" .. name .. ")"], name)
    end
    assert.are.equal("<Plug>(hpm-use-dev)", keys["d"])
    assert.are.equal("<Plug>(hpm-reset)", keys["x"])

    hpm.options().default_mappings = false
    local without = vim.api.nvim_create_buf(false, true)
    view.map_actions(without, hpm)
    local plugs = mapped(without)
    hpm.options().default_mappings = true
    assert.is_not_nil(plugs["<Plug>(hpm-use-prod)"])
    assert.is_nil(plugs["p"], "a default key was mapped")
  end)
end)
