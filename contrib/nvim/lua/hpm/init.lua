-- hpm for Neovim. The workspace is the folder holding `hpm.yaml` at or
-- above the current directory. State comes from `hpmctl status --json`,
-- kept current by the daemon's events (`hpmctl events --json`): a
-- `status_changed` or `repo_changed` re-reads it (debounced), so does a
-- reconnect and any gap in `seq` (it restarts with each daemon). Every
-- event is also a `User` autocmd (`HpmEvent`, and `Hpm<Name>` such as
-- `HpmJobFinished`) carrying the event as `data`, for other plugins.
-- Nothing blocks the editor: every call to hpm is a job.
local client = require("hpm.client")
local diagnostics = require("hpm.diagnostics")
local view = require("hpm.view")

local M = {}

---@class hpm.Options
---@field hpmctl? string the hpmctl to run (else `vim.g.hpm_hpmctl`, else PATH)
---@field debounce_ms? integer coalesce a burst of events into one status read
---@field backoff_max_ms? integer reconnect forever, waiting at most this long
---@field notify? boolean `vim.notify` failures (successes stay quiet)
---@field default_mappings? boolean map the status window's keys to its `<Plug>` actions

---@class hpm.Failure
---@field message string
---@field hint? string
---@field problems? table[] each with `message`, and `file`, `line`, `column`, `hint` when known

---@type hpm.Options
local config = {
  -- The hpmctl to run (else `vim.g.hpm_hpmctl`, else PATH).
  hpmctl = nil,
  -- Coalesce a burst of events into one status read.
  debounce_ms = 150,
  -- Reconnect to the event stream forever, waiting at most this long.
  backoff_max_ms = 10000,
  -- Notify failures (vim.notify at ERROR); successes stay quiet.
  notify = true,
  -- Map the status window's keys (q r d s p x) to its <Plug>(hpm-…)
  -- actions; false leaves the keys to you.
  default_mappings = true,
}

local state = {
  root = nil, -- the workspace root, absolute
  status = nil, -- the last `hpmctl status --json`
  failure = nil, -- the last failure reading it
  job = nil, -- { change } while a job runs in this workspace
  events = nil, -- the events job
  last_seq = nil,
  attempts = 0, -- reconnects since the last event
  refresh_timer = nil,
  problems_from_status = false, -- the diagnostics shown came from a failed read
}

-- The modes offered before the first status is read (or by an hpmctl
-- whose status names none).
M.modes = { "dev", "staging", "prod" }

--- The modes the workspace names (its status's `modes`: any name its
--- registry uses, `qa` say), else the usual three.
---@return string[]
function M.workspace_modes()
  local named = state.status and state.status.modes
  if type(named) == "table" and #named > 0 then
    return named
  end
  return M.modes
end

--- Options: `hpmctl`, `debounce_ms`, `backoff_max_ms`, `notify`,
--- `default_mappings`.
---@param options? hpm.Options
function M.setup(options)
  config = vim.tbl_extend("force", config, options or {})
  M.attach()
end

local function notify_failure(what, failure)
  if not config.notify or not failure then
    return
  end
  local text = ("hpm: %s failed: %s"):format(what, failure.message or "?")
  if failure.hint then
    text = text .. "\nhint: " .. failure.hint
  end
  vim.notify(text, vim.log.levels.ERROR)
end

local function emit(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, data = data, modeline = false })
end

local function camel(name)
  return (name:gsub("^%l", string.upper):gsub("_(%l)", string.upper))
end

local function call_config()
  return { hpmctl = config.hpmctl, workspace = state.root }
end

--- Re-reads the status now.
---@param done? fun() called once it is read (or failed)
function M.refresh(done)
  if not state.root then
    if done then
      done()
    end
    return
  end
  client.run(call_config(), { "status" }, function(status, failure)
    state.status = status or state.status
    state.failure = failure
    -- Problems a failed read showed go once a read succeeds; the
    -- watcher's (manifest_invalid) stay until manifest_valid.
    if failure and failure.problems then
      diagnostics.show(state.root, failure.problems)
      state.problems_from_status = true
    elseif status and state.problems_from_status then
      diagnostics.clear()
      state.problems_from_status = false
    end
    view.render(state)
    emit("HpmStatus", status or {})
    vim.cmd("redrawstatus")
    if done then
      done()
    end
  end)
end

--- Re-reads the status once a burst of events has passed.
local function refresh_soon()
  if state.refresh_timer then
    state.refresh_timer:stop()
  else
    state.refresh_timer = (vim.uv or vim.loop).new_timer()
  end
  state.refresh_timer:start(config.debounce_ms, 0, function()
    vim.schedule(function()
      M.refresh()
    end)
  end)
end

--- One event from the daemon.
---@param event table an event of `hpmctl events --json` (`seq`, `event`, its fields)
function M.on_event(event)
  if state.last_seq and event.seq ~= state.last_seq + 1 then
    -- Events were missed (or the daemon is a new one): the status we hold
    -- may be stale.
    refresh_soon()
  end
  state.last_seq = event.seq
  state.attempts = 0
  if event.workspace and state.root and event.workspace ~= state.root then
    return
  end
  local name = event.event
  if name == "job_started" then
    state.job = { change = event.change }
  elseif name == "job_finished" or name == "job_failed" then
    state.job = nil
    if name == "job_failed" then
      notify_failure("the sync", event)
    end
  elseif name == "progress" then
    view.progress(event.line)
  elseif name == "manifest_invalid" then
    diagnostics.show(state.root, event.problems or {})
  elseif name == "manifest_valid" then
    diagnostics.clear()
  end
  if name == "status_changed" or name == "job_finished" or name == "job_failed" then
    refresh_soon()
  elseif name == "repo_changed" and view.visible() then
    -- A clone's branch or head matters only to the status window.
    refresh_soon()
  end
  emit("HpmEvent", event)
  emit("Hpm" .. camel(name), event)
  vim.cmd("redrawstatus")
end

--- Follows the event stream, reconnecting forever with a capped backoff;
--- each (re)connection re-reads the status.
local function follow()
  if state.events then
    return
  end
  state.events = client.follow(call_config(), M.on_event, function()
    state.events = nil
    state.last_seq = nil
    state.job = nil
    state.attempts = state.attempts + 1
    local delay = math.min(config.backoff_max_ms, 250 * 2 ^ math.min(state.attempts, 10))
    vim.defer_fn(function()
      if state.root then
        M.connect()
      end
    end, delay)
  end)
end

--- Starts the daemon when none answers (`hpmctl daemon start`), then
--- follows its events and reads the status.
function M.connect()
  client.run(call_config(), { "daemon", "status" }, function(answer)
    local function go()
      follow()
      M.refresh(function()
        emit("HpmConnected", { root = state.root })
      end)
    end
    if answer and answer.running then
      go()
    else
      client.run(call_config(), { "daemon", "start" }, function(_, failure)
        if failure then
          notify_failure("starting hpmd", failure)
        end
        go()
      end)
    end
  end)
end

--- Attaches to the workspace around the current directory, if any.
function M.attach()
  local found = vim.fs.find("hpm.yaml", { upward = true, path = vim.fn.getcwd(), type = "file" })[1]
  local root = found and vim.fs.dirname(found) or nil
  if root then
    root = vim.fn.resolve(root)
  end
  if root == state.root then
    return
  end
  state.root = root
  state.status = nil
  diagnostics.clear()
  if root then
    M.connect()
  end
end

--- The options in effect (read-only): `:checkhealth hpm` reads `hpmctl`.
---@return hpm.Options
function M.options()
  return config
end

--- The state the status window and the statusline show (read-only).
---@return table state `root`, `status`, `failure`, `job`
function M.state()
  return state
end

local spinner = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }

--- For the statusline: `hpm: <mode>`, with a spinner while a job runs and
--- `*` when an input changed since the last sync; "" outside a workspace.
---@return string
function M.statusline()
  local status = state.status
  if not state.root or not status then
    return ""
  end
  local text = "hpm: " .. (status.mode or "?")
  if state.job then
    local frame = math.floor((vim.uv or vim.loop).now() / 100) % #spinner + 1
    return text .. " " .. spinner[frame]
  end
  if status.in_sync == false then
    return text .. " *"
  end
  return text
end

--- Runs a change (`switch prod`, `use PKG MODE`, …) and refreshes.
local function change(args, what)
  if not state.root then
    vim.notify("hpm: no hpm.yaml here or above", vim.log.levels.WARN)
    return
  end
  client.run(call_config(), args, function(_, failure)
    if failure then
      notify_failure(what, failure)
      if failure.problems then
        diagnostics.show(state.root, failure.problems)
      end
    end
    M.refresh()
  end)
end

M.actions = {
  status = function()
    view.open(state, M)
    M.refresh()
  end,
  switch = function(args)
    if not args[1] then
      vim.ui.select(M.workspace_modes(), { prompt = "hpm: switch the workspace to" }, function(mode)
        if mode then
          change({ "switch", mode }, "switch " .. mode)
        end
      end)
      return
    end
    change({ "switch", args[1] }, "switch " .. args[1])
  end,
  sync = function()
    change({ "sync" }, "sync")
  end,
  dev = function(args)
    -- Asked for by name: clone a missing one without a prompt hpm cannot show.
    change(vim.list_extend({ "dev", "--yes" }, args), "dev " .. table.concat(args, " "))
  end,
  use = function(args)
    change({ "use", args[1], args[2] }, ("use %s %s"):format(args[1] or "?", args[2] or "?"))
  end,
  reset = function(args)
    change({ "reset", args[1] }, "reset " .. (args[1] or "?"))
  end,
  cancel = function()
    change({ "cancel" }, "cancel")
  end,
}

local usage = {
  dev = 1,
  use = 2,
  reset = 1,
}

--- `:Hpm ARGS`.
---@param fargs string[] the words after `:Hpm`
function M.command(fargs)
  local verb = fargs[1] or "status"
  local action = M.actions[verb]
  if not action then
    local known = "status, switch, sync, dev, use, reset, cancel"
    vim.notify(("hpm: unknown command `%s` (%s)"):format(verb, known), vim.log.levels.ERROR)
    return
  end
  local args = vim.list_slice(fargs, 2)
  if usage[verb] and #args < usage[verb] then
    local shapes = { dev = ":Hpm dev PKG…", use = ":Hpm use PKG MODE", reset = ":Hpm reset PKG" }
    vim.notify("hpm: usage: " .. shapes[verb], vim.log.levels.ERROR)
    return
  end
  action(args)
end

local function package_names()
  local names = {}
  for _, package in ipairs((state.status or {}).packages or {}) do
    table.insert(names, package.name)
  end
  return names
end

--- Completion for `:Hpm`: the verbs, then packages and modes where they go.
---@param lead string the word being completed
---@param line string the whole command line
---@return string[]
function M.complete(lead, line)
  local words = vim.split(line, "%s+", { trimempty = true })
  -- The word being completed is not typed yet when the line ends in a space.
  local position = #words + (line:match("%s$") and 1 or 0)
  local candidates
  if position <= 2 then
    candidates = vim.tbl_keys(M.actions)
    table.sort(candidates)
  else
    local verb = words[2]
    if verb == "switch" then
      candidates = position == 3 and M.workspace_modes() or {}
    elseif verb == "use" then
      candidates = position == 3 and package_names() or (position == 4 and M.workspace_modes() or {})
    elseif verb == "dev" or verb == "reset" then
      candidates = package_names()
    else
      candidates = {}
    end
  end
  return vim.tbl_filter(function(candidate)
    return vim.startswith(candidate, lead)
  end, candidates)
end

return M
