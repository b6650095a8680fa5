-- `manifest_invalid` problems as `vim.diagnostic` entries on the file each
-- names (`hpm.yaml`, a registry entry), at its line and column; cleared by
-- `manifest_valid`. A file not open yet gets a buffer (unloaded), so the
-- diagnostics are there when it is opened.
local M = {}

M.namespace = vim.api.nvim_create_namespace("hpm")

local function absolute(root, file)
  if file:sub(1, 1) == "/" then
    return file
  end
  return root .. "/" .. file
end

--- Shows `problems` (`{ file, line, column, package, message, hint }`),
--- replacing what was shown before.
function M.show(root, problems)
  M.clear()
  local by_buffer = {}
  for _, problem in ipairs(problems) do
    local file = problem.file or "hpm.yaml"
    local buffer = vim.fn.bufadd(absolute(root or vim.fn.getcwd(), file))
    local message = problem.message or "invalid"
    if problem.package then
      message = ("%s: %s"):format(problem.package, message)
    end
    if problem.hint then
      message = message .. "\nhint: " .. problem.hint
    end
    by_buffer[buffer] = by_buffer[buffer] or {}
    table.insert(by_buffer[buffer], {
      lnum = math.max((problem.line or 1) - 1, 0),
      col = math.max((problem.column or 1) - 1, 0),
      severity = vim.diagnostic.severity.ERROR,
      source = "hpm",
      message = message,
    })
  end
  for buffer, entries in pairs(by_buffer) do
    vim.diagnostic.set(M.namespace, buffer, entries)
  end
end

function M.clear()
  vim.diagnostic.reset(M.namespace)
end

return M
