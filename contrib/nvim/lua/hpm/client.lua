-- How the plugin talks to hpm: every call is `hpmctl … --json` run as a job
-- (never a blocking system call), and the event stream is `hpmctl events
-- --json` followed as a long-running job whose output arrives in chunks
-- that split lines anywhere; `Lines` puts them back together.
local M = {}

--- The hpmctl to run: the setting, then `vim.g.hpm_hpmctl`, then PATH
--- (an editor started from a desktop often lacks the shell's PATH).
function M.hpmctl(config)
  return (config and config.hpmctl) or vim.g.hpm_hpmctl or "hpmctl"
end

--- Reassembles the chunks `jobstart`'s on_stdout hands over: the first item
--- of a chunk continues the last item of the one before; a chunk's last
--- item is a partial line ("" when the chunk ended with a newline).
local Lines = {}
Lines.__index = Lines

function M.lines()
  return setmetatable({ partial = "" }, Lines)
end

--- Feeds one chunk; returns the complete lines it finished.
function Lines:feed(chunk)
  local complete = {}
  for index, piece in ipairs(chunk) do
    if index == 1 then
      piece = self.partial .. piece
    end
    if index == #chunk then
      self.partial = piece
    elseif piece ~= "" then
      table.insert(complete, piece)
    end
  end
  return complete
end

--- JSON's null as Lua's nil, at any depth (vim.json gives vim.NIL).
local function without_nulls(value)
  if value == vim.NIL then
    return nil
  end
  if type(value) == "table" then
    for key, item in pairs(value) do
      value[key] = without_nulls(item)
    end
  end
  return value
end

local function decode(text)
  if text == nil or text == "" then
    return nil
  end
  local ok, value = pcall(vim.json.decode, text)
  if ok then
    return without_nulls(value)
  end
  return nil
end
M.decode = decode

--- Runs `hpmctl ARGS` with `--json` and calls `done(result, failure)` on
--- the main loop: `result` is the decoded stdout on success; `failure` is
--- `{ code, kind, message, hint, problems }` (hpm's error object, or one made
--- from stderr when hpmctl could not say).
function M.run(config, args, done)
  local argv = { M.hpmctl(config) }
  if config and config.workspace then
    vim.list_extend(argv, { "--workspace", config.workspace })
  end
  vim.list_extend(argv, args)
  table.insert(argv, "--json")
  local stdout, stderr = {}, {}
  local ok, job = pcall(vim.fn.jobstart, argv, {
    stdout_buffered = true,
    stderr_buffered = true,
    on_stdout = function(_, data)
      stdout = data
    end,
    on_stderr = function(_, data)
      stderr = data
    end,
    on_exit = function(_, code)
      vim.schedule(function()
        local text = table.concat(stdout, "\n")
        if code == 0 then
          done(decode(text), nil)
          return
        end
        local answer = decode(text)
        local failure = answer and answer.error
        if not failure then
          local lines = vim.tbl_filter(function(line)
            return line ~= "" and not line:match("^{")
          end, stderr)
          failure = { message = table.concat(lines, "\n"), code = code }
        end
        done(nil, failure)
      end)
    end,
  })
  if not ok or job <= 0 then
    vim.schedule(function()
      done(nil, {
        message = ("cannot run `%s`"):format(argv[1]),
        hint = "install hpm (uv tool install hpmctl) or set require('hpm').setup({ hpmctl = '/path/to/hpmctl' })",
      })
    end)
  end
  return job
end

--- Follows `hpmctl events --json`: `on_event(event)` for each event,
--- `on_exit(code)` when the stream ends (the daemon stopped or was
--- replaced). Returns the job id, or nil when hpmctl cannot start.
function M.follow(config, on_event, on_exit)
  local lines = M.lines()
  local ok, job = pcall(vim.fn.jobstart, { M.hpmctl(config), "events", "--json" }, {
    on_stdout = function(_, chunk)
      for _, line in ipairs(lines:feed(chunk)) do
        local event = decode(line)
        -- The stream's last line, when the daemon goes away, is hpmctl's
        -- `{"error": …}`, not an event.
        if type(event) == "table" and type(event.event) == "string" then
          vim.schedule(function()
            on_event(event)
          end)
        end
      end
    end,
    on_exit = function(_, code)
      vim.schedule(function()
        on_exit(code)
      end)
    end,
  })
  if not ok or job <= 0 then
    return nil
  end
  return job
end

return M
