-- The status window: one line per package (mode, source, installed
-- version, and for a clone its branch, head, dirty mark, ahead/behind),
-- redrawn on every status read while it is shown. Keys in it: `r`
-- refresh, `d` dev, `p` prod, `s` staging, `x` reset the package under the
-- cursor, `q` close.
local M = {}

local buffer = nil
local progress_line = nil

local function source_text(source)
  if not source then
    return "-"
  end
  if source.type == "path" then
    return source.path
  elseif source.type == "git" then
    local reference = source.reference
    if type(reference) == "table" then
      local _, value = next(reference)
      return "git " .. tostring(value)
    end
    return "git " .. tostring(reference or "")
  elseif source.type == "index" then
    return "index " .. tostring(source.version or "")
  end
  return source.type or "?"
end

local function repo_text(repo)
  if not repo then
    return ""
  end
  local text = ("%s@%s"):format(repo.branch or "(detached)", (repo.head or ""):sub(1, 8))
  if repo.dirty then
    text = text .. " *"
  end
  if repo.ahead or repo.behind then
    text = text .. (" ↑%d ↓%d"):format(repo.ahead or 0, repo.behind or 0)
  end
  return text
end

--- `lines` with every item that holds newlines split at them: a buffer
--- line holds no newline, and a multi-line error (a message, its hint)
--- shows whole.
local function whole(lines)
  local out = {}
  for _, line in ipairs(lines) do
    vim.list_extend(out, vim.split(line, "\n", { plain = true }))
  end
  return out
end

--- The window's lines for a status, or for the failure to read one (its
--- message, hint and problems, each line of them).
function M.lines(state)
  local status = state.status
  if not status then
    local failure = state.failure
    if failure then
      local lines = { "hpm: " .. (failure.message or "no status") }
      for _, problem in ipairs(failure.problems or {}) do
        table.insert(lines, "  " .. (problem.message or tostring(problem)))
      end
      if failure.hint then
        table.insert(lines, "  hint: " .. failure.hint)
      end
      return whole(lines)
    end
    return { "hpm: reading the status…" }
  end
  local lines = {
    ("hpm: %s (%s)%s"):format(
      status.workspace or "",
      status.mode or "?",
      status.in_sync == false and ", out of sync" or ""
    ),
    "",
  }
  for _, package in ipairs(status.packages or {}) do
    table.insert(
      lines,
      ("%-24s %-8s %-28s %-12s %s"):format(
        package.name,
        package.mode or "?",
        source_text(package.source),
        package.installed_version or "-",
        repo_text(package.repo)
      )
    )
  end
  if state.job then
    table.insert(lines, "")
    table.insert(lines, "running: " .. (progress_line or "…"))
  end
  return whole(lines)
end

function M.visible()
  return buffer ~= nil and vim.api.nvim_buf_is_valid(buffer) and vim.fn.bufwinid(buffer) ~= -1
end

function M.render(state)
  if not M.visible() then
    return
  end
  vim.bo[buffer].modifiable = true
  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, M.lines(state))
  vim.bo[buffer].modifiable = false
end

function M.progress(line)
  progress_line = line
end

--- The package named on the cursor's line.
local function package_under_cursor()
  local line = vim.api.nvim_get_current_line()
  return line:match("^(%S+)%s")
end

--- The status window's actions, each a `<Plug>(hpm-…)` mapping of the
--- window's buffer; the default keys (`q`, `r`, `d`, `s`, `p`, `x`) map to
--- them unless the option `default_mappings` is false.
---@param buf integer the status window's buffer
---@param hpm table the `hpm` module (for its commands and options)
function M.map_actions(buf, hpm)
  local function on_package(run)
    return function()
      local name = package_under_cursor()
      if name and name ~= "hpm:" then
        run(name)
      end
    end
  end
  local actions = {
    { "q", "close", "<cmd>close<cr>", "close the window" },
    {
      "r",
      "refresh",
      function()
        hpm.refresh()
      end,
      "read the status again",
    },
    {
      "x",
      "reset",
      on_package(function(name)
        hpm.command({ "reset", name })
      end),
      "the package follows the workspace's mode again",
    },
  }
  for key, mode in pairs({ d = "dev", s = "staging", p = "prod" }) do
    table.insert(actions, {
      key,
      "use-" .. mode,
      on_package(function(name)
        hpm.command({ "use", name, mode })
      end),
      "put the package in " .. mode,
    })
  end
  local defaults = hpm.options().default_mappings ~= false
  for _, action in ipairs(actions) do
    local key, name, run, desc = action[1], action[2], action[3], action[4]
    local plug = "<Plug>(hpm-" .. name .. ")"
    vim.keymap.set("n", plug, run, { buffer = buf, silent = true, desc = "hpm: " .. desc })
    if defaults then
      vim.keymap.set("n", key, plug, { buffer = buf, nowait = true, remap = true, desc = "hpm: " .. desc })
    end
  end
end

function M.open(state, hpm)
  if M.visible() then
    vim.fn.win_gotoid(vim.fn.bufwinid(buffer))
    return
  end
  if not (buffer and vim.api.nvim_buf_is_valid(buffer)) then
    buffer = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buffer, "hpm://status")
    vim.bo[buffer].bufhidden = "hide"
    vim.bo[buffer].filetype = "hpm"
    M.map_actions(buffer, hpm)
  end
  vim.cmd("botright split")
  vim.api.nvim_win_set_buf(0, buffer)
  M.render(state)
end

return M
