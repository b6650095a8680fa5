-- `:checkhealth hpm`: hpmctl found and its version, the daemon reachable
-- and its version, the current workspace and its mode; each problem with
-- what to do. A health check is asked for and may wait, briefly: each
-- hpmctl it runs is a job waited on for at most a few seconds.
local client = require("hpm.client")

local M = {}

local health = vim.health
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error

local WAIT_MS = 5000

--- Runs `argv` as a job, waits at most WAIT_MS; answers the exit code
--- (nil when it could not start or did not end), its stdout and stderr.
local function run(argv)
  local out, err = {}, {}
  local started, id = pcall(vim.fn.jobstart, argv, {
    stdout_buffered = true,
    stderr_buffered = true,
    on_stdout = function(_, data)
      vim.list_extend(out, data)
    end,
    on_stderr = function(_, data)
      vim.list_extend(err, data)
    end,
  })
  if not started or id <= 0 then
    return nil, "", "(cannot be started)"
  end
  local code = vim.fn.jobwait({ id }, WAIT_MS)[1]
  if code < 0 then
    vim.fn.jobstop(id)
    return nil, "", ("(no answer in %d s)"):format(WAIT_MS / 1000)
  end
  return code, vim.trim(table.concat(out, "\n")), vim.trim(table.concat(err, "\n"))
end

function M.check()
  local hpm = require("hpm")
  local hpmctl = client.hpmctl(hpm.options())

  start("hpmctl")
  local code, version, why = run({ hpmctl, "--version" })
  if code ~= 0 then
    fail(("`%s` cannot be run %s"):format(hpmctl, why), {
      "install hpm (`uv tool install hpmctl`), or name it: "
        .. "require('hpm').setup({ hpmctl = '/path/to/hpmctl' }) or vim.g.hpm_hpmctl",
    })
    return
  end
  ok(("%s (`%s`)"):format(version, hpmctl))

  start("hpmd, the daemon")
  local _, said, daemon_why = run({ hpmctl, "daemon", "status", "--json" })
  local reply = client.decode(said)
  local hello = reply and reply.hello
  if not hello then
    warn("hpmd is not running " .. daemon_why, {
      "it starts on the first request (:Hpm status), or run `hpmctl daemon start`; "
        .. "`hpmctl daemon status` says why it cannot",
    })
  else
    local daemon_version = ("hpmd %s"):format(hello.version or "?")
    if hello.version and version:find(hello.version, 1, true) then
      ok(("%s, pid %s"):format(daemon_version, tostring(hello.pid)))
    else
      warn(("%s answers, but hpmctl is %s"):format(daemon_version, version), {
        "the next request replaces it with the daemon of this hpmctl; or run `hpmctl daemon stop`",
      })
    end
  end

  start("workspace")
  local root = hpm.state().root
  if not root then
    info("no hpm.yaml in " .. vim.fn.getcwd() .. " or above: the plugin is idle here")
    return
  end
  local status_code, text, status_why = run({ hpmctl, "--workspace", root, "status", "--json" })
  local status = status_code == 0 and client.decode(text) or nil
  if not status then
    fail(("%s: status cannot be read: %s"):format(root, status_why), { "run `hpmctl status` in a terminal there" })
    return
  end
  local line = ("%s, %s mode, %d packages"):format(root, status.mode or "?", #(status.packages or {}))
  if status.in_sync == false then
    warn(line .. ", out of sync", { ":Hpm sync applies hpm.yaml" })
  else
    ok(line)
  end
end

return M
