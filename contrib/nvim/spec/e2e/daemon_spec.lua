-- The plugin against the real hpmd, in a real workspace (made and synced
-- by tests/tests/editors.rs, which passes HPM_TEST_WORKSPACE, HPMCTL and
-- HPM_SOCKET): the status window lists the packages, `:Hpm use PKG prod`
-- changes it, a fourth mode the workspace names (`qa`) is offered and
-- switched to, the window's keys (p, d, x) act on the package under the cursor,
-- events arrive after a switch made on the command line, a
-- broken hpm.yaml becomes a diagnostic at its line and goes away when it
-- is fixed, a stopped daemon is started again and followed, and
-- `:checkhealth hpm` reports hpmctl, the daemon and the workspace.
local workspace =
  assert(os.getenv("HPM_TEST_WORKSPACE"), "HPM_TEST_WORKSPACE is not set (tests/tests/editors.rs sets it)")
local hpmctl = assert(os.getenv("HPMCTL"), "HPMCTL is not set")
assert(os.getenv("HPM_SOCKET"), "HPM_SOCKET is not set")

local hpm = require("hpm")
local diagnostics = require("hpm.diagnostics")
local TIMEOUT = 60000

local function wait_for(what, condition)
  local ok = vim.wait(TIMEOUT, condition, 20)
  assert(ok, "timed out waiting for " .. what)
end

local function window_text()
  for _, window in ipairs(vim.api.nvim_list_wins()) do
    local buffer = vim.api.nvim_win_get_buf(window)
    if vim.api.nvim_buf_get_name(buffer) == "hpm://status" then
      return table.concat(vim.api.nvim_buf_get_lines(buffer, 0, -1, false), "\n")
    end
  end
  return ""
end

local function package_mode(name)
  for _, package in ipairs((hpm.state().status or {}).packages or {}) do
    if package.name == name then
      return package.mode
    end
  end
end

local seen = {}
-- Every event the plugin hands on, as JSON lines, for the suite to check
-- against contrib/schema/event.schema.json.
local events_out = os.getenv("HPM_TEST_EVENTS_OUT")
vim.api.nvim_create_autocmd("User", {
  pattern = "Hpm*",
  callback = function(args)
    seen[args.match] = (seen[args.match] or 0) + 1
    if events_out and args.match == "HpmEvent" then
      local file = assert(io.open(events_out, "a"))
      file:write(vim.json.encode(args.data), "\n")
      file:close()
    end
  end,
})

describe("the plugin against hpmd", function()
  it("attaches to the workspace and the status window lists the packages", function()
    hpm.setup({ hpmctl = hpmctl, debounce_ms = 50 })
    vim.cmd("cd " .. vim.fn.fnameescape(workspace))
    hpm.attach()
    wait_for("the first status", function()
      return hpm.state().status ~= nil
    end)
    assert.are.equal("hpm: dev", hpm.statusline())
    vim.cmd("Hpm status")
    wait_for("the window to list plugin-a in dev", function()
      return window_text():match("plugin%-a%s+dev") ~= nil
    end)
    assert.truthy(window_text():match("plugin%-b%s+dev"), window_text())
    assert.truthy(window_text():match("main@%x+"), window_text())
  end)

  it(":Hpm use PKG prod changes the package, in the window and the status", function()
    vim.cmd("Hpm use plugin-a prod")
    wait_for("plugin-a in prod", function()
      return package_mode("plugin-a") == "prod"
    end)
    wait_for("the window to show it", function()
      return window_text():match("plugin%-a%s+prod%s+git v1%.0%.0%s+1%.0%.0") ~= nil
    end)
    assert.truthy(window_text():match("plugin%-b%s+dev"), window_text())
    vim.cmd("Hpm reset plugin-a")
    wait_for("plugin-a back in dev", function()
      return package_mode("plugin-a") == "dev"
    end)
  end)

  it("offers the modes the workspace names, a fourth one (qa) included, and switches to it", function()
    assert.are.same({ "dev", "staging", "prod", "qa" }, hpm.complete("", "Hpm switch "))
    vim.cmd("Hpm switch qa")
    wait_for("the workspace in qa", function()
      return (hpm.state().status or {}).mode == "qa" and package_mode("plugin-a") == "qa"
    end)
    assert.are.equal("hpm: qa", hpm.statusline())
    vim.cmd("Hpm switch dev")
    wait_for("the workspace back in dev", function()
      return (hpm.state().status or {}).mode == "dev"
    end)
  end)

  it("the status window's keys put the package under the cursor in a mode and reset it", function()
    vim.cmd("Hpm status")
    local buffer = vim.fn.bufnr("hpm://status")
    vim.fn.win_gotoid(vim.fn.bufwinid(buffer))
    local function on_plugin_b()
      for number, line in ipairs(vim.api.nvim_buf_get_lines(buffer, 0, -1, false)) do
        if line:match("^plugin%-b%s") then
          vim.api.nvim_win_set_cursor(0, { number, 0 })
          return
        end
      end
      error("plugin-b is not in the window:\n" .. window_text())
    end
    -- A package's own mode, as hpm keeps it (`.hpm/state.json`).
    local function own_mode()
      local text = table.concat(vim.fn.readfile(workspace .. "/.hpm/state.json"), "\n")
      return (vim.json.decode(text).overrides or {})["plugin-b"]
    end
    on_plugin_b()
    vim.cmd("normal p")
    wait_for("p: plugin-b in prod", function()
      return package_mode("plugin-b") == "prod"
    end)
    wait_for("the window to show it", function()
      return window_text():match("plugin%-b%s+prod") ~= nil
    end)
    on_plugin_b()
    vim.cmd("normal d")
    wait_for("d: plugin-b in dev, of its own", function()
      return package_mode("plugin-b") == "dev" and own_mode() == "dev"
    end)
    on_plugin_b()
    vim.cmd("normal p")
    wait_for("p again: plugin-b in prod", function()
      return package_mode("plugin-b") == "prod"
    end)
    on_plugin_b()
    vim.cmd("normal x")
    wait_for("x: plugin-b following the workspace (dev) again", function()
      return package_mode("plugin-b") == "dev" and own_mode() == nil
    end)
  end)

  it("hears a switch made on the command line: events, autocmds, statusline", function()
    local finished = seen.HpmJobFinished or 0
    vim.fn.jobstart({ hpmctl, "--workspace", workspace, "switch", "prod" })
    wait_for("the job's events", function()
      return (seen.HpmJobFinished or 0) > finished
    end)
    assert.truthy((seen.HpmJobStarted or 0) > 0)
    assert.truthy((seen.HpmEvent or 0) > 0)
    wait_for("the statusline to say prod", function()
      return hpm.statusline() == "hpm: prod"
    end)
  end)

  it("shows a broken hpm.yaml as a diagnostic at its line, cleared when fixed", function()
    local path = workspace .. "/hpm.yaml"
    local good = table.concat(vim.fn.readfile(path, "b"), "\n")
    local broken = good:gsub("mode: %w+", "mode: prod\nbogus_key: 1", 1)
    vim.fn.writefile(vim.split(broken, "\n"), path, "b")
    local buffer = vim.fn.bufadd(path)
    wait_for("a diagnostic on hpm.yaml", function()
      return #vim.diagnostic.get(buffer, { namespace = diagnostics.namespace }) > 0
    end)
    local entry = vim.diagnostic.get(buffer, { namespace = diagnostics.namespace })[1]
    local expected_line
    for number, line in ipairs(vim.split(broken, "\n")) do
      if line:match("^bogus_key") then
        expected_line = number - 1
      end
    end
    assert.are.equal(expected_line, entry.lnum)
    assert.truthy(entry.message:match("bogus_key"), entry.message)
    vim.fn.writefile(vim.split(good, "\n"), path, "b")
    wait_for("the diagnostic to clear", function()
      return #vim.diagnostic.get(buffer, { namespace = diagnostics.namespace }) == 0
    end)
  end)

  it("starts a stopped daemon again and follows the new one", function()
    local connected = seen.HpmConnected or 0
    vim.fn.system({ hpmctl, "daemon", "stop" })
    wait_for("a reconnection", function()
      return (seen.HpmConnected or 0) > connected
    end)
    local running = vim.json.decode(vim.fn.system({ hpmctl, "daemon", "status", "--json" }))
    assert.is_true(running.running)
    -- And it hears the new daemon's events.
    local finished = seen.HpmJobFinished or 0
    vim.fn.jobstart({ hpmctl, "--workspace", workspace, "switch", "dev" })
    wait_for("the new daemon's events", function()
      return (seen.HpmJobFinished or 0) > finished
    end)
    wait_for("the statusline to say dev", function()
      return hpm.statusline() == "hpm: dev"
    end)
  end)

  it(":checkhealth hpm names hpmctl, the daemon and the workspace with its mode", function()
    vim.cmd("checkhealth hpm")
    local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
    pcall(vim.cmd, "bwipeout!")
    assert.truthy(text:find("hpmctl 0.", 1, true), text)
    assert.truthy(text:find("hpmd 0.", 1, true) and text:find(", pid ", 1, true), text)
    local root = hpm.state().root
    assert.truthy(text:find(root .. ", dev mode, 2 packages", 1, true), text)
    assert.falsy(text:find("ERROR", 1, true), text)
  end)
end)
